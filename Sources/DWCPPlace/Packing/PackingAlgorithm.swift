import DWCPSystem

/// Every batch algorithm `dwcp-place` and `dwcp-place eval` can run, by name.
///
/// The item-centric ones take the VMs in the seeded shuffled order (as they would arrive) or,
/// for first-fit decreasing, sorted by size; the bin-centric ones choose the VM per node;
/// `dwcp-ls` is the best of the strong greedy packers, improved by `LocalSearch`.
public enum PackingAlgorithm: String, CaseIterable, Sendable {
    case ffdL2 = "ffd-l2"
    case bcDotProduct = "bc-dot-product"
    case bcL2 = "bc-l2"
    case tetris
    case firstFit = "first-fit"
    case bestFitL2 = "best-fit-l2"
    case mostAllocated = "k8s-most-allocated"
    case leastAllocated = "k8s-least-allocated"
    case balanced = "k8s-balanced"
    case dwcpLS = "dwcp-ls"

    /// The online policy behind an item-centric algorithm (nil for the others).
    public var onlinePolicy: NodePolicy? {
        switch self {
        case .tetris: return .dotProduct
        case .firstFit: return .firstFit
        case .bestFitL2: return .l2
        case .mostAllocated: return .mostAllocated
        case .leastAllocated: return .leastAllocated
        case .balanced: return .balanced
        case .ffdL2, .bcDotProduct, .bcL2, .dwcpLS: return nil
        }
    }

    /// Settings shared by the algorithms that search or draw at random: seed, local search, deadline.
    public struct Options: Sendable {
        public var seed: UInt64 = 1
        public var search = LocalSearch(seed: 1)
        /// Called with the time of every single decision of an online algorithm (seconds).
        public init(seed: UInt64 = 1, steps: Int = 1000, attempts: Int = 4, deadline: Double? = nil) {
            self.seed = seed
            search = LocalSearch(seed: seed, steps: steps, attempts: attempts, deadline: deadline)
        }
    }

    /// Runs on `make()`'s fresh cluster; returns the cluster and the handle of every item (nil:
    /// not placed). `decisionTimes` receives per-decision seconds for online policies.
    public func run(_ items: [PreparedRequest], make: () -> Cluster, options: Options,
                    decisionTimes: ((Double) -> Void)? = nil) -> (Cluster, [Int?]) {
        let shuffled = ItemOrder.shuffled(items.count, seed: options.seed)
        switch self {
        case .ffdL2:
            let c = make()
            let order = ItemOrder.decreasingL2(items, in: c, from: shuffled)
            return (c, Self.online(items, order: order, policy: .firstFit, in: c, times: nil))
        case .bcDotProduct, .bcL2:
            let c = make()
            return (c, BinCentric(score: self == .bcL2 ? .l2 : .dotProduct).run(items, order: shuffled, in: c))
        case .dwcpLS:
            var best: (Cluster, [Int?])? = nil
            for start in [PackingAlgorithm.ffdL2, .bcDotProduct, .bcL2] {
                let r = start.run(items, make: make, options: options)
                if let b = best {
                    let placedB = b.1.filter { $0 != nil }.count, placedR = r.1.filter { $0 != nil }.count
                    if placedR < placedB || (placedR == placedB && r.0.usedNodeCount >= b.0.usedNodeCount) { continue }
                }
                best = r
            }
            var (c, handles) = best!
            let lb = LowerBound.nodes(for: items, in: c)
            options.search.improve(items, handles: &handles, in: c, lowerBound: lb, clock: MonotonicClock.now)
            return (c, handles)
        default:
            let c = make()
            return (c, Self.online(items, order: shuffled, policy: onlinePolicy!, in: c, times: decisionTimes))
        }
    }

    static func online(_ items: [PreparedRequest], order: [Int], policy: NodePolicy, in c: Cluster,
                       times: ((Double) -> Void)?) -> [Int?] {
        let placer = Placer(policy: policy)
        var handles = [Int?](repeating: nil, count: items.count)
        for i in order {
            let t0 = times == nil ? 0 : MonotonicClock.now()
            if let j = placer.choose(items[i], in: c) { handles[i] = c.place(items[i], on: j) }
            if let times { times(MonotonicClock.now() - t0) }
        }
        return handles
    }
}
