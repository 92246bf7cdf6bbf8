import DWCPSystem

/// The objective a placement serves.
public enum Objective: String, CaseIterable, Sendable {
    /// Datacenter: fewest nodes, highest and balanced utilisation.
    case pack
    /// Internet: replicas across failure domains and regions, reliable nodes, home regions.
    case spread
}

/// One placement run over a node list: online decisions (`--follow`), releases, and batch
/// placement, all ending in `Decision`s. The executable only reads lines and prints.
public final class PlacementSession {
    public let space: ResourceSpace
    public let nodes: [NodeSpec]
    public private(set) var cluster: Cluster
    public let objective: Objective
    public var policy: NodePolicy
    let excludedIDs: Set<String>

    /// `excluded`: node ids to place nothing on (the quarantine list); unknown ids are ignored,
    /// since the list is shared by clusters with different nodes.
    public init(space: ResourceSpace, nodes: [NodeSpec], objective: Objective, policy: NodePolicy? = nil, excluded: [String] = []) {
        self.space = space
        self.nodes = nodes
        self.objective = objective
        self.policy = policy ?? (objective == .pack ? .l2 : .spread)
        excludedIDs = Set(excluded)
        cluster = Cluster(space: space, nodes: nodes)
        cluster = makeCluster()
    }

    /// A fresh, empty cluster with the quarantine applied.
    public func makeCluster() -> Cluster {
        let c = Cluster(space: space, nodes: nodes)
        for id in excludedIDs { if let j = c.index(ofNode: id) { c.exclude(j) } }
        return c
    }

    public var excludedCount: Int { (0..<cluster.nodeCount).filter { cluster.isExcluded($0) }.count }

    /// Decides one VM now (online).
    public func decide(_ r: VMRequest) throws -> Decision {
        if cluster.handleOf[r.id] != nil { throw PlacementInputError("VM '\(r.id)' is already placed (release it first)") }
        return decide(try cluster.prepare(r), policy: policy)
    }

    /// Chooses with `policy`, explains the choice as it stood before placing, places.
    func decide(_ p: PreparedRequest, policy: NodePolicy) -> Decision {
        let placer = Placer(policy: policy)
        guard let j = placer.choose(p, in: cluster) else { return unplaced(p) }
        let score = placer.score(p, j, cluster)
        let terms = policy == .spread ? SpreadScore.terms(p, j, cluster) : nil
        cluster.place(p, on: j)
        var d = describe(p.request.id, j)
        d.policy = policy.rawValue
        d.score = score
        if let terms { d.terms = terms.terms; d.violations = terms.violations }
        return d
    }

    /// Frees a VM's resources.
    public func release(_ id: String) throws -> Decision {
        guard let h = cluster.handleOf[id] else { throw PlacementInputError("release of '\(id)', which is not placed") }
        let p = cluster.release(h)
        var d = describe(id, p.node)
        d.released = true
        return d
    }

    /// Places a batch with a packing algorithm (objective `pack`) or the spread policy in input
    /// order (objective `spread`). Decisions come in input order.
    public func placeBatch(_ requests: [PreparedRequest], algorithm: PackingAlgorithm,
                           options: PackingAlgorithm.Options) -> [Decision] {
        cluster = makeCluster()
        if objective == .spread { return requests.map { decide($0, policy: .spread) } }
        let (c, handles) = algorithm.run(requests, make: makeCluster, options: options)
        cluster = c
        return requests.indices.map { i in
            guard let h = handles[i], let p = cluster.placements[h] else { return unplaced(requests[i]) }
            var d = describe(requests[i].request.id, p.node)
            d.policy = algorithm.rawValue
            return d
        }
    }

    /// Prepares a request against the session's cluster (resolving node ids).
    public func prepare(_ r: VMRequest) throws -> PreparedRequest { try cluster.prepare(r) }

    func describe(_ vm: String, _ j: Int) -> Decision {
        var d = Decision(vm: vm)
        d.node = nodes[j].id
        d.utilisation = (0..<space.count).compactMap { k in
            let cap = cluster.capacity(j, k)
            return cap > 0 ? (space.names[k], (cap - cluster.free(j, k)) / cap) : nil
        }
        return d
    }

    /// A decision that says why nothing could take the VM.
    public func unplaced(_ p: PreparedRequest) -> Decision {
        var d = Decision(vm: p.request.id)
        d.reason = PlacementSession.reason(p, cluster)
        return d
    }

    /// The most useful explanation: too big for any node, ruled out everywhere, or no room now.
    public static func reason(_ p: PreparedRequest, _ c: Cluster) -> String {
        for k in 0..<c.dims {
            let largest = (0..<c.nodeCount).map { c.capacity($0, k) }.max() ?? 0
            if p.demand[k] > largest {
                return "larger than every node: \(c.space.names[k]) \(Units.plain(p.demand[k])) > \(Units.plain(largest))"
            }
        }
        var big = 0, quarantined = 0, ruled = 0
        for j in 0..<c.nodeCount where (0..<c.dims).allSatisfy({ p.demand[$0] <= c.capacity(j, $0) }) {
            big += 1
            if c.isExcluded(j) { quarantined += 1 } else if !c.constraintsAllow(p, j) { ruled += 1 }
        }
        if big == 0 { return "no node has room for all of it at once" }
        if quarantined + ruled == big {
            return "the \(big) nodes large enough are quarantined (\(quarantined)) or ruled out by its constraints (\(ruled))"
        }
        let open = big - quarantined - ruled
        return open == 1 ? "no room: the one node that could take it is too full"
            : "no room: the \(open) nodes that could take it are too full"
    }
}
