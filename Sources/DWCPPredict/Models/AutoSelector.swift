/// `--model auto`: runs every model on the same series, scores each one's past forecasts once
/// their outcome is known, and answers each horizon with the model that is currently most
/// accurate there. Also gives the uncertainty band from that model's recent errors.
///
/// Score: an exponentially weighted hit rate (a forecast within ±20% of what happened, the w20
/// metric itself), ties broken by weighted |log error|. Scores persist across resets (the link is
/// the same), forecasts in flight do not.
///
/// With `blend` N > 1 there is one more contender: the geometric mean of the N models currently
/// scoring best at that horizon. It is scored like the models, so it answers only while it
/// really does better than the best single model on this series (where the top models err in
/// different directions); it starts at the second-best model's prior, so it has to earn that.
///
/// The band is calibrated online (adaptive conformal inference, as Gibbs and Candès adapt a
/// quantile level): every band given is checked when its outcome is known, and a per-horizon
/// scale widens it after a miss and narrows it after a hit, so that in the long run 80 % of the
/// outcomes fall inside whatever the link does. The recent errors alone cover too little at 5
/// and 10 s (0.70-0.77 on the shared traces): they lag the horizon and change regime. `train`
/// stores where the scale settled on its held-out runs (`GRUModel.bandScales`), and a session
/// starts there (`startBandScales`).
public final class AutoSelector: Forecaster {
    public let name = "auto"
    public let models: [Forecaster]
    public let horizons: [Int]
    /// Weight of each new outcome in a score.
    public var scoreAlpha = 0.01
    /// How many of the best-scoring models the blend contender combines (1: no blend).
    public var blend = 1
    /// Scores per contender: the models, then the blend (index `models.count`).
    private var hits: [[Double]]          // [contender][horizon index]
    private var logErrors: [[Double]]
    private var errorsForBand: [[[Double]]]  // [contender][horizon] recent log(actual/forecast)
    /// Forecasts waiting for their outcome: every contender's, and the band given per horizon
    /// (nil while it was the unmeasured ±50 %).
    private var pending: [(bin: Int, forecasts: [[Double?]], bands: [(p10: Double, p90: Double)?])] = []
    /// Per horizon: how far the band reaches from the recent errors' median, as a multiple of
    /// their own p10 and p90 distances (1: the raw quantiles).
    private var bandScale: [Double]
    /// How fast `bandScale` follows the misses: ×e^(rate × 0.8) after a miss, ×e^(−rate × 0.2)
    /// after a hit, which balance where a fifth of the outcomes miss.
    public var bandLearningRate = 0.02
    /// The fraction of outcomes the band is meant to hold.
    public static let bandCoverage = 0.8
    /// The band scale's bounds.
    public static let bandScaleRange = 0.1...50.0
    static func clampedBandScale(_ s: Double) -> Double { min(bandScaleRange.upperBound, max(bandScaleRange.lowerBound, s)) }
    /// Per horizon: the sum of log(`bandScale`) over its updates, and how many (its geometric
    /// mean is what `train` stores as the next sessions' starting scale).
    private var bandScaleLogSum: [Double]
    private var bandScaleUpdates: [Int]
    /// Per horizon, since the last bin: the answering contender's band as log offsets from its
    /// forecast, worked out once for the pending forecast and given again by `detail`.
    private var bandCache: [(contender: Int, offsets: (p10: Double, p90: Double)?)?]
    /// Prefix sums of the bins kept (prefix[0] = 0); `binCount` bins are kept.
    private var prefix: [Double] = [0]
    private var binCount: Int { prefix.count - 1 }
    private var blendIndex: Int { models.count }
    private var contenders: Range<Int> { 0..<(blend > 1 ? models.count + 1 : models.count) }

    /// `prior`: initial hit rates per model name and horizon (e.g. from training traces); models
    /// without a prior start at 0.5.
    public init(models: [Forecaster], horizons: [Int], prior: [String: [Int: Double]] = [:]) {
        self.models = models
        self.horizons = horizons
        hits = models.map { m in horizons.map { prior[m.name]?[$0] ?? 0.5 } }
        let secondBest = horizons.indices.map { [hits] hi in
            let sorted = hits.map { $0[hi] }.sorted(by: >)
            return sorted.count > 1 ? sorted[1] : 0.5
        }
        hits.append(secondBest)
        logErrors = (0...models.count).map { _ in horizons.map { _ in 0.3 } }
        errorsForBand = (0...models.count).map { _ in horizons.map { _ in [] } }
        bandScale = horizons.map { _ in 1 }
        bandScaleLogSum = horizons.map { _ in 0 }
        bandScaleUpdates = horizons.map { _ in 0 }
        bandCache = horizons.map { _ in nil }
    }

    /// Starts the band's calibration from `scales` (per horizon; the nearest horizon's for one
    /// not given), as `train` learned them.
    public func startBandScales(_ scales: [Int: Double]) {
        guard !scales.isEmpty else { return }
        bandCache = horizons.map { _ in nil }
        for (hi, h) in horizons.enumerated() {
            let nearest = scales.keys.min { (abs($0 - h), $0) < (abs($1 - h), $1) }!
            bandScale[hi] = Self.clampedBandScale(scales[nearest]!)
        }
    }

    /// The band scale's geometric mean over its updates so far, per horizon (none before one).
    public var meanBandScales: [Int: Double] {
        var out: [Int: Double] = [:]
        for (hi, h) in horizons.enumerated() where bandScaleUpdates[hi] > 0 {
            out[h] = expo(bandScaleLogSum[hi] / Double(bandScaleUpdates[hi]))
        }
        return out
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
                if let band = p.bands[hi] {
                    let miss = actual < band.p10 || actual > band.p90 ? 1.0 : 0.0
                    bandScale[hi] = Self.clampedBandScale(bandScale[hi] * expo(bandLearningRate * (miss - (1 - Self.bandCoverage))))
                    bandScaleLogSum[hi] += ln(bandScale[hi])
                    bandScaleUpdates[hi] += 1
                }
                for ci in p.forecasts.indices {
                    guard let f = p.forecasts[ci][hi], f > 0 else { continue }
                    let hit = abs(f / actual - 1) <= 0.2 ? 1.0 : 0.0
                    hits[ci][hi] += scoreAlpha * (hit - hits[ci][hi])
                    let le = ln(actual / f)
                    logErrors[ci][hi] += scoreAlpha * (abs(le) - logErrors[ci][hi])
                    errorsForBand[ci][hi].append(le)
                    if errorsForBand[ci][hi].count > 100 { errorsForBand[ci][hi].removeFirst() }
                }
            }
            return allDone
        }
        var forecasts = models.map { m in horizons.map { m.forecast(horizon: $0) } }
        if blend > 1 { forecasts.append(horizons.indices.map { blended(horizonIndex: $0) }) }
        let bands = horizons.indices.map { hi -> (p10: Double, p90: Double)? in
            let ci = choice(horizonIndex: hi)
            let offsets = bandOffsets(contender: ci, horizonIndex: hi)
            bandCache[hi] = (ci, offsets)
            guard let o = offsets, let f = forecast(contender: ci, horizonIndex: hi, horizon: horizons[hi]) else { return nil }
            return (f * expo(o.p10), f * expo(o.p90))
        }
        pending.append((binCount - 1, forecasts, bands))
        // Bounded memory: only the longest horizon's worth of bins is needed for prefix sums.
        if binCount > 4096 { compact() }
    }

    private func compact() {
        let keep = (horizons.max() ?? 1) + 2
        let drop = binCount - keep
        let offset = prefix[drop]
        prefix = Array(prefix[drop...]).map { $0 - offset }
        // Re-index pending forecasts and prefix to the new base.
        pending = pending.map { (bin: $0.bin - drop, forecasts: $0.forecasts, bands: $0.bands) }
    }

    private func better(_ a: Int, than b: Int, _ hi: Int) -> Bool {
        hits[a][hi] > hits[b][hi] || (hits[a][hi] == hits[b][hi] && logErrors[a][hi] < logErrors[b][hi])
    }

    /// The `blend` best-scoring models at horizon index `hi` that have a forecast, best first.
    private func blendMembers(horizonIndex hi: Int) -> [(index: Int, forecast: Double)] {
        var members: [(index: Int, forecast: Double)] = []
        for mi in models.indices.sorted(by: { better($0, than: $1, hi) }) {
            guard let f = models[mi].forecast(horizon: horizons[hi]), f > 0 else { continue }
            members.append((mi, f))
            if members.count == blend { break }
        }
        return members
    }

    /// The blend contender's forecast: the geometric mean of the best models' forecasts.
    private func blended(horizonIndex hi: Int) -> Double? {
        let members = blendMembers(horizonIndex: hi)
        return members.isEmpty ? nil : expo(members.reduce(0) { $0 + ln($1.forecast) } / Double(members.count))
    }

    /// Index of the contender currently best at horizon index `hi` (`models.count`: the blend).
    public func choice(horizonIndex hi: Int) -> Int {
        var best = 0
        for ci in contenders where better(ci, than: best, hi) { best = ci }
        return best
    }

    private func horizonIndex(_ horizon: Int) -> Int {
        horizons.firstIndex(of: horizon) ?? horizons.indices.min { abs(horizons[$0] - horizon) < abs(horizons[$1] - horizon) }!
    }

    private func forecast(contender ci: Int, horizonIndex hi: Int, horizon: Int) -> Double? {
        ci == blendIndex ? blended(horizonIndex: hi) : models[ci].forecast(horizon: horizon)
    }

    public func forecast(horizon: Int) -> Double? {
        let hi = horizonIndex(horizon)
        return forecast(contender: choice(horizonIndex: hi), horizonIndex: hi, horizon: horizon)
    }

    /// The answering model's name (`blend:a+b` for the blend) and its p10/p90 band for `horizon`.
    public func detail(horizon: Int) -> (model: String, forecast: Double, p10: Double, p90: Double)? {
        let hi = horizonIndex(horizon)
        let ci = choice(horizonIndex: hi)
        guard let f = forecast(contender: ci, horizonIndex: hi, horizon: horizon) else { return nil }
        let name = ci == blendIndex ? "blend:" + blendMembers(horizonIndex: hi).map { models[$0.index].name }.joined(separator: "+") : models[ci].name
        let cached = bandCache[hi].flatMap { $0.contender == ci ? $0 : nil }
        guard let o = cached.map({ $0.offsets }) ?? bandOffsets(contender: ci, horizonIndex: hi) else { return (name, f, f * 0.5, f * 1.5) }
        return (name, f, f * expo(o.p10), f * expo(o.p90))
    }

    /// The band of contender `ci` at horizon index `hi` as log offsets from its forecast: its
    /// last errors' p10 and p90 (log actual ÷ forecast), their distances from the median scaled
    /// by `bandScale`; nil before five errors are known.
    private func bandOffsets(contender ci: Int, horizonIndex hi: Int) -> (p10: Double, p90: Double)? {
        let errors = errorsForBand[ci][hi].sorted()
        guard errors.count >= 5 else { return nil }
        let q = { (p: Double) in errors[min(errors.count - 1, Int(p * Double(errors.count - 1) + 0.5))] }
        let median = q(0.5), scale = bandScale[hi]
        return (median + scale * (q(0.1) - median), median + scale * (q(0.9) - median))
    }

    public func reset() {
        for m in models { m.reset() }
        pending = []
        prefix = [0]
        bandCache = horizons.map { _ in nil }
    }
}
