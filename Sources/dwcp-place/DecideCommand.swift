import ArgumentParser
import DWCPCLI
import DWCPCore
import DWCPPlace
import DWCPSystem
#if canImport(Glibc)
import Glibc
#endif

/// `dwcp-place [decide]`: read requests, print one decision per VM.
struct DecideCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decide",
        abstract: "Read VM requests and print one JSON decision per VM (the default subcommand).")

    @Option(name: .shortAndLong, help: ArgumentHelp("Node list: JSON lines or CSV (see docs/PLACE.md).", valueName: "FILE"))
    var nodes: String

    @Option(help: ArgumentHelp("pack (datacenter: fewest nodes) or spread (internet: replicas apart, reliable nodes).", valueName: "NAME"))
    var objective: String = "pack"

    @Option(help: ArgumentHelp("Batch algorithm for --objective pack: \(PackingAlgorithm.allCases.map(\.rawValue).joined(separator: ", ")).", valueName: "NAME"))
    var algorithm: String = PackingAlgorithm.dwcpLS.rawValue

    @Flag(help: "Decide each request as it arrives (online), including {\"release\": id} lines. Files are followed as they grow (tail -f) until SIGINT; standard input ends at end of file.")
    var follow = false

    @Option(help: ArgumentHelp("Node policy with --follow: \(NodePolicy.allCases.map(\.rawValue).joined(separator: ", ")) (default: l2 to pack, spread to spread).", valueName: "NAME"))
    var policy: String?

    @Option(help: ArgumentHelp("Quarantine list (one node id per line, as dwcp-rep --quarantine-out writes): never place on these.", valueName: "FILE"))
    var exclude: String?

    @Option(help: ArgumentHelp("Only requests in these phases (comma-separated, e.g. Running); others are skipped.", valueName: "LIST"))
    var phase: String?

    @Option(help: ArgumentHelp("Time limit for the batch local search (e.g. 200ms, 2s).", valueName: "DURATION"))
    var budget: String = "1s"

    @OptionGroup var search: SearchOptions

    @Option(name: .shortAndLong, help: ArgumentHelp("Write decisions to FILE instead of standard output.", valueName: "FILE"))
    var output: String?

    @OptionGroup var verbosity: VerbosityOptions

    @Argument(help: ArgumentHelp("Request files (JSON lines or CSV); - or none reads standard input.", valueName: "FILE"))
    var files: [String] = []

    func validate() throws {
        guard Objective(rawValue: objective) != nil else { throw ValidationError("--objective: pack or spread") }
        guard PackingAlgorithm(rawValue: algorithm) != nil else { throw ValidationError("unknown --algorithm '\(algorithm)'") }
        if let p = policy, NodePolicy(rawValue: p) == nil { throw ValidationError("unknown --policy '\(p)'") }
        if policy != nil && !follow { throw ValidationError("--policy applies to --follow; batches use --algorithm") }
        guard Units.parseDuration(budget) != nil else { throw ValidationError("--budget: a duration such as 200ms or 2s") }
        try search.check()
    }

    func run() throws {
        verbosity.apply()
        let (space, nodeList) = try load { try NodeListReader.parse(FileDescriptor.readText(nodes), name: nodes) }
        let excluded = try exclude.map { QuarantineList.parse(try FileDescriptor.readText($0)) } ?? []
        let session = PlacementSession(space: space, nodes: nodeList, objective: Objective(rawValue: objective)!,
                                       policy: policy.flatMap(NodePolicy.init(rawValue:)), excluded: excluded)
        Diagnostics.info("\(Units.count(nodeList.count, "node")) (\(space.names.joined(separator: ", "))), \(session.excludedCount) quarantined")
        let reads = (files.isEmpty ? ["-"] : files) + [nodes] + (exclude.map { [$0] } ?? [])
        let out = try OutputGuard.openText(output, reading: reads)
        defer { if output != nil { out.close() } }
        var reader = RequestReader(space: space, phases: phase.map { Set($0.split(separator: ",").map(String.init)) })
        var bad = 0
        var batch: [(line: Int, request: PreparedRequest)] = []
        var ids = Set<String>()

        try LineInput.read(files, follow: follow) { where_, lineNumber, line in
            let record: RequestRecord?
            do { record = try reader.parse(line) } catch {
                bad += 1
                Diagnostics.error("\(where_):\(lineNumber): \(error)")
                return
            }
            guard let record else { return }
            do {
                switch record {
                case .place(let r):
                    if follow {
                        try emit(session.decide(r), to: out)
                    } else {
                        guard ids.insert(r.id).inserted else { throw PlacementInputError("duplicate VM id '\(r.id)'") }
                        batch.append((lineNumber, try session.prepare(r)))
                    }
                case .release(let id):
                    guard follow else { throw PlacementInputError("a release needs --follow") }
                    try emit(session.release(id), to: out)
                }
            } catch let e as PlacementInputError {
                bad += 1
                Diagnostics.error("\(where_):\(lineNumber): \(e)")
            }
        }
        if !follow {
            let deadline = MonotonicClock.now() + Units.parseDuration(budget)!
            let started = MonotonicClock.now()
            let decisions = session.placeBatch(batch.map(\.request), algorithm: PackingAlgorithm(rawValue: algorithm)!,
                                               options: search.options(deadline: deadline))
            for d in decisions {
                if let reason = d.reason, reason.hasPrefix("larger than every node") {
                    bad += 1
                    Diagnostics.error("VM '\(d.vm)': \(reason)")
                }
                try emit(d, to: out)
            }
            let placed = decisions.filter { $0.node != nil }.count
            Diagnostics.info("\(placed) of \(decisions.count) VMs placed on \(Units.count(session.cluster.usedNodeCount, "node")) in \(Units.format((MonotonicClock.now() - started) * 1000, 1)) ms")
        }
        if bad > 0 { throw DWCPError.failure(Units.count(bad, "bad request") + " (see above)") }
    }

    private func load<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as PlacementInputError { throw DWCPError.failure(e.description) }
    }

    private func emit(_ d: Decision, to out: FileDescriptor) throws {
        try out.writeAll(DecisionJSON.line(d).text + "\n")
    }
}

/// A decision as the JSON line `dwcp-place` prints (docs/PLACE.md).
enum DecisionJSON {
    static func line(_ d: Decision) -> JSONLine {
        var j = JSONLine()
        if d.released { j.add("release", d.vm) } else { j.add("vm", d.vm) }
        if let n = d.node { j.add("node", n) } else { j.addRaw("node", "null") }
        if let r = d.reason { j.add("reason", r) }
        if let p = d.policy { j.add("policy", p) }
        if let s = d.score { j.add("score", s, decimals: 4) }
        if !d.terms.isEmpty { j.addRaw("terms", object(d.terms)) }
        if !d.violations.isEmpty { j.addRaw("violations", "[" + d.violations.map(JSONLine.quote).joined(separator: ",") + "]") }
        if !d.utilisation.isEmpty { j.addRaw("utilisation", object(d.utilisation)) }
        return j
    }

    static func object(_ pairs: [(name: String, value: Double)]) -> String {
        var o = JSONLine()
        for (k, v) in pairs { o.add(k, v, decimals: 4) }
        return o.text
    }
}
