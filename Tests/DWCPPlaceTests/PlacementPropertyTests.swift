import DWCPCore
@testable import DWCPPlace
import XCTest

/// The invariant no output may break, over thousands of seeded random clusters and request
/// streams: no node over capacity in any dimension, no GPU device over 1000 thousandths, no
/// hard rule broken, every placed VM on exactly one node.
final class PlacementPropertyTests: XCTestCase {
    static func world(_ seed: UInt64) -> (ResourceSpace, [NodeSpec], [VMRequest]) {
        var rng = SplitMix(seed: seed)
        let space = ResourceSpace(["cpu", "memory", "gpu"])
        let nodeCount = 2 + rng.below(12)
        let nodes = (0..<nodeCount).map { i in
            NodeSpec(id: "n\(i)", capacity: [Double(4 + rng.below(60)), Double(8 + rng.below(200)), Double(rng.below(3) == 0 ? rng.below(5) : 0)],
                     region: "r\(rng.below(2))", zone: "z\(rng.below(3))", domain: "d\(rng.below(4))",
                     gpuModel: ["T4", "V100"][rng.below(2)], reputation: rng.nextUnit())
        }
        let requests = (0..<(1 + rng.below(60))).map { i -> VMRequest in
            var gpu = 0.0
            switch rng.below(6) {
            case 0: gpu = Double(1 + rng.below(999)) / 1000
            case 1: gpu = Double(1 + rng.below(2))
            default: break
            }
            var r = VMRequest(id: "vm\(i)", demand: [Double(rng.below(24)) + rng.nextUnit(), Double(rng.below(64)), gpu])
            if rng.below(3) == 0 { r.group = "g\(rng.below(3))"; r.antiAffinity = rng.below(2) == 0 }
            if rng.below(8) == 0 { r.pinned = ["n\(rng.below(nodeCount))", "n\(rng.below(nodeCount))"] }
            if rng.below(8) == 0 { r.forbidden = ["n\(rng.below(nodeCount))"] }
            if gpu > 0 && rng.below(3) == 0 { r.gpuModels = ["T4"] }
            return r
        }
        return (space, nodes, requests)
    }

    /// Recomputes usage from the placements alone and checks every rule.
    static func check(_ c: Cluster, _ label: String) {
        var used = Array(repeating: 0.0, count: c.nodeCount * c.dims)
        var devices = c.nodes.map { Array(repeating: Int32(0), count: Int($0.capacity[2])) }
        var groups: [Int: [String: Int]] = [:]
        for case let p? in c.placements {
            for k in 0..<c.dims { used[p.node * c.dims + k] += p.request.demand[k] }
            for d in p.devices { devices[p.node][d] += p.request.gpuMilli }
            if let a = p.request.allowed { XCTAssertTrue(a.contains(p.node), "\(label): pin broken") }
            XCTAssertFalse(p.request.forbidden.contains(p.node), "\(label): forbidden node used")
            XCTAssertFalse(c.isExcluded(p.node), "\(label): quarantined node used")
            if p.request.gpuDevices > 0, !p.request.request.gpuModels.isEmpty {
                XCTAssertTrue(p.request.request.gpuModels.contains(c.nodes[p.node].gpuModel ?? ""), "\(label): GPU model")
            }
            XCTAssertEqual(p.devices.count, p.request.gpuDevices, "\(label): devices")
            if p.request.request.antiAffinity, let g = p.request.request.group { groups[p.node, default: [:]][g, default: 0] += 1 }
        }
        for j in 0..<c.nodeCount {
            for k in 0..<c.dims {
                XCTAssertLessThanOrEqual(used[j * c.dims + k], c.capacity(j, k) * (1 + 1e-9), "\(label): node \(j) over capacity")
            }
            for d in devices[j] { XCTAssertLessThanOrEqual(d, 1000, "\(label): GPU device over") }
            for (_, n) in groups[j] ?? [:] { XCTAssertLessThanOrEqual(n, 1, "\(label): anti-affinity broken") }
        }
    }

    func testNoAlgorithmEverOverfillsANodeOrBreaksARule() throws {
        for seed in UInt64(1)...300 {
            let (space, nodes, requests) = Self.world(seed)
            for algorithm in PackingAlgorithm.allCases {
                let make = { () -> Cluster in
                    let c = Cluster(space: space, nodes: nodes)
                    c.exclude(Int(seed) % nodes.count)
                    return c
                }
                let probe = make()
                let items = requests.map { try! probe.prepare($0) }
                let (c, handles) = algorithm.run(items, make: make, options: .init(seed: seed, steps: 60))
                Self.check(c, "seed \(seed) \(algorithm.rawValue)")
                XCTAssertEqual(Set(handles.compactMap { $0 }).count, handles.compactMap { $0 }.count)
                XCTAssertEqual(c.placements.compactMap { $0 }.count, handles.compactMap { $0 }.count)
            }
        }
    }

    func testOnlineWithReleasesKeepsTheInvariant() throws {
        for seed in UInt64(1)...200 {
            let (space, nodes, requests) = Self.world(seed)
            for policy in NodePolicy.allCases {
                let session = PlacementSession(space: space, nodes: nodes, objective: policy == .spread ? .spread : .pack,
                                               policy: policy, excluded: [nodes[0].id])
                var rng = SplitMix(seed: seed)
                var live: [String] = []
                for r in requests {
                    let d = try session.decide(r)
                    if d.node != nil { live.append(r.id) } else { XCTAssertNotNil(d.reason) }
                    if !live.isEmpty && rng.below(3) == 0 {
                        let id = live.remove(at: rng.below(live.count))
                        XCTAssertTrue(try session.release(id).released)
                    }
                    Self.check(session.cluster, "seed \(seed) \(policy.rawValue)")
                }
                for id in live { try session.release(id) }
                XCTAssertEqual(session.cluster.usedNodeCount, 0)
                for j in 0..<nodes.count {
                    for k in 0..<space.count { XCTAssertEqual(session.cluster.free(j, k), nodes[j].capacity[k]) }
                }
            }
        }
    }
}
