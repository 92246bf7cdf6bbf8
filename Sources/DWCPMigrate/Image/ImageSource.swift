import Glibc
import DWCPCodec
import DWCPCore
import DWCPSystem
import DWCPTransport

/// Source side of `dwcp-migrate file`: iterative pre-copy of a file or block device that may
/// change while it is copied.
///
/// Round 0 sends a snapshot of the whole image; every later round snapshots it again and sends a
/// `--baseline` delta against the previous snapshot, which is exactly what the destination holds.
/// After each round the `PrecopyPlanner` decides: another round, switch over (run the freeze
/// command, send the final round, done), or give up (tell the destination to discard, thaw).
public final class ImageSource {
    public struct Configuration {
        public var source: String
        public var workDirectory: String
        public var encoder = EncoderConfiguration()
        public var sender: SenderConfiguration
        public var planner: PrecopyPlanner
        /// Shell commands run before the final round (stop the writers) and, only if the
        /// migration then fails, to let them continue on the source.
        public var freezeCommand: String?
        public var thawCommand: String?

        public init(source: String, workDirectory: String, sender: SenderConfiguration, planner: PrecopyPlanner) {
            self.source = source
            self.workDirectory = workDirectory
            self.sender = sender
            self.planner = planner
        }
    }

    /// Figures of one finished round, for progress and the final report.
    public struct RoundReport {
        public var label: RoundLabel
        public var imageBytes: UInt64
        public var dirtyBytes: UInt64
        public var wireBytes: UInt64
        public var scanSeconds: Double
        public var sendSeconds: Double
        public var reconnects: Int
    }

    public struct Outcome {
        public var rounds: [RoundReport] = []
        public var downtime: Double = 0
        public var totalSeconds: Double = 0
        public var gaveUp: String?
    }

    public let configuration: Configuration
    public var onRound: ((RoundReport, PrecopyPlanner.Decision) -> Void)?
    public var onWire: ((TransferStats) -> Void)?

    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    public func run() throws -> Outcome {
        let c = configuration
        let started = MonotonicClock.now()
        var planner = c.planner
        let forecast = LinkForecast()
        let userForecast = planner.forecastBytesPerSecond
        var outcome = Outcome()
        var previousSnapshot: String? = nil
        defer { if let previousSnapshot { unlink(previousSnapshot) } }
        var round = 0
        var final = false
        var frozenAt: Double? = nil
        do {
            while true {
                let label = RoundLabel(kind: final ? .final : .round, round: round)
                let snapshot = "\(c.workDirectory)/dwcp-migrate-\(getpid())-round\(round).img"
                let scanStart = MonotonicClock.now()
                let size = try Self.copy(c.source, to: snapshot)
                let scanSeconds = MonotonicClock.now() - scanStart
                var encoder = c.encoder
                encoder.baselinePath = previousSnapshot
                encoder.infoJSON = label.json
                let pipeline = SendPipeline(encoder: encoder, sender: c.sender)
                let onWire = self.onWire
                forecast.transferStarted()
                pipeline.onWire = { s in
                    forecast.progress(totalBytes: s.bytes)
                    onWire?(s)
                }
                let input = try FileDescriptor.openForReading(snapshot)
                let sendStart = MonotonicClock.now()
                let result: SendPipeline.Result
                do {
                    defer { input.close() }
                    result = try pipeline.run(input: input)
                } catch {
                    unlink(snapshot)
                    throw error
                }
                let sendSeconds = MonotonicClock.now() - sendStart
                if let previousSnapshot { unlink(previousSnapshot) }
                previousSnapshot = snapshot
                let e = result.encode
                let dirty = round == 0 ? size : e.literalBytes + e.xorBytes
                let report = RoundReport(label: label, imageBytes: size, dirtyBytes: dirty, wireBytes: result.transfer.bytes,
                                         scanSeconds: scanSeconds, sendSeconds: sendSeconds, reconnects: result.transfer.reconnects)
                outcome.rounds.append(report)
                if final {
                    outcome.downtime = MonotonicClock.now() - (frozenAt ?? scanStart)
                    onRound?(report, .switchover(predictedDowntime: outcome.downtime))
                    break
                }
                // dwcp-predict's forecast of the coming seconds, when the rounds so far fed it
                // enough samples; a rate the user gave (--link-rate) still caps it.
                if let f = forecast.bytesPerSecond { planner.forecastBytesPerSecond = min(f, userForecast ?? f) }
                let decision = planner.record(PrecopyPlanner.Round(dirtyBytes: dirty, wireBytes: result.transfer.bytes, scanSeconds: scanSeconds, sendSeconds: sendSeconds))
                onRound?(report, decision)
                switch decision {
                case .another:
                    break
                case .switchover:
                    if let freeze = c.freezeCommand { try Self.shell(freeze, what: "--freeze") }
                    frozenAt = MonotonicClock.now()
                    final = true
                case .giveUp(let reason):
                    outcome.gaveUp = reason
                    try abortDestination(round: round + 1)
                    outcome.totalSeconds = MonotonicClock.now() - started
                    return outcome
                }
                round += 1
            }
        } catch {
            if frozenAt != nil, let thaw = c.thawCommand { try? Self.shell(thaw, what: "--thaw") }
            throw error
        }
        outcome.totalSeconds = MonotonicClock.now() - started
        return outcome
    }

    /// Tells the destination to discard what it has: an empty stream labelled `abort`.
    private func abortDestination(round: Int) throws {
        var encoder = configuration.encoder
        encoder.baselinePath = nil
        encoder.infoJSON = RoundLabel(kind: .abort, round: round).json
        let empty = try FileDescriptor.openForReading("/dev/null")
        defer { empty.close() }
        _ = try SendPipeline(encoder: encoder, sender: configuration.sender).run(input: empty)
    }

    /// Copies the image as it is now (it may be changing; what was read is what is sent).
    static func copy(_ path: String, to snapshot: String) throws -> UInt64 {
        let input = try FileDescriptor.openForReading(path)
        defer { input.close() }
        let output = try FileDescriptor.create(snapshot, overwrite: true, mode: 0o600)
        defer { output.close() }
        return try input.copyAll(to: output)
    }

    static func shell(_ command: String, what: String) throws {
        let status = system(command)
        guard status == 0 else { throw DWCPError.failure("\(what) command failed (status \(status)): \(command)") }
    }
}
