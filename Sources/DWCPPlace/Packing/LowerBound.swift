/// Lower bounds on the number of nodes any placement of a set of VMs needs.
public enum LowerBound {
    /// Per dimension, the fewest nodes (largest first) whose capacity covers the total demand;
    /// and, per dimension, VMs needing more than half of the largest node, which pairwise cannot
    /// share one. The bound is the largest of these. With identical nodes the first is the
    /// classic ⌈Σ demand / capacity⌉.
    public static func nodes(for items: [PreparedRequest], in c: Cluster) -> Int {
        guard !items.isEmpty else { return 0 }
        var best = 1
        for k in 0..<c.dims {
            var total = 0.0
            for r in items { total += r.demand[k] }
            guard total > 0 else { continue }
            let caps = (0..<c.nodeCount).map { c.capacity($0, k) }.sorted(by: >)
            var covered = 0.0
            var n = 0
            // Tolerance: totals of integer sizes held as doubles must not round up a whole node.
            while n < caps.count && covered < total - 1e-9 * total { covered += caps[n]; n += 1 }
            best = max(best, n)
            if let largest = caps.first {
                let big = items.filter { $0.demand[k] > largest / 2 }.count
                best = max(best, big)
            }
        }
        return best
    }
}
