import Glibc
import DWCPCLI
import DWCPCodec
import DWCPCore
import DWCPSystem
import DWCPTransport

/// Destination side of `dwcp-migrate file`: applies pre-copy rounds to an image atomically.
///
/// Round 0 (the whole image) is decoded into a temporary file next to it, fsynced, and renamed
/// over the image. Every later round is a delta against the image, applied in place through an
/// `ImageJournal`: only the pages that changed are written, twice (journal, image), instead of
/// the whole image once more. Either way the round is durable before the source hears that it
/// arrived (a round before the final one is written into the image just after: the journal
/// is what makes it durable), and a crash at any point leaves a complete round: the previous
/// one, or the new one once `ImageJournal.recover` (run first thing here) has replayed its
/// committed journal.
/// An `abort` stream from the source deletes the image: a half-migrated copy must not be
/// mistaken for a usable one.
///
/// A block device (`ImageFiles`) cannot be renamed: round 0 is written into it in place while
/// a durable marker says it holds no complete round, and the marker goes once the round is
/// fsynced; an abort puts the marker back instead of deleting anything.
public final class ImageDestination {
    public let files: ImageFiles
    public var path: String { files.image }
    public let receiver: ReceiverConfiguration
    public var threads = OSThread.processorCount
    /// Every round's transport and decoder buffers (`BufferPools`): an unchanged round of a
    /// 1 GiB image spent ~30 % of its CPU faulting in fresh ones.
    private let buffers = BufferPools()
    /// Called after each round is applied, with the bytes it wrote into the image: all of them
    /// in round 0, the changed pages (as journaled) in later rounds.
    /// Throwing from it (its report could not be written) stops the receiver.
    public var onRound: ((RoundLabel, ReceivePipeline.Result, UInt64) throws -> Void)?

    /// What the receiving end of an image migration did, for its final JSON line and exit status.
    public struct Outcome {
        public var rounds = 0
        public var bytesReceived: UInt64 = 0
        public var imageBytes: UInt64 = 0
        public var aborted = false
        /// Rounds taken a second time because their source never heard them confirmed
        /// (`RoundUndo`).
        public var roundsTakenAgain = 0
        /// Round transfers given up for a new one because theirs was gone (`Wire.transferAbandoned`):
        /// another source that proved the secret, or the source sending a round again.
        public var sourcesReplaced = 0
        /// Whether the source said it heard the final round's verdict (released a connection)
        /// within the idle timeout. If it did not, it may have given up and run `--thaw`.
        public var sourceHeardVerdict = true
    }

    public init(files: ImageFiles, receiver: ReceiverConfiguration) {
        self.files = files
        var receiver = receiver
        // A source whose round this receiver cannot continue (restarted, it holds none of that
        // round's chunks) sends the round again as a new session (`ImageSource`).
        receiver.abandonsUndeliveredSessions = true
        self.receiver = receiver
    }

    /// A regular file at `path`, its state beside it.
    public convenience init(path: String, receiver: ReceiverConfiguration) throws {
        self.init(files: try ImageFiles(image: path), receiver: receiver)
    }

    /// A round's receive pipeline: this receiver's threads and its buffers, kept across rounds.
    private func makePipeline() -> ReceivePipeline {
        let pipeline = ReceivePipeline(receiver: receiver)
        pipeline.threads = threads
        pipeline.buffers = buffers
        pipeline.collectPageDigests = true
        return pipeline
    }

    /// The page digests of the image as this receiver wrote it, with the identity of the round
    /// that made it and the file's version just after: the next round, a delta against that
    /// round, verifies the pages it copies unchanged by them instead of hashing them
    /// (`StreamDecoder.trustedBaselineDigests`). Kept only from a round this process applied and
    /// while the file is the version it wrote; a restart, a rollback or another source drops them.
    private struct KnownPages {
        let identity: BaselineIdentity
        let digests: PageDigests
        let version: FileVersion
    }
    private var knownPages: KnownPages?

    public func run(listener: StreamListener) throws -> Outcome {
        var outcome = Outcome()
        var expected = 0, orRoundZero = false
        // The image's length: on a device, the baseline is that many of its first bytes.
        var length: UInt64 = 0
        // The image's identity: the digest of the round that made it, which the decoder would
        // otherwise compute with a pass over the whole image every round.
        var identity: BaselineIdentity?
        // Where a receiver starts: from what the image holds, after whatever an interrupted
        // receive left (callers that want to say so run `recover` first). A receiver whose
        // source was replaced mid-round starts here again.
        func start() throws {
            knownPages = nil
            try ImageJournal.recover(files)
            // The image may be a round of a migration a killed receiver was in: then the source,
            // told its receiver restarted, sends the next round again (or starts over with round
            // 0). An undo is kept only with the record of the round it undoes.
            let record = RoundUndo.checked(RoundRecord.current(files), files)
            held = record
            if let record {
                let again = record.previous != nil ? ", round \(record.round) again" : ""
                Diagnostics.info("\(path) holds round \(record.round) of a migration: taking round \(record.round + 1) (or a new round 0\(again))")
            }
            expected = record.map { $0.round + 1 } ?? 0
            orRoundZero = record != nil
            length = record?.identity.length ?? 0
            identity = record?.identity
        }
        try start()
        while true {
            let step: (RoundLabel, ReceivePipeline.Result, UInt64)
            let known = knownPages
            knownPages = nil
            do {
                step = expected == 0 ? try receiveWhole(listener)
                    : try receiveInPlace(listener, round: expected, orRoundZero: orRoundZero, identity: identity, length: length,
                                         known: known)
            } catch let e as DWCPError where e == Wire.transferAbandoned {
                // Its source is gone (killed, or cut off) and another proved the shared secret, or
                // the round's transfer delivered nothing before its connections went and a new
                // one began (a source sending the round again, as a new session, after this
                // receiver was restarted): the round was not committed, so the image is as a
                // restarted receiver finds it.
                Diagnostics.warning("round \(expected)'s transfer was given up (its connections were gone and a new transfer began): taking the new one")
                outcome.sourcesReplaced += 1
                try start()
                continue
            }
            let (label, result, written) = step
            orRoundZero = false
            // Only a DWCP frame stream's end frame carries the digest (a raw or zstd round 0 does not).
            identity = result.decode.format == "dwcp" ? BaselineIdentity(length: result.decode.bytesOut, digest: result.decode.outputDigest) : nil
            if label.kind == .round, let identity, let digests = result.decode.pageDigests, let version = FileVersion(path: path) {
                knownPages = KnownPages(identity: identity, digests: digests, version: version)
            }
            outcome.bytesReceived += result.transfer.bytes
            try onRound?(label, result, written)
            if label.kind == .abort {
                forgetHeldRound()
                if files.isDevice { try files.markIncomplete() } else if expected > 0 { unlink(path) }
                outcome.aborted = true
                return outcome
            }
            outcome.rounds += 1
            if label.round > 0 && label.round < expected { outcome.roundsTakenAgain += 1 }
            outcome.imageBytes = result.decode.bytesOut
            length = result.decode.bytesOut
            if label.kind == .final {
                // The verdict can be lost with every connection after the commit: until the
                // source says it heard it, a source that comes back is told it again (else it
                // would give up after its --resume-timeout and run --thaw, while this copy is
                // complete: two images going on).
                outcome.sourceHeardVerdict = TransportReceiver.waitUntilVerdictHeard(on: listener, configuration: receiver)
                // Heard: the migration is over at both ends. Not heard, the record and undo let
                // a receiver started again take the final round again from a source that was
                // only cut off; `recover --verify` checks the image by the record meanwhile.
                if outcome.sourceHeardVerdict { forgetHeldRound() }
                return outcome
            }
            expected = label.round + 1
        }
    }

    /// The round the image holds as its `RoundRecord` names it (with the round before when its
    /// undo is kept), or nil when no record names it.
    private var held: RoundRecord?

    /// Makes durable which round the image now holds (`RoundRecord`), or that none can be
    /// named (a stream without a digest): called at each round's commit. The final round's
    /// record and undo stay until its source says it heard the verdict (`forgetHeldRound`): a
    /// receiver killed before then, started again, holds that round, and a source that never
    /// heard the verdict sends it again, which takes the image back to the round before and
    /// then is that round, as for any round.
    /// A round applied in place over a known round `previous` first keeps its undo: the one its
    /// `journal` built as the round arrived, or else one written from the committed journal.
    private func record(_ label: RoundLabel, _ decoded: DecodeStats?, previous: BaselineIdentity? = nil, journal: ImageJournal.Writer? = nil) throws {
        if label.kind != .abort, let d = decoded, d.format == "dwcp" {
            if let previous, label.round > 0 {
                if try journal?.finishUndo(renamingTo: files.undo) != true {
                    try RoundUndo.write(files, previousLength: previous.length)
                }
            } else {
                journal?.discardUndo()
                RoundUndo.remove(files)
            }
            let r = RoundRecord(round: label.round, identity: BaselineIdentity(length: d.bytesOut, digest: d.outputDigest),
                                previous: label.round > 0 ? previous : nil)
            try r.save(to: files.roundRecord)
            held = r
        } else {
            forgetHeldRound()
        }
    }

    /// No round of a migration is named any more (a new round 0, an abort, a round without a
    /// digest, or the migration over): its record and undo go.
    private func forgetHeldRound() {
        RoundRecord.remove(at: files.roundRecord)
        RoundUndo.remove(files)
        held = nil
    }

    /// Checks a round's label against the round expected next (or a new round 0, or the round
    /// held again when it changed nothing).
    private static func check(_ info: [String], expected: Int, orRoundZero: Bool = false, orAgain: Int? = nil) throws -> RoundLabel {
        guard let l = RoundLabel.parse(info) else {
            throw DWCPError.integrity("stream is not a dwcp-migrate round (no round label)")
        }
        guard l.round == expected || (orRoundZero && l.round == 0) || l.round == orAgain || (l.kind == .abort && l.round >= expected) else {
            throw DWCPError.integrity("got round \(l.round), expected round \(expected)")
        }
        return l
    }

    /// Round 0: decoded into `FILE.dwcp-partial`, fsynced, renamed over `FILE`.
    private func receiveWhole(_ listener: StreamListener) throws -> (RoundLabel, ReceivePipeline.Result, UInt64) {
        // A record of an earlier migration no longer names the image once this round lands.
        forgetHeldRound()
        if files.isDevice { return try receiveWholeIntoDevice(listener) }
        let partial = files.partial!
        let output = try FileDescriptor.create(partial, overwrite: true, mode: 0o600)
        SignalCleanup.removeOnInterrupt(partial)
        defer { SignalCleanup.removeOnInterrupt(nil) }
        let pipeline = makePipeline()
        var label: RoundLabel? = nil
        // A new file: its zero pages stay holes (a VM disk is mostly unwritten), and the image
        // takes the disk space of its data, as it did at the source.
        let holes = SparseFileWriter.atEndOf(output)
        do {
            defer { output.close() }
            let result = try pipeline.run(listener: listener, into: holes.map { .sparse($0) } ?? .descriptor(output)) { [path] p in
                let l = try Self.check(p.info, expected: 0)
                label = l
                if l.kind == .abort { return }
                try holes?.finish()
                // The commit point: durable new image, then the atomic switch.
                try output.sync()
                try renameDurably(partial, path)
                try self.record(l, p.decoded)
            }
            if label!.kind == .abort { unlink(partial) }
            return (label!, result, result.decode.bytesOut)
        } catch {
            unlink(partial)
            throw error
        }
    }

    /// Round 0 onto a block device: written in place, under the incomplete marker until it is
    /// fsynced.
    private func receiveWholeIntoDevice(_ listener: StreamListener) throws -> (RoundLabel, ReceivePipeline.Result, UInt64) {
        try files.markIncomplete()
        let output = try FileDescriptor.openForWriting(path)
        defer { output.close() }
        let pipeline = makePipeline()
        var label: RoundLabel? = nil
        let result = try pipeline.run(listener: listener, output: output) { [files] p in
            let l = try Self.check(p.info, expected: 0)
            label = l
            if l.kind == .abort { return }
            try output.sync()
            try files.clearIncomplete()
            try self.record(l, p.decoded)
        }
        return (label!, result, result.decode.bytesOut)
    }

    /// Round k > 0: the changed pages journaled as they are decoded, committed once the stream
    /// is verified, then written into the image. A stream that is a delta against the round
    /// before the one held (a restarted source offering that round again) first takes the image
    /// back to it (`RoundUndo`) and is then that round.
    private func receiveInPlace(_ listener: StreamListener, round expected: Int, orRoundZero: Bool, identity: BaselineIdentity?, length: UInt64,
                                known: KnownPages?) throws -> (RoundLabel, ReceivePipeline.Result, UInt64) {
        let journalPath = files.journal
        var round = expected
        // The round the image holds when the stream's data arrives.
        var base = identity
        var journal = try ImageJournal.Writer(path: journalPath, round: UInt64(round), baselinePath: path, device: files.device)
        SignalCleanup.removeOnInterrupt(journalPath)
        defer { SignalCleanup.removeOnInterrupt(nil) }
        let pipeline = makePipeline()
        pipeline.baselinePath = path
        pipeline.baselineIdentity = identity
        if files.isDevice { pipeline.baselineLength = length }
        if let known, known.identity == identity, FileVersion(path: path) == known.version {
            pipeline.trustedBaselineDigests = (known.identity, known.digests)
        }
        let held = self.held
        // The round held, when a stream may be it again without a rollback (see below).
        var again: Int?
        pipeline.resolveBaseline = { [files, path] named in
            let asHeld = (identity, files.isDevice ? length : nil)
            // Only a stream against the round before the one held can be that round again.
            guard let held, let previous = held.previous, named == previous else { return asHeld }
            // A round without changes left the image as the round before made it: the stream may
            // be that round again or the next one, and its label says which.
            if named == identity {
                again = held.round
                return asHeld
            }
            Diagnostics.info("the source offers round \(held.round) again (it never heard it confirmed): taking \(path) back to round \(held.round - 1)")
            // The undo becomes the committed journal: an interrupt must leave it to `recover`.
            SignalCleanup.removeOnInterrupt(nil)
            journal.close()
            self.held = try RoundUndo.rollBack(files, record: held)
            round = held.round
            base = previous
            journal = try ImageJournal.Writer(path: journalPath, round: UInt64(round), baselinePath: path, device: files.device)
            SignalCleanup.removeOnInterrupt(journalPath)
            Timeline.mark("round \(held.round) undone")
            return (previous, files.isDevice ? previous.length : nil)
        }
        // The label the stream opens with (its info frame comes before any data): a delta round,
        // the final one too, builds its undo as it arrives (`ImageJournal.Writer.keepUndo`).
        // The label checked at the end still decides; an undo built for nothing is dropped.
        var opening: RoundLabel?
        pipeline.onInfo = { text in if opening == nil { opening = RoundLabel.parse([text]) } }
        var firstBytes = true
        func take(_ p: UnsafeRawPointer, _ count: Int, _ unchanged: [Range<Int>]) throws {
            if firstBytes {
                firstBytes = false
                if let l = opening, l.kind != .abort, l.round == round, round > 0, let base {
                    try journal.keepUndo(at: RoundUndo.temporaryPath(files), previousLength: base.length)
                }
            }
            try journal.take(p, count, unchanged: unchanged)
        }
        var label: RoundLabel? = nil
        var committed = false
        // Writes the committed journal into the image.
        func apply() throws {
            switch try ImageJournal.recover(files) {
            case .replayed: break
            case .discarded(let why): throw DWCPError.integrity("round \(round) was committed but its journal does not read back: \(why)")
            case .nothing: throw DWCPError.failure("\(journalPath) vanished after its commit")
            case .incomplete(let why): throw DWCPError.failure("\(files.image): \(why)")
            }
        }
        do {
            defer { journal.close() }
            let result = try pipeline.run(listener: listener, into: .sink(take)) { p in
                let l = try Self.check(p.info, expected: round, orRoundZero: orRoundZero && round == expected, orAgain: again)
                label = l
                if l.kind == .abort { return }
                try journal.commit()
                // Between the commit and the apply: a replay after a crash here finds the record
                // of the round it completes (`RoundRecord.keepOnlyIfFor`).
                try self.record(l, p.decoded, previous: base, journal: journal)
                // From here the journal must survive an interrupt: it completes the round.
                SignalCleanup.removeOnInterrupt(nil)
                committed = true
                Timeline.mark("round \(round) journaled: \(journal.records) runs, \(journal.dataBytes) bytes changed")
                CrashPoint.reach("destination-before-verdict-\(round)")
                // The final round's verdict says the image is complete. An earlier round is
                // durable once committed (a crash from here on replays its journal), and nobody
                // reads the image before the next round: it is written in after the verdict,
                // while the verdict and the next round's opening cross the path.
                if l.kind == .final { try apply() }
            }
            if label!.kind == .abort { unlink(journalPath) }
            if label!.kind == .round { try apply() }
            return (label!, result, journal.dataBytes)
        } catch {
            if !committed { unlink(journalPath) }
            throw error
        }
    }
}
