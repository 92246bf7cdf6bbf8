import ArgumentParser
import DWCPCLI
import DWCPCore
import DWCPPredict
import DWCPSystem
#if canImport(Glibc)
import Glibc
#endif

/// Options shared by the subcommands that use models.
struct ModelOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Forecast horizons in seconds, comma-separated.", valueName: "LIST"))
    var horizons: String = "1,5,10"

    @Option(help: ArgumentHelp("Trained GRU model (from 'dwcp-predict train'); without it the GRU is not used. Repeat it with one model per link class (each trained on that class's traces): auto and gru then follow the class whose training profile the series resembles.", valueName: "FILE"))
    var modelFile: [String] = []

    func horizonList() throws -> [Int] {
        guard let list = commaList(horizons, { Int($0) }, where: { (1...3600).contains($0) }) else {
            throw ValidationError("--horizons: a comma-separated list of whole seconds, 1 to 3600")
        }
        if let twice = list.enumerated().first(where: { list[..<$0.offset].contains($0.element) })?.element {
            throw ValidationError("--horizons: \(twice) is given twice")
        }
        return list
    }

    func loadModels() throws -> [GRUModel] {
        try modelFile.map(Self.load)
    }

    static func load(_ path: String) throws -> GRUModel {
        guard let f = fopen(path, "r") else { throw DWCPError.failure("\(path): \(String(cString: strerror(errno)))") }
        defer { fclose(f) }
        var text = ""
        var buf = [CChar](repeating: 0, count: 4096)
        while fgets(&buf, 4096, f) != nil { text += String(cString: buf) }
        do { return try GRUModel.parse(text) } catch { throw DWCPError.integrity("\(path): \(error)") }
    }
}

struct ForecastCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forecast",
        abstract: "Read samples and write one JSON line of forecasts per sample (the default subcommand).")

    @Option(name: .shortAndLong, help: ArgumentHelp("Model: auto, last, ma5, ewma, harmonic, holt, ar3 or gru.", valueName: "NAME"))
    var model: String = "auto"

    @OptionGroup var modelOptions: ModelOptions

    @Flag(help: "Keep reading after the end of a file, as it grows (tail -f); stop with SIGINT.")
    var follow = false

    @Flag(help: "Stop with exit status 3 at the first bad line instead of skipping it with a warning.")
    var strict = false

    @Option(help: ArgumentHelp("Missing seconds after which the series restarts (models reset); 1 to 3600.", valueName: "SECONDS"))
    var maxGap: Int = 5

    @OptionGroup var verbosity: VerbosityOptions

    @Argument(help: ArgumentHelp("Sample files (JSON lines); - or none reads standard input.", valueName: "FILE"))
    var files: [String] = []

    func validate() throws {
        _ = try modelOptions.horizonList()
        if !["auto", "gru"].contains(model) && ModelCatalog.baseline(model) == nil {
            throw ValidationError("unknown model '\(model)' (auto, last, ma5, ewma, harmonic, holt, ar3, gru)")
        }
        if model == "gru" && modelOptions.modelFile.isEmpty { throw ValidationError("--model gru needs --model-file") }
        if !(1...3600).contains(maxGap) { throw ValidationError("--max-gap must be 1 to 3600 seconds") }
    }

    func run() throws {
        verbosity.apply()
        let horizons = try modelOptions.horizonList()
        let grus = try modelOptions.loadModels()
        let selector: BandForecaster
        switch model {
        case "auto": selector = ModelCatalog.auto(grus: grus, horizons: horizons)
        case "gru": selector = AutoSelector(models: [ModelCatalog.gru(grus)!], horizons: horizons)
        default: selector = AutoSelector(models: [ModelCatalog.baseline(model)!], horizons: horizons)
        }
        var parser = SampleParser()
        var binner = Binner(holeLimit: maxGap + 1)
        var missing = 0
        try LineInput.read(files, follow: follow) { where_, _, text in
            let sample: Sample
            do {
                guard let s = try parser.parse(text) else { return }
                sample = s
            } catch let p as SampleProblem {
                if strict { throw DWCPError.integrity("\(where_): \(p)") }
                Diagnostics.warning("\(where_): \(p) (skipped)")
                return
            }
            for bin in binner.add(sample) {
                if let b = bin {
                    missing = 0
                    selector.observe(b)
                } else {
                    missing += 1
                    if missing == maxGap + 1 { selector.reset() }
                }
            }
            try emit(sample, selector, horizons)
        }
    }

    private func emit(_ sample: Sample, _ selector: BandForecaster, _ horizons: [Int]) throws {
        var j = JSONLine()
        j.add("t", sample.t, decimals: 3)
        j.add("bps", sample.bps, decimals: 0)
        j.add("model", model)
        var parts: [String] = []
        for h in horizons {
            guard let d = selector.detail(horizon: h), d.forecast.isFinite else { continue }
            var f = JSONLine()
            f.add("horizon_s", h)
            f.add("bps", d.forecast, decimals: 0)
            f.add("p10_bps", d.p10, decimals: 0)
            f.add("p90_bps", d.p90, decimals: 0)
            f.add("model", d.model)
            parts.append(f.text)
        }
        j.addRaw("forecast", "[" + parts.joined(separator: ",") + "]")
        try FileDescriptor.standardOutput.writeAll(j.text + "\n")
    }
}

/// A comma-separated option value, item by item (spaces around items allowed): nil when it is
/// empty or any item does not parse or fails `valid`. Every list option of `dwcp-predict` uses it.
func commaList<T>(_ text: String, _ parse: (String) -> T?, where valid: (T) -> Bool) -> [T]? {
    let items = text.split(separator: ",").map { parse($0.trimmingSpaces()) }
    guard !items.isEmpty, items.allSatisfy({ $0.map(valid) ?? false }) else { return nil }
    return items.map { $0! }
}
