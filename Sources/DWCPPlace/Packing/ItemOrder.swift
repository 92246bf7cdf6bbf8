import DWCPCore

/// The orders batch algorithms consider VMs in.
public enum ItemOrder {
    /// A seeded Fisher–Yates shuffle: instance files often list optimal groups together, and the
    /// online policies must not be credited with that order.
    public static func shuffled(_ count: Int, seed: UInt64) -> [Int] {
        var order = Array(0..<count)
        var rng = SplitMix(seed: seed)
        if count > 1 {
            for i in stride(from: count - 1, to: 0, by: -1) { order.swapAt(i, rng.below(i + 1)) }
        }
        return order
    }

    /// Largest first by the L2 norm of the demand, each dimension a fraction of the largest
    /// capacity in the cluster (first-fit decreasing's order). Stable: ties keep `order`.
    public static func decreasingL2(_ items: [PreparedRequest], in c: Cluster, from order: [Int]) -> [Int] {
        let scale = c.largestCapacity.map { $0 > 0 ? 1 / $0 : 0 }
        let key = items.map { r -> Double in
            var s = 0.0
            for k in 0..<r.demand.count { let x = r.demand[k] * scale[k]; s += x * x }
            return s
        }
        let rank = Dictionary(uniqueKeysWithValues: order.enumerated().map { ($1, $0) })
        return order.sorted { key[$0] != key[$1] ? key[$0] > key[$1] : rank[$0]! < rank[$1]! }
    }
}
