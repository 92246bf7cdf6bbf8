/// Checksums and digests computed over page digests instead of bytes: the integrity mode of a
/// stream whose header sets `StreamHeader.pageListFlag` (docs/FORMAT.md, "Page-list checksums").
///
/// A pre-copy round of `dwcp-migrate file` is mostly pages the destination already holds. With
/// checksums over bytes, both ends hash every byte of the image twice a round (the frame's
/// checksum and the stream's digest) on top of the XXH3-64 per page the source computes anyway
/// to find what changed. Over page digests, the source reuses those, and a destination that knows
/// the digests of the pages it holds verifies an unchanged page without hashing it: the cost of
/// verifying a round follows what changed, not the image's size.
///
/// The data is cut into pieces of the stream's page size counted from the start of each data
/// frame (the last piece of a frame may be shorter); each piece's digest is its XXH3-64. A data
/// frame's decoded checksum is the XXH3-64 of its pieces' digests as little-endian u64s, and the
/// stream's digest (end frame, and a baseline's identity) the XXH3-128 of all of them in order.
public enum PageListDigest {
    /// Appends the XXH3-64 of each `pageSize` piece of the `count` bytes at `p` (the last piece
    /// may be shorter) to `list`.
    public static func appendPieces(_ p: UnsafeRawPointer, _ count: Int, pageSize: Int, to list: inout [UInt64]) {
        var i = 0
        while i < count {
            let n = min(pageSize, count - i)
            list.append(Checksum.xxh3(p + i, n))
            i += n
        }
    }

    /// The digests of the pieces of the `count` bytes at `p`.
    public static func pieces(_ p: UnsafeRawPointer, _ count: Int, pageSize: Int) -> [UInt64] {
        var list: [UInt64] = []
        list.reserveCapacity((count + pageSize - 1) / pageSize)
        appendPieces(p, count, pageSize: pageSize, to: &list)
        return list
    }

    /// How many pieces `count` bytes make.
    @inline(__always)
    public static func pieceCount(_ count: Int, pageSize: Int) -> Int { (count + pageSize - 1) / pageSize }

    /// A data frame's decoded checksum in this mode: XXH3-64 over its pieces' digests.
    public static func frameChecksum(_ pieces: ArraySlice<UInt64>) -> UInt64 {
        withLittleEndianBytes(pieces) { Checksum.xxh3($0) }
    }

    public static func frameChecksum(_ pieces: [UInt64]) -> UInt64 { frameChecksum(pieces[...]) }

    /// Adds pieces' digests, in stream order, to a stream digest (XXH3-128 over them).
    public static func update(_ digest: StreamDigest, with pieces: ArraySlice<UInt64>) {
        withLittleEndianBytes(pieces) { digest.update($0) }
    }

    public static func update(_ digest: StreamDigest, with pieces: [UInt64]) { update(digest, with: pieces[...]) }

    private static func withLittleEndianBytes<R>(_ pieces: ArraySlice<UInt64>, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        #if _endian(little)
        return pieces.withUnsafeBytes(body)
        #else
        return pieces.map { $0.littleEndian }.withUnsafeBytes(body)
        #endif
    }
}
