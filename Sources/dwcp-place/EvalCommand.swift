import ArgumentParser
import DWCPCLI
import DWCPCore
import DWCPPlace
import DWCPSystem

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Run every algorithm on vector bin packing instances and report nodes used and latency.",
        discussion: """
            Each PATH is a .vbp instance file or a directory searched recursively for them; with \
            --nodes, each PATH is instead a request file (JSON lines or CSV) placed on that node \
            list (e.g. the Alibaba openb trace with --phase Running). Items \
            are shuffled with --seed before placing. The text report has one line per algorithm: \
            nodes used in total, as a ratio of the lower bound and of the best published result, \
            how many instances reach the lower bound, time per instance and, for the online \
            policies, decision latency. --json prints one line per instance and algorithm: \
            {"instance","algorithm","bins","lower_bound","best_published","ms"}. The lower bound \
            is the larger of the table's (--bounds) and dwcp-place's own.
            """)

    @Argument(help: ArgumentHelp("Instance files (.vbp) or directories; request files with --nodes.", valueName: "PATH"))
    var paths: [String]

    @Option(name: .shortAndLong, help: ArgumentHelp("Node list for request-file instances (JSON lines or CSV).", valueName: "FILE"))
    var nodes: String?

    @Option(help: ArgumentHelp("With --nodes: only requests in these phases (comma-separated).", valueName: "LIST"))
    var phase: String?

    @Option(help: ArgumentHelp("Published bounds: a TSV with instance_name, LB and best_overall (or OPT) columns.", valueName: "FILE"))
    var bounds: String?

    @Option(help: ArgumentHelp("Comma-separated algorithms (default: all): \(PackingAlgorithm.allCases.map(\.rawValue).joined(separator: ", ")).", valueName: "LIST"))
    var algorithms: String?

    @OptionGroup var search: SearchOptions
    @Flag(help: "One JSON object per instance and algorithm.") var json = false
    @OptionGroup var verbosity: VerbosityOptions

    func validate() throws {
        _ = try AlgorithmList.parse(algorithms)
        try search.check()
    }

    func run() throws {
        verbosity.apply()
        let list = try AlgorithmList.parse(algorithms) ?? PackingAlgorithm.allCases
        let files = nodes == nil ? try InstanceFiles.find(paths) : paths
        if files.isEmpty { throw DWCPError.failure("no .vbp instance files in \(paths.joined(separator: " "))") }
        let cluster = try nodes.map { path in
            do { return try NodeListReader.parse(FileDescriptor.readText(path), name: path) } catch let e as PlacementInputError {
                throw DWCPError.failure(e.description)
            }
        }
        let phases = phase.map { Set($0.split(separator: ",").map(String.init)) }
        let table = try bounds.map { try BoundsTable.parse(FileDescriptor.readText($0), name: $0) }
        let started = MonotonicClock.now()
        let evaluation = Evaluation(algorithms: list, options: search.options(deadline: nil))
        let results: [[Evaluation.Result]]
        do {
            results = try evaluation.run(count: files.count, load: { i in
                if let (space, nodeList) = cluster {
                    let items = try RequestFile.load(files[i], space: space, phases: phases, nodes: nodeList)
                    return (InstanceFiles.name(files[i]), { Cluster(space: space, nodes: nodeList) }, items)
                }
                let inst = try VBPInstance.parse(FileDescriptor.readText(files[i]), name: InstanceFiles.name(files[i]))
                let (make, items) = inst.problem()
                return (inst.name, make, items)
            }, bounds: table)
        } catch let e as PlacementInputError {
            throw DWCPError.integrity(e.description)
        }
        let elapsed = MonotonicClock.now() - started
        if json {
            for row in results {
                for r in row {
                    var j = JSONLine()
                    j.add("instance", r.instance)
                    j.add("algorithm", r.algorithm.rawValue)
                    j.add("bins", r.bins)
                    j.add("lower_bound", r.lowerBound)
                    if let b = r.bestPublished { j.add("best_published", b) } else { j.addRaw("best_published", "null") }
                    j.add("ms", r.milliseconds, decimals: 3)
                    if r.unplaced > 0 { j.add("unplaced", r.unplaced) }
                    try FileDescriptor.standardOutput.writeAll(j.text + "\n")
                }
            }
        } else {
            try EvalReport.write(results, algorithms: list)
        }
        Diagnostics.info("\(files.count) instances, \(list.count) algorithms in \(Units.format(elapsed, 1)) s")
    }
}
