/// The live state of a set of nodes: what is free on each, which VMs sit where, and the one
/// feasibility test every algorithm uses (`fits`), so nothing is ever placed where it does not fit.
///
/// Capacities and free amounts live in flat arrays (`node * dims + k`) because the policies scan
/// every node for every decision (100k nodes at a few nanoseconds each). GPU devices are tracked
/// one by one in thousandths so a shared-GPU VM lands on one device with room.
public final class Cluster {
    /// Rounding slack of every capacity test, as a fraction of the capacity: sums of demands
    /// held as doubles may exceed an exact fit by a few ulps. The hot loops that test capacity
    /// inline use this same constant.
    public static let slack = 1e-9
    /// GPU devices one node may have: each is tracked on its own (thousandths free), so the
    /// count bounds memory; real nodes have 8 or 16.
    public static let maxDevicesPerNode = 4096

    public let space: ResourceSpace
    public let nodes: [NodeSpec]
    public let dims: Int

    var capacity: [Double]
    var free: [Double]
    /// 1 / capacity per node and dimension (0 where the capacity is 0): utilisation fractions.
    var inverse: [Double]
    public private(set) var vmCount: [Int]
    public private(set) var usedNodeCount = 0
    /// Free thousandths per GPU device, per node (empty without a `gpu` dimension).
    var deviceFree: [[Int32]]
    /// Per node: group name → VMs of that group on the node.
    var groupsOnNode: [[String: Int]]
    /// Per node: handles of the VMs placed on it.
    public private(set) var members: [[Int]]
    var excluded: [Bool]
    /// The order packing opens empty nodes in: largest first (capacity summed over dimensions,
    /// each as a fraction of the largest node's), list order among equals. Fewest nodes means
    /// using big ones.
    public let openOrder: [Int]
    /// The largest capacity of any node, per dimension (the scale of sizes and weights).
    public let largestCapacity: [Double]
    /// Labels interned to small integers (-1: none), so spreading compares integers.
    let domainID: [Int], zoneID: [Int], regionID: [Int]
    let regionIndex: [String: Int]
    /// Per group: replicas per failure domain, zone and region (by interned label).
    var groupSpread: [String: GroupSpread] = [:]

    /// Where the replicas of one group are.
    struct GroupSpread {
        var domain: [Int: Int] = [:], zone: [Int: Int] = [:], region: [Int: Int] = [:]
    }
    let nodeIndex: [String: Int]

    /// A placed VM. Handles index `placements` and stay valid until the VM is released.
    public struct Placement {
        public let request: PreparedRequest
        public let node: Int
        let devices: [Int]
    }
    public private(set) var placements: [Placement?] = []
    private var freeHandles: [Int] = []
    public private(set) var handleOf: [String: Int] = [:]

    public init(space: ResourceSpace, nodes: [NodeSpec]) {
        self.space = space
        self.nodes = nodes
        dims = space.count
        capacity = nodes.flatMap { $0.capacity }
        free = capacity
        inverse = capacity.map { $0 > 0 ? 1 / $0 : 0 }
        vmCount = Array(repeating: 0, count: nodes.count)
        deviceFree = nodes.map { node in
            guard let g = space.gpuIndex else { return [] }
            return Array(repeating: 1000, count: max(0, Int(node.capacity[g])))
        }
        groupsOnNode = Array(repeating: [:], count: nodes.count)
        members = Array(repeating: [], count: nodes.count)
        excluded = Array(repeating: false, count: nodes.count)
        var index: [String: Int] = [:]
        for (i, n) in nodes.enumerated() where index[n.id] == nil { index[n.id] = i }
        nodeIndex = index
        func intern(_ labels: [String?]) -> ([Int], [String: Int]) {
            var ids: [String: Int] = [:]
            return (labels.map { l in l.map { l in ids[l] ?? { ids[l] = ids.count; return ids.count - 1 }() } ?? -1 }, ids)
        }
        domainID = intern(nodes.map(\.domain)).0
        zoneID = intern(nodes.map(\.zone)).0
        (regionID, regionIndex) = intern(nodes.map(\.region))
        var largest = Array(repeating: 0.0, count: dims)
        for n in nodes { for k in 0..<dims { largest[k] = max(largest[k], n.capacity[k]) } }
        largestCapacity = largest
        let size = nodes.map { n in (0..<n.capacity.count).reduce(0.0) { $0 + (largest[$1] > 0 ? n.capacity[$1] / largest[$1] : 0) } }
        openOrder = Array(nodes.indices).sorted { size[$0] != size[$1] ? size[$0] > size[$1] : $0 < $1 }
    }

    public var nodeCount: Int { nodes.count }
    public func index(ofNode id: String) -> Int? { nodeIndex[id] }

    /// Never place anything on these nodes again (quarantine); VMs already there stay.
    public func exclude(_ node: Int, _ yes: Bool = true) { excluded[node] = yes }
    public func isExcluded(_ node: Int) -> Bool { excluded[node] }

    /// Resolves a request's node ids and GPU shape against this cluster.
    public func prepare(_ r: VMRequest) throws -> PreparedRequest {
        func resolve(_ ids: [String], _ what: String) throws -> [Int] {
            try ids.map { id in
                guard let i = nodeIndex[id] else { throw PlacementInputError("\(what) node '\(id)' is not in the node list") }
                return i
            }
        }
        var milli: Int32 = 0
        var devices = 0
        if let g = space.gpuIndex, r.demand[g] > 0 {
            let want = r.demand[g]
            if want < 1 {
                milli = Int32((want * 1000).rounded(.up))
                devices = 1
            } else if want == want.rounded() {
                guard want <= Double(Self.maxDevicesPerNode) else {
                    throw PlacementInputError("gpu demand \(Units.plain(want)): more devices than a node can have (\(Self.maxDevicesPerNode))")
                }
                milli = 1000
                devices = Int(want)
            } else {
                throw PlacementInputError("gpu demand \(want): a share of one device (below 1) or whole devices")
            }
        }
        return PreparedRequest(request: r, allowed: r.pinned.isEmpty ? nil : Set(try resolve(r.pinned, "pinned")),
                               forbidden: Set(try resolve(r.forbidden, "forbidden")), gpuMilli: milli, gpuDevices: devices)
    }

    /// Whether `node` can take `r` now: capacity in every dimension, a GPU device with room, and
    /// every hard constraint (quarantine, pinning, forbidden nodes, GPU model, anti-affinity).
    @inline(__always)
    public func fits(_ r: PreparedRequest, _ node: Int) -> Bool {
        if excluded[node] { return false }
        if !r.simple && !constraintsAllow(r, node) { return false }
        let base = node &* dims
        return r.demand.withUnsafeBufferPointer { q in
            free.withUnsafeBufferPointer { f in
                capacity.withUnsafeBufferPointer { c in
                    for k in 0..<q.count where q[k] > f[base &+ k] + Cluster.slack * c[base &+ k] { return false }
                    return true
                } && (r.gpuDevices == 0 || devicesAllow(r, node))
            }
        }
    }

    /// The hard constraints other than capacity, for explaining refusals.
    /// `leaving`: VMs about to leave the node (a local-search swap), not counted for anti-affinity.
    public func constraintsAllow(_ r: PreparedRequest, _ node: Int, leaving: [Placement] = []) -> Bool {
        if let a = r.allowed, !a.contains(node) { return false }
        if r.forbidden.contains(node) { return false }
        if r.gpuDevices > 0, !r.request.gpuModels.isEmpty {
            guard let m = nodes[node].gpuModel, r.request.gpuModels.contains(m) else { return false }
        }
        if r.request.antiAffinity, let g = r.request.group {
            let staying = groupsOnNode[node][g, default: 0] - leaving.filter { $0.request.request.group == g }.count
            if staying > 0 { return false }
        }
        return true
    }

    /// Whether `node` could take `r` if the placed VMs `leaving` (handles on that node) left
    /// first, without moving anything: the swap test of local search.
    public func fitsReplacing(_ r: PreparedRequest, _ node: Int, leaving: [Int]) -> Bool {
        if excluded[node] { return false }
        let gone = leaving.compactMap { placements[$0] }
        let base = node * dims
        for k in 0..<dims {
            var room = free[base + k]
            for p in gone { room += p.request.demand[k] }
            if r.demand[k] > room + Cluster.slack * capacity[base + k] { return false }
        }
        if !r.simple && !constraintsAllow(r, node, leaving: gone) { return false }
        guard r.gpuDevices > 0 else { return true }
        var devs = deviceFree[node]
        for p in gone { for i in p.devices { devs[i] += p.request.gpuMilli } }
        return Self.devicesAllow(r, devs)
    }

    private func devicesAllow(_ r: PreparedRequest, _ node: Int) -> Bool { Self.devicesAllow(r, deviceFree[node]) }

    private static func devicesAllow(_ r: PreparedRequest, _ devs: [Int32]) -> Bool {
        if r.gpuMilli < 1000 { return devs.contains { $0 >= r.gpuMilli } }
        var whole = 0
        for d in devs where d == 1000 { whole += 1 }
        return whole >= r.gpuDevices
    }

    /// Places `r` on `node` (which must fit) and returns its handle.
    @discardableResult
    public func place(_ r: PreparedRequest, on node: Int) -> Int {
        precondition(fits(r, node), "placing \(r.request.id) where it does not fit")
        let base = node * dims
        for k in 0..<dims { free[base + k] -= r.demand[k] }
        var devices: [Int] = []
        if r.gpuDevices > 0 {
            if r.gpuMilli < 1000 {
                // Best fit: the fullest device that still has room, to keep whole devices whole.
                var best = -1
                for (i, f) in deviceFree[node].enumerated() where f >= r.gpuMilli && (best < 0 || f < deviceFree[node][best]) { best = i }
                devices = [best]
            } else {
                for (i, f) in deviceFree[node].enumerated() where f == 1000 && devices.count < r.gpuDevices { devices.append(i) }
            }
            for i in devices { deviceFree[node][i] -= r.gpuMilli }
        }
        if let g = r.request.group {
            groupsOnNode[node][g, default: 0] += 1
            adjustSpread(g, node, by: 1)
        }
        if vmCount[node] == 0 { usedNodeCount += 1 }
        vmCount[node] += 1
        let p = Placement(request: r, node: node, devices: devices)
        let handle: Int
        if let h = freeHandles.popLast() { handle = h; placements[h] = p } else { handle = placements.count; placements.append(p) }
        handleOf[r.request.id] = handle
        members[node].append(handle)
        return handle
    }

    /// Removes a placed VM and returns what it was.
    @discardableResult
    public func release(_ handle: Int) -> Placement {
        guard let p = placements[handle] else { preconditionFailure("release of an empty handle") }
        let node = p.node
        let base = node * dims
        vmCount[node] -= 1
        if vmCount[node] == 0 {
            // An empty node is exactly empty: no floating-point residue accumulates.
            for k in 0..<dims { free[base + k] = capacity[base + k] }
            usedNodeCount -= 1
        } else {
            for k in 0..<dims { free[base + k] += p.request.demand[k] }
        }
        for i in p.devices { deviceFree[node][i] += p.request.gpuMilli }
        if let g = p.request.request.group {
            let left = groupsOnNode[node][g, default: 1] - 1
            groupsOnNode[node][g] = left == 0 ? nil : left
            adjustSpread(g, node, by: -1)
        }
        if let i = members[node].firstIndex(of: handle) { members[node].swapAt(i, members[node].count - 1); members[node].removeLast() }
        placements[handle] = nil
        freeHandles.append(handle)
        handleOf[p.request.request.id] = nil
        return p
    }

    private func adjustSpread(_ group: String, _ node: Int, by delta: Int) {
        var g = groupSpread[group] ?? GroupSpread()
        if domainID[node] >= 0 { g.domain[domainID[node], default: 0] += delta }
        if zoneID[node] >= 0 { g.zone[zoneID[node], default: 0] += delta }
        if regionID[node] >= 0 { g.region[regionID[node], default: 0] += delta }
        groupSpread[group] = g
    }

    /// Replicas of `group` already in the node's failure domain, zone and region.
    public func replicasNear(_ group: String, _ node: Int) -> (domain: Int, zone: Int, region: Int) {
        guard let g = groupSpread[group] else { return (0, 0, 0) }
        return replicasNear(g, node)
    }

    func replicasNear(_ g: GroupSpread, _ node: Int) -> (domain: Int, zone: Int, region: Int) {
        (domainID[node] >= 0 ? g.domain[domainID[node]] ?? 0 : 0, zoneID[node] >= 0 ? g.zone[zoneID[node]] ?? 0 : 0,
         regionID[node] >= 0 ? g.region[regionID[node]] ?? 0 : 0)
    }

    /// Everything that changes as VMs come and go, for local search to roll back a failed attempt
    /// exactly (GPU devices included).
    public struct State {
        fileprivate let free: [Double], vmCount: [Int], usedNodeCount: Int, deviceFree: [[Int32]]
        fileprivate let groupsOnNode: [[String: Int]], groupSpread: [String: GroupSpread], members: [[Int]]
        fileprivate let placements: [Placement?], freeHandles: [Int], handleOf: [String: Int], excluded: [Bool]
    }

    public func save() -> State {
        State(free: free, vmCount: vmCount, usedNodeCount: usedNodeCount, deviceFree: deviceFree, groupsOnNode: groupsOnNode,
              groupSpread: groupSpread, members: members, placements: placements, freeHandles: freeHandles,
              handleOf: handleOf, excluded: excluded)
    }

    public func restore(_ s: State) {
        free = s.free; vmCount = s.vmCount; usedNodeCount = s.usedNodeCount; deviceFree = s.deviceFree
        groupsOnNode = s.groupsOnNode; groupSpread = s.groupSpread; members = s.members; placements = s.placements
        freeHandles = s.freeHandles; handleOf = s.handleOf; excluded = s.excluded
    }

    /// Free amount of dimension `k` on `node`.
    public func free(_ node: Int, _ k: Int) -> Double { free[node * dims + k] }
    public func capacity(_ node: Int, _ k: Int) -> Double { capacity[node * dims + k] }

    /// Utilisation of `node` summed over dimensions (fractions of its capacity) if `r` were
    /// placed on it: the Kubernetes allocation scores and spread's tie-break.
    @inline(__always)
    public func utilisationAfter(_ r: PreparedRequest, _ node: Int) -> Double {
        var used = 0.0
        let base = node * dims
        for k in 0..<dims { used += (capacity[base + k] - free[base + k] + r.demand[k]) * inverse[base + k] }
        return used
    }

    /// Utilisation of `node` summed over dimensions (each a fraction of that node's capacity).
    public func load(_ node: Int) -> Double {
        var s = 0.0
        let base = node * dims
        for k in 0..<dims { s += (capacity[base + k] - free[base + k]) * inverse[base + k] }
        return s
    }
}

/// A request resolved against one cluster: node ids turned into indexes, the GPU shape decided.
public struct PreparedRequest {
    public let request: VMRequest
    let allowed: Set<Int>?
    let forbidden: Set<Int>
    /// Thousandths of one device per GPU used (1000 for whole devices).
    let gpuMilli: Int32
    let gpuDevices: Int
    /// No constraint beyond capacity.
    let simple: Bool
    public let demand: [Double]

    init(request: VMRequest, allowed: Set<Int>?, forbidden: Set<Int>, gpuMilli: Int32, gpuDevices: Int) {
        self.request = request
        self.allowed = allowed
        self.forbidden = forbidden
        self.gpuMilli = gpuMilli
        self.gpuDevices = gpuDevices
        demand = request.demand
        simple = request.isUnconstrained && !(request.group != nil && request.antiAffinity)
    }
}

/// Bad placement input (a node list or request that cannot be used), reported per line.
public struct PlacementInputError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}
