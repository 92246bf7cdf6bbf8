#if canImport(Glibc)
import Glibc
#endif

/// Thresholds of the reputation model; every one is a command-line option.
public struct ReputationConfig: Sendable {
    /// Weight of the newest timing observation in the score (exponential decay).
    public var alpha = 0.1
    public var suspectBelow = 0.5
    public var quarantineBelow = 0.3
    /// Later than this after the sender's stamp is late (the protocol's timeout).
    public var timeoutMs: Int64 = 1000
    /// Stamped further than this in the future is a timing violation (clock tolerance).
    public var clockToleranceMs: Int64 = 100
    /// Bad-rate test: quarantine when, over the last `window` observations, the bad fraction is
    /// above `maxBadRate` with confidence `confidence` (one-sided Wilson bound). This catches
    /// on-off attackers, whose score an average keeps above the threshold.
    public var maxBadRate = 0.10
    public var confidence = 0.999
    public var window = 200
    public var minObservations = 30
    /// Slow: median latency at least `slowFactor` × the population's, with `slowConfidence`.
    public var slowFactor = 3.0
    public var slowConfidence = 0.99
    public init() {}
}

/// One node's standing: its score, its recent timing record and its latency histogram.
public struct Standing: Sendable {
    /// Where the node stands (docs/REPUTATION.md): `suspect` below a score of 0.5 by default; `quarantined` below 0.3, by the Wilson rule, or at once on proof.
    public enum State: String, Sendable { case ok, suspect, quarantined }
    public var score = 1.0
    public var state = State.ok
    public var reason: String?
    /// Messages from (or blamed on) this node seen so far, and how many when quarantined.
    public var messages = 0
    public var quarantinedAt: Int?
    /// Receive time (ms) of the first record about this node, and of its quarantine.
    public var firstSeenMs: Int64?
    public var quarantinedAtMs: Int64?
    /// Last `window` timing observations, true = bad (ring).
    var recent: [Bool] = []
    var recentPos = 0
    var recentBad = 0
    /// Latency histogram in quarter-octave buckets (see `LatencyBuckets`).
    var latency = [UInt32](repeating: 0, count: LatencyBuckets.count)
    var latencyCount = 0
    public var slowReported = false
}

/// Quarter-octave latency buckets: bucket b holds latencies around 2^(b/4) − 1 ms (19 % wide),
/// enough to compare medians, and small enough to keep per node.
enum LatencyBuckets {
    static let count = 64
    static func bucket(_ ms: Int64) -> Int {
        guard ms > 0 else { return 0 }
        return min(count - 1, Int(4 * log2(Double(ms) + 1)))
    }
    static func value(_ b: Int) -> Double { pow(2, (Double(b) + 0.5) / 4) - 1 }
    static func median(_ h: [UInt32], total: Int) -> Int {
        var seen = 0
        for (b, n) in h.enumerated() {
            seen += Int(n)
            if seen * 2 >= total { return b }
        }
        return count - 1
    }
}
