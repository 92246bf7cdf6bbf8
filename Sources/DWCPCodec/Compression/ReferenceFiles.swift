import DWCPCore
import DWCPSystem

/// Files both ends of a transfer already hold (a guest's kernel, initrd or disk image), laid end
/// to end in memory as the prefix of a zstd stream (`ZSTD_CCtx_refPrefix`, as `zstd --patch-from`
/// does): content of the stream that matches them costs a few bytes a match instead of itself.
///
/// Why: a VM's RAM holds copies of the files it was booted from (the kernel's code and data, the
/// initrd and what was unpacked from it, the page cache of its disk), and the destination host
/// has those files too, since it starts its QEMU with the same command line. On the test guest,
/// 13,607 pages outside its workload's region compressed to 14.5 MB alone and to 6.3 MB against
/// its kernel and initrd (docs/MIGRATE.md, "Reference files").
///
/// Both ends must hold the same bytes: a stream compressed against a prefix decodes to garbage
/// against another. So the stream starts with `header` (the prefix's length and XXH3-128), and
/// the receiver refuses a stream whose reference it does not hold before decoding a byte.
public final class ReferenceFiles: @unchecked Sendable {
    /// The files, in the order they are laid out.
    public let paths: [String]
    /// XXH3-128 of the files' bytes end to end.
    public let digest: Digest128
    private let buffer: RawBuffer

    /// The most the files may hold together: the prefix and the VM's stream must fit zstd's
    /// largest window (2^31), and the guest's RAM takes up to 2^30 of it.
    public static let maxBytes = 1 << 30

    /// First 8 bytes of a transfer compressed against reference files, before `header`'s
    /// length and digest.
    public static let marker = Array("DWCPREF1".utf8)
    /// Bytes of `header`: the marker, the length (8, little-endian) and the digest (16: high
    /// half, then low, each little-endian).
    public static let headerBytes = 32

    /// Reads `paths` whole (each a regular file or block device; none may be empty).
    public init(paths: [String]) throws {
        precondition(!paths.isEmpty)
        var sizes: [Int] = []
        var files: [FileDescriptor] = []
        defer { files.forEach { $0.close() } }
        for path in paths {
            let fd = try FileDescriptor.openForReading(path)
            files.append(fd)
            let size = fd.sizeIfSeekable()
            guard let size, size > 0 else {
                throw DWCPError.usage("--reference \(path): \(size == 0 ? "empty file" : "cannot tell its size (not a regular file or block device)")")
            }
            sizes.append(Int(size))
        }
        let total = sizes.reduce(0, +)
        guard total <= Self.maxBytes else {
            throw DWCPError.usage("--reference: the files hold \(total) bytes together; at most \(Self.maxBytes) (1 GiB) fit the stream's window")
        }
        // Small pages: on a host whose memory two VMs have just filled, huge pages may have to
        // be compacted first (at 1 Gbit a migration given --reference took 0.3-1.0 s longer).
        let buffer = RawBuffer(capacity: total, hugePages: false)
        var at = 0
        for (fd, size) in zip(files, sizes) {
            let got = try fd.readFully(into: buffer.unsafeBase + at, count: size)
            guard got == size else { throw DWCPError.failure("\(fd.name): changed while read (\(got) of \(size) bytes)") }
            at += size
        }
        buffer.count = total
        self.paths = paths
        self.buffer = buffer
        digest = Checksum.xxh3_128(buffer.unsafeBase, total)
    }

    /// The files' bytes end to end; valid while this object lives.
    public var bytes: UnsafeRawBufferPointer { buffer.unsafeBytes }

    /// Bytes of the files together.
    public var count: Int { buffer.count }

    /// What a transfer compressed against these files starts with.
    public var header: [UInt8] {
        var h = Self.marker + [UInt8](repeating: 0, count: Self.headerBytes - Self.marker.count)
        h.withUnsafeMutableBytes { p in
            LittleEndian.store(UInt64(count), p.baseAddress!, 8)
            LittleEndian.store(digest.high, p.baseAddress!, 16)
            LittleEndian.store(digest.low, p.baseAddress!, 24)
        }
        return h
    }

    /// The length and digest a transfer's first bytes name, if they start with `marker`; nil
    /// if they do not. Throws when they start with it but are cut short.
    public static func parseHeader(_ first: UnsafeRawBufferPointer) throws -> (length: UInt64, digest: Digest128)? {
        guard first.starts(with: marker) else { return nil }
        guard first.count >= headerBytes else {
            throw DWCPError.integrity("a reference-files header cut short (\(first.count) of \(headerBytes) bytes)")
        }
        func field(_ at: Int) -> UInt64 { LittleEndian.load(UInt64.self, first.baseAddress!, at) }
        return (field(8), Digest128(high: field(16), low: field(24)))
    }

    /// Throws unless a stream whose header names `length` and `digest` was compressed against
    /// these files. `files` nil: the receiver was given none.
    public static func check(length: UInt64, digest: Digest128, against files: ReferenceFiles?) throws {
        guard let files else {
            throw DWCPError.usage("the source compressed its stream against reference files (\(length) bytes, XXH3-128 \(digest)); give this receiver the same files, in the same order, with --reference")
        }
        guard UInt64(files.count) == length, files.digest == digest else {
            throw DWCPError.usage("the source's reference files (\(length) bytes, XXH3-128 \(digest)) are not this receiver's (\(files.count) bytes, XXH3-128 \(files.digest): \(files.paths.joined(separator: ", "))); both ends need the same files in the same order")
        }
    }
}
