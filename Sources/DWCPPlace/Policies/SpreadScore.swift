/// The internet objective's score of one node for one VM, kept as named terms so every decision
/// can print why it was made.
///
/// Replicas of a group should not share a failure domain (weight 4 per replica already there),
/// nor a zone (2); with a home region the VM stays in it (fewer bytes cross regions, +3),
/// without one replicas also spread across regions (1). Reliable nodes score higher
/// (2 × reputation), and lower utilisation breaks ties (0.5 × mean utilisation after placing).
/// Soft rules broken by the chosen node are reported as violations.
public struct SpreadScore {
    public var terms: [(name: String, value: Double)] = []
    public var violations: [String] = []
    public var total: Double { terms.reduce(0) { $0 + $1.value } }

    /// The total alone, without allocating: what the placer computes for every node. `group`
    /// and `home` are looked up once per decision by the caller.
    @inline(__always)
    static func total(_ r: PreparedRequest, _ j: Int, _ c: Cluster, group: Cluster.GroupSpread?, home: Int?) -> Double {
        var s = 0.0
        if let group {
            let near = c.replicasNear(group, j)
            s -= 4 * Double(near.domain) + 2 * Double(near.zone)
            if r.request.homeRegion == nil { s -= Double(near.region) }
        }
        if r.request.homeRegion != nil, let home, c.regionID[j] == home { s += 3 }
        s += 2 * c.nodes[j].reputation
        var used = 0.0
        let base = j * c.dims
        for k in 0..<c.dims { used += (c.capacity[base + k] - c.free[base + k] + r.demand[k]) * c.inverse[base + k] }
        return s - 0.5 * used / Double(max(1, c.dims))
    }

    public static func terms(_ r: PreparedRequest, _ j: Int, _ c: Cluster) -> SpreadScore {
        var s = SpreadScore()
        let node = c.nodes[j]
        if let g = r.request.group {
            let near = c.replicasNear(g, j)
            s.terms.append(("domain", -4 * Double(near.domain)))
            s.terms.append(("zone", -2 * Double(near.zone)))
            if near.domain > 0 { s.violations.append("replica_in_same_domain") }
            if near.zone > 0 { s.violations.append("replica_in_same_zone") }
            if r.request.homeRegion == nil { s.terms.append(("region", -1 * Double(near.region))) }
        }
        if let home = r.request.homeRegion {
            let inside = node.region == home
            s.terms.append(("home_region", inside ? 3 : 0))
            if !inside { s.violations.append("outside_home_region") }
        }
        s.terms.append(("reliability", 2 * node.reputation))
        var used = 0.0
        let base = j * c.dims
        for k in 0..<c.dims { used += (c.capacity[base + k] - c.free[base + k] + r.demand[k]) * c.inverse[base + k] }
        s.terms.append(("utilisation", -0.5 * used / Double(max(1, c.dims))))
        return s
    }
}
