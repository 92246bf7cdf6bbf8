/// Picks how fast `--model auto` should forget (its `scoreAlpha`) for one trained model, by
/// replaying runs the model's weights were not fitted on.
///
/// A slow pace trusts the priors and long records (steady links, where one model stays best); a
/// fast one follows a link whose best model changes. Which suits a link class is measured, not
/// guessed: `train` replays its held-out runs with every candidate pace and keeps the one whose
/// mean w20 over the horizons is highest. The default pace wins ties, so a candidate must beat it.
public struct ScorePaceChoice {
    public struct Candidate: Sendable {
        public var alpha: Double
        /// Mean w20 of `auto` over the horizons, on the replayed runs.
        public var meanW20: Double
    }

    public var horizons: [Int]
    public var candidates: [Double]
    /// The pace `AutoSelector` uses when nothing was chosen.
    public static let defaultAlpha = 0.01

    public init(horizons: [Int], candidates: [Double] = [0.002, 0.005, 0.01, 0.02]) {
        self.horizons = horizons
        self.candidates = candidates
    }

    /// Every candidate's score on `runs` (gap-free series of 1-s bins), and the chosen pace.
    public func choose(model: GRUModel?, runs: [[Double]]) -> (alpha: Double, candidates: [Candidate]) {
        let trace = Trace(path: "held-out runs", segments: runs.map { $0.map { Optional($0) } }, problems: [])
        var scored: [Candidate] = []
        for alpha in candidates {
            let scores = Evaluator(horizons: horizons).run([trace]) { [ModelCatalog.auto(gru: model, horizons: horizons, scoreAlpha: alpha)] }
            let mean = scores.isEmpty ? 0 : scores.map(\.w20).reduce(0, +) / Double(scores.count)
            scored.append(Candidate(alpha: alpha, meanW20: mean))
        }
        var best = scored.first { $0.alpha == Self.defaultAlpha } ?? scored.first
        for c in scored where c.meanW20 > (best?.meanW20 ?? -1) { best = c }
        return (best?.alpha ?? Self.defaultAlpha, scored)
    }
}
