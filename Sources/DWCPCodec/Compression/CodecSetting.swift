import DWCPCore

/// A compressor and level for literal bytes, as chosen by `-c/--codec` and `-l/--level`.
///
/// Level meaning follows each library's own CLI: zstd -131072...22 (negative = fast modes,
/// 0 = library default), lz4 below 3 is the fast compressor (negative = acceleration), 3...12 HC,
/// brotli 0...11. zstd without `-l` is `adaptiveZstd`: the search is chosen per section.
public struct CodecSetting: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var codec: CodecID
    public var level: Int
    /// zstd only: choose the search per section (`ZstdSearch`) instead of level `level`'s.
    public var adaptive: Bool

    public init(codec: CodecID, level: Int) {
        self.codec = codec
        self.level = level
        adaptive = false
    }

    public static let none = CodecSetting(codec: .none, level: 0)

    /// zstd's default in dwcp: level 1's search on nearly random sections, a wider double-fast
    /// one on the rest (`ZstdSearch`). `level` is 3, the level whose size it is held to.
    public static let adaptiveZstd: CodecSetting = {
        var s = CodecSetting(codec: .zstd, level: 3)
        s.adaptive = true
        return s
    }()

    /// What a codec does when no level is given: `adaptiveZstd`, lz4 1, brotli 5.
    public static func standard(for codec: CodecID) -> CodecSetting {
        codec == .zstd ? adaptiveZstd : CodecSetting(codec: codec, level: defaultLevel(for: codec))
    }

    /// The level a codec uses when `-l` is not given (zstd: the one `adaptiveZstd` is held to, and
    /// the level of `--format zstd`).
    public static func defaultLevel(for codec: CodecID) -> Int {
        switch codec {
        case .zstd: return 3
        case .lz4: return 1
        case .brotli: return 5
        case .none: return 0
        }
    }

    /// The levels a codec accepts.
    public static func levelRange(for codec: CodecID) -> ClosedRange<Int> {
        switch codec {
        case .zstd: return -131072...22
        case .lz4: return -65537...12
        case .brotli: return 0...11
        case .none: return 0...0
        }
    }

    /// Parses `CODEC` or `CODEC:LEVEL` (`zstd:1`, `zstd:-3`, `lz4:9`, `brotli`, `none`), as
    /// dwcp-migrate's `--codec` takes it; nil if the codec is unknown or the level out of range.
    public static func parse(_ text: String) -> CodecSetting? {
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard let id = CodecID.allCases.first(where: { "\($0)" == parts[0] }) else { return nil }
        guard parts.count == 2 else { return standard(for: id) }
        guard let level = Int(parts[1]), levelRange(for: id).contains(level) else { return nil }
        return CodecSetting(codec: id, level: level)
    }

    public var description: String {
        codec == .none ? "none" : adaptive ? "\(codec)-adaptive" : "\(codec)-\(level)"
    }
}
