/// The kind of a frame. Values below 0x80 are defined by the format; a reader that meets a kind
/// it does not know fails unless the frame's `skippable` flag is set.
public struct FrameKind: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// A block of the original stream, encoded (see `DataPayload`).
    public static let data = FrameKind(rawValue: 0x01)
    /// The last frame: total length, frame count and digest of the original stream.
    public static let end = FrameKind(rawValue: 0x02)
    /// A data frame whose literal section was compressed with the literal history as zstd prefix
    /// (see `StreamHeader.history`): decoding needs the previous data frames' literal bytes.
    public static let dataWithHistory = FrameKind(rawValue: 0x03)
    /// Skippable metadata: one JSON object describing the encoder and its settings.
    public static let info = FrameKind(rawValue: 0x10)

    /// Both kinds of data frame.
    public var isData: Bool { self == .data || self == .dataWithHistory }

    public var description: String {
        switch self {
        case .data: return "data"
        case .dataWithHistory: return "data+history"
        case .end: return "end"
        case .info: return "info"
        default: return "kind 0x" + String(rawValue, radix: 16)
        }
    }
}

/// The fixed 56-byte header in front of every frame's payload.
///
/// Each frame carries its own sequence number and the offset of its bytes in the original
/// stream, so frames can be verified on their own, striped over many connections, reordered and
/// resumed. Two checksums cover the payload as sent and the bytes it decodes to; a third covers
/// the header itself so a corrupt length is caught before it is trusted.
///
///     0    1     2        4           8               16              24       28      32
///     +----+-----+--------+-----------+---------------+---------------+--------+-------+
///     |kind|flags| hdrlen | payload   |   sequence    | decoded offset| dec len| rsvd  |
///     +----+-----+--------+-----------+---------------+---------------+--------+-------+
///     32                  40                  48                  56
///     +-------------------+-------------------+-------------------+
///     | XXH3-64 payload   | XXH3-64 decoded   | XXH3-64 hdr[0..48)|
///     +-------------------+-------------------+-------------------+
public struct FrameHeader: Equatable, Sendable {
    public static let encodedLength = 56
    /// Flag bit: a reader that does not know `kind` may skip this frame.
    public static let skippableFlag: UInt8 = 0x01
    /// Largest payload any frame may declare; bounds what a reader allocates for hostile input.
    public static let maxPayloadLimit = (1 << 26) + (1 << 20)

    public var kind: FrameKind
    public var flags: UInt8
    public var payloadLength: UInt32
    public var sequence: UInt64
    public var offset: UInt64
    public var decodedLength: UInt32
    public var payloadChecksum: UInt64
    public var decodedChecksum: UInt64

    public init(kind: FrameKind, flags: UInt8 = 0, payloadLength: UInt32, sequence: UInt64, offset: UInt64,
                decodedLength: UInt32, payloadChecksum: UInt64, decodedChecksum: UInt64) {
        self.kind = kind
        self.flags = flags
        self.payloadLength = payloadLength
        self.sequence = sequence
        self.offset = offset
        self.decodedLength = decodedLength
        self.payloadChecksum = payloadChecksum
        self.decodedChecksum = decodedChecksum
    }

    public var isSkippable: Bool { flags & Self.skippableFlag != 0 }

    /// Writes the header into `p[0..<56]`.
    public func store(to p: UnsafeMutableRawPointer) {
        p.storeBytes(of: kind.rawValue, toByteOffset: 0, as: UInt8.self)
        p.storeBytes(of: flags, toByteOffset: 1, as: UInt8.self)
        LittleEndian.store(UInt16(Self.encodedLength), p, 2)
        LittleEndian.store(payloadLength, p, 4)
        LittleEndian.store(sequence, p, 8)
        LittleEndian.store(offset, p, 16)
        LittleEndian.store(decodedLength, p, 24)
        LittleEndian.store(UInt32(0), p, 28)
        LittleEndian.store(payloadChecksum, p, 32)
        LittleEndian.store(decodedChecksum, p, 40)
        LittleEndian.store(Checksum.xxh3(UnsafeRawPointer(p), 48), p, 48)
    }

    public func encoded() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Self.encodedLength)
        bytes.withUnsafeMutableBytes { store(to: $0.baseAddress!) }
        return bytes
    }

    /// Parses and verifies a header. `streamOffset` is only used in error messages.
    public static func decode(_ p: UnsafeRawPointer, streamOffset: UInt64) throws -> FrameHeader {
        let stored = LittleEndian.load(UInt64.self, p, 48)
        guard stored == Checksum.xxh3(p, 48) else {
            throw DWCPError.integrity("corrupt frame header at offset \(streamOffset): header checksum mismatch")
        }
        let headerLength = LittleEndian.load(UInt16.self, p, 2)
        guard Int(headerLength) == encodedLength else {
            throw DWCPError.integrity("corrupt frame header at offset \(streamOffset): header length \(headerLength), expected \(encodedLength)")
        }
        let header = FrameHeader(
            kind: FrameKind(rawValue: p.load(fromByteOffset: 0, as: UInt8.self)),
            flags: p.load(fromByteOffset: 1, as: UInt8.self),
            payloadLength: LittleEndian.load(UInt32.self, p, 4),
            sequence: LittleEndian.load(UInt64.self, p, 8),
            offset: LittleEndian.load(UInt64.self, p, 16),
            decodedLength: LittleEndian.load(UInt32.self, p, 24),
            payloadChecksum: LittleEndian.load(UInt64.self, p, 32),
            decodedChecksum: LittleEndian.load(UInt64.self, p, 40))
        guard Int(header.payloadLength) <= maxPayloadLimit else {
            throw DWCPError.integrity("corrupt frame header at offset \(streamOffset): payload length \(header.payloadLength) exceeds \(maxPayloadLimit)")
        }
        return header
    }
}
