/// Bin-centric greedy packing (Panigrahy et al., "Heuristics for Vector Bin Packing", 2011):
/// open one node (the largest left), fill it with the best-scoring VM that still fits until none does, then open
/// the next. Item-centric algorithms pick a node per VM; this picks a VM per node, which lets it
/// match items to the shape of the room left.
public struct BinCentric {
    /// How a VM's fit to the room a node has left is scored.
    public enum Score: String, Sendable {
        /// Maximise Σ w·demand·free (fractions of the node): the VM aligned with the room left.
        case dotProduct = "dot-product"
        /// Minimise Σ w·(free − demand)²: the VM that leaves the smallest, most even gap.
        case l2
    }

    public var score: Score
    public init(score: Score) { self.score = score }

    /// Places as many of `items` as fit, node by node in list order; returns the handles per item
    /// (nil: placed nowhere).
    public func run(_ items: [PreparedRequest], order: [Int], in c: Cluster) -> [Int?] {
        var handles = [Int?](repeating: nil, count: items.count)
        var left = order
        let d = c.dims
        // Weights: how much of each resource the unplaced VMs still need (Panigrahy's "average
        // demand" weighting), so scarce dimensions count more. Normalised by the largest node.
        let scale = c.largestCapacity.map { $0 > 0 ? 1 / $0 : 0 }
        var need = Array(repeating: 0.0, count: d)
        for i in left { for k in 0..<d { need[k] += items[i].demand[k] * scale[k] } }
        let demand = items.flatMap(\.demand)
        let plain = items.map { $0.simple && $0.gpuDevices == 0 }
        for j in c.openOrder where !left.isEmpty {
            if c.isExcluded(j) || c.vmCount[j] > 0 { continue }
            let base = j * d
            while true {
                let total = need.reduce(0, +)
                let w = need.map { total > 0 ? $0 / total : 1 }
                var best = -1
                var bestScore = -Double.infinity
                demand.withUnsafeBufferPointer { q in
                    c.free.withUnsafeBufferPointer { free in
                        c.capacity.withUnsafeBufferPointer { cap in
                            c.inverse.withUnsafeBufferPointer { inv in
                                for (pos, i) in left.enumerated() {
                                    let qi = i * d
                                    var s = 0.0
                                    var fits = true
                                    for k in 0..<d {
                                        let gap = free[base + k] - q[qi + k]
                                        if gap < -Cluster.slack * cap[base + k] { fits = false; break }
                                        switch score {
                                        case .dotProduct: s += w[k] * q[qi + k] * inv[base + k] * free[base + k] * inv[base + k]
                                        case .l2: s -= w[k] * gap * inv[base + k] * gap * inv[base + k]
                                        }
                                    }
                                    if !fits || s <= bestScore { continue }
                                    if !plain[i] && !c.fits(items[i], j) { continue }
                                    bestScore = s
                                    best = pos
                                }
                            }
                        }
                    }
                }
                if best < 0 { break }
                let i = left[best]
                handles[i] = c.place(items[i], on: j)
                for k in 0..<d { need[k] -= items[i].demand[k] * scale[k] }
                left.remove(at: best)
            }
        }
        return handles
    }
}
