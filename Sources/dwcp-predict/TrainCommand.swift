import ArgumentParser
import DWCPCLI
import DWCPCore
import DWCPPredict
import DWCPSystem
import Glibc

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Fit the GRU forecaster on trace directories and write the model file.",
        discussion: """
            Uses only the training split of each directory (60% of sessions, chosen by a hash of \
            the file name; the same split 'eval' uses), so evaluation never scores a model on \
            traces it learned from. Deterministic for a given --seed. Besides the networks, the \
            file stores what --model auto starts from: every model's w20 on the training traces, \
            the link profile, the score pace and blend chosen on the held-out runs, and where \
            the calibration of its p10-p90 band settled on them (band-scale).
            """)

    @Argument(help: ArgumentHelp("Trace directories (searched recursively for *.jsonl).", valueName: "DIR"))
    var directories: [String]

    @Option(name: .shortAndLong, help: ArgumentHelp("Write the model here (default: standard output).", valueName: "FILE"))
    var output: String?

    @Option(help: ArgumentHelp("Hidden units.", valueName: "N")) var hidden: Int = 16
    @Option(help: ArgumentHelp("At most this many passes over the training traces; training stops once the validation loss has not improved by 0.1% for 2 passes, and the best pass is kept.", valueName: "N")) var epochs: Int = 30
    @Option(help: ArgumentHelp("Seed for initial weights and shuffling (network i of the ensemble uses seed + i).", valueName: "N")) var seed: UInt64 = 1
    @Option(help: ArgumentHelp("Networks trained from different seeds that answer together (the mean of their outputs), trained in parallel.", valueName: "N"))
    var ensemble: Int = 4
    @Option(help: ArgumentHelp("Forecast horizons in seconds, comma-separated.", valueName: "LIST"))
    var horizons: String = "1,5,10"
    @Option(help: ArgumentHelp("Percent of sessions used for training.", valueName: "PERCENT")) var trainPercent: Int = 60
    @Option(help: ArgumentHelp("What training minimises: 'hit' (a smooth ±20% window around the forecast, what w20 scores: the most likely outcome) or 'squared' (the squared log error: the mean outcome). See docs/PREDICT.md.", valueName: "LOSS"))
    var loss: TrainingLoss = .hit
    @Option(help: ArgumentHelp("Candidate paces for auto's scores (weight of each new outcome), comma-separated. One value fixes it.", valueName: "LIST"))
    var scoreAlphas: String = "0.002,0.005,0.01,0.02"
    @Option(help: ArgumentHelp("Candidate sizes of auto's blend contender (the geometric mean of the N best-scoring models, scored like a model; 1: none), comma-separated. With --score-alphas, the pair with the best w20 on the held-out runs is stored. One value fixes it.", valueName: "LIST"))
    var blends: String = "1,2,3"
    @Flag(help: "Overwrite an existing output file.") var force = false
    @OptionGroup var verbosity: VerbosityOptions

    func validate() throws {
        if directories.isEmpty { throw ValidationError("give at least one trace directory") }
        if !(1...256).contains(hidden) { throw ValidationError("--hidden must be 1...256") }
        if !(1...1000).contains(epochs) { throw ValidationError("--epochs must be 1...1000") }
        if !(1...16).contains(ensemble) { throw ValidationError("--ensemble must be 1...16") }
        if !(1...99).contains(trainPercent) { throw ValidationError("--train-percent must be 1...99") }
        if paces() == nil { throw ValidationError("--score-alphas must be numbers in (0, 1], comma-separated") }
        if blendCounts() == nil { throw ValidationError("--blends must be whole numbers 1...16, comma-separated") }
    }

    func run() throws {
        verbosity.apply()
        var trainer = GRUTrainer()
        trainer.hidden = hidden
        trainer.epochs = epochs
        trainer.seed = seed
        trainer.ensemble = ensemble
        trainer.loss = loss
        trainer.horizons = try ModelOptions(horizons: horizons).horizonList()
        trainer.progress = { epoch, loss in Diagnostics.info("epoch \(epoch): training loss \(Units.format(loss, 5))") }
        trainer.validationProgress = { epoch, loss in Diagnostics.info("epoch \(epoch): validation loss \(Units.format(loss, 5))") }
        var series: [(bins: [Double], weight: Double)] = []
        var validation: [[Double]] = []
        var trainingTraces: [Trace] = []
        var traces = 0
        for dir in directories {
            var dataset: [[Double]] = []
            let files = TraceSet.files(in: dir)
            if files.isEmpty { throw DWCPError.failure("\(dir): no *.jsonl traces") }
            for path in files where TraceSet.isTraining(path, percent: trainPercent) {
                let trace = try TraceSet.load(path)
                trainingTraces.append(trace)
                traces += 1
                for segment in trace.segments {
                    var run: [Double] = []
                    for b in segment {
                        if let b { run.append(b) } else if !run.isEmpty { dataset.append(run); run = [] }
                    }
                    if !run.isEmpty { dataset.append(run) }
                }
            }
            // Every bin weighs the same. One run in five is held out for early stopping.
            for (i, run) in dataset.enumerated() {
                if i % 5 == 4 { validation.append(run) } else { series.append((bins: run, weight: 1)) }
            }
        }
        let started = MonotonicClock.now()
        var model = trainer.train(series, validation: validation)
        // The link profile of the training traces: with one model per link class, auto routes by it.
        var profile = LinkProfile()
        for trace in trainingTraces {
            for segment in trace.segments {
                for bin in segment { profile.observe(bin) }
                profile.observe(nil)
            }
        }
        model.profile = profile
        // Priors for --model auto: how every model (this GRU included) did on the training traces.
        let trained = model
        for score in Evaluator(horizons: trainer.horizons).run(trainingTraces, makeModels: { ModelCatalog.all(gru: trained) }) {
            model.priors[score.model, default: [:]][score.horizon] = score.w20
        }
        // How fast auto forgets and how many models it blends, chosen on the held-out runs (not
        // fitted on; only early stopping saw them).
        let tuning = AutoTuning(horizons: trainer.horizons, alphas: paces()!, blends: blendCounts()!).choose(model: model, runs: validation)
        for c in tuning.candidates {
            Diagnostics.info("score alpha \(c.setting.alpha), blend \(c.setting.blend): auto's mean w20 on held-out runs \(Units.format(c.meanW20, 4))")
        }
        model.scoreAlpha = tuning.setting.alpha
        model.blend = tuning.setting.blend
        // Where auto's band calibration starts: its mean on the held-out runs with that setting.
        model.bandScales = tuning.bandScales.isEmpty ? nil : tuning.bandScales
        if let scales = model.bandScales {
            Diagnostics.info("band scale per horizon on held-out runs: " + scales.keys.sorted().map { "\($0) s \(Units.format(scales[$0]!, 3))" }.joined(separator: ", "))
        }
        Diagnostics.info("trained on \(traces) traces, \(series.reduce(0) { $0 + $1.bins.count }) bins in \(Units.format(MonotonicClock.now() - started, 1)) s")
        let text = model.serialized()
        if let output {
            // Written beside and renamed over: a training killed while writing leaves the old
            // file or none, never a cut one whose last parameter lost digits and still parses.
            if !force && access(output, F_OK) == 0 { throw DWCPError.failure("\(output): already exists (use --force to overwrite)") }
            try writeFileAtomically(output, text, mode: 0o644)
        } else {
            try FileDescriptor.standardOutput.writeAll(text)
        }
    }
}

extension TrainCommand {
    func paces() -> [Double]? { commaList(scoreAlphas, { Double($0) }, where: { $0 > 0 && $0 <= 1 }) }

    func blendCounts() -> [Int]? { commaList(blends, { Int($0) }, where: { (1...16).contains($0) }) }
}

extension TrainingLoss: ExpressibleByArgument {}

extension ModelOptions {
    init(horizons: String) {
        self.init()
        self.horizons = horizons
    }
}
