import DWCPCore
@testable import DWCPPlace
import XCTest

final class PackingTests: XCTestCase {
    /// Items generated to fill `bins` bins exactly, so the optimum is known.
    static func perfectInstance(bins: Int, dims: Int, seed: UInt64) -> VBPInstance {
        var rng = SplitMix(seed: seed)
        var items: [[Double]] = []
        for _ in 0..<bins {
            var left = Array(repeating: 100.0, count: dims)
            for _ in 0..<3 {
                let cut = (0..<dims).map { k in Double(1 + rng.below(Int(left[k] / 2))) }
                items.append(cut)
                for k in 0..<dims { left[k] -= cut[k] }
            }
            items.append(left)
        }
        return VBPInstance(name: "perfect", capacity: Array(repeating: 100, count: dims), items: items)
    }

    func testLocalSearchIsNeverWorseThanItsStartsAndIsDeterministic() {
        for seed in UInt64(1)...12 {
            let inst = Self.perfectInstance(bins: 12, dims: 3, seed: seed)
            let (make, items) = inst.problem()
            let options = PackingAlgorithm.Options(seed: seed)
            let greedy = [PackingAlgorithm.ffdL2, .bcDotProduct, .bcL2].map { $0.run(items, make: make, options: options).0.usedNodeCount }
            let (a, _) = PackingAlgorithm.dwcpLS.run(items, make: make, options: options)
            let (b, _) = PackingAlgorithm.dwcpLS.run(items, make: make, options: options)
            XCTAssertLessThanOrEqual(a.usedNodeCount, greedy.min()!)
            XCTAssertGreaterThanOrEqual(a.usedNodeCount, 12)
            XCTAssertEqual(a.usedNodeCount, b.usedNodeCount, "same seed, same result")
            XCTAssertEqual(a.placements.compactMap { $0?.node }, b.placements.compactMap { $0?.node })
        }
    }

    func testLocalSearchFindsTheOptimumWhereGreedyMissesIt() {
        // Over many perfect instances the greedy packers leave nodes on the table; the search
        // must recover most of them.
        var greedy = 0, search = 0
        for seed in UInt64(100)...130 {
            let inst = Self.perfectInstance(bins: 10, dims: 2, seed: seed)
            let (make, items) = inst.problem()
            greedy += PackingAlgorithm.ffdL2.run(items, make: make, options: .init(seed: seed)).0.usedNodeCount - 10
            search += PackingAlgorithm.dwcpLS.run(items, make: make, options: .init(seed: seed)).0.usedNodeCount - 10
        }
        XCTAssertGreaterThan(greedy, 0, "the instances should be hard for first-fit decreasing")
        XCTAssertLessThan(search, greedy)
    }

    func testLowerBound() throws {
        let inst = try VBPInstance.parse("2\n10 10\n3\n6 1 1\n6 1 1\n1 9 1\n", name: "t")
        let (make, items) = inst.problem()
        XCTAssertEqual(LowerBound.nodes(for: items, in: make()), 2)  // two items over half in d0
        let big = try VBPInstance.parse("1\n10\n1\n4 5\n", name: "t")
        let (make2, items2) = big.problem()
        XCTAssertEqual(LowerBound.nodes(for: items2, in: make2()), 2)  // 20 / 10
    }

    func testVBPParserRejectsBadInstances() {
        let cases: [(String, String)] = [
            ("", "missing the dimension count"),
            ("2\n10 10\n1\n5\n", "missing an item size"),
            ("2\n10 -1\n0\n", "must be positive"),
            ("1\n10\n1\n11 1\n", "exceeds the bin capacity"),
            ("1\n10\n1\n-3 1\n", "negative size"),
            ("1\n10\n1\nx 1\n", "is not an integer"),
            ("1\n10\n1\n3 1\n7\n", "trailing numbers"),
            // Multiplicities expand a few bytes into any number of items: bounded, in total too.
            ("1\n10\n1\n3 100001\n", "multiplicity 100001 (an instance holds at most 100000 items)"),
            ("1\n10\n2\n3 60000\n4 40001\n", "multiplicity 40001"),
            ("1\n10\n100001\n", "100001 item types"),
        ]
        for (text, message) in cases {
            XCTAssertThrowsError(try VBPInstance.parse(text, name: "t"), text) { e in
                XCTAssertTrue("\(e)".contains(message), "\(e) should say \(message)")
            }
        }
        XCTAssertEqual(try VBPInstance.parse("1\n10\n2\n3 2\n4 1\n", name: "t").items.count, 3)
        XCTAssertEqual(try VBPInstance.parse("1\n10\n2\n3 60000\n4 40000\n", name: "t").items.count, VBPInstance.maxItems)
    }

    func testBoundsTable() throws {
        let t = try BoundsTable.parse("instance_name\tLB\tOPT\tbest_overall\nclass1_20_3_0\t6\t6\t6\nx\t5\t-1\t7\n", name: "b")
        XCTAssertEqual(t.rows["class1_20_3_0"]?.lowerBound, 6)
        XCTAssertEqual(t.rows["x"]?.bestPublished, 7)
        XCTAssertThrowsError(try BoundsTable.parse("name\tLB\n", name: "b"))
    }
}
