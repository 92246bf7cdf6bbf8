/// What `dwcp-place` says about one VM: where it went and why, or why it could not go anywhere.
public struct Decision {
    public var vm: String
    /// The node id; nil when the VM could not be placed.
    public var node: String?
    /// Why the VM was not placed (nil when placed).
    public var reason: String?
    /// The policy that decided, and its score for the chosen node.
    public var policy: String?
    public var score: Double?
    /// Named score terms (the `spread` objective's breakdown).
    public var terms: [(name: String, value: Double)] = []
    /// Soft rules the chosen node breaks (e.g. `replica_in_same_domain`).
    public var violations: [String] = []
    /// The chosen node's utilisation per resource after the decision.
    public var utilisation: [(name: String, value: Double)] = []
    /// True for the answer to a `{"release": …}` line.
    public var released = false

    public init(vm: String) { self.vm = vm }
}
