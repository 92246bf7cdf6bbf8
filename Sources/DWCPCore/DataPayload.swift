/// Identifies the compressor applied to a data frame's literal section (wire values).
public enum CodecID: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case none = 0
    case zstd = 1
    case lz4 = 2
    case brotli = 3

    public var description: String {
        switch self {
        case .none: return "none"
        case .zstd: return "zstd"
        case .lz4: return "lz4"
        case .brotli: return "brotli"
        }
    }
}

/// One instruction of a data frame: how to produce the next `length` decoded bytes.
///
/// Ops are why zero pages, duplicate pages and pages unchanged since the baseline cost a few
/// bytes instead of a page: they are described rather than sent.
public enum BlockOp: Equatable, Sendable {
    /// Take the next `length` bytes of the decompressed literal section.
    case literal(length: Int)
    /// `length` zero bytes.
    case zero(length: Int)
    /// Copy `length` bytes of the baseline image starting at `baselineOffset`.
    case copyBaseline(length: Int, baselineOffset: UInt64)
    /// Copy `length` bytes that were already decoded `distance` bytes before the current position
    /// (`distance >= length`, `distance <= window`).
    case copyBack(length: Int, distance: UInt64)
    /// Take the next `length` literal bytes and XOR them with the baseline at `baselineOffset`.
    case xorBaseline(length: Int, baselineOffset: UInt64)

    public var length: Int {
        switch self {
        case .literal(let n), .zero(let n), .copyBaseline(let n, _), .copyBack(let n, _), .xorBaseline(let n, _): return n
        }
    }

    /// Wire type numbers (low three bits of an op's first varint).
    public static let literalType: UInt64 = 0
    public static let zeroType: UInt64 = 1
    public static let copyBaselineType: UInt64 = 2
    public static let copyBackType: UInt64 = 3
    public static let xorBaselineType: UInt64 = 4

    /// Appends the op's wire form: `varint(length << 3 | type)` then the argument varint, if any.
    public func append(to bytes: inout [UInt8]) {
        switch self {
        case .literal(let n):
            VarInt.append(UInt64(n) << 3 | Self.literalType, to: &bytes)
        case .zero(let n):
            VarInt.append(UInt64(n) << 3 | Self.zeroType, to: &bytes)
        case .copyBaseline(let n, let off):
            VarInt.append(UInt64(n) << 3 | Self.copyBaselineType, to: &bytes)
            VarInt.append(off, to: &bytes)
        case .copyBack(let n, let d):
            VarInt.append(UInt64(n) << 3 | Self.copyBackType, to: &bytes)
            VarInt.append(d, to: &bytes)
        case .xorBaseline(let n, let off):
            VarInt.append(UInt64(n) << 3 | Self.xorBaselineType, to: &bytes)
            VarInt.append(off, to: &bytes)
        }
    }

    /// Parses every op of an op section. Checks each op's own arguments against the frame's limits;
    /// the caller checks the totals (sum of lengths, literal bytes consumed).
    public static func parseAll(_ raw: UnsafeRawBufferPointer, maxLength: Int, window: UInt64,
                                baselineLength: UInt64?) throws -> [BlockOp] {
        var ops: [BlockOp] = []
        guard let base = raw.baseAddress else { return ops }
        var cursor = 0
        let end = raw.count
        func bad(_ why: String) -> DWCPError { .integrity("malformed op list: \(why) at op byte \(cursor)") }
        while cursor < end {
            guard let head = VarInt.read(base, &cursor, end) else { throw bad("truncated op") }
            let type = head & 7
            let length64 = head >> 3
            guard length64 > 0 && length64 <= UInt64(maxLength) else { throw bad("op length \(length64) out of range") }
            let length = Int(length64)
            switch type {
            case literalType:
                ops.append(.literal(length: length))
            case zeroType:
                ops.append(.zero(length: length))
            case copyBaselineType, xorBaselineType:
                guard let off = VarInt.read(base, &cursor, end) else { throw bad("truncated baseline offset") }
                guard let baseLen = baselineLength else { throw bad("baseline reference in a stream without baseline") }
                guard off <= baseLen && length64 <= baseLen - off else {
                    throw bad("baseline range \(off)+\(length) beyond baseline length \(baseLen)")
                }
                ops.append(type == copyBaselineType ? .copyBaseline(length: length, baselineOffset: off)
                                                    : .xorBaseline(length: length, baselineOffset: off))
            case copyBackType:
                guard let d = VarInt.read(base, &cursor, end) else { throw bad("truncated distance") }
                guard d >= length64 && d <= window else { throw bad("back-reference distance \(d) invalid for length \(length) and window \(window)") }
                ops.append(.copyBack(length: length, distance: d))
            default:
                throw bad("unknown op type \(type)")
            }
        }
        return ops
    }
}

/// The fixed 20-byte head of a data frame's payload, followed by the op section, the reference
/// ranges and the (compressed) literal section.
///
///     0     1     2      4         8          12          16          20
///     +-----+-----+------+---------+----------+-----------+-----------+------+------+---------+
///     |codec|lflag| rsvd | ops len | refs len | lit dec   | lit enc   | ops  | refs | literal |
///     +-----+-----+------+---------+----------+-----------+-----------+------+------+---------+
///
/// Reference ranges (`refs`) are `varint offset, varint length` pairs naming baseline bytes; when
/// present their concatenation is the prefix the literal section was compressed against
/// (zstd `refPrefix`), so literals can match baseline content near where they used to be.
public struct DataPayloadHead: Equatable, Sendable {
    public static let encodedLength = 20
    /// Literal flag: the literal section was compressed with the reference-range prefix.
    public static let referencePrefixFlag: UInt8 = 0x01
    /// Cap on the prefix a frame may ask the decoder to assemble.
    public static let maxReferenceBytes = 1 << 27

    public var codec: CodecID
    public var literalFlags: UInt8
    public var opsLength: UInt32
    public var refsLength: UInt32
    public var literalDecodedLength: UInt32
    public var literalEncodedLength: UInt32

    public init(codec: CodecID, literalFlags: UInt8, opsLength: UInt32, refsLength: UInt32,
                literalDecodedLength: UInt32, literalEncodedLength: UInt32) {
        self.codec = codec
        self.literalFlags = literalFlags
        self.opsLength = opsLength
        self.refsLength = refsLength
        self.literalDecodedLength = literalDecodedLength
        self.literalEncodedLength = literalEncodedLength
    }

    public var totalLength: Int {
        Self.encodedLength + Int(opsLength) + Int(refsLength) + Int(literalEncodedLength)
    }

    public func store(to p: UnsafeMutableRawPointer) {
        p.storeBytes(of: codec.rawValue, toByteOffset: 0, as: UInt8.self)
        p.storeBytes(of: literalFlags, toByteOffset: 1, as: UInt8.self)
        LittleEndian.store(UInt16(0), p, 2)
        LittleEndian.store(opsLength, p, 4)
        LittleEndian.store(refsLength, p, 8)
        LittleEndian.store(literalDecodedLength, p, 12)
        LittleEndian.store(literalEncodedLength, p, 16)
    }

    public static func decode(_ raw: UnsafeRawBufferPointer) throws -> DataPayloadHead {
        guard raw.count >= encodedLength else { throw DWCPError.integrity("data payload shorter than its head") }
        let p = raw.baseAddress!
        guard let codec = CodecID(rawValue: p.load(fromByteOffset: 0, as: UInt8.self)) else {
            throw DWCPError.integrity("unknown literal codec \(p.load(fromByteOffset: 0, as: UInt8.self))")
        }
        let head = DataPayloadHead(codec: codec, literalFlags: p.load(fromByteOffset: 1, as: UInt8.self),
                                   opsLength: LittleEndian.load(UInt32.self, p, 4),
                                   refsLength: LittleEndian.load(UInt32.self, p, 8),
                                   literalDecodedLength: LittleEndian.load(UInt32.self, p, 12),
                                   literalEncodedLength: LittleEndian.load(UInt32.self, p, 16))
        guard head.totalLength == raw.count else {
            throw DWCPError.integrity("data payload sections add up to \(head.totalLength) bytes, payload is \(raw.count)")
        }
        return head
    }
}

/// A contiguous range of the baseline, as listed in a data frame's reference section.
public struct BaselineRange: Equatable, Sendable {
    public var offset: UInt64
    public var length: Int
    public init(offset: UInt64, length: Int) {
        self.offset = offset
        self.length = length
    }

    public static func appendAll(_ ranges: [BaselineRange], to bytes: inout [UInt8]) {
        for r in ranges {
            VarInt.append(r.offset, to: &bytes)
            VarInt.append(UInt64(r.length), to: &bytes)
        }
    }

    public static func parseAll(_ raw: UnsafeRawBufferPointer, baselineLength: UInt64?) throws -> [BaselineRange] {
        var out: [BaselineRange] = []
        guard let base = raw.baseAddress, raw.count > 0 else { return out }
        guard let baseLen = baselineLength else { throw DWCPError.integrity("reference ranges in a stream without baseline") }
        var cursor = 0
        var total = 0
        while cursor < raw.count {
            guard let off = VarInt.read(base, &cursor, raw.count), let len = VarInt.read(base, &cursor, raw.count) else {
                throw DWCPError.integrity("truncated reference range")
            }
            guard len > 0, off <= baseLen, len <= baseLen - off else {
                throw DWCPError.integrity("reference range \(off)+\(len) beyond baseline length \(baseLen)")
            }
            total += Int(len)
            guard total <= DataPayloadHead.maxReferenceBytes else { throw DWCPError.integrity("reference ranges exceed \(DataPayloadHead.maxReferenceBytes) bytes") }
            out.append(BaselineRange(offset: off, length: Int(len)))
        }
        return out
    }
}
