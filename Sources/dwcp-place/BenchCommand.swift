import ArgumentParser
import DWCPCLI
import DWCPCore
import DWCPPlace
import DWCPSystem

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure online decision latency on synthetic heterogeneous clusters of any size.",
        discussion: """
            For each node count, a seeded cluster of CPU and GPU machine types is filled to \
            --fill of its CPU with random VMs; then --decisions requests are decided one at a \
            time with each policy (and released again). Prints p50, p99 and max decision time \
            per policy; --json prints one line per node count and policy: \
            {"nodes","policy","decisions","placed","p50_us","p99_us","max_us"}.
            """)

    @Option(help: ArgumentHelp("Comma-separated cluster sizes.", valueName: "LIST"))
    var nodes: String = "1500,100000"

    @Option(help: ArgumentHelp("Comma-separated policies (default: all).", valueName: "LIST"))
    var policies: String?

    @Option(help: ArgumentHelp("Fraction of CPU in use before timing (0 to 0.95).", valueName: "F"))
    var fill: Double = 0.6

    @Option(help: ArgumentHelp("Timed decisions per size and policy.", valueName: "N"))
    var decisions: Int = 2000

    @Option(help: ArgumentHelp("Seed for the synthetic cluster and requests.", valueName: "N"))
    var seed: UInt64 = 1

    @Flag(help: "One JSON object per size and policy.") var json = false
    @OptionGroup var verbosity: VerbosityOptions

    func sizes() throws -> [Int] {
        let list = nodes.split(separator: ",").map { Int($0) }
        guard !list.isEmpty, list.allSatisfy({ ($0 ?? 0) >= 1 && ($0 ?? 0) <= 10_000_000 }) else {
            throw ValidationError("--nodes: comma-separated counts, 1 to 10000000")
        }
        return list.map { $0! }
    }

    func policyList() throws -> [NodePolicy] {
        guard let policies else { return NodePolicy.allCases }
        return try policies.split(separator: ",").map {
            guard let p = NodePolicy(rawValue: String($0)) else { throw ValidationError("unknown policy '\($0)'") }
            return p
        }
    }

    func validate() throws {
        _ = try sizes()
        _ = try policyList()
        if !(0...0.95).contains(fill) { throw ValidationError("--fill must be within 0 and 0.95") }
        if decisions < 1 { throw ValidationError("--decisions must be at least 1") }
    }

    func run() throws {
        verbosity.apply()
        let bench = LatencyBench(seed: seed, fill: fill, decisions: decisions)
        if !json { try FileDescriptor.standardOutput.writeAll("nodes    policy            decisions  placed   p50_us   p99_us   max_us\n") }
        for n in try sizes() {
            for r in bench.run(nodes: n, policies: try policyList()) {
                if json {
                    var j = JSONLine()
                    j.add("nodes", r.nodes)
                    j.add("policy", r.policy.rawValue)
                    j.add("decisions", r.decisions)
                    j.add("placed", r.placed)
                    j.add("p50_us", r.p50 * 1e6, decimals: 1)
                    j.add("p99_us", r.p99 * 1e6, decimals: 1)
                    j.add("max_us", r.max * 1e6, decimals: 1)
                    try FileDescriptor.standardOutput.writeAll(j.text + "\n")
                } else {
                    let cols = ["\(r.nodes)".padded(to: 8), r.policy.rawValue.padded(to: 17), "\(r.decisions)".leftPadded(to: 9),
                                "\(r.placed)".leftPadded(to: 7), Units.format(r.p50 * 1e6, 1).leftPadded(to: 8),
                                Units.format(r.p99 * 1e6, 1).leftPadded(to: 8), Units.format(r.max * 1e6, 1).leftPadded(to: 8)]
                    try FileDescriptor.standardOutput.writeAll(cols.joined(separator: " ") + "\n")
                }
            }
        }
    }
}
