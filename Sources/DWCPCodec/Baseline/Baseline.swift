import DWCPCore
import DWCPSystem

/// The image a delta stream is encoded against: the previous pre-copy round, as the receiver has it.
///
/// Read with `pread` rather than mapped, so only the bytes a frame actually references are touched
/// and the process's resident memory stays small even for a baseline of many gigabytes.
public final class Baseline: @unchecked Sendable {
    public let fd: FileDescriptor
    public let length: UInt64
    public let path: String

    /// Opens `path` without reading it. With `length`, the baseline is the file's first `length`
    /// bytes (a block device holding a smaller image); the file must hold that many.
    public init(opening path: String, length: UInt64? = nil) throws {
        let fd = try FileDescriptor.openForReading(path)
        guard let size = fd.sizeIfSeekable() else {
            fd.close()
            throw DWCPError.usage("\(path): baseline must be a regular file or block device")
        }
        if let length, length > size {
            fd.close()
            throw DWCPError.integrity("\(path): wrong baseline: the image is \(length) bytes, this holds only \(size)")
        }
        self.fd = fd
        self.path = path
        self.length = length ?? size
    }

    /// What a stream header names the baseline by: its length and XXH3-128 over the whole file,
    /// read in 4 MiB pieces, or with `pageList` (a stream with page-list checksums) over the
    /// XXH3-64 of each of its `pageList`-byte pages (`PageListDigest`). One pass over the file:
    /// the encoder runs it beside its first frames, the decoder before it writes anything.
    public func identity(pageList pageSize: Int? = nil) throws -> BaselineIdentity {
        let (bytes, pages) = try digests(overBytes: pageSize == nil, pageSize: pageSize)
        return (pages ?? bytes)!
    }

    /// Both names at once, in one pass: over the bytes, and over the `pageSize`-byte pages (for a
    /// caller that does not know which kind of stream named it, as `dwcp-migrate recover --verify`).
    public func identities(pageSize: Int) throws -> (bytes: BaselineIdentity, pageList: BaselineIdentity) {
        let (bytes, pages) = try digests(overBytes: true, pageSize: pageSize)
        return (bytes!, pages!)
    }

    private func digests(overBytes: Bool, pageSize: Int?) throws -> (BaselineIdentity?, BaselineIdentity?) {
        let bytes = overBytes ? StreamDigest() : nil, pages = pageSize.map { _ in StreamDigest() }
        let chunk = RawBuffer(capacity: 4 << 20)
        var pieces: [UInt64] = []
        var offset: UInt64 = 0
        while offset < length {
            let n = try fd.readFully(into: chunk.unsafeBase, count: Int(min(UInt64(chunk.capacity), length - offset)), at: offset)
            if n == 0 { break }
            if let pageSize, let pages {
                pieces.removeAll(keepingCapacity: true)
                PageListDigest.appendPieces(chunk.unsafeBase, n, pageSize: pageSize, to: &pieces)
                PageListDigest.update(pages, with: pieces)
            }
            bytes?.update(chunk.unsafeBase, n)
            offset += UInt64(n)
        }
        guard offset == length else { throw DWCPError.failure("\(path): baseline changed size while being read") }
        return (bytes.map { BaselineIdentity(length: length, digest: $0.finalize()) },
                pages.map { BaselineIdentity(length: length, digest: $0.finalize()) })
    }

    deinit { fd.close() }

    /// Reads exactly `count` bytes at `offset` into `p`; the range must lie within the baseline.
    public func read(into p: UnsafeMutableRawPointer, count: Int, at offset: UInt64) throws {
        let n = try fd.readFully(into: p, count: count, at: offset)
        guard n == count else { throw DWCPError.failure("\(path): baseline shrank while in use (short read at \(offset))") }
    }
}
