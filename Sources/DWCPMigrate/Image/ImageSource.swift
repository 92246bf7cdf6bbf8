import Glibc
import DWCPCLI
import DWCPCodec
import DWCPCore
import DWCPSystem
import DWCPTransport

/// Source side of `dwcp-migrate file`: iterative pre-copy of a file or block device that may
/// change while it is copied.
///
/// Round 0 sends the whole image; every later round sends a `--baseline` delta against a snapshot
/// of what the rounds so far sent, which is exactly what the destination holds. The image is read
/// once a round, by the encoder, and the snapshot is kept from those same bytes (`inputTap`):
/// written whole in round 0, brought up to date in place through an `ImageJournal` after later
/// rounds, so a round costs one read of the image plus what changed, not a copy of it.
/// After each round the `PrecopyPlanner` decides: another round, switch over (run the freeze
/// command, send the final round, done), or give up (tell the destination to discard, thaw).
public final class ImageSource {
    /// Everything one image migration needs, set by `dwcp-migrate file` from its options (and by tests directly).
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
        /// Keep the snapshot, and a record of the last round the destination confirmed, in
        /// `workDirectory` under names derived from the source and `destination` when the
        /// migration fails; and start, when such a record is there, with the round after it
        /// instead of round 0 (`dwcp-migrate file --resume`). The destination's receiver,
        /// started again on the same image, takes that round (`RoundRecord`).
        public var resumable = false
        /// Where the rounds go (`HOST:PORT`): part of the resumable snapshot's name.
        public var destination = ""
        /// A plan made before the link's rate was known (`MigrationPlan(beforeRate:)`, a long
        /// path): round 0 measures the rate on its own transfer (`TransferTuner`) and goes on
        /// as the measured plan says; the rounds after it use that plan's window and
        /// connections. `sender` and `encoder` must come from this plan.
        public var planBeforeRate: MigrationPlan?

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
        public var snapshotSeconds: Double
        public var sendSeconds: Double
        /// Seconds of `sendSeconds` until the round's first connection was open (a final round
        /// that connected before the freeze: those before the freeze).
        public var connectSeconds: Double
        public var reconnects: Int
        /// The round's connections that an earlier round had opened (kept open between rounds).
        public var keptConnections: Int
    }

    /// What the migration did, round by round, for its final JSON line and exit status.
    public struct Outcome {
        public var rounds: [RoundReport] = []
        public var downtime: Double = 0
        public var totalSeconds: Double = 0
        public var gaveUp: String?
        /// Rounds sent again because the receiver was restarted meanwhile.
        public var receiverRestarts = 0
        /// The round a resumed migration continued after (`resumable`), if it did.
        public var resumedAfterRound: Int?
    }

    /// How many times one round is sent again after receiver restarts before giving up.
    static let maxRestarts = 3

    public let configuration: Configuration
    /// Called after each round with its figures and the planner's decision; throwing from it
    /// (its report could not be written) stops the migration as any failure does.
    public var onRound: ((RoundReport, PrecopyPlanner.Decision) throws -> Void)?
    /// What the current round has done so far, for a progress line.
    public struct Progress {
        public var round: Int
        /// Image bytes read (and encoded) so far this round.
        public var read: UInt64
        /// The image's size when it is a file or block device.
        public var imageBytes: UInt64?
        /// Encoded bytes on the wire so far this round.
        public var wire: UInt64
        /// Seconds since the round started.
        public var seconds: Double
        /// Changed bytes per second the previous round measured (from round 2 on).
        public var dirtyBytesPerSecond: Double?
    }

    /// Called as the transfer progresses (on the sender's thread).
    public var onProgress: ((Progress) -> Void)?
    /// Called with the plan once round 0 has measured the link's rate (`planBeforeRate`).
    public var onMeasuredPlan: ((MigrationPlan) -> Void)?

    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    public func run() throws -> Outcome {
        let c = configuration
        let started = MonotonicClock.now()
        var planner = c.planner
        // The final round opens its connections before it freezes the source (not a resumable
        // migration: one whose freeze fails keeps its destination waiting for `--resume`,
        // while a final round already connected could only cancel it or send an abort).
        let connectBeforeFreeze = !c.resumable
        planner.finalRoundConnectsFirst = connectBeforeFreeze
        let forecast = LinkForecast()
        // The rounds' connections: as planned, or once measured, as the measured plan says.
        var roundSender = c.sender
        // Every round after the first runs on the connections the round before it left open,
        // where their congestion windows stay as it grew them: a round's bytes go out at the
        // link's rate from the first round trip, not after a slow start (docs/MIGRATE.md).
        let kept = ConnectionPool()
        defer { kept.close() }
        roundSender.keptConnections = kept
        var rateMeasured = c.planBeforeRate == nil
        let userForecast = planner.forecastBytesPerSecond
        var outcome = Outcome()
        // What the destination holds: round 0's bytes as read, then each round's changes
        // written into it in place (the encoder's baseline for the next round).
        let snapshot = c.resumable ? Self.resumableSnapshot(c) : "\(c.workDirectory)/dwcp-migrate-\(getpid()).img"
        let journalPath = ImageJournal.journalPath(for: snapshot)
        // Resumable: which round the destination confirmed last, and the snapshot's identity then.
        let recordPath = snapshot + ".round"
        // Kept when a resumable migration fails after a round was confirmed.
        var keep = false
        defer {
            unlink(journalPath)
            if !keep {
                unlink(snapshot)
                unlink(recordPath)
            }
        }
        var resumed = c.resumable ? RoundRecord.load(from: recordPath, forImageAt: snapshot, exact: true) : nil
        // A run killed while it wrote a round into its snapshot leaves it torn: one pass over it
        // tells, and a torn snapshot means starting over.
        if let r = resumed, (try? Baseline(opening: snapshot).identity(pageList: c.encoder.pageSize)) != r.identity {
            Diagnostics.warning("\(snapshot) is not the round \(r.round) its record names (a run stopped while updating it): starting with round 0")
            resumed = nil
        }
        if let resumed {
            outcome.resumedAfterRound = resumed.round
            Diagnostics.info("continuing after round \(resumed.round), which the destination confirmed (\(snapshot))")
        }
        // The snapshot's identity: the digest of the round that made it, which the encoder
        // would otherwise compute with a pass over the whole snapshot every round.
        var snapshotIdentity: BaselineIdentity? = resumed?.identity
        // Every round's encoder buffers, kept from one round to the next.
        let buffers = BufferPools()
        // Whether to look changed pages up anywhere in the snapshot (content that moved). Each
        // round that does builds an index of the whole snapshot; once a round shows the changes
        // stay in place (under 1/64 of them found elsewhere) the rest of the rounds skip it.
        var searchMoved = true
        // The snapshot's page digests, computed from the bytes each round read: the encoder and
        // the snapshot's journal compare the image's pages with them instead of reading the
        // snapshot (`PageDigests`).
        var snapshotDigests: PageDigests? = nil
        var round = resumed.map { $0.round + 1 } ?? 0
        var final = false
        var frozenAt: Double? = nil
        // The final round freezes the source once connected (`connectBeforeFreeze`); a freeze
        // that failed there sends an abort instead and is thrown once that is through.
        var freezeFailure: Error?
        // The final round's transport, once it has its verdict (`confirmVerdictHeard`).
        var finalTransport: TransportSender?
        // Runs `--freeze` once; on failure, `--thaw` and `freezeFailure`.
        func freeze() -> Bool {
            if frozenAt != nil { return true }
            if freezeFailure != nil { return false }
            if let command = c.freezeCommand {
                do { try Self.shell(command, what: "--freeze") } catch {
                    // It may have stopped some writers before it failed: let them all go on.
                    if let thaw = c.thawCommand { try? Self.shell(thaw, what: "--thaw") }
                    freezeFailure = error
                    return false
                }
            }
            frozenAt = MonotonicClock.now()
            return true
        }
        do {
            while true {
                let label = RoundLabel(kind: final ? .final : .round, round: round)
                let roundStart = MonotonicClock.now()
                var encoder = c.encoder
                encoder.baselinePath = round == 0 ? nil : snapshot
                // Delta rounds are mostly references to what the destination holds, and a frame
                // costs ~80 bytes however little it carries: they take dwcp-encode's frames for a
                // baseline (1/128 of it, 1-8 MiB), not round 0's (256 KiB on a slow link, where
                // the codec is chosen per frame). An unchanged 128 MiB image is then a small
                // round (11 KB), inside a new connection's first flight, not 65 KB over four.
                encoder.blockSizeFromBaseline = round > 0
                encoder.baselineIdentity = snapshotIdentity
                encoder.searchMoved = searchMoved
                encoder.baselineDigests = snapshotDigests
                // Checksums over the page digests the tap computes anyway: an unchanged page
                // costs the destination no hashing (`PageListDigest`).
                encoder.pageListChecksums = true
                encoder.buffers = buffers
                encoder.infoJSON = label.json
                let onProgress = self.onProgress
                let rate = planner.dirtyBytesPerSecond
                let thisRound = round
                // The rate is measured on this attempt's connections; a round too short to
                // measure it (a small image) leaves it to the next.
                let measure = rateMeasured ? nil : c.planBeforeRate
                var measured: MigrationPlan?
                // One attempt at the round: the transfer, with the snapshot's journal (or, in
                // round 0, the snapshot itself) and the next page digests taken from the bytes
                // the encoder reads.
                func attempt() throws -> (SendPipeline.Result, ImageJournal.Writer?, PageDigests.Builder) {
                    let digests = PageDigests.Builder(pageSize: c.encoder.pageSize, previous: snapshotDigests)
                    // The encoder compares pages with the snapshot's by the digests the tap
                    // computed, instead of hashing each page a second time. The final round
                    // updates no snapshot: nothing taps it, and the encoder's workers hash the
                    // pages they encode, on every core at once, where the tap hashed them on the
                    // reader's thread (the floor of a round that changed little).
                    var encoder = encoder
                    if !final { encoder.inputDigests = digests }
                    // Every attempt at the round is a session of its own. A restarted receiver
                    // takes the session of the first connection that reaches it, which may be a
                    // reconnection of the attempt it was killed in, sending chunks of that
                    // attempt's encoding behind its hello; this attempt encodes the image as it
                    // is now, so sharing that session would splice two encodings. The receiver
                    // gives the refused session up for this one, as it delivered nothing
                    // (`ReceiverConfiguration.abandonsUndeliveredSessions`).
                    var sender = roundSender
                    sender.session = SessionAuth.nonce()
                    let pipeline = SendPipeline(encoder: encoder, sender: sender)
                    // The image is read once a round, by the encoder; what it read is what was
                    // sent, so that is what the snapshot keeps: all of it in round 0, the pages
                    // that changed (journaled against the snapshot, written in after the round)
                    // later. A final round that connects first opens it after the freeze.
                    let connectFirst = final && connectBeforeFreeze
                    let input = connectFirst ? nil : try FileDescriptor.openForReading(c.source)
                    defer { input?.close() }
                    let counters = pipeline.counters
                    let imageBytes = input?.sizeIfSeekable() ?? FileDescriptor.size(ofFileAt: c.source)
                    forecast.transferStarted()
                    let wire = WireCount()
                    pipeline.onWire = { s in
                        wire.set(s.bytes)
                        forecast.progress(totalBytes: s.bytes)
                        onProgress?(Progress(round: thisRound, read: counters.snapshot.input, imageBytes: imageBytes, wire: s.bytes,
                                             seconds: MonotonicClock.now() - roundStart, dirtyBytesPerSecond: rate))
                    }
                    // The round's transfer: of the image as it is now or, connected first, once
                    // the source is frozen (or of an abort when the freeze fails).
                    func send() throws -> SendPipeline.Result {
                        guard let input else {
                            let abort = abortEncoder(round: round)
                            return try pipeline.run(afterConnecting: {
                                guard freeze() else {
                                    return SendPipeline.Start(input: try FileDescriptor.openForReading("/dev/null"), encoder: abort)
                                }
                                return SendPipeline.Start(input: try FileDescriptor.openForReading(c.source))
                            })
                        }
                        return try tuning(pipeline, measure, wire, &measured) { try pipeline.run(input: input) }
                    }
                    if round == 0 {
                        let out = try FileDescriptor.create(snapshot, overwrite: true, mode: 0o600)
                        defer { out.close() }
                        pipeline.inputTap = { p, n in
                            _ = digests.take(p, n)
                            try out.writeAll(p, count: n)
                        }
                        return (try send(), nil, digests)
                    }
                    if final {
                        let sent = try send()
                        finalTransport = pipeline.transport
                        return (sent, nil, digests)
                    }
                    let j = try ImageJournal.Writer(path: journalPath, round: UInt64(round), baselinePath: snapshot, durable: false)
                    // Pages whose digests match the snapshot's are not compared with it.
                    pipeline.inputTap = { p, n in try j.take(p, n, unchanged: digests.take(p, n)) }
                    do {
                        return (try send(), j, digests)
                    } catch {
                        j.close()
                        throw error
                    }
                }
                // A receiver killed and started again holds the round before this one (its
                // `RoundRecord`) and takes this round again from its start; so do we, a few times.
                var restarts = 0
                var attemptResult: (SendPipeline.Result, ImageJournal.Writer?, PageDigests.Builder)
                while true {
                    do {
                        attemptResult = try attempt()
                        break
                    } catch let e as DWCPError where e == Wire.receiverRestarted && restarts < Self.maxRestarts {
                        restarts += 1
                        outcome.receiverRestarts += 1
                        // It was there: while it comes back, its port may refuse a connection.
                        roundSender.receiverSeen = true
                        Diagnostics.warning("the receiver was restarted during round \(round): sending the round again")
                    }
                }
                let (result, journal, digests) = attemptResult
                // The next round's first connection, refused, is a receiver being restarted.
                roundSender.receiverSeen = true
                if let freezeFailure {
                    journal?.close()
                    throw freezeFailure
                }
                if let measured {
                    rateMeasured = true
                    roundSender.window = measured.window
                    roundSender.streams = measured.streams
                }
                let sendSeconds = MonotonicClock.now() - roundStart
                // Bringing the snapshot up to this round: the fixed cost every round pays
                // besides its transfer (nothing after the final round).
                let applyStart = MonotonicClock.now()
                // The final round keeps no journal: it updates no snapshot.
                if let journal {
                    try journal.commit()
                    try ImageJournal.applyPrivately(journal: journalPath, to: snapshot)
                }
                let snapshotSeconds = MonotonicClock.now() - applyStart
                snapshotIdentity = result.encode.inputDigest == .zero ? nil
                    : BaselineIdentity(length: result.encode.bytesIn, digest: result.encode.inputDigest)
                snapshotDigests = digests.finish()
                // The destination confirmed this round: a failure from here on can continue from it.
                if c.resumable && !final, let id = snapshotIdentity {
                    try RoundRecord(round: round, identity: id).save(to: recordPath)
                }
                let size = result.encode.bytesIn
                let e = result.encode
                let dirty = round == 0 ? size : e.literalBytes + e.xorBytes
                if round > 0 && searchMoved && e.movedBytes < (dirty + e.movedBytes) / 64 {
                    searchMoved = false
                    Timeline.mark("round \(round): \(e.movedBytes) of \(dirty + e.movedBytes) changed bytes found elsewhere in the snapshot; later rounds compare pages in place only")
                }
                let connectSeconds = max(0, (final ? frozenAt : result.connectedAt).map { $0 - roundStart } ?? 0)
                let report = RoundReport(label: label, imageBytes: size, dirtyBytes: dirty, wireBytes: result.transfer.bytes,
                                         snapshotSeconds: snapshotSeconds, sendSeconds: sendSeconds, connectSeconds: connectSeconds,
                                         reconnects: result.transfer.reconnects, keptConnections: result.transfer.keptConnectionsUsed)
                outcome.rounds.append(report)
                if final {
                    outcome.downtime = MonotonicClock.now() - (frozenAt ?? roundStart)
                    // The destination waits after the final round until it knows this source
                    // heard the verdict (a released connection); if every kept connection was
                    // cut before that got through, one more says so.
                    if finalTransport?.confirmVerdictHeard() == false {
                        Diagnostics.warning("could not tell the destination that its verdict on the final round arrived: "
                                            + "it waits for that up to its --idle-timeout, then fails (exit 4) with the image complete")
                    }
                    try onRound?(report, .switchover(predictedDowntime: outcome.downtime))
                    break
                }
                // dwcp-predict's forecast of the coming seconds, when the rounds so far fed it
                // enough samples; a rate the user gave (--link-rate) still caps it.
                if let f = forecast.bytesPerSecond { planner.forecastBytesPerSecond = min(f, userForecast ?? f) }
                let decision = planner.record(PrecopyPlanner.Round(dirtyBytes: dirty, wireBytes: result.transfer.bytes, snapshotSeconds: snapshotSeconds,
                                                                   sendSeconds: sendSeconds, connectSeconds: connectSeconds,
                                                                   reconnects: result.transfer.reconnects))
                try onRound?(report, decision)
                switch decision {
                case .another:
                    break
                case .switchover:
                    // Frozen now, or (`connectBeforeFreeze`) by the final round once connected;
                    // there a failed freeze sends the abort that tells the destination to
                    // discard its copy at once rather than wait out its idle timeout (120 s).
                    if !connectBeforeFreeze && !freeze() { throw freezeFailure! }
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
            if c.resumable, let r = RoundRecord.load(from: recordPath, forImageAt: snapshot, exact: true) {
                keep = true
                Diagnostics.warning("run the same command again with --resume to continue after round \(r.round) (kept \(snapshot))")
            }
            throw error
        }
        outcome.totalSeconds = MonotonicClock.now() - started
        return outcome
    }

    /// Runs a round's transfer (`body`), measuring the link's rate on it when given the plan
    /// made before it (`TransferTuner`, polled beside the transfer every 20 ms until it has
    /// measured the rate and then the loss); each plan it applies goes to `onMeasuredPlan` (a
    /// rate, a floor measured again, the loss), and the last to `measured`.
    private func tuning<T>(_ pipeline: SendPipeline, _ planBeforeRate: MigrationPlan?, _ wire: WireCount,
                           _ measured: inout MigrationPlan?, _ body: () throws -> T) throws -> T {
        guard let planBeforeRate else { return try body() }
        let tuner = TransferTuner(plan: planBeforeRate, guestRAM: nil, cubicOnCleanLongPaths: false)
        let onMeasuredPlan = self.onMeasuredPlan
        let ticker = Ticker(every: 0.02) {
            guard tuner.settling, let plan = tuner.poll(pipeline, wireBytes: wire.value) else { return }
            onMeasuredPlan?(plan)
        }
        defer {
            ticker.stop()
            if tuner.plan.rateMeasuredOnTransfer { measured = tuner.plan }
        }
        return try body()
    }

    /// The bytes a round's transfer has had acknowledged, as its sender reports them.
    private final class WireCount: @unchecked Sendable {
        private let lock = ConditionLock()
        private var bytes: UInt64 = 0
        func set(_ value: UInt64) { lock.withLock { bytes = value } }
        var value: UInt64 { lock.withLock { bytes } }
    }

    /// The resumable snapshot's path: named after the source's real path and the destination,
    /// so the same command finds it again and another migration does not.
    static func resumableSnapshot(_ c: Configuration) -> String {
        var resolved = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let path = realpath(c.source, &resolved) != nil ? String(cString: resolved) : c.source
        let key = Array("\(path)\u{0}\(c.destination)".utf8)
        let h = key.withUnsafeBytes { Checksum.xxh3($0.baseAddress!, $0.count) }
        return "\(c.workDirectory)/dwcp-migrate-\(String(h, radix: 16)).img"
    }

    /// Tells the destination to discard what it has: an empty stream labelled `abort`.
    private func abortDestination(round: Int) throws {
        let empty = try FileDescriptor.openForReading("/dev/null")
        defer { empty.close() }
        _ = try SendPipeline(encoder: abortEncoder(round: round), sender: configuration.sender).run(input: empty)
    }

    /// The encoder of an `abort` stream (empty) for the round after `round - 1`.
    private func abortEncoder(round: Int) -> EncoderConfiguration {
        var encoder = configuration.encoder
        encoder.baselinePath = nil
        encoder.infoJSON = RoundLabel(kind: .abort, round: round).json
        return encoder
    }

    static func shell(_ command: String, what: String) throws {
        let status = system(command)
        guard status != 0 else { return }
        // system(3) returns a wait status: the exit code in bits 8-15, or the signal in 0-6.
        let how = status == -1 ? "could not be run" : status & 0x7f == 0 ? "exited with status \((status >> 8) & 0xff)" : "was killed by signal \(status & 0x7f)"
        throw DWCPError.failure("\(what) command \(how): \(command)")
    }
}
