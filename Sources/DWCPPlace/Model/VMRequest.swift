/// One VM to place: its demand per resource and its constraints.
public struct VMRequest: Sendable {
    public var id: String
    /// Demand per dimension of the cluster's `ResourceSpace`.
    public var demand: [Double]
    /// Replicas of one service share a group: `spread` keeps them apart.
    public var group: String?
    /// Hard rule: never two VMs of `group` on one node.
    public var antiAffinity: Bool
    /// If not empty, only these node ids may be used.
    public var pinned: [String]
    /// Node ids that must not be used.
    public var forbidden: [String]
    /// If not empty, a node's `gpuModel` must be one of these (when the VM asks for a GPU).
    public var gpuModels: [String]
    /// The region the VM's users or data live in: `spread` prefers it (fewer bytes cross regions).
    public var homeRegion: String?

    public init(id: String, demand: [Double], group: String? = nil, antiAffinity: Bool = false, pinned: [String] = [],
                forbidden: [String] = [], gpuModels: [String] = [], homeRegion: String? = nil) {
        self.id = id
        self.demand = demand
        self.group = group
        self.antiAffinity = antiAffinity
        self.pinned = pinned
        self.forbidden = forbidden
        self.gpuModels = gpuModels
        self.homeRegion = homeRegion
    }

    /// True when only capacity matters (the fast path of the packing loops).
    public var isUnconstrained: Bool {
        !antiAffinity && pinned.isEmpty && forbidden.isEmpty && gpuModels.isEmpty
    }
}
