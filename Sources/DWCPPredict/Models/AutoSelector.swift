/// `--model auto`: runs every model on the same series, scores each one's past forecasts once
/// their outcome is known, and answers each horizon with the model that is currently most
/// accurate there. Also gives the uncertainty band from that model's recent errors.
///
/// Score: an exponentially weighted hit rate (a forecast within ±20% of what happened, the w20
/// metric itself), ties broken by weighted |log error|. Scores persist across resets (the link is
/// the same), forecasts in flight do not.
public final class AutoSelector: Forecaster {
    public let name = "auto"
    public let models: [Forecaster]
    public let horizons: [Int]
    /// Weight of each new outcome in a score.
    public var scoreAlpha = 0.01
    private var hits: [[Double]]          // [model][horizon index]
    private var logErrors: [[Double]]
    private var errorsForBand: [[[Double]]]  // [model][horizon] recent log(actual/forecast)
    private var pending: [(bin: Int, forecasts: [[Double?]])] = []
    /// Prefix sums of the bins kept (prefix[0] = 0); `binCount` bins are kept.
    private var prefix: [Double] = [0]
    private var binCount: Int { prefix.count - 1 }

    /// `prior`: initial hit rates per model name and horizon (e.g. from training traces); models
    /// without a prior start at 0.5.
    public init(models: [Forecaster], horizons: [Int], prior: [String: [Int: Double]] = [:]) {
        self.models = models
        self.horizons = horizons
        hits = models.map { m in horizons.map { prior[m.name]?[$0] ?? 0.5 } }
        logErrors = models.map { _ in horizons.map { _ in 0.3 } }
        errorsForBand = models.map { _ in horizons.map { _ in [] } }
    }

    public func observe(_ bps: Double) {
        for m in models { m.observe(bps) }
        prefix.append(prefix.last! + bps)
        // Score forecasts whose horizon is now complete.
        pending.removeAll { p in
            var allDone = true
            for (hi, h) in horizons.enumerated() {
                let end = p.bin + h
                if end > binCount - 1 { allDone = false; continue }
                if end != binCount - 1 { continue }   // scored exactly once, when its window closes
                let actual = (prefix[end + 1] - prefix[p.bin + 1]) / Double(h)
                for mi in models.indices {
                    guard let f = p.forecasts[mi][hi], f > 0 else { continue }
                    let hit = abs(f / actual - 1) <= 0.2 ? 1.0 : 0.0
                    hits[mi][hi] += scoreAlpha * (hit - hits[mi][hi])
                    let le = ln(actual / f)
                    logErrors[mi][hi] += scoreAlpha * (abs(le) - logErrors[mi][hi])
                    errorsForBand[mi][hi].append(le)
                    if errorsForBand[mi][hi].count > 100 { errorsForBand[mi][hi].removeFirst() }
                }
            }
            return allDone
        }
        pending.append((binCount - 1, models.map { m in horizons.map { m.forecast(horizon: $0) } }))
        // Bounded memory: only the longest horizon's worth of bins is needed for prefix sums.
        if binCount > 4096 { compact() }
    }

    private func compact() {
        let keep = (horizons.max() ?? 1) + 2
        let drop = binCount - keep
        let offset = prefix[drop]
        prefix = Array(prefix[drop...]).map { $0 - offset }
        // Re-index pending forecasts and prefix to the new base.
        pending = pending.map { (bin: $0.bin - drop, forecasts: $0.forecasts) }
    }

    /// Index of the model currently best at horizon index `hi`.
    public func choice(horizonIndex hi: Int) -> Int {
        var best = 0
        for mi in models.indices {
            if hits[mi][hi] > hits[best][hi] || (hits[mi][hi] == hits[best][hi] && logErrors[mi][hi] < logErrors[best][hi]) { best = mi }
        }
        return best
    }

    public func forecast(horizon: Int) -> Double? {
        let hi = horizons.firstIndex(of: horizon) ?? horizons.indices.min { abs(horizons[$0] - horizon) < abs(horizons[$1] - horizon) }!
        return models[choice(horizonIndex: hi)].forecast(horizon: horizon)
    }

    /// The chosen model's name and its p10/p90 band for `horizon`.
    public func detail(horizon: Int) -> (model: String, forecast: Double, p10: Double, p90: Double)? {
        let hi = horizons.firstIndex(of: horizon) ?? 0
        let mi = choice(horizonIndex: hi)
        guard let f = models[mi].forecast(horizon: horizon) else { return nil }
        let errors = errorsForBand[mi][hi].sorted()
        guard errors.count >= 5 else { return (models[mi].name, f, f * 0.5, f * 1.5) }
        let q = { (p: Double) in errors[min(errors.count - 1, Int(p * Double(errors.count - 1) + 0.5))] }
        return (models[mi].name, f, f * expo(q(0.1)), f * expo(q(0.9)))
    }

    public func reset() {
        for m in models { m.reset() }
        pending = []
        prefix = [0]
    }
}
