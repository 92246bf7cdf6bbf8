import ArgumentParser
import DWCPCLI
import DWCPCore
import DWCPPredict
import DWCPSystem

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Replay traces in 1 s bins and score every model per dataset and horizon.",
        discussion: """
            Each DIR is a dataset. Only its test split is scored (the sessions 'train' did not \
            use). For every model and horizon: w20, the fraction of forecasts within +-20% of the \
            actual mean over the horizon, and the median absolute percentage error; for auto, \
            also the coverage of its p10-p90 band (the fraction of actual means inside it, 0.8 \
            when the band is calibrated; '-' for the other models). --json prints one line per \
            dataset, model and horizon: {"dataset","model","horizon_s","w20","medape","n"}, with \
            "band_coverage" for auto.
            """)

    @Argument(help: ArgumentHelp("Dataset directories (searched recursively for *.jsonl).", valueName: "DIR"))
    var directories: [String]

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: ArgumentHelp("Percent of sessions held out for training (not scored).", valueName: "PERCENT")) var trainPercent: Int = 60
    @Flag(help: "One JSON object per dataset, model and horizon.") var json = false
    @OptionGroup var verbosity: VerbosityOptions

    func validate() throws {
        if directories.isEmpty { throw ValidationError("give at least one dataset directory") }
        _ = try modelOptions.horizonList()
    }

    func run() throws {
        verbosity.apply()
        let horizons = try modelOptions.horizonList()
        let grus = try modelOptions.loadModels()
        // Every directory is checked before the first line: a bad one named last must not leave
        // a table cut short.
        let datasets = try directories.map { dir in
            let files = TraceSet.files(in: dir).filter { !TraceSet.isTraining($0, percent: trainPercent) }
            if files.isEmpty { throw DWCPError.failure("\(dir): no test traces (*.jsonl)") }
            return (dir, files)
        }
        if !json {
            try FileDescriptor.standardOutput.writeAll("dataset                model      horizon_s    w20  medape       n  p10-p90\n")
        }
        for (dir, files) in datasets {
            var traces: [Trace] = []
            var problems = 0
            for path in files {
                let t = try TraceSet.load(path)
                problems += t.problems.count
                traces.append(t)
            }
            if problems > 0 { Diagnostics.info("\(dir): \(problems) bad lines skipped") }
            let name = dir.split(separator: "/").last.map(String.init) ?? dir
            let started = MonotonicClock.now()
            let scores = Evaluator(horizons: horizons).run(traces) {
                ModelCatalog.all(gru: nil) + (ModelCatalog.gru(grus).map { [$0] } ?? []) + [ModelCatalog.auto(grus: grus, horizons: horizons)]
            }
            Diagnostics.info("\(name): \(traces.count) test traces in \(Units.format(MonotonicClock.now() - started, 2)) s")
            for s in scores {
                if json {
                    var j = JSONLine()
                    j.add("dataset", name)
                    j.add("model", s.model)
                    j.add("horizon_s", s.horizon)
                    j.add("w20", s.w20, decimals: 4)
                    j.add("medape", s.medape, decimals: 4)
                    j.add("n", s.count)
                    if let c = s.bandCoverage { j.add("band_coverage", c, decimals: 4) }
                    try FileDescriptor.standardOutput.writeAll(j.text + "\n")
                } else {
                    let row = [name.padded(to: 22), s.model.padded(to: 10), "\(s.horizon)".leftPadded(to: 9), Units.format(s.w20, 3).leftPadded(to: 6),
                               Units.format(s.medape, 3).leftPadded(to: 7), "\(s.count)".leftPadded(to: 7),
                               (s.bandCoverage.map { Units.format($0, 3) } ?? "-").leftPadded(to: 8)].joined(separator: " ")
                    try FileDescriptor.standardOutput.writeAll(row + "\n")
                }
            }
        }
    }

}
