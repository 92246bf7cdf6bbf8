/// The models by command-line name, so `--model`, `eval` and `auto` build the same set.
public enum ModelCatalog {
    /// The baselines, in the order tables list them.
    public static let baselineNames = ["last", "ma5", "ewma", "harmonic", "holt", "ar3"]

    public static func baseline(_ name: String) -> Forecaster? {
        switch name {
        case "last": return LastValue()
        case "ma5", "ma": return MovingAverage(window: 5)
        case "ewma": return EWMA()
        case "harmonic": return HarmonicMean()
        case "holt": return Holt()
        case "ar3", "ar": return AutoRegressive(order: 3)
        default: return nil
        }
    }

    /// Every model available: the baselines and, with a trained model, the GRU.
    public static func all(gru: GRUModel?) -> [Forecaster] {
        baselineNames.compactMap(baseline) + (gru.map { [GRUForecaster(model: $0)] } ?? [])
    }

    /// `--model auto` over every model, starting from the priors stored with the GRU, scoring at
    /// the pace and blending as many models as `train` chose for it.
    public static func auto(gru: GRUModel?, horizons: [Int]) -> AutoSelector {
        let selector = AutoSelector(models: all(gru: gru), horizons: horizons, prior: gru?.priors ?? [:])
        if let alpha = gru?.scoreAlpha { selector.scoreAlpha = alpha }
        if let blend = gru?.blend { selector.blend = blend }
        if let scales = gru?.bandScales { selector.startBandScales(scales) }
        return selector
    }

    /// `auto` with one model file per link class: each class's models and priors, routed by the
    /// live series' profile (`ClassRouter`). One file (or none) is plain `auto`.
    public static func auto(grus: [GRUModel], horizons: [Int]) -> BandForecaster {
        guard grus.count > 1 else { return auto(gru: grus.first, horizons: horizons) }
        return ClassRouter(name: "auto", classes: grus.map { ($0.profile ?? LinkProfile(), auto(gru: $0, horizons: horizons)) })
    }

    /// The GRU, or with one model file per link class, the GRU of the class the series resembles.
    public static func gru(_ grus: [GRUModel]) -> Forecaster? {
        guard grus.count > 1 else { return grus.first.map { GRUForecaster(model: $0) } }
        return ClassRouter(name: "gru", classes: grus.map { ($0.profile ?? LinkProfile(), GRUForecaster(model: $0)) })
    }
}
