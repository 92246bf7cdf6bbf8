/// The features the GRU sees after each bin, computed identically in training and inference:
/// the bin's log rate relative to a slow level, its change since the previous bin, and a fast
/// level relative to the slow one (a trend). Scale-free, so one model serves links from 3G to 5G.
public struct GRUFeatures {
    public static let count = 3
    private var fast: Double?
    private var slow: Double?
    private var last: Double?

    public init() {}

    public mutating func next(_ bps: Double) -> [Double] {
        let y = ln(bps)
        let f = fast.map { $0 + 0.5 * (y - $0) } ?? y
        let s = slow.map { $0 + 0.05 * (y - $0) } ?? y
        let d = last.map { y - $0 } ?? 0
        fast = f
        slow = s
        last = y
        return [y - s, d, f - s].map { max(-5, min(5, $0)) }
    }
}

/// Online inference with a trained `GRUModel`: every network of the ensemble steps on the same
/// features, and the forecast is the mean of their outputs.
public final class GRUForecaster: Forecaster {
    public let name = "gru"
    public let model: GRUModel
    private var features = GRUFeatures()
    private var hidden: [[Double]]
    private var outputs: [Double]?
    private var last: Double?

    public init(model: GRUModel) {
        self.model = model
        hidden = model.networks.map { [Double](repeating: 0, count: $0.hidden) }
    }

    public func observe(_ bps: Double) {
        let x = features.next(bps)
        var sum = [Double](repeating: 0, count: model.horizons.count)
        for (i, network) in model.networks.enumerated() {
            let step = network.step(x, hidden[i])
            hidden[i] = step.h
            for k in sum.indices { sum[k] += step.y[k] }
        }
        outputs = sum.map { $0 / Double(model.networks.count) }
        last = bps
    }

    public func forecast(horizon: Int) -> Double? {
        guard let last, let outputs else { return nil }
        // The trained horizon nearest to the one asked for.
        var best = 0
        for (i, h) in model.horizons.enumerated() where abs(h - horizon) < abs(model.horizons[best] - horizon) { best = i }
        return last * expo(max(-3, min(3, outputs[best])))
    }

    public func reset() {
        features = GRUFeatures()
        hidden = model.networks.map { [Double](repeating: 0, count: $0.hidden) }
        outputs = nil
        last = nil
    }
}
