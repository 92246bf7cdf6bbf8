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

    /// What the score is made of, for one VM on one node: computed without allocating, so the
    /// placer can score every node; `terms` names the same numbers for the decision line.
    struct Parts {
        var near: (domain: Int, zone: Int, region: Int)?
        /// nil without a home region.
        var inHome: Bool?
        var reputation: Double
        var meanUtilisation: Double

        var domain: Double { -4 * Double(near?.domain ?? 0) }
        var zone: Double { -2 * Double(near?.zone ?? 0) }
        /// Spreading across regions counts only when the VM has no home region.
        var region: Double { inHome == nil ? -Double(near?.region ?? 0) : 0 }
        var home: Double { inHome == true ? 3 : 0 }
        var reliability: Double { 2 * reputation }
        var utilisation: Double { -0.5 * meanUtilisation }
        var total: Double { domain + zone + region + home + reliability + utilisation }
    }

    /// `group` and `home` are looked up once per decision by the caller (`Placer`).
    @inline(__always)
    static func parts(_ r: PreparedRequest, _ j: Int, _ c: Cluster, hasGroup: Bool, group: Cluster.GroupSpread?, home: Int?) -> Parts {
        Parts(near: hasGroup ? (group.map { c.replicasNear($0, j) } ?? (0, 0, 0)) : nil,
              inHome: r.request.homeRegion == nil ? nil : (home != nil && c.regionID[j] == home),
              reputation: c.nodes[j].reputation,
              meanUtilisation: c.utilisationAfter(r, j) / Double(max(1, c.dims)))
    }

    public static func terms(_ r: PreparedRequest, _ j: Int, _ c: Cluster) -> SpreadScore {
        let p = parts(r, j, c, hasGroup: r.request.group != nil, group: r.request.group.flatMap { c.groupSpread[$0] },
                      home: r.request.homeRegion.flatMap { c.regionIndex[$0] })
        var s = SpreadScore()
        if let near = p.near {
            s.terms += [("domain", p.domain), ("zone", p.zone)]
            if near.domain > 0 { s.violations.append("replica_in_same_domain") }
            if near.zone > 0 { s.violations.append("replica_in_same_zone") }
            if p.inHome == nil { s.terms.append(("region", p.region)) }
        }
        if let inside = p.inHome {
            s.terms.append(("home_region", p.home))
            if !inside { s.violations.append("outside_home_region") }
        }
        s.terms += [("reliability", p.reliability), ("utilisation", p.utilisation)]
        return s
    }
}
