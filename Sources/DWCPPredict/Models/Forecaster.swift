/// A bandwidth forecaster fed one bin (mean bit/s over one second) at a time.
///
/// Why a protocol: `--model auto` and `eval` run every model side by side on the same series, and
/// each model is a small online state machine (no model ever sees a bin before it happened).
public protocol Forecaster: AnyObject {
    /// The name used on the command line and in JSON (`last`, `ewma`, `gru`, …).
    var name: String { get }
    /// Feeds the next bin's mean rate (bit/s, > 0).
    func observe(_ bps: Double)
    /// Forecast of the mean rate over the next `horizon` bins; nil before the first observation.
    func forecast(horizon: Int) -> Double?
    /// Forgets the series (a new trace or a long gap).
    func reset()
}

/// The most recent bin. Hard to beat one second ahead.
public final class LastValue: Forecaster {
    public let name = "last"
    private var last: Double?
    public init() {}
    public func observe(_ bps: Double) { last = bps }
    public func forecast(horizon: Int) -> Double? { last }
    public func reset() { last = nil }
}

/// Arithmetic mean of the last `window` bins.
public final class MovingAverage: Forecaster {
    public let name: String
    private let window: Int
    private var values: [Double] = []
    public init(window: Int = 5) {
        self.window = window
        name = "ma\(window)"
    }
    public func observe(_ bps: Double) {
        values.append(bps)
        if values.count > window { values.removeFirst() }
    }
    /// Summed afresh each time: a running sum that adds each bin and subtracts it when it leaves
    /// keeps the rounding error of the largest bin it ever held, which after a spike many orders
    /// of magnitude above the rest is larger than the rest (ParseFuzzer found a forecast of -9e45).
    public func forecast(horizon: Int) -> Double? { values.isEmpty ? nil : values.reduce(0, +) / Double(values.count) }
    public func reset() { values = [] }
}

/// Exponentially weighted moving average. The one to beat 5-10 s ahead.
public final class EWMA: Forecaster {
    public let name = "ewma"
    private let alpha: Double
    private var level: Double?
    public init(alpha: Double = 0.25) { self.alpha = alpha }
    public func observe(_ bps: Double) { level = level.map { $0 + alpha * (bps - $0) } ?? bps }
    public func forecast(horizon: Int) -> Double? { level }
    public func reset() { level = nil }
}

/// Harmonic mean of the last `window` bins, as MPC and Pensieve use: robust to spikes, biased low.
public final class HarmonicMean: Forecaster {
    public let name = "harmonic"
    private let window: Int
    private var inverses: [Double] = []
    public init(window: Int = 5) { self.window = window }
    public func observe(_ bps: Double) {
        inverses.append(1 / bps)
        if inverses.count > window { inverses.removeFirst() }
    }
    public func forecast(horizon: Int) -> Double? {
        inverses.isEmpty ? nil : Double(inverses.count) / inverses.reduce(0, +)
    }
    public func reset() { inverses = [] }
}

/// Holt's linear trend with damping, in the log domain (so forecasts stay positive and a trend is
/// a rate of relative change). The horizon forecast is the mean of the damped path.
public final class Holt: Forecaster {
    public let name = "holt"
    private let alpha: Double, beta: Double, phi: Double
    private var level: Double?
    private var trend = 0.0
    public init(alpha: Double = 0.5, beta: Double = 0.1, phi: Double = 0.9) {
        self.alpha = alpha
        self.beta = beta
        self.phi = phi
    }
    public func observe(_ bps: Double) {
        let y = ln(bps)
        guard let l = level else { level = y; return }
        let newLevel = alpha * y + (1 - alpha) * (l + phi * trend)
        trend = beta * (newLevel - l) + (1 - beta) * phi * trend
        level = newLevel
    }
    public func forecast(horizon: Int) -> Double? {
        guard let l = level else { return nil }
        var sum = 0.0, damp = 0.0, p = 1.0
        for _ in 1...horizon {
            p *= phi
            damp += p
            sum += expo(l + damp * trend)
        }
        return sum / Double(horizon)
    }
    public func reset() { level = nil; trend = 0 }
}
