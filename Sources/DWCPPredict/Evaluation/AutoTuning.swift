/// Tunes `--model auto` for one trained model file by replaying runs the model's weights were not
/// fitted on: how fast its scores forget (`scoreAlpha`) and how many top models answer together
/// (`blend`).
///
/// A slow pace trusts the priors and long records (steady links, where one model stays best); a
/// fast one follows a link whose best model changes. Blending the top models helps where they err
/// differently. Which suits a link class is measured, not guessed: `train` replays its held-out
/// runs with every candidate setting and keeps the one whose mean w20 over the horizons is
/// highest. The default setting wins ties, so a candidate must beat it.
public struct AutoTuning {
    /// A pair `train` chooses between: `auto`'s score α and its blend size.
    public struct Setting: Equatable, Sendable {
        public var alpha: Double
        public var blend: Int
        public init(alpha: Double, blend: Int) {
            self.alpha = alpha
            self.blend = blend
        }
    }

    /// A setting with what it scored on the replayed runs.
    public struct Candidate: Sendable {
        public var setting: Setting
        /// Mean w20 of `auto` over the horizons, on the replayed runs.
        public var meanW20: Double
        /// The geometric mean of `auto`'s band scale per horizon over the replayed runs.
        public var bandScales: [Int: Double] = [:]
    }

    public var horizons: [Int]
    public var alphas: [Double]
    public var blends: [Int]
    /// What `AutoSelector` does when nothing was tuned.
    public static let defaultSetting = Setting(alpha: 0.01, blend: 1)

    public init(horizons: [Int], alphas: [Double] = [0.002, 0.005, 0.01, 0.02], blends: [Int] = [1, 2, 3]) {
        self.horizons = horizons
        self.alphas = alphas
        self.blends = blends
    }

    /// Every candidate's score on `runs` (gap-free series of 1-s bins), and the chosen one (its
    /// band scales are where `auto`'s band calibration starts on the next sessions).
    public func choose(model: GRUModel?, runs: [[Double]]) -> (setting: Setting, bandScales: [Int: Double], candidates: [Candidate]) {
        let trace = Trace(path: "held-out runs", segments: runs.map { $0.map { Optional($0) } }, problems: [])
        var scored: [Candidate] = []
        // Calibrated from scale 1 whatever the model file says: the replay measures it.
        var untuned = model
        untuned?.bandScales = nil
        for alpha in alphas {
            for blend in blends {
                var replayed: AutoSelector?
                let scores = Evaluator(horizons: horizons).run([trace]) {
                    let auto = ModelCatalog.auto(gru: untuned, horizons: horizons)
                    auto.scoreAlpha = alpha
                    auto.blend = blend
                    replayed = auto
                    return [auto]
                }
                let mean = scores.isEmpty ? 0 : scores.map(\.w20).reduce(0, +) / Double(scores.count)
                scored.append(Candidate(setting: Setting(alpha: alpha, blend: blend), meanW20: mean, bandScales: replayed?.meanBandScales ?? [:]))
            }
        }
        var best = scored.first { $0.setting == Self.defaultSetting } ?? scored.first
        for c in scored where c.meanW20 > (best?.meanW20 ?? -1) { best = c }
        return (best?.setting ?? Self.defaultSetting, best?.bandScales ?? [:], scored)
    }
}
