/// The header that opens every DWCP stream.
///
/// It says which format version follows, the geometry the encoder used (page size, largest
/// frame, how far back duplicate references may reach) and which baseline image, if any, the
/// stream is a delta against. Byte layout (little-endian), see docs/FORMAT.md:
///
///     0      4      6     8          12         16          24      28     32
///     +------+--+--+------+----------+----------+-----------+-------+------+
///     | DWCP |mj|mn|hdrlen| pagesize | maxblock |  window   | flags | hist |
///     +------+--+--+------+----------+----------+-----------+-------+------+
///     32            40                          56          64          72
///     +-------------+---------------------------+-----------+-----------+
///     | baseline len|  baseline XXH3-128 (hi,lo) | stream id | XXH3-64   |
///     +-------------+---------------------------+-----------+-----------+
public struct StreamHeader: Equatable, Sendable {
    public static let magic: [UInt8] = Array("DWCP".utf8)
    public static let majorVersion: UInt8 = 1
    /// The minor version this build writes: 2 for a stream with page-list checksums (the
    /// flag came with 1.2), else 1, so streams that do not use it read as they always did.
    public static let minorVersion: UInt8 = 1
    public static let pageListMinorVersion: UInt8 = 2
    /// Flag bit 0: the stream is a delta against a baseline.
    public static let baselineFlag: UInt32 = 1
    /// Flag bit 1 (since 1.2): data frames' decoded checksums, the end frame's digest and the
    /// baseline's digest are taken over page digests (`PageListDigest`).
    public static let pageListFlag: UInt32 = 2
    /// Length of the header this version writes.
    public static let encodedLength = 72
    /// A reader refuses headers longer than this (future minor versions may grow the header).
    public static let maxEncodedLength = 4096
    /// Bounds a decoder accepts, so a hostile header cannot make it allocate without limit.
    public static let pageSizeRange = 512...(1 << 20)
    public static let maxBlockLimit = 1 << 26
    public static let maxWindow: UInt64 = 1 << 32

    public var pageSize: UInt32
    public var maxBlock: UInt32
    public var window: UInt64
    /// Bytes of literal history (0 = none): the last `history` bytes of all earlier literal
    /// sections, the zstd prefix of `dataWithHistory` frames. Lets independently compressed
    /// frames still see the previous frame's content, as one long zstd stream would.
    public var history: UInt32 = 0
    /// Length and digest of the baseline image, or nil for a self-contained stream.
    public var baseline: BaselineIdentity?
    public var streamID: UInt64
    /// Checksums and digests over page digests (`pageListFlag`), not over bytes.
    public var pageListChecksums = false

    public init(pageSize: UInt32, maxBlock: UInt32, window: UInt64, baseline: BaselineIdentity?, streamID: UInt64) {
        self.pageSize = pageSize
        self.maxBlock = maxBlock
        self.window = window
        self.baseline = baseline
        self.streamID = streamID
    }

    public func encoded() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Self.encodedLength)
        bytes.withUnsafeMutableBytes { raw in
            let p = raw.baseAddress!
            for (i, b) in Self.magic.enumerated() { p.storeBytes(of: b, toByteOffset: i, as: UInt8.self) }
            p.storeBytes(of: Self.majorVersion, toByteOffset: 4, as: UInt8.self)
            p.storeBytes(of: pageListChecksums ? Self.pageListMinorVersion : Self.minorVersion, toByteOffset: 5, as: UInt8.self)
            LittleEndian.store(UInt16(Self.encodedLength), p, 6)
            LittleEndian.store(pageSize, p, 8)
            LittleEndian.store(maxBlock, p, 12)
            LittleEndian.store(window, p, 16)
            LittleEndian.store((baseline == nil ? 0 : Self.baselineFlag) | (pageListChecksums ? Self.pageListFlag : 0), p, 24)
            LittleEndian.store(history, p, 28)
            LittleEndian.store(baseline?.length ?? 0, p, 32)
            LittleEndian.store(baseline?.digest.high ?? 0, p, 40)
            LittleEndian.store(baseline?.digest.low ?? 0, p, 48)
            LittleEndian.store(streamID, p, 56)
            LittleEndian.store(Checksum.xxh3(p, 64), p, 64)
        }
        return bytes
    }

    /// What a reader must know from the first 8 bytes: whether this is DWCP at all, and how long
    /// the whole header is. Throws for non-DWCP input and unsupported major versions.
    public static func headerLength(prefix: UnsafeRawBufferPointer) throws -> Int {
        guard prefix.count >= 8 else { throw DWCPError.integrity("truncated stream header (\(prefix.count) bytes)") }
        let p = prefix.baseAddress!
        if !zip(magic, prefix.prefix(4)).allSatisfy({ $0 == $1 }) {
            throw DWCPError.integrity("not a DWCP stream (bad magic at offset 0)")
        }
        let major = p.load(fromByteOffset: 4, as: UInt8.self)
        guard major == majorVersion else {
            throw DWCPError.integrity("unsupported DWCP format version \(major).\(p.load(fromByteOffset: 5, as: UInt8.self)) (this build reads version \(majorVersion).x)")
        }
        let length = Int(LittleEndian.load(UInt16.self, p, 6))
        guard length >= encodedLength && length <= maxEncodedLength else {
            throw DWCPError.integrity("corrupt stream header: header length \(length) out of range")
        }
        return length
    }

    /// Parses and verifies a whole header (its length from `headerLength(prefix:)`).
    public static func decode(_ raw: UnsafeRawBufferPointer) throws -> StreamHeader {
        guard raw.count >= 8 else { throw DWCPError.integrity("truncated stream header (\(raw.count) bytes)") }
        let length = try headerLength(prefix: raw)
        guard raw.count >= length else { throw DWCPError.integrity("truncated stream header: \(raw.count) of \(length) bytes") }
        let p = raw.baseAddress!
        let stored = LittleEndian.load(UInt64.self, p, length - 8)
        guard stored == Checksum.xxh3(p, length - 8) else {
            throw DWCPError.integrity("corrupt stream header: checksum mismatch at offset 0")
        }
        let pageSize = LittleEndian.load(UInt32.self, p, 8)
        let maxBlock = LittleEndian.load(UInt32.self, p, 12)
        let window = LittleEndian.load(UInt64.self, p, 16)
        let flags = LittleEndian.load(UInt32.self, p, 24)
        guard pageSizeRange.contains(Int(pageSize)), pageSize.nonzeroBitCount == 1 else {
            throw DWCPError.integrity("corrupt stream header: page size \(pageSize) not a power of two in \(pageSizeRange)")
        }
        guard maxBlock > 0 && Int(maxBlock) <= maxBlockLimit else {
            throw DWCPError.integrity("corrupt stream header: block size \(maxBlock) out of range")
        }
        guard window <= maxWindow else {
            throw DWCPError.integrity("corrupt stream header: window \(window) exceeds \(maxWindow)")
        }
        // A flag changes how the stream reads: one this reader does not know cannot be skipped.
        guard flags & ~(baselineFlag | pageListFlag) == 0 else {
            throw DWCPError.integrity("stream header flags 0x\(String(flags, radix: 16)) include one this reader does not know (written by a newer encoder?)")
        }
        var baseline: BaselineIdentity?
        if flags & baselineFlag != 0 {
            baseline = BaselineIdentity(
                length: LittleEndian.load(UInt64.self, p, 32),
                digest: Digest128(high: LittleEndian.load(UInt64.self, p, 40), low: LittleEndian.load(UInt64.self, p, 48)))
        }
        let history = LittleEndian.load(UInt32.self, p, 28)
        guard Int(history) <= maxBlockLimit else {
            throw DWCPError.integrity("corrupt stream header: history \(history) exceeds \(maxBlockLimit)")
        }
        var header = StreamHeader(pageSize: pageSize, maxBlock: maxBlock, window: window, baseline: baseline,
                                  streamID: LittleEndian.load(UInt64.self, p, 56))
        header.history = history
        header.pageListChecksums = flags & pageListFlag != 0
        return header
    }
}

/// Names a baseline image by length and XXH3-128 digest, so a decoder can refuse the wrong one.
public struct BaselineIdentity: Equatable, Sendable {
    public var length: UInt64
    public var digest: Digest128

    public init(length: UInt64, digest: Digest128) {
        self.length = length
        self.digest = digest
    }
}
