/// Online autoregression AR(p) of log bandwidth around a slow moving level, fitted by recursive
/// least squares with forgetting, and clamped.
///
/// Unclamped AR diverges on these traces (a few near-unit-root fits and the multi-step recursion
/// explodes), so: coefficients are scaled down whenever their absolute sum exceeds 0.95 (a stable
/// region), and every predicted deviation is clamped to the largest deviation seen in the last 30
/// bins.
public final class AutoRegressive: Forecaster {
    public let name: String
    private let order: Int
    private let forgetting: Double
    private let levelAlpha: Double
    private var level: Double?
    private var history: [Double] = []        // recent deviations, newest last
    private var coefficients: [Double]
    private var covariance: [Double]           // order × order, row-major
    private var recentMax = 0.0
    private var recent: [Double] = []

    public init(order: Int = 3, forgetting: Double = 0.995, levelAlpha: Double = 0.05) {
        self.order = order
        self.forgetting = forgetting
        self.levelAlpha = levelAlpha
        name = "ar\(order)"
        coefficients = [Double](repeating: 0, count: order)
        covariance = []
        reset()
    }

    public func reset() {
        level = nil
        history = []
        recent = []
        recentMax = 0
        coefficients = [Double](repeating: 0, count: order)
        covariance = [Double](repeating: 0, count: order * order)
        for i in 0..<order { covariance[i * order + i] = 100 }
    }

    public func observe(_ bps: Double) {
        let y = ln(bps)
        guard let m = level else {
            level = y
            history = [0]
            return
        }
        let z = y - m
        if history.count >= order {
            // RLS update with regressor x = last `order` deviations (newest first).
            let x = (0..<order).map { history[history.count - 1 - $0] }
            var px = [Double](repeating: 0, count: order)
            for i in 0..<order { for j in 0..<order { px[i] += covariance[i * order + j] * x[j] } }
            let denom = forgetting + zip(x, px).reduce(0) { $0 + $1.0 * $1.1 }
            let err = z - zip(coefficients, x).reduce(0) { $0 + $1.0 * $1.1 }
            for i in 0..<order { coefficients[i] += px[i] / denom * err }
            for i in 0..<order { for j in 0..<order {
                covariance[i * order + j] = (covariance[i * order + j] - px[i] * px[j] / denom) / forgetting
            } }
            let total = coefficients.reduce(0) { $0 + abs($1) }
            if total > 0.95 { coefficients = coefficients.map { $0 * 0.95 / total } }
        }
        history.append(z)
        if history.count > order { history.removeFirst(history.count - order) }
        recent.append(abs(z))
        if recent.count > 30 { recent.removeFirst() }
        recentMax = recent.max() ?? 0
        level = m + levelAlpha * (y - m)
    }

    public func forecast(horizon: Int) -> Double? {
        guard let m = level else { return nil }
        var h = history
        var sum = 0.0
        for _ in 0..<horizon {
            var z = 0.0
            if h.count >= order { for i in 0..<order { z += coefficients[i] * h[h.count - 1 - i] } }
            z = max(-recentMax, min(recentMax, z))
            h.append(z)
            sum += expo(m + z)
        }
        return sum / Double(horizon)
    }
}
