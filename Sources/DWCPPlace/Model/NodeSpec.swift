/// One node the placer may use: its capacity per resource and the labels the objectives read.
public struct NodeSpec: Sendable {
    public var id: String
    /// Capacity per dimension of the cluster's `ResourceSpace`.
    public var capacity: [Double]
    public var region: String?
    public var zone: String?
    /// Failure domain (rack, power feed, host): replicas of a group avoid sharing one.
    public var domain: String?
    /// GPU model (`V100M32`, `T4`…), matched against a request's allowed models.
    public var gpuModel: String?
    /// Reliability in [0, 1] (e.g. from `dwcp-rep`); 1 when unknown.
    public var reputation: Double

    public init(id: String, capacity: [Double], region: String? = nil, zone: String? = nil, domain: String? = nil,
                gpuModel: String? = nil, reputation: Double = 1) {
        self.id = id
        self.capacity = capacity
        self.region = region
        self.zone = zone
        self.domain = domain
        self.gpuModel = gpuModel
        self.reputation = reputation
    }
}
