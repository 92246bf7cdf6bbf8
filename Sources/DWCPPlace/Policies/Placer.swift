/// Chooses a node for one VM at a time: the online decision `dwcp-place --follow` makes per
/// request, and the inner step of the batch algorithms.
///
/// One linear scan over the nodes with the feasibility test inlined: no allocation per node, so
/// a decision over 100k nodes takes a few milliseconds.
public struct Placer {
    public var policy: NodePolicy

    public init(policy: NodePolicy) { self.policy = policy }

    /// The chosen node, or nil when no node can take `r`.
    public func choose(_ r: PreparedRequest, in c: Cluster) -> Int? {
        if policy == .firstFit { return firstFit(r, c) }
        var best = -1
        var bestScore = -Double.infinity
        let consolidate = policy.opensNodesLast
        if policy == .spread {
            let hasGroup = r.request.group != nil
            let group = r.request.group.flatMap { c.groupSpread[$0] }
            let home = r.request.homeRegion.flatMap { c.regionIndex[$0] }
            for j in 0..<c.nodeCount where c.fits(r, j) {
                let s = SpreadScore.parts(r, j, c, hasGroup: hasGroup, group: group, home: home).total
                if s > bestScore { bestScore = s; best = j }
            }
            return best >= 0 ? best : nil
        }
        for j in 0..<c.nodeCount where !(consolidate && c.vmCount[j] == 0) && c.fits(r, j) {
            let s = score(r, j, c)
            if s > bestScore {
                bestScore = s
                best = j
            }
        }
        if best >= 0 { return best }
        return consolidate ? firstEmpty(r, c) : nil
    }

    /// The first node in opening order (largest first) that is empty and fits.
    private func firstEmpty(_ r: PreparedRequest, _ c: Cluster) -> Int? {
        for j in c.openOrder where c.vmCount[j] == 0 && c.fits(r, j) { return j }
        return nil
    }

    /// The first used node in opening order that fits, else the first empty one.
    private func firstFit(_ r: PreparedRequest, _ c: Cluster) -> Int? {
        var empty: Int? = nil
        for j in c.openOrder where c.fits(r, j) {
            if c.vmCount[j] > 0 { return j }
            if empty == nil { empty = j }
        }
        return empty
    }

    /// The policy's score of placing `r` on node `j` (which fits).
    public func score(_ r: PreparedRequest, _ j: Int, _ c: Cluster) -> Double {
        let d = c.dims
        let base = j * d
        switch policy {
        case .firstFit:
            return -Double(j)
        case .dotProduct:
            var s = 0.0
            for k in 0..<d { s += r.demand[k] * c.inverse[base + k] * c.free[base + k] * c.inverse[base + k] }
            return s
        case .l2:
            var s = 0.0
            for k in 0..<d {
                let left = (c.free[base + k] - r.demand[k]) * c.inverse[base + k]
                s += left * left
            }
            return -s
        case .mostAllocated, .leastAllocated:
            let used = c.utilisationAfter(r, j)
            return policy == .mostAllocated ? used / Double(d) : -used / Double(d)
        case .balanced:
            var sum = 0.0, sq = 0.0, n = 0.0
            for k in 0..<d where c.capacity[base + k] > 0 {
                let u = (c.capacity[base + k] - c.free[base + k] + r.demand[k]) * c.inverse[base + k]
                sum += u; sq += u * u; n += 1
            }
            guard n > 0 else { return 0 }
            let mean = sum / n
            return -max(0, sq / n - mean * mean).squareRoot()
        case .spread:
            return SpreadScore.parts(r, j, c, hasGroup: r.request.group != nil, group: r.request.group.flatMap { c.groupSpread[$0] },
                                     home: r.request.homeRegion.flatMap { c.regionIndex[$0] }).total
        }
    }
}
