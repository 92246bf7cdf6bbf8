import DWCPCore

/// The transport's end-of-stream digest: XXH3-128 over the chunks' XXH3-64 checksums, each as 8
/// little-endian bytes, in sequence order (docs/TRANSPORT.md, `end`).
///
/// Why over the checksums and not the bytes: each chunk's bytes are hashed once for its checksum,
/// which the receiver checks before it writes them, so a second pass over the same bytes would
/// prove nothing more and cost a second read of the whole stream on each side (12–19 % of each
/// side's CPU on loopback). Over the checksums, the digest still binds the whole stream: every
/// chunk, in order, none missing or repeated.
public final class ChunkListDigest {
    private let digest = StreamDigest()

    public init() {}

    /// Adds the next chunk's checksum.
    public func add(_ checksum: UInt64) {
        var le = checksum.littleEndian
        withUnsafeBytes(of: &le) { digest.update($0) }
    }

    public func finalize() -> Digest128 {
        digest.finalize()
    }
}
