/// How a node is chosen for one VM among the nodes that can hold it.
///
/// The packing policies (`firstFit`, `dotProduct`, `l2`, `mostAllocated`) only open an empty node
/// (the largest that fits) when no used node can take the VM, as a datacenter packer that wants to power nodes down
/// would; the spreading policies (`leastAllocated`, `balanced`, Kubernetes' defaults) and
/// `spread` consider every node, as Kubernetes does. Scores are higher-is-better.
public enum NodePolicy: String, CaseIterable, Sendable {
    /// The first node in list order that fits.
    case firstFit = "first-fit"
    /// Tetris: the node whose free resources align best with the demand (dot product of the
    /// demand and the free vector, both as fractions of the node).
    case dotProduct = "dot-product"
    /// Best fit by L2: the node left with the smallest free vector (squared fractions).
    case l2
    /// Kubernetes MostAllocated: highest mean utilisation after placing.
    case mostAllocated = "most-allocated"
    /// Kubernetes LeastAllocated: lowest mean utilisation after placing.
    case leastAllocated = "least-allocated"
    /// Kubernetes BalancedAllocation: smallest spread of per-resource utilisation after placing.
    case balanced
    /// Internet objective: replicas apart (failure domain, zone, region), home region and
    /// reliable nodes preferred; utilisation breaks ties.
    case spread

    /// Policies that consolidate: they prefer nodes already in use.
    public var opensNodesLast: Bool {
        switch self {
        case .firstFit, .dotProduct, .l2, .mostAllocated: return true
        case .leastAllocated, .balanced, .spread: return false
        }
    }
}
