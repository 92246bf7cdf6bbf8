import DWCPCore
import DWCPSystem

/// Measures online decision latency on synthetic clusters of any size (the "100k nodes"
/// scale-up): heterogeneous nodes with labels, filled to a target utilisation with random VMs,
/// then timed decisions, each released again so the cluster stays at that utilisation.
public struct LatencyBench {
    /// One policy's decision latencies at one cluster size, for the bench's table.
    public struct Result: Sendable {
        public var nodes: Int
        public var policy: NodePolicy
        public var decisions: Int
        public var placed: Int
        public var p50: Double
        public var p99: Double
        public var max: Double
    }

    public var seed: UInt64
    public var fill: Double
    public var decisions: Int

    public init(seed: UInt64 = 1, fill: Double = 0.6, decisions: Int = 2000) {
        self.seed = seed
        self.fill = fill
        self.decisions = decisions
    }

    /// A cluster of `count` nodes drawn from a few machine types (CPU-only and GPU nodes, as in
    /// the Alibaba openb trace), spread over regions, zones and racks.
    public static func syntheticNodes(_ count: Int, seed: UInt64) -> (ResourceSpace, [NodeSpec]) {
        var rng = SplitMix(seed: seed)
        let types: [(cpu: Double, mem: Double, gpu: Double, model: String?)] = [
            (32, 131_072, 0, nil), (64, 262_144, 0, nil), (96, 393_216, 0, nil), (64, 262_144, 2, "P100"),
            (96, 393_216, 8, "V100M32"), (96, 786_432, 8, "G2"), (32, 131_072, 4, "T4"),
        ]
        let space = ResourceSpace(["cpu", "memory", "gpu"])
        let nodes = (0..<count).map { i -> NodeSpec in
            let t = types[rng.below(types.count)]
            let region = "r\(rng.below(4))"
            return NodeSpec(id: "node-\(i)", capacity: [t.cpu, t.mem, t.gpu], region: region, zone: "\(region)-z\(rng.below(3))",
                            domain: "rack-\(i / 40)", gpuModel: t.model, reputation: 0.8 + 0.2 * rng.nextUnit())
        }
        return (space, nodes)
    }

    static func randomRequest(_ i: Int, _ rng: inout SplitMix) -> VMRequest {
        let cpu = [0.5, 1, 2, 4, 8, 16][rng.below(6)]
        let mem = cpu * 1024 * Double(1 + rng.below(8))
        var gpu = 0.0
        let g = rng.below(10)
        if g == 0 { gpu = Double(1 + rng.below(2)) } else if g == 1 { gpu = Double(1 + rng.below(9)) / 10 }
        return VMRequest(id: "vm-\(i)", demand: [cpu, mem, gpu], group: "svc-\(rng.below(500))")
    }

    public func run(nodes count: Int, policies: [NodePolicy]) -> [Result] {
        let (space, nodes) = Self.syntheticNodes(count, seed: seed)
        var results: [Result] = []
        for policy in policies {
            let c = Cluster(space: space, nodes: nodes)
            var rng = SplitMix(seed: seed ^ 0x5EED)
            var i = 0
            // Fill node by node (next fit: linear time even for millions of VMs) to the target
            // utilisation; a few misses per node end its filling.
            for j in 0..<c.nodeCount {
                var misses = 0
                while misses < 3 && c.free(j, 0) > (1 - fill) * c.capacity(j, 0) {
                    let r = try! c.prepare(Self.randomRequest(i, &rng))
                    i += 1
                    if r.demand[0] <= c.free(j, 0) - (1 - fill) * c.capacity(j, 0) && c.fits(r, j) { c.place(r, on: j) } else { misses += 1 }
                }
            }
            let placer = Placer(policy: policy)
            var times: [Double] = []
            times.reserveCapacity(decisions)
            var placed = 0
            for _ in 0..<decisions {
                let r = try! c.prepare(Self.randomRequest(i, &rng))
                i += 1
                let t0 = MonotonicClock.now()
                let j = placer.choose(r, in: c)
                var h: Int? = nil
                if let j { h = c.place(r, on: j) }
                times.append(MonotonicClock.now() - t0)
                if let h { c.release(h); placed += 1 }
            }
            times.sort()
            results.append(Result(nodes: count, policy: policy, decisions: decisions, placed: placed,
                                  p50: Percentile.nearestRank(times, 0.5), p99: Percentile.nearestRank(times, 0.99), max: times.last ?? 0))
        }
        return results
    }
}
