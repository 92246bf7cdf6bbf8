import DWCPCore

/// Byte accounting for one frame or a whole stream: what `--stats` and `--json` report.
public struct EncodeStats: Sendable {
    public var bytesIn: UInt64 = 0
    public var bytesOut: UInt64 = 0
    public var frames: UInt64 = 0
    /// Original bytes by how they were sent.
    public var zeroBytes: UInt64 = 0
    public var duplicateBytes: UInt64 = 0
    public var baselineCopyBytes: UInt64 = 0
    /// Of `baselineCopyBytes`, those copied from another place in the baseline than their own:
    /// what the anchor search found (content that moved).
    public var movedBytes: UInt64 = 0
    public var xorBytes: UInt64 = 0
    public var literalBytes: UInt64 = 0
    /// Literal bytes (original size) per codec setting description, e.g. "zstd-3".
    public var codecMix: [String: UInt64] = [:]
    /// XXH3-128 of the whole input, as the end frame carries it (a whole stream's only).
    public var inputDigest = Digest128.zero

    public init() {}

    public mutating func add(_ o: EncodeStats) {
        bytesIn += o.bytesIn
        bytesOut += o.bytesOut
        frames += o.frames
        zeroBytes += o.zeroBytes
        duplicateBytes += o.duplicateBytes
        baselineCopyBytes += o.baselineCopyBytes
        movedBytes += o.movedBytes
        xorBytes += o.xorBytes
        literalBytes += o.literalBytes
        for (k, v) in o.codecMix { codecMix[k, default: 0] += v }
    }
}
