/// The payload of the end frame: what the whole original stream must add up to.
///
///     0              8              16                          48
///     +--------------+--------------+---------------------------+
///     | total length | frame count  | XXH3-128 of stream (hi,lo)|
///     +--------------+--------------+---------------------------+
public struct EndPayload: Equatable, Sendable {
    public static let encodedLength = 32

    /// Bytes of original data in the stream.
    public var totalLength: UInt64
    /// Frames before the end frame (data and metadata).
    public var frameCount: UInt64
    /// XXH3-128 of all original bytes.
    public var digest: Digest128

    public init(totalLength: UInt64, frameCount: UInt64, digest: Digest128) {
        self.totalLength = totalLength
        self.frameCount = frameCount
        self.digest = digest
    }

    public func encoded() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Self.encodedLength)
        bytes.withUnsafeMutableBytes { raw in
            let p = raw.baseAddress!
            LittleEndian.store(totalLength, p, 0)
            LittleEndian.store(frameCount, p, 8)
            LittleEndian.store(digest.high, p, 16)
            LittleEndian.store(digest.low, p, 24)
        }
        return bytes
    }

    public static func decode(_ raw: UnsafeRawBufferPointer) throws -> EndPayload {
        guard raw.count == encodedLength else {
            throw DWCPError.integrity("corrupt end frame: payload is \(raw.count) bytes, expected \(encodedLength)")
        }
        let p = raw.baseAddress!
        return EndPayload(totalLength: LittleEndian.load(UInt64.self, p, 0),
                          frameCount: LittleEndian.load(UInt64.self, p, 8),
                          digest: Digest128(high: LittleEndian.load(UInt64.self, p, 16), low: LittleEndian.load(UInt64.self, p, 24)))
    }
}
