import DWCPCore

/// A small gated recurrent unit network: the learned forecaster.
///
///     z = σ(Wz·x + Uz·h + bz)          update gate
///     r = σ(Wr·x + Ur·h + br)          reset gate
///     n = tanh(Wn·x + bn + r ⊙ (Un·h + bhn))
///     h' = (1 − z) ⊙ n + z ⊙ h
///     y = Wo·h' + bo                   one output per horizon
///
/// Parameters live in one flat array (for Adam and the model file); `Layout` names the slices.
/// Forward and backward passes are written out by hand over plain arrays: at 16 hidden units a
/// step is about a thousand multiply-adds, a few microseconds.
public struct GRUNetwork: Equatable {
    public let inputs: Int
    public let hidden: Int
    public let outputs: Int
    public var parameters: [Double]

    struct Layout {
        let i, h, k: Int
        var wz: Int { 0 }
        var wr: Int { wz + h * i }
        var wn: Int { wr + h * i }
        var uz: Int { wn + h * i }
        var ur: Int { uz + h * h }
        var un: Int { ur + h * h }
        var bz: Int { un + h * h }
        var br: Int { bz + h }
        var bn: Int { br + h }
        var bhn: Int { bn + h }
        var wo: Int { bhn + h }
        var bo: Int { wo + k * h }
        var count: Int { bo + k }
    }

    var layout: Layout { Layout(i: inputs, h: hidden, k: outputs) }

    /// A network with small seeded random weights.
    public init(inputs: Int, hidden: Int, outputs: Int, seed: UInt64) {
        self.inputs = inputs
        self.hidden = hidden
        self.outputs = outputs
        let l = Layout(i: inputs, h: hidden, k: outputs)
        var rng = SplitMix(seed: seed)
        let scale = 1 / Double(hidden).squareRoot()
        parameters = (0..<l.count).map { _ in (rng.nextUnit() * 2 - 1) * scale }
        for j in l.bz..<l.wo { parameters[j] = 0 }
        for j in l.bo..<l.count { parameters[j] = 0 }
    }

    public init(inputs: Int, hidden: Int, outputs: Int, parameters: [Double]) {
        self.inputs = inputs
        self.hidden = hidden
        self.outputs = outputs
        self.parameters = parameters
        precondition(parameters.count == Layout(i: inputs, h: hidden, k: outputs).count)
    }

    /// What one step computed, kept for the backward pass.
    struct Step {
        var x: [Double], hPrev: [Double], z: [Double], r: [Double], n: [Double], hn: [Double], h: [Double], y: [Double]
    }

    /// One step: new hidden state and outputs.
    func step(_ x: [Double], _ hPrev: [Double]) -> Step {
        let l = layout, p = parameters, H = hidden, I = inputs
        var z = [Double](repeating: 0, count: H), r = z, n = z, hn = z, h = z
        for j in 0..<H {
            var az = p[l.bz + j], ar = p[l.br + j], ax = p[l.bn + j], ah = p[l.bhn + j]
            for q in 0..<I {
                az += p[l.wz + j * I + q] * x[q]
                ar += p[l.wr + j * I + q] * x[q]
                ax += p[l.wn + j * I + q] * x[q]
            }
            for q in 0..<H {
                az += p[l.uz + j * H + q] * hPrev[q]
                ar += p[l.ur + j * H + q] * hPrev[q]
                ah += p[l.un + j * H + q] * hPrev[q]
            }
            z[j] = sigmoid(az)
            r[j] = sigmoid(ar)
            hn[j] = ah
            n[j] = tanhyp(ax + r[j] * ah)
            h[j] = (1 - z[j]) * n[j] + z[j] * hPrev[j]
        }
        var y = [Double](repeating: 0, count: outputs)
        for k in 0..<outputs {
            var s = p[l.bo + k]
            for j in 0..<H { s += p[l.wo + k * H + j] * h[j] }
            y[k] = s
        }
        return Step(x: x, hPrev: hPrev, z: z, r: r, n: n, hn: hn, h: h, y: y)
    }

    /// Backpropagation through a window of steps for the loss Σ mask·loss(y − target) (by
    /// default ½·Σ mask·(y − target)²; `width`: σ of the `hit` loss). Adds to `gradient` and
    /// returns the loss.
    func backward(_ steps: [Step], targets: [[Double]], masks: [[Double]], loss lossFunction: TrainingLoss = .squared,
                  width: Double = TrainingLoss.hitWidth, gradient: inout [Double]) -> Double {
        let l = layout, p = parameters, H = hidden, I = inputs
        var loss = 0.0
        var dhNext = [Double](repeating: 0, count: H)
        for t in stride(from: steps.count - 1, through: 0, by: -1) {
            let s = steps[t]
            var dh = dhNext
            for k in 0..<outputs where masks[t][k] > 0 {
                let value = lossFunction.evaluate(s.y[k] - targets[t][k], width: width)
                let e = value.slope * masks[t][k]
                loss += value.loss * masks[t][k]
                gradient[l.bo + k] += e
                for j in 0..<H {
                    gradient[l.wo + k * H + j] += e * s.h[j]
                    dh[j] += p[l.wo + k * H + j] * e
                }
            }
            var dPrev = [Double](repeating: 0, count: H)
            for j in 0..<H {
                let dz = dh[j] * (s.hPrev[j] - s.n[j])
                let dn = dh[j] * (1 - s.z[j])
                dPrev[j] += dh[j] * s.z[j]
                let dan = dn * (1 - s.n[j] * s.n[j])
                let dr = dan * s.hn[j]
                let dhn = dan * s.r[j]
                let dar = dr * s.r[j] * (1 - s.r[j])
                let daz = dz * s.z[j] * (1 - s.z[j])
                gradient[l.bn + j] += dan
                gradient[l.bhn + j] += dhn
                gradient[l.br + j] += dar
                gradient[l.bz + j] += daz
                for q in 0..<I {
                    gradient[l.wn + j * I + q] += dan * s.x[q]
                    gradient[l.wr + j * I + q] += dar * s.x[q]
                    gradient[l.wz + j * I + q] += daz * s.x[q]
                }
                for q in 0..<H {
                    gradient[l.un + j * H + q] += dhn * s.hPrev[q]
                    gradient[l.ur + j * H + q] += dar * s.hPrev[q]
                    gradient[l.uz + j * H + q] += daz * s.hPrev[q]
                    dPrev[q] += p[l.un + j * H + q] * dhn + p[l.ur + j * H + q] * dar + p[l.uz + j * H + q] * daz
                }
            }
            dhNext = dPrev
        }
        return loss
    }
}

