import CZstd

/// The match search zstd runs on one literal section.
///
/// A zstd level trades time for size the same way on every input, but a memory image mixes bytes
/// that reward a wide search (heaps: pointers, repeated objects, strings) with bytes that do not
/// (compressed or encrypted blobs, random keys). `-l N` asks for level N everywhere. The default,
/// `CodecSetting.adaptiveZstd`, chooses per section from its byte entropy (`ByteEntropy`):
///
/// - **nearly random** (≥ 7 bits per byte, and no prefix): level 1's search. A wider one finds
///   almost no matches there and costs twice the time (sqlite3's rows of random blobs: level 3
///   takes 2.0–2.3× level 1's time for 0.04 % smaller output);
/// - **structured** (everything else): zstd's double-fast search with a 2^18-entry long-match
///   table (level 3: 2^17), a 2^14-entry short one (2^16) and 6-byte minimum matches (5). On node
///   and guest-RAM dumps it gives 0.98–0.99 of level 3's size; on python3's, 0.99 in 0.93 of the
///   time.
///
/// Both windows cover the section (and its prefix), so a 4 MiB frame can reach back to its start.
/// The decoder needs nothing new: each section is an ordinary zstd frame. docs/AUTO-CODEC.md has
/// the measurements.
public enum ZstdSearch: Equatable, Sendable {
    /// zstd's own parameters for this level.
    case level(Int)
    case nearlyRandom
    case structured

    /// Entropy (bits per byte) from which a section counts as nearly random.
    public static let randomEntropy = 7.0

    /// The search `setting` asks for on `section`. With a prefix (baseline bytes, literal
    /// history) random-looking bytes are what the prefix is for: they may match it at length,
    /// which level 1's small table misses, so they get the structured search.
    public static func choose(_ setting: CodecSetting, section: UnsafeRawBufferPointer, hasPrefix: Bool = false) -> ZstdSearch {
        guard setting.adaptive else { return .level(setting.level) }
        if hasPrefix { return .structured }
        return ByteEntropy.sampled(section) >= randomEntropy ? .nearlyRandom : .structured
    }

    /// The key under which `--stats` counts this search's literal bytes.
    public var label: String {
        switch self {
        case .level(let n): return "zstd-\(n)"
        case .nearlyRandom: return "zstd-fast"
        case .structured: return "zstd-dfast"
        }
    }

    /// Sets the parameters on a freshly reset context that will compress `span` bytes of
    /// window (prefix plus section).
    func apply(to cctx: OpaquePointer, span: Int, hasPrefix: Bool) {
        let windowLog = Self.windowLog(covering: span)
        switch self {
        case .level(let n):
            ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, Int32(clamping: n))
            if hasPrefix { ZSTD_CCtx_setParameter(cctx, ZSTD_c_windowLog, windowLog) }
        case .nearlyRandom:
            ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 1)
            ZSTD_CCtx_setParameter(cctx, ZSTD_c_windowLog, windowLog)
        case .structured:
            ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 3)
            ZSTD_CCtx_setParameter(cctx, ZSTD_c_strategy, Int32(ZSTD_dfast.rawValue))
            ZSTD_CCtx_setParameter(cctx, ZSTD_c_windowLog, windowLog)
            ZSTD_CCtx_setParameter(cctx, ZSTD_c_hashLog, 18)
            ZSTD_CCtx_setParameter(cctx, ZSTD_c_chainLog, 14)
            ZSTD_CCtx_setParameter(cctx, ZSTD_c_minMatch, 6)
        }
    }

    /// The smallest window log (10 to `ZstdLimits.maxWindowLog`) covering `span` bytes.
    static func windowLog(covering span: Int) -> Int32 {
        var log: Int32 = 10
        while (1 << log) < span && log < Int32(ZstdLimits.maxWindowLog) { log += 1 }
        return log
    }
}
