import DWCPCore

#if canImport(Glibc)
import Glibc
#endif

/// Every node's standing, and the rules that move it.
///
/// Proven faults (equivocation, invalid signatures, replays, missing admission) quarantine at
/// once. Timing observations move an exponentially decaying score (alpha 0.1 by default:
/// suspect below 0.5, quarantine below 0.3); an average alone never catches a node that is bad
/// on every second message (it hovers near 0.47), so a second rule runs beside it: a one-sided
/// Wilson test on the bad fraction of the last `window` observations, which quarantines when
/// the fraction is above `maxBadRate` with the configured confidence, however the bad messages
/// are interleaved.
public final class ReputationBook {
    public let config: ReputationConfig
    /// The normal quantile of `config.confidence`, computed once.
    let zBad: Double
    public private(set) var nodes: [String: Standing] = [:]
    var population = [UInt32](repeating: 0, count: LatencyBuckets.count)
    var populationCount = 0

    public init(config: ReputationConfig) {
        self.config = config
        zBad = Self.z(config.confidence)
    }

    public func standing(_ id: String) -> Standing { nodes[id] ?? Standing() }
    public var quarantined: [String] { nodes.filter { $0.value.state == .quarantined }.map(\.key).sorted() }

    /// The clock of the evidence: the receive time of the record being processed.
    var now: Int64 = 0

    func countMessage(_ id: String) {
        nodes[id, default: Standing()].messages += 1
        if nodes[id]!.firstSeenMs == nil { nodes[id]!.firstSeenMs = now }
    }

    /// A proven fault: quarantine now. Returns the score change, if any.
    func prove(_ id: String, _ reason: String) -> Finding? {
        var s = nodes[id] ?? Standing()
        guard s.state != .quarantined else { return nil }
        s.score = 0
        let f = change(id, &s, to: .quarantined, reason: reason)
        nodes[id] = s
        return f
    }

    private func change(_ id: String, _ s: inout Standing, to state: Standing.State, reason: String, confidence: Double? = nil) -> Finding {
        s.state = state
        s.reason = reason
        if state == .quarantined {
            s.quarantinedAt = s.messages
            s.quarantinedAtMs = now
        }
        var f = Finding(.score, node: id, certain: confidence == nil, confidence: confidence,
                        detail: [("score", Finding.number(s.score)), ("state", "\"\(state.rawValue)\""), ("reason", JSONValue.quote(reason)),
                                 ("messages", "\(s.messages)")])
        if state == .quarantined, confidence != nil { f.certain = false }
        return f
    }

    /// One timing observation of a directly delivered message. Returns findings (slow, timing,
    /// score changes).
    func observe(_ id: String, latencyMs: Int64) -> [Finding] {
        // Updated in place: a copy would duplicate the node's ring and histogram every message.
        observe(id, &nodes[id, default: Standing()], latencyMs: latencyMs)
    }

    private func observe(_ id: String, _ s: inout Standing, latencyMs: Int64) -> [Finding] {
        var out: [Finding] = []
        let late = latencyMs > config.timeoutMs
        let future = latencyMs < -config.clockToleranceMs
        let bad = late || future
        s.score = (1 - config.alpha) * s.score + config.alpha * (bad ? 0 : 1)
        if s.recent.count < config.window {
            s.recent.append(bad)
        } else {
            if s.recent[s.recentPos] { s.recentBad -= 1 }
            s.recent[s.recentPos] = bad
            s.recentPos = (s.recentPos + 1) % config.window
        }
        if bad { s.recentBad += 1 }
        if !future {
            let b = LatencyBuckets.bucket(latencyMs)
            s.latency[b] += 1
            s.latencyCount += 1
            population[b] += 1
            populationCount += 1
        }
        if s.state != .quarantined {
            let n = s.recent.count
            let lower = Self.wilsonLower(bad: s.recentBad, n: n, z: zBad)
            if n >= config.minObservations && lower > config.maxBadRate {
                let what = future ? "messages stamped in the future" : "late messages"
                out.append(Finding(.timing, node: id, certain: false, confidence: config.confidence,
                                   detail: [("bad", "\(s.recentBad)"), ("of", "\(n)"), ("rate_lower_bound", Finding.number(lower)), ("kind", "\"\(what)\"")]))
                out.append(change(id, &s, to: .quarantined, reason: "\(s.recentBad) of \(n) recent messages late or future-stamped", confidence: config.confidence))
                return out
            }
            if s.score < config.quarantineBelow {
                out.append(change(id, &s, to: .quarantined, reason: "score below \(config.quarantineBelow)", confidence: 1 - s.score))
                return out
            }
            if s.score < config.suspectBelow && s.state == .ok {
                out.append(change(id, &s, to: .suspect, reason: "score below \(config.suspectBelow)", confidence: 1 - s.score))
                return out
            }
            if s.score >= config.suspectBelow && s.state == .suspect {
                out.append(change(id, &s, to: .ok, reason: "score recovered", confidence: s.score))
                return out
            }
        }
        if !s.slowReported && s.latencyCount >= config.minObservations && s.latencyCount % 16 == 0, let f = slowness(id, s) {
            s.slowReported = true
            out.append(f)
        }
        return out
    }

    /// Slow: the node's median latency is `slowFactor` × the population's, and a sign test
    /// against the population median says so with `slowConfidence`.
    private func slowness(_ id: String, _ s: Standing) -> Finding? {
        guard populationCount > 0 else { return nil }
        let pop = LatencyBuckets.median(population, total: populationCount)
        let mine = LatencyBuckets.median(s.latency, total: s.latencyCount)
        let ratio = (LatencyBuckets.value(mine) + 1) / (LatencyBuckets.value(pop) + 1)
        guard ratio >= config.slowFactor else { return nil }
        let above = s.latency[(pop + 1)...].reduce(0) { $0 + Int($1) }
        let n = Double(s.latencyCount)
        let z = (Double(above) - n / 2) / (n / 4).squareRoot()
        let confidence = 0.5 * erfc(-z / 2.0.squareRoot())
        guard confidence >= config.slowConfidence else { return nil }
        return Finding(.slow, node: id, certain: false, confidence: confidence,
                       detail: [("median_ms", Finding.number(LatencyBuckets.value(mine))), ("population_median_ms", Finding.number(LatencyBuckets.value(pop)))])
    }

    static func z(_ confidence: Double) -> Double {
        // Inverse normal CDF by bisection (called rarely).
        var lo = 0.0, hi = 10.0
        for _ in 0..<60 {
            let mid = (lo + hi) / 2
            if 0.5 * erfc(-mid / 2.0.squareRoot()) < confidence { lo = mid } else { hi = mid }
        }
        return lo
    }

    /// Lower end of the Wilson score interval for `bad` of `n`.
    static func wilsonLower(bad: Int, n: Int, z: Double) -> Double {
        guard n > 0 else { return 0 }
        let p = Double(bad) / Double(n), nn = Double(n), z2 = z * z
        let centre = p + z2 / (2 * nn)
        let margin = z * ((p * (1 - p) + z2 / (4 * nn)) / nn).squareRoot()
        return max(0, (centre - margin) / (1 + z2 / nn))
    }

    /// Restores a standing (from a state file).
    func set(_ id: String, _ s: Standing) { nodes[id] = s }
}
