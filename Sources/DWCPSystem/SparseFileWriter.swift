#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import DWCPCore

/// Writes a stream into a regular file and leaves a hole wherever a whole page of it is zero,
/// as `zstd -d`, `cp --sparse` and `dd conv=sparse` do: a decoded VM image is mostly zero pages,
/// which then take no disk space and no page-cache copy. Reading a hole gives zeros, so the file
/// reads back byte for byte as the stream.
///
/// Only used where a skipped byte is certain to read as zero: a regular file, not appending,
/// that ends where the stream starts (`atEndOf`). Everything after that offset is then beyond
/// the old end of the file, and `finish` sets the file's length (a stream that ends in zero
/// pages extends it with a hole) and leaves the file offset after the stream, as `write(2)` would.
public final class SparseFileWriter {
    public let fd: FileDescriptor
    /// Granule of the zero test and of the holes: the usual file-system block and page size.
    public static let pageSize = 4096
    private let start: UInt64
    /// Stream bytes handed over so far.
    public private(set) var length: UInt64 = 0
    /// Of those, the bytes left as holes (whole zero pages not written).
    public private(set) var holeBytes: UInt64 = 0

    /// A writer for `fd` if skipping zeros is safe there (see the type's comment), else nil.
    public static func atEndOf(_ fd: FileDescriptor) -> SparseFileWriter? {
        let offset = lseek(fd.rawValue, 0, SEEK_CUR)
        guard offset >= 0, skipsSafely(fd, from: UInt64(offset)) else { return nil }
        return SparseFileWriter(fd: fd, start: UInt64(offset))
    }

    /// Whether bytes not written at `offset` and beyond read back as zeros: `fd` is a regular
    /// file, not appending (Linux `pwrite` would append), that ends at or before `offset`.
    public static func skipsSafely(_ fd: FileDescriptor, from offset: UInt64) -> Bool {
        var st = stat()
        guard fstat(fd.rawValue, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return false }
        let flags = fcntl(fd.rawValue, F_GETFL)
        return flags >= 0 && flags & O_APPEND == 0 && UInt64(st.st_size) <= offset
    }

    private init(fd: FileDescriptor, start: UInt64) {
        self.fd = fd
        self.start = start
    }

    /// Appends `count` bytes: runs of non-zero pages are written with one `pwrite` each, whole
    /// zero pages are skipped.
    public func write(_ p: UnsafeRawPointer, count: Int) throws {
        holeBytes += try Self.write(fd, p, count: count, at: start + length)
        length += UInt64(count)
    }

    /// Writes `count` bytes at file offset `offset` except the whole zero pages among them,
    /// which it skips; returns the bytes skipped. Pages are counted from the file's start (not
    /// the buffer's), so each hole is whole file-system blocks. The caller must know that the
    /// skipped bytes read as zero (past the file's end when it began) and set the file's length
    /// (a skipped tail does not extend it): `dwcp-recv` writes chunks at their places so.
    public static func write(_ fd: FileDescriptor, _ p: UnsafeRawPointer, count: Int, at offset: UInt64) throws -> UInt64 {
        var skipped: UInt64 = 0
        var runStart = 0
        var at = 0
        while at < count {
            let intoPage = Int((offset + UInt64(at)) % UInt64(pageSize))
            let piece = min(pageSize - intoPage, count - at)
            if piece == pageSize && ZeroScan.isZero(p + at, piece) {
                if at > runStart { try fd.writeAll(p + runStart, count: at - runStart, at: offset + UInt64(runStart)) }
                skipped += UInt64(piece)
                runStart = at + piece
            }
            at += piece
        }
        if count > runStart { try fd.writeAll(p + runStart, count: count - runStart, at: offset + UInt64(runStart)) }
        return skipped
    }

    /// Extends `fd`'s file to `length` if it is shorter (a hole at its end); never shortens it
    /// by itself. The length is read, then set: a caller whose other threads write into the
    /// same file past `length` meanwhile must keep them out (`TransportReceiver`'s `writeTurn`),
    /// or the `ftruncate` cuts what they wrote.
    public static func extend(_ fd: FileDescriptor, to length: UInt64) throws {
        var st = stat()
        _ = try syscall("\(fd.name): stat") { fstat(fd.rawValue, &st) }
        if UInt64(st.st_size) < length { try fd.truncate(to: length) }
    }

    /// Gives the file its full length (a trailing hole is not there until this) and moves the
    /// file offset past the stream.
    public func finish() throws {
        let end = start + length
        try Self.extend(fd, to: end)
        _ = try syscall("\(fd.name): seek") { lseek(fd.rawValue, off_t(end), SEEK_SET) }
    }
}
