/// A vector bin packing instance in VPSolver's `.vbp` format: identical bins, items with a size
/// per dimension and a multiplicity. The benchmark sets (Panigrahy et al., Caprara–Toth classes)
/// come in it.
///
///     3                 dimensions
///     1000 1000 1000    bin capacity per dimension
///     20                item types
///     267 375 305 1     sizes, then multiplicity
public struct VBPInstance: Sendable {
    public var name: String
    public var capacity: [Double]
    /// One entry per item (multiplicities expanded).
    public var items: [[Double]]

    /// Most items an instance may expand to (200 times the largest published one, 501 items).
    /// Multiplicities make a file of a few bytes stand for any number of items, each with a size
    /// per dimension and, in `problem`, a node of its own: `64 dimensions, 10 types × 1,000,000`
    /// in 1.7 KB took `dwcp-place eval` past 13 GB before this bound.
    public static let maxItems = 100_000

    public static func parse(_ text: String, name: String) throws -> VBPInstance {
        var numbers: [Int] = []
        var lineOf: [Int] = []
        for (ln, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            for word in line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }) {
                guard let v = Int(word) else { throw PlacementInputError("\(name):\(ln + 1): '\(word)' is not an integer") }
                numbers.append(v)
                lineOf.append(ln + 1)
            }
        }
        var at = 0
        func next(_ what: String) throws -> Int {
            guard at < numbers.count else { throw PlacementInputError("\(name): truncated: missing \(what)") }
            defer { at += 1 }
            return numbers[at]
        }
        let d = try next("the dimension count")
        guard (1...64).contains(d) else { throw PlacementInputError("\(name): \(d) dimensions (1 to 64)") }
        var capacity: [Double] = []
        for _ in 0..<d {
            let c = try next("a bin capacity")
            guard c > 0 else { throw PlacementInputError("\(name):\(lineOf[at - 1]): bin capacity \(c) must be positive") }
            capacity.append(Double(c))
        }
        let types = try next("the item type count")
        guard (0...maxItems).contains(types) else { throw PlacementInputError("\(name): \(types) item types (at most \(maxItems))") }
        var items: [[Double]] = []
        for _ in 0..<types {
            var size: [Double] = []
            for k in 0..<d {
                let s = try next("an item size")
                guard s >= 0 else { throw PlacementInputError("\(name):\(lineOf[at - 1]): negative size \(s)") }
                guard Double(s) <= capacity[k] else {
                    throw PlacementInputError("\(name):\(lineOf[at - 1]): item size \(s) exceeds the bin capacity \(Int(capacity[k]))")
                }
                size.append(Double(s))
            }
            let q = try next("a multiplicity")
            guard q >= 0, q <= maxItems - items.count else {
                throw PlacementInputError("\(name):\(lineOf[at - 1]): multiplicity \(q) (an instance holds at most \(maxItems) items)")
            }
            for _ in 0..<q { items.append(size) }
        }
        guard at == numbers.count else { throw PlacementInputError("\(name):\(lineOf[at]): trailing numbers after the last item") }
        return VBPInstance(name: name, capacity: capacity, items: items)
    }

    /// The instance as a placement problem: one identical node per item (enough for any
    /// packing). `make` gives a fresh empty cluster, as every algorithm run needs; the items are
    /// prepared once.
    public func problem() -> (make: () -> Cluster, items: [PreparedRequest]) {
        let space = ResourceSpace((0..<capacity.count).map { "d\($0)" })
        let nodes = (0..<max(1, items.count)).map { NodeSpec(id: "bin\($0)", capacity: capacity) }
        let make = { Cluster(space: space, nodes: nodes) }
        let cluster = make()
        let requests = items.enumerated().map { i, s in try! cluster.prepare(VMRequest(id: "item\(i)", demand: s)) }
        return (make, requests)
    }
}
