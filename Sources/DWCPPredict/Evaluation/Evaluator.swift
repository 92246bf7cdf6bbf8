/// Replays traces bin by bin and scores every model's forecasts, never letting a model see a bin
/// before the forecast that concerns it was made: after observing bin i, each model forecasts the
/// mean of bins i+1 … i+h; the forecast is scored if those bins were all measured. A model that
/// gives a measured p10/p90 band (`auto`) also has the band's coverage scored: how often the
/// actual mean fell inside it, 0.8 when the band is calibrated.
public struct Evaluator {
    /// One model's record at one horizon: the w20 hits, the errors, and for `auto` its band's coverage.
    public struct Score: Sendable {
        public var model: String
        public var horizon: Int
        public var hits = 0
        public var count = 0
        public var ape: [Double] = []
        /// Forecasts that came with a measured band, and how many of those bands held the
        /// actual mean.
        public var banded = 0
        public var inBand = 0

        /// Fraction of forecasts within ±20% of the actual mean.
        public var w20: Double { count == 0 ? 0 : Double(hits) / Double(count) }
        /// Fraction of the actual means inside the forecast's p10-p90 band; nil for a model
        /// without a measured band.
        public var bandCoverage: Double? { banded == 0 ? nil : Double(inBand) / Double(banded) }
        /// Median absolute percentage error.
        public var medape: Double {
            guard !ape.isEmpty else { return 0 }
            let s = ape.sorted()
            return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
        }
    }

    public var horizons: [Int]
    /// Bins each model must have seen before its forecasts count (same for all models).
    public var warmup = 1

    public init(horizons: [Int]) {
        self.horizons = horizons
    }

    /// Scores `makeModels()` (fresh instances per trace) over `traces`.
    public func run(_ traces: [Trace], makeModels: () -> [Forecaster]) -> [Score] {
        var scores: [[Score]] = []   // [model][horizon]
        for trace in traces {
            let models = makeModels()
            let banded = models.map { ($0 as? BandForecaster).flatMap { $0.bandIsMeasured ? $0 : nil } }
            if scores.isEmpty { scores = models.map { m in horizons.map { Score(model: m.name, horizon: $0) } } }
            for segment in trace.segments {
                for m in models { m.reset() }
                var seen = 0
                for (i, bin) in segment.enumerated() {
                    guard let b = bin else { continue }
                    for m in models { m.observe(b) }
                    seen += 1
                    if seen < warmup { continue }
                    for (hi, h) in horizons.enumerated() where i + h < segment.count {
                        var sum = 0.0
                        var complete = true
                        for k in (i + 1)...(i + h) {
                            guard let v = segment[k] else { complete = false; break }
                            sum += v
                        }
                        if !complete { continue }
                        let actual = sum / Double(h)
                        for (mi, m) in models.enumerated() {
                            let f: Double
                            if let b = banded[mi] {
                                guard let d = b.detail(horizon: h) else { continue }
                                f = d.forecast
                                scores[mi][hi].banded += 1
                                if d.p10 <= actual && actual <= d.p90 { scores[mi][hi].inBand += 1 }
                            } else {
                                guard let forecast = m.forecast(horizon: h) else { continue }
                                f = forecast
                            }
                            let ape = abs(f - actual) / actual
                            scores[mi][hi].count += 1
                            if ape <= 0.2 { scores[mi][hi].hits += 1 }
                            scores[mi][hi].ape.append(ape)
                        }
                    }
                }
            }
        }
        return scores.flatMap { $0 }
    }
}
