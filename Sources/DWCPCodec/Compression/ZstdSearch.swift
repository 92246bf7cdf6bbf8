import CZstd

/// The match search zstd runs on one literal section.
///
/// A zstd level trades time for size the same way on every input, but a memory image mixes bytes
/// that reward a wide search (heaps: pointers, repeated objects, strings) with bytes that do not
/// (compressed or encrypted blobs, random keys), and heaps whose repeats lie close together with
/// heaps whose repeats lie megabytes apart. `-l N` asks for level N everywhere. The default,
/// `CodecSetting.adaptiveZstd`, chooses per section, from its byte entropy (`ByteEntropy`) and
/// then from how far back its repeats lie (`MatchReach`):
///
/// - **nearly random** (≥ 7 bits per byte, and no prefix): level 1's search. A wider one finds
///   almost no matches there and costs twice the time (sqlite3's rows of random blobs: level 3
///   takes 2.0–2.3× level 1's time for 0.04 % smaller output);
/// - **far repeats** (at least `farRepeatsFrom` of the sampled words repeat one 256 KiB or more
///   back, or a prefix): zstd's double-fast search with a 2^18-entry long-match table, a
///   2^14-entry short one and 6-byte minimum matches. node's heap: 8–26 % smaller sections than
///   with the narrow tables below;
/// - **near repeats** (everything else): the same search with tables of 2^15 and 2^13 entries,
///   which forget a position after a few hundred KiB. python3's heap: 0.3–3.5 % smaller than with
///   the wide tables (fewer far candidates, cheaper offsets), in three quarters of the time.
///
/// Both windows cover the section (and its prefix), so a frame can reach back to its start.
/// The decoder needs nothing new: each section is an ordinary zstd frame. docs/AUTO-CODEC.md has
/// the measurements.
public enum ZstdSearch: Equatable, Sendable {
    /// zstd's own parameters for this level.
    case level(Int)
    case nearlyRandom
    case nearRepeats
    case farRepeats

    /// Entropy (bits per byte) from which a section counts as nearly random.
    public static let randomEntropy = 7.0
    /// The fraction of sampled words repeating far back (`MatchReach`) from which a section gets
    /// the wide tables. Per 8 MiB section of the `make-corpus.sh` dumps: node's sections that the
    /// wide tables made 5–26 % smaller measured 0.013–0.17; sqlite3's non-random ones, 0.1–0.9 %
    /// smaller (what keeps that dump under `zstd -3`'s size), 0.005–0.0096; python3's that came
    /// out larger, 0.0002–0.0124, most under 0.004. The bar errs towards the wide tables: wrongly
    /// given, they cost a few percent of size and a third more time on a section; wrongly
    /// withheld, up to a quarter of its size.
    public static let farRepeatsFrom = 0.005

    /// The search `setting` asks for on `section`. With a prefix (baseline bytes, literal
    /// history) random-looking bytes are what the prefix is for: they may match it at length,
    /// which level 1's small table misses, so they get the wide tables (the prefix lies before
    /// the section, far back by definition).
    public static func choose(_ setting: CodecSetting, section: UnsafeRawBufferPointer, hasPrefix: Bool = false) -> ZstdSearch {
        guard setting.adaptive else { return .level(setting.level) }
        if hasPrefix { return .farRepeats }
        if ByteEntropy.sampled(section) >= randomEntropy { return .nearlyRandom }
        // A section no longer than the far distance holds no far repeat: no need to look.
        if section.count <= MatchReach.farDistance { return .nearRepeats }
        return MatchReach.farRepeatFraction(section) >= farRepeatsFrom ? .farRepeats : .nearRepeats
    }

    /// The key under which `--stats` counts this search's literal bytes.
    public var label: String {
        switch self {
        case .level(let n): return "zstd-\(n)"
        case .nearlyRandom: return "zstd-fast"
        case .nearRepeats: return "zstd-dfast-near"
        case .farRepeats: return "zstd-dfast-far"
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
        case .nearRepeats:
            Self.doubleFast(cctx, windowLog: windowLog, longTableLog: 15, shortTableLog: 13)
        case .farRepeats:
            Self.doubleFast(cctx, windowLog: windowLog, longTableLog: 18, shortTableLog: 14)
        }
    }

    /// zstd's double-fast search (level 3's strategy) with the given tables and 6-byte minimum
    /// matches (level 3: 5), over `windowLog`.
    private static func doubleFast(_ cctx: OpaquePointer, windowLog: Int32, longTableLog: Int32, shortTableLog: Int32) {
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 3)
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_strategy, Int32(ZSTD_dfast.rawValue))
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_windowLog, windowLog)
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_hashLog, longTableLog)
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_chainLog, shortTableLog)
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_minMatch, 6)
    }

    /// The smallest window log (10 to `ZstdLimits.maxWindowLog`) covering `span` bytes.
    static func windowLog(covering span: Int) -> Int32 {
        var log: Int32 = 10
        while (1 << log) < span && log < Int32(ZstdLimits.maxWindowLog) { log += 1 }
        return log
    }
}
