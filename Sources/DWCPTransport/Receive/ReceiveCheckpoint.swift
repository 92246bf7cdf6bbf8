import DWCPCore
import DWCPSystem
#if canImport(Glibc)
import Glibc
#endif

/// What a resumable receiver (`dwcp-recv --resume -o FILE`) has made durable, kept in
/// `FILE.dwcp-recv`, so a receiver that was killed or lost its machine can be started again and
/// continue the same transfer: the sender, still reconnecting, resends only what is missing.
///
/// The sender forgets a chunk once it is acknowledged, so a restarted receiver must never need
/// a chunk it acknowledged. A resumable receiver therefore acknowledges only at checkpoints:
/// it fdatasyncs the output, appends the checksums of the chunks written in order since the
/// last checkpoint here, fdatasyncs this file, and then acknowledges. A restarted receiver reads
/// the checkpoints back (the session, how many chunks and bytes are durable, and their checksums,
/// from which the end-to-end digest continues), cuts the output back to those bytes, and answers
/// the sender's reconnection with that chunk as the next it needs.
///
/// Layout (docs/TRANSPORT.md, "Resuming after a receiver restart"), little-endian: a 48-byte
/// header (`DWCPRCV1`, the session id, 16 reserved bytes, XXH3-64 of the 40 before), then
/// checkpoint records: `CKPT`, chunk count n (u32), first chunk's sequence (u64), stream bytes
/// durable after it (u64), n checksums (u64 each), XXH3-64 of the record's bytes before it. A
/// torn last record (a crash while it was written) was never acknowledged and is dropped.
public final class ReceiveCheckpoint {
    public let path: String
    private let fd: FileDescriptor
    /// Where the next record goes (after the last valid one).
    private var end: UInt64
    private var hasHeader: Bool

    static let magic = Array("DWCPRCV1".utf8)
    static let recordMagic = Array("CKPT".utf8)
    static let headerLength = 48
    static let recordHeaderLength = 24

    /// The transfer a checkpoint file describes.
    public struct Restored: Equatable {
        public var session: [UInt8]
        /// Chunks written in order and durable: the next one needed is this.
        public var chunks: UInt64
        /// Stream bytes they hold.
        public var bytes: UInt64
        /// Their checksums in order (the end-to-end digest is over them).
        public var checksums: [UInt64]
    }

    /// The state file beside `output`.
    public static func path(for output: String) -> String { output + ".dwcp-recv" }

    /// Opens (creating if absent) the checkpoint file at `path` and reads what it holds: nil for a
    /// new one, or one cut inside its header (which goes out with the first record). A file that is not a checkpoint file, or whose header is damaged, is
    /// an integrity error (exit 3): it is left for a person to look at.
    public static func open(_ path: String) throws -> (ReceiveCheckpoint, Restored?) {
        let raw = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        if raw < 0 { throw DWCPError.failure("\(path): \(String(cString: strerror(errno)))") }
        let fd = FileDescriptor(rawValue: raw, name: path)
        do {
            let (restored, end) = try read(fd)
            let c = ReceiveCheckpoint(path: path, fd: fd, end: end, hasHeader: restored != nil)
            if restored == nil { try fd.truncate(to: 0) }
            return (c, restored)
        } catch {
            fd.close()
            throw error
        }
    }

    private init(path: String, fd: FileDescriptor, end: UInt64, hasHeader: Bool) {
        self.path = path
        self.fd = fd
        self.end = end
        self.hasHeader = hasHeader
    }

    deinit { fd.close() }

    /// Reads the header and every valid record; returns nil for an empty file, and where the
    /// valid records end.
    private static func read(_ fd: FileDescriptor) throws -> (Restored?, UInt64) {
        guard let size = fd.sizeIfSeekable() else { throw DWCPError.failure("\(fd.name): not a regular file") }
        var header = [UInt8](repeating: 0, count: headerLength)
        let n = try header.withUnsafeMutableBytes { try fd.readFully(into: $0.baseAddress!, count: headerLength, at: 0) }
        // The header goes out with the first record: one cut short means nothing was recorded.
        if n < headerLength && header[0..<min(n, 8)].elementsEqual(magic.prefix(min(n, 8))) { return (nil, 0) }
        guard n == headerLength, Array(header[0..<8]) == magic,
              header.withUnsafeBytes({ LittleEndian.load(UInt64.self, $0.baseAddress!, 40) == Checksum.xxh3($0.baseAddress!, 40) }) else {
            throw DWCPError.integrity("\(fd.name): not a dwcp-recv checkpoint file, or its header is damaged")
        }
        var r = Restored(session: Array(header[8..<24]), chunks: 0, bytes: 0, checksums: [])
        var at = UInt64(headerLength)
        var record = [UInt8](repeating: 0, count: recordHeaderLength)
        while size - at >= UInt64(recordHeaderLength + 8) {
            _ = try record.withUnsafeMutableBytes { try fd.readFully(into: $0.baseAddress!, count: recordHeaderLength, at: at) }
            let (count, first, bytes) = record.withUnsafeBytes {
                (Int(LittleEndian.load(UInt32.self, $0.baseAddress!, 4)), LittleEndian.load(UInt64.self, $0.baseAddress!, 8), LittleEndian.load(UInt64.self, $0.baseAddress!, 16))
            }
            let length = recordHeaderLength + count * 8 + 8
            // The file's size bounds what a damaged count can make us read.
            guard Array(record[0..<4]) == recordMagic, count > 0, size - at >= UInt64(length),
                  first == r.chunks, bytes > r.bytes else { break }
            var body = [UInt8](repeating: 0, count: length)
            _ = try body.withUnsafeMutableBytes { try fd.readFully(into: $0.baseAddress!, count: length, at: at) }
            let valid = body.withUnsafeBytes { LittleEndian.load(UInt64.self, $0.baseAddress!, length - 8) == Checksum.xxh3($0.baseAddress!, length - 8) }
            guard valid else { break }
            body.withUnsafeBytes { b in
                for i in 0..<count { r.checksums.append(LittleEndian.load(UInt64.self, b.baseAddress!, recordHeaderLength + 8 * i)) }
            }
            r.chunks += UInt64(count)
            r.bytes = bytes
            at += UInt64(length)
        }
        return (r, at)
    }

    /// Makes durable that chunks `first ..< first + checksums.count`, with these checksums, are
    /// written and that the stream's first `bytes` bytes are in the output (the caller synced
    /// the output before). The header goes first, with `session`, on the first call.
    public func record(session: [UInt8], first: UInt64, checksums: [UInt64], bytes: UInt64) throws {
        precondition(!checksums.isEmpty && checksums.count <= Int(UInt32.max))
        var out: [UInt8] = []
        if !hasHeader {
            var h = [UInt8](repeating: 0, count: Self.headerLength)
            h.replaceSubrange(0..<8, with: Self.magic)
            h.replaceSubrange(8..<24, with: session)
            h.withUnsafeMutableBytes { LittleEndian.store(Checksum.xxh3($0.baseAddress!, 40), $0.baseAddress!, 40) }
            out += h
        }
        let length = Self.recordHeaderLength + checksums.count * 8 + 8
        var b = [UInt8](repeating: 0, count: length)
        b.withUnsafeMutableBytes { p in
            let base = p.baseAddress!
            Self.recordMagic.withUnsafeBytes { base.copyMemory(from: $0.baseAddress!, byteCount: 4) }
            LittleEndian.store(UInt32(checksums.count), base, 4)
            LittleEndian.store(first, base, 8)
            LittleEndian.store(bytes, base, 16)
            for k in 0..<checksums.count { LittleEndian.store(checksums[k], base, Self.recordHeaderLength + 8 * k) }
            LittleEndian.store(Checksum.xxh3(base, length - 8), base, length - 8)
        }
        out += b
        try out.withUnsafeBytes { try fd.writeAll($0.baseAddress!, count: $0.count, at: end) }
        try fd.syncData()
        if !hasHeader { syncDirectory(of: path) }
        hasHeader = true
        end += UInt64(out.count)
    }

    /// Deletes the file once the transfer is complete (or can never be resumed).
    public func remove() {
        try? unlinkDurably(path)
    }
}
