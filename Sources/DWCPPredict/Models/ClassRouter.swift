/// A forecaster that can also say which model answered and how uncertain it is (p10/p90), as
/// `dwcp-predict` prints it: `AutoSelector` and `ClassRouter`.
public protocol BandForecaster: Forecaster {
    func detail(horizon: Int) -> (model: String, forecast: Double, p10: Double, p90: Double)?
    /// Whether the band comes from measured errors (`eval` scores its coverage) rather than
    /// a fixed ±50 % around a forecaster that keeps no errors.
    var bandIsMeasured: Bool { get }
}

extension AutoSelector: BandForecaster {
    public var bandIsMeasured: Bool { true }
}

/// Answers with the forecaster of the link class the live series resembles most.
///
/// Given one forecaster per class (each built from a model trained on that class's traces), it
/// tracks the live series' `LinkProfile` and routes every forecast to the class whose training
/// profile is nearest, the features scaled by their spread across the classes. Every class's
/// forecaster sees every bin, so switching class costs nothing. Routing starts with the first bin
/// (the level alone already tells 3G from 5G) and keeps refining as the series goes on.
public final class ClassRouter: BandForecaster {
    public let name: String
    public let classes: [(profile: LinkProfile, forecaster: Forecaster)]
    private var live = LinkProfile()
    private let levelScale: Double
    private let volatilityScale: Double

    public init(name: String, classes: [(profile: LinkProfile, forecaster: Forecaster)]) {
        precondition(!classes.isEmpty)
        self.name = name
        self.classes = classes
        func spread(_ values: [Double]) -> Double {
            let mean = values.reduce(0, +) / Double(values.count)
            let sd = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)).squareRoot()
            return sd > 0 ? sd : 1
        }
        levelScale = spread(classes.map(\.profile.level))
        volatilityScale = spread(classes.map(\.profile.volatility))
    }

    /// Index of the class the series so far resembles most (the first before any bin).
    public var chosen: Int {
        guard live.count > 0 else { return 0 }
        return classes.indices.min {
            live.distance(to: classes[$0].profile, levelScale: levelScale, volatilityScale: volatilityScale)
                < live.distance(to: classes[$1].profile, levelScale: levelScale, volatilityScale: volatilityScale)
        }!
    }

    public func observe(_ bps: Double) {
        live.observe(bps)
        for c in classes { c.forecaster.observe(bps) }
    }

    public func forecast(horizon: Int) -> Double? {
        classes[chosen].forecaster.forecast(horizon: horizon)
    }

    /// The chosen class's answer with its band (when it is an `AutoSelector`).
    public func detail(horizon: Int) -> (model: String, forecast: Double, p10: Double, p90: Double)? {
        let f = classes[chosen].forecaster
        if let banded = f as? BandForecaster { return banded.detail(horizon: horizon) }
        return f.forecast(horizon: horizon).map { (f.name, $0, $0 * 0.5, $0 * 1.5) }
    }

    public var bandIsMeasured: Bool {
        classes.allSatisfy { ($0.forecaster as? BandForecaster)?.bandIsMeasured ?? false }
    }

    /// A long gap: the forecasters restart; the profile stays (the link is the same).
    public func reset() {
        for c in classes { c.forecaster.reset() }
    }
}
