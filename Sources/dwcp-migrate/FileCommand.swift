import ArgumentParser
import DWCPCLI
import DWCPCore
import DWCPMigrate
import DWCPSystem

/// `dwcp-migrate file`: iterative pre-copy of a file or block device that may be changing.
struct FileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "file",
        abstract: "Migrate a file or block device that may change while it is copied, in pre-copy rounds.",
        discussion: """
            Round 0 sends the whole image; each later round sends a delta (dwcp-encode \
            --baseline) against the previous round, which is what the destination holds. After \
            each round the planner predicts the next round's duration from the measured dirty \
            rate and link rate; when it fits --max-downtime it runs --freeze (stop the writers), \
            sends the final round and is done: the writers stay stopped, the image now lives at \
            the destination. If the copy cannot converge it gives up: the destination deletes \
            its copy (a block device is marked incomplete instead) and this exits 1; if --freeze \
            or the final round fails, --thaw runs so the writers continue here. The image is read \
            once a round; a snapshot of what was sent (the image's size) and a journal of one \
            round's changes are kept in --work-dir, and each page's digest in memory (8 bytes \
            a page), so pages that did not change are known without reading the snapshot.
            """)

    @Argument(help: ArgumentHelp("The file or block device to migrate.", valueName: "SRC"))
    var sourcePath: String

    @OptionGroup var source: SourceOptions

    @Flag(help: "If the migration fails after the destination confirmed a round, keep the snapshot in --work-dir; run the same command again with --resume to continue after that round instead of sending the whole image again (the destination's receive, started again on the same FILE, takes it).")
    var resume = false

    @Option(help: ArgumentHelp("Give up after this many pre-copy rounds without a switchover.", valueName: "N"))
    var maxRounds: Int = 30

    @Option(help: ArgumentHelp("Shell command that stops the image's writers, run before the final round.", valueName: "CMD"))
    var freeze: String?

    @Option(help: ArgumentHelp("Shell command that lets the writers continue, run only if --freeze or the final round fails.", valueName: "CMD"))
    var thaw: String?

    @Option(help: ArgumentHelp("Directory for the snapshot of what was sent (default $TMPDIR or /tmp).", valueName: "DIR"))
    var workDir: String?

    @OptionGroup var verbosity: VerbosityOptions

    func validate() throws {
        if maxRounds < 1 { throw ValidationError("--max-rounds must be at least 1") }
    }

    func run() throws {
        verbosity.apply()
        SourceOptions.cancelTransfersWhenInterrupted()
        // Fail on an unreadable source before touching the network; a directory opens but
        // cannot be read, and a pipe or character device cannot be read once a round.
        let opened = try FileDescriptor.openForReading(sourcePath)
        // A /proc or /sys file is regular, but its size is not its length: no image either.
        let isImage = opened.storageIdentity != nil && (opened.isRegularFileOfKnownLength || !opened.isRegularFile)
        opened.close()
        guard isImage else { throw DWCPError.usage("\(sourcePath): not a regular file or block device") }
        if source.codec == "raw" { throw DWCPError.usage("--codec raw is for VM streams; image rounds are deltas and need the encoder") }
        // The snapshot of what was sent lives there: a directory that is not there is said by
        // its option before the link is probed (it failed at round 0, naming the snapshot file).
        let work = workDir ?? getenvString("TMPDIR") ?? "/tmp"
        guard FileDescriptor.isDirectory(work) else {
            throw DWCPError.usage("\(workDir != nil ? "--work-dir" : "the work directory ($TMPDIR or /tmp)") \(work): not a directory")
        }
        let source = self.source, verbose = verbosity.verbose
        let plan = try source.plan()
        try source.show(plan, verbose: verbose)
        if source.dryRun { return }
        var planner = PrecopyPlanner(maxDowntime: plan.maxDowntime, maxRounds: maxRounds)
        planner.forecastBytesPerSecond = source.linkRate.map { Units.parseBitRate($0)! / 8 }
        var config = ImageSource.Configuration(source: sourcePath, workDirectory: work, sender: try source.sender(plan), planner: planner)
        config.resumable = resume
        config.destination = source.to
        config.encoder = try source.encoder(plan)
        config.freezeCommand = freeze
        config.thawCommand = thaw
        if plan.ratePending { config.planBeforeRate = plan }
        let migration = ImageSource(configuration: config)
        migration.onMeasuredPlan = { try? source.show($0, verbose: verbose) }
        let line = ProgressLine(enabled: verbosity.showsProgress)
        migration.onProgress = { p in line.update(Self.progressText(p)) }
        migration.onRound = { r, decision in
            line.clear()
            var j = JSONLine()
            j.add("event", r.label.kind.rawValue)
            j.add("round", r.label.round)
            j.add("image_bytes", r.imageBytes)
            j.add("dirty_bytes", r.dirtyBytes)
            j.add("wire_bytes", r.wireBytes)
            j.add("snapshot_s", r.snapshotSeconds, decimals: 3)
            j.add("send_s", r.sendSeconds, decimals: 3)
            j.add("connect_s", r.connectSeconds, decimals: 3)
            j.add("kept_streams", r.keptConnections)
            j.add("reconnects", r.reconnects)
            switch decision {
            case .another: j.add("next", "round")
            case .switchover(let p): if r.label.kind != .final { j.add("next", "final"); j.add("predicted_downtime_ms", p * 1000, decimals: 1) }
            case .giveUp(let why): j.add("next", "give_up"); j.add("reason", why)
            }
            try source.emit(j)
            Diagnostics.debug(j.text)
        }
        let outcome = try migration.run()
        line.clear()
        if let why = outcome.gaveUp {
            var j = JSONLine()
            j.add("event", "gave_up")
            j.add("reason", why)
            j.add("rounds", outcome.rounds.count)
            try source.emit(j)
            throw DWCPError.failure("gave up after \(Units.count(outcome.rounds.count, "round")): \(why); destination discarded, source untouched")
        }
        var j = JSONLine()
        j.add("event", "done")
        j.add("kind", "file")
        j.add("status", "completed")
        j.add("total_s", outcome.totalSeconds, decimals: 3)
        j.add("downtime_ms", outcome.downtime * 1000, decimals: 1)
        j.add("bytes_read", outcome.rounds.map(\.imageBytes).reduce(0, +))
        j.add("wire_bytes", outcome.rounds.map(\.wireBytes).reduce(0, +))
        j.add("rounds", outcome.rounds.count)
        j.add("reconnects", outcome.rounds.map(\.reconnects).reduce(0, +))
        j.add("receiver_restarts", outcome.receiverRestarts)
        if let r = outcome.resumedAfterRound { j.add("resumed_after_round", r) }
        let rounds = outcome.rounds.map { r -> String in
            var o = JSONLine()
            o.add("round", r.label.round)
            o.add("dirty_bytes", r.dirtyBytes)
            o.add("wire_bytes", r.wireBytes)
            o.add("seconds", r.snapshotSeconds + r.sendSeconds, decimals: 3)
            return o.text
        }
        j.addRaw("per_round", "[" + rounds.joined(separator: ",") + "]")
        j.add("verified", "every round's digest matched and was applied atomically")
        try source.emit(j)
        Diagnostics.info("migrated \(sourcePath) in \(Units.count(outcome.rounds.count, "round")), \(Units.format(outcome.totalSeconds, 2)) s, downtime \(Int(outcome.downtime * 1000)) ms, \(Units.formatBytes(outcome.rounds.map(\.wireBytes).reduce(0, +))) on the wire")
    }

    /// The progress line: the round, how much of the image it has read (with an ETA when the
    /// image's size is known), what crossed the wire and at what rate, and the dirty rate the
    /// round before measured.
    static func progressText(_ p: ImageSource.Progress) -> String {
        let t = max(p.seconds, 1e-3)
        var text = "dwcp-migrate: round \(p.round), read \(Units.formatBytes(p.read))"
        if let size = p.imageBytes, size > 0 {
            text += " of \(Units.formatBytes(size))"
            let readRate = Double(p.read) / t
            if readRate > 0 && p.read < size {
                text += ", ETA \(Units.format(min(Double(size - p.read) / readRate, 1e9), 1)) s"
            }
        }
        text += ", \(Units.formatBytes(p.wire)) on the wire (\(Int(Double(p.wire) * 8 / t / 1e6)) Mbit/s)"
        if let d = p.dirtyBytesPerSecond { text += ", dirty \(Units.formatBytes(UInt64(min(d, 1e15))))/s" }
        return text
    }
}
