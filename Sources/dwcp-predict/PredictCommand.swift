import ArgumentParser
import DWCPCLI
import DWCPCore

/// `dwcp-predict`: bandwidth forecasts from measured samples, with `train` and `eval`.
struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dwcp-predict",
        abstract: "Forecast link bandwidth from measured samples, train the GRU model, evaluate every model on traces.",
        discussion: """
            Samples are JSON lines {"t": seconds, "bps": bits_per_second} (optional "rtt_ms", and \
            "state": "I" for idle intervals), as dwcp-detect --watch and dwcp-send --json emit them. \
            They are resampled into 1-second bins; a forecast for horizon H is the mean bandwidth \
            over the next H seconds. See docs/PREDICT.md.

            Examples:
              dwcp-detect --watch 1 peer:7000 | dwcp-predict --follow
              dwcp-predict --model ewma --horizons 1,5,10 samples.jsonl
              dwcp-predict train ../shared/data/bandwidth-traces/*/jsonl -o link.gru
              dwcp-predict eval --model-file link.gru --json traces/3g traces/5g

            \(ExitStatus.manualTable)
            """,
        version: DWCPVersion.string,
        subcommands: [ForecastCommand.self, TrainCommand.self, EvalCommand.self],
        defaultSubcommand: ForecastCommand.self)
}
