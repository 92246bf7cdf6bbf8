import ArgumentParser
import DWCPRep

/// The detector's thresholds, shared by `detect` and `eval`.
struct ThresholdOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Weight of the newest timing observation in a node's score.", valueName: "A")) var alpha = 0.1
    @Option(help: ArgumentHelp("Score below which a node is suspect.", valueName: "S")) var suspectBelow = 0.5
    @Option(help: ArgumentHelp("Score below which a node is quarantined.", valueName: "S")) var quarantineBelow = 0.3
    @Option(help: ArgumentHelp("Latency after which a message is late (the protocol timeout).", valueName: "MS")) var timeoutMs: Int64 = 1000
    @Option(help: ArgumentHelp("How far in the future a send stamp may be (clock tolerance).", valueName: "MS")) var clockToleranceMs: Int64 = 100
    @Option(help: ArgumentHelp("Bad-rate test: the late fraction a node may have.", valueName: "F")) var maxBadRate = 0.10
    @Option(help: ArgumentHelp("Bad-rate test and slow detection: required confidence.", valueName: "C")) var confidence = 0.999
    @Option(help: ArgumentHelp("Bad-rate test: recent observations per node.", valueName: "N")) var window = 200
    @Option(help: ArgumentHelp("Slow: median latency at least this many times the population's.", valueName: "X")) var slowFactor = 3.0
    @Option(help: ArgumentHelp("A duplicate within this of the first copy is a retransmission, not a replay.", valueName: "MS")) var replayGraceMs: Int64 = 2000
    @Option(help: ArgumentHelp("Slots per sender remembered for replay and equivocation checks.", valueName: "N")) var slotWindow: UInt64 = 1024

    func check() throws {
        guard alpha > 0 && alpha <= 1 else { throw ValidationError("--alpha must be in (0, 1]") }
        guard 0 <= quarantineBelow && quarantineBelow <= suspectBelow && suspectBelow <= 1 else {
            throw ValidationError("need 0 ≤ --quarantine-below ≤ --suspect-below ≤ 1")
        }
        guard timeoutMs > 0, clockToleranceMs >= 0, replayGraceMs >= 0 else { throw ValidationError("times must be positive") }
        guard maxBadRate >= 0 && maxBadRate < 1, confidence > 0.5 && confidence < 1 else {
            throw ValidationError("--max-bad-rate in [0, 1), --confidence in (0.5, 1)")
        }
        guard window >= 10, slotWindow >= 16, slowFactor > 1 else { throw ValidationError("--window ≥ 10, --slot-window ≥ 16, --slow-factor > 1") }
    }

    var config: Detector.Config {
        var c = Detector.Config()
        c.replayGraceMs = replayGraceMs
        c.window = slotWindow
        c.reputation.alpha = alpha
        c.reputation.suspectBelow = suspectBelow
        c.reputation.quarantineBelow = quarantineBelow
        c.reputation.timeoutMs = timeoutMs
        c.reputation.clockToleranceMs = clockToleranceMs
        c.reputation.maxBadRate = maxBadRate
        c.reputation.confidence = confidence
        c.reputation.window = window
        c.reputation.slowFactor = slowFactor
        c.reputation.slowConfidence = min(confidence, 0.99)
        return c
    }
}
