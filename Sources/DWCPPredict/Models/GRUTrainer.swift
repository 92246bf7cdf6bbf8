import Dispatch
import DWCPCore

/// Fits a `GRUModel` to binned traces: truncated backpropagation through time over windows of
/// `window` bins (the hidden state carries across windows), Adam, gradient-norm clipping.
/// Trains `ensemble` networks from the seeds `seed`, `seed + 1`, … in parallel (one per core)
/// and keeps them all. Deterministic for a given seed.
public struct GRUTrainer {
    public var hidden = 16
    public var window = 32
    /// At most this many passes over the training runs. With a validation set, training stops
    /// earlier once the validation loss has not improved by `minImprovement` for `patience`
    /// passes (after the `hit` loss's narrowing).
    public var epochs = 30
    public var patience = 2
    public var minImprovement = 0.001
    public var learningRate = 0.004
    public var seed: UInt64 = 1
    /// How many networks, each from its own seed, answer together.
    public var ensemble = 4
    public var horizons = [1, 5, 10]
    /// What each output's error costs (training and early stopping alike). `hit` by default:
    /// the forecasts are judged by w20.
    public var loss = TrainingLoss.hit
    /// Called after each epoch of the first network with (epoch, mean loss per scored output).
    /// With the `hit` loss the early epochs use a wider window (`TrainingLoss.width`), so only
    /// later epochs compare.
    public var progress: ((Int, Double) -> Void)?
    /// Called after each epoch of the first network with (epoch, validation loss) when there is
    /// a validation set.
    public var validationProgress: ((Int, Double) -> Void)?

    public init() {}

    /// Features, targets and loss weights of one gap-free run, computed once for every network.
    struct Prepared {
        var x: [[Double]]
        var y: [[Double]]
        var mask: [[Double]]
    }

    /// `series`: runs of consecutive observed bins (no holes), each with a loss weight.
    /// `validation`: held-out runs; after every epoch the loss on them is measured and the
    /// parameters of the best epoch are kept (early stopping: one run of training is noisy, and
    /// later epochs can be worse).
    public func train(_ series: [(bins: [Double], weight: Double)], validation: [[Double]] = []) -> GRUModel {
        let prepared = series.filter { $0.bins.count > 2 }.map(prepare)
        let held = validation.filter { $0.count > 2 }.map { prepare((bins: $0, weight: 1)) }
        let count = max(1, ensemble)
        var networks = [GRUNetwork?](repeating: nil, count: count)
        networks.withUnsafeMutableBufferPointer { slots in
            DispatchQueue.concurrentPerform(iterations: count) { i in
                slots[i] = fit(seed: seed &+ UInt64(i), prepared, held, reporting: i == 0)
            }
        }
        return GRUModel(networks: networks.map { $0! }, horizons: horizons)
    }

    func prepare(_ item: (bins: [Double], weight: Double)) -> Prepared {
        let bins = item.bins
        var f = GRUFeatures()
        let x = bins.map { f.next($0) }
        var prefix = [0.0]
        for b in bins { prefix.append(prefix.last! + b) }
        var y: [[Double]] = [], mask: [[Double]] = []
        for i in 0..<bins.count {
            var yi: [Double] = [], mi: [Double] = []
            for h in horizons {
                if i + h < bins.count {
                    let mean = (prefix[i + h + 1] - prefix[i + 1]) / Double(h)
                    yi.append(ln(mean / bins[i]))
                    mi.append(item.weight)
                } else {
                    yi.append(0)
                    mi.append(0)
                }
            }
            y.append(yi)
            mask.append(mi)
        }
        return Prepared(x: x, y: y, mask: mask)
    }

    /// Mean loss per scored output of `net` on the held-out runs, at the final width.
    func validationLoss(_ net: GRUNetwork, _ held: [Prepared]) -> Double {
        var total = 0.0, scored = 0.0
        for seq in held {
            var h = [Double](repeating: 0, count: hidden)
            for i in seq.x.indices {
                let st = net.step(seq.x[i], h)
                h = st.h
                for k in 0..<horizons.count where seq.mask[i][k] > 0 {
                    total += loss.evaluate(st.y[k] - seq.y[i][k]).loss
                    scored += 1
                }
            }
        }
        return scored > 0 ? total / scored : 0
    }

    /// One network from `seed`: its initial weights and the order it sees the runs in.
    func fit(seed: UInt64, _ prepared: [Prepared], _ held: [Prepared], reporting: Bool) -> GRUNetwork {
        var net = GRUNetwork(inputs: GRUFeatures.count, hidden: hidden, outputs: horizons.count, seed: seed)
        let n = net.parameters.count
        var m = [Double](repeating: 0, count: n), v = m
        var t = 0
        var rng = SplitMix(seed: seed ^ 0xABCD)
        var best: (loss: Double, parameters: [Double])?
        var bestEpoch = 0   // the last epoch that improved on the best by minImprovement
        for epoch in 1...max(1, epochs) {
            var order = Array(prepared.indices)
            for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
            var totalLoss = 0.0, scored = 0.0
            let lr = learningRate / (1 + Double(epoch - 1) * 0.5)
            let width = TrainingLoss.width(epoch: epoch, of: epochs)
            for s in order {
                let seq = prepared[s]
                var h = [Double](repeating: 0, count: hidden)
                var start = 0
                while start < seq.x.count {
                    let end = min(seq.x.count, start + window)
                    var steps: [GRUNetwork.Step] = []
                    for i in start..<end {
                        let st = net.step(seq.x[i], h)
                        steps.append(st)
                        h = st.h
                    }
                    var g = [Double](repeating: 0, count: n)
                    totalLoss += net.backward(steps, targets: Array(seq.y[start..<end]), masks: Array(seq.mask[start..<end]),
                                              loss: loss, width: width, gradient: &g)
                    scored += seq.mask[start..<end].reduce(0) { $0 + $1.reduce(0, +) }
                    let norm = g.reduce(0) { $0 + $1 * $1 }.squareRoot()
                    if norm > 1 { for i in 0..<n { g[i] /= norm } }
                    t += 1
                    let b1 = 0.9, b2 = 0.999
                    let c1 = 1 - pow(b1, Double(t)), c2 = 1 - pow(b2, Double(t))
                    for i in 0..<n {
                        m[i] = b1 * m[i] + (1 - b1) * g[i]
                        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
                        net.parameters[i] -= lr * (m[i] / c1) / ((v[i] / c2).squareRoot() + 1e-8)
                    }
                    start = end
                }
            }
            if reporting { progress?(epoch, scored > 0 ? totalLoss / scored : 0) }
            if !held.isEmpty {
                let v = validationLoss(net, held)
                if reporting { validationProgress?(epoch, v) }
                if best == nil || v < best!.loss {
                    if best == nil || v < best!.loss * (1 - minImprovement) { bestEpoch = epoch }
                    best = (v, net.parameters)
                }
                if epoch >= TrainingLoss.narrowingEpochs(of: epochs) && epoch - bestEpoch >= patience { break }
            }
        }
        if let best { net.parameters = best.parameters }
        return net
    }
}
