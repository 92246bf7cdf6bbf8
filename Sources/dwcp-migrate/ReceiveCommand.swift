import Glibc
import ArgumentParser
import DWCPCLI
import DWCPCodec
import DWCPCore
import DWCPMigrate
import DWCPSystem
import DWCPTransport

/// `dwcp-migrate receive`: the destination of a migration.
struct ReceiveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "receive",
        abstract: "Receive a migration: into a QEMU started with -incoming defer (--qmp), or into an image file (-o).",
        discussion: """
            With --qmp, the decoded stream goes straight into the destination QEMU, and the \
            source is told the migration succeeded only once this QEMU reports its VM running; \
            if QEMU cannot load the stream it is told to quit and the source resumes its VM. \
            receive then waits until the source says it heard (at once, normally), telling a \
            source whose connections were cut before it heard again. \
            With -o, the first pre-copy round is decoded into FILE.dwcp-partial, fsynced and \
            renamed over FILE; every later round is compared with FILE as it is decoded, its \
            changed pages journaled in FILE.dwcp-journal, and once the round is verified the \
            journal is fsynced and written into FILE (moved aside as FILE.dwcp-applying \
            meanwhile). Each round is durable before the source hears it arrived, and FILE is \
            always a complete round or, after a crash mid-apply, absent with a journal that \
            completes it: receive first finishes or discards what an interrupted receive left \
            (as 'dwcp-migrate recover FILE' does). After every round but the last it records \
            which round FILE holds (FILE.dwcp-round), so a receiver started again on the same \
            FILE takes the round the source sends again after the restart, not only a new \
            round 0. With it goes what applying that round overwrote (FILE.dwcp-undo), so \
            a source that stopped before it heard the round confirmed, run again with \
            --resume and offering that round once more, is taken: FILE goes back one round \
            first. If the source gives up, FILE is deleted. After the final round, receive \
            waits until the source says it heard the round was applied (at once, normally); \
            a source whose connections were cut before it heard comes back and is told \
            again. One that does not within --idle-timeout may have given up and run its \
            --thaw: receive then fails (exit 4) with FILE complete. \
            FILE may be a block device, given with --journal-dir: every round is written into \
            it in place (the image is its first bytes, as long as the source's), its journal \
            and a marker named after it live in DIR, and the marker (NAME.dwcp-incomplete) is \
            there whenever the device holds no complete round: while the first round is \
            written, or after the source gave up. \
            Answers the source's link probes while waiting. A source that gives up, or is \
            interrupted, says so, and receive fails at once (exit 1); interrupted itself \
            (SIGINT, SIGTERM, SIGHUP), receive tells the source, which gives up at once.
            """)

    @Option(help: ArgumentHelp("Address to listen on: [ADDR]:PORT (ADDR empty = all, IPv6 and IPv4).", valueName: "[ADDR]:PORT"))
    var listen: String

    @Option(help: ArgumentHelp("QMP unix socket of a destination QEMU started with -incoming defer.", valueName: "PATH"))
    var qmp: String?

    @Option(name: .shortAndLong, help: ArgumentHelp("Image file or block device to build from 'dwcp-migrate file' rounds.", valueName: "FILE"))
    var output: String?

    @Option(help: ArgumentHelp("Keep the round journal, round record and undo (and a device's marker) in DIR instead of beside FILE; needed when FILE is a block device. Give the same DIR to 'dwcp-migrate recover'.", valueName: "DIR"))
    var journalDir: String?

    @Option(help: ArgumentHelp("Fail (exit 4) after this long without data from the source, or, after the final round or the VM's confirmation, without the source saying it heard it (a source whose connections were cut then comes back and is told again; with --qmp this only warns, the VM running here). With --secret-file, a source that proves the secret while the current one has had no connection for a second takes over at once (the round in progress is given up).", valueName: "SECONDS"))
    var idleTimeout: Double = 120

    @Option(name: [.customShort("T"), .long], help: ArgumentHelp("Decompression threads, and the threads QEMU pre-faults the guest's RAM on (default: all cores).", valueName: "N"))
    var threads: Int?

    @Flag(name: .customLong("no-prefault"), help: "With --qmp, leave the destination VM's RAM alone before the migration. By default receive pre-faults it first (QEMU's prealloc, on -T threads) and only then says it is listening: QEMU otherwise takes a fault, and the kernel zeroes a page, on the stream's first write to each guest page, in the one thread that loads the stream, which on a fast link paces the migration (loopback, 512 MiB guest: QEMU tcp: 1.26-1.85 s into a fresh QEMU, 0.48-0.60 s into a pre-faulted one). The cost: the guest's whole RAM is resident here from then on, pages it never touched included, and receive is ready only once that is done (about 0.9 s per 512 MiB on two cores).")
    var noPrefault = false

    @Option(help: ArgumentHelp("With --qmp: a file the source may have compressed the VM's stream against ('dwcp-migrate qemu --reference'; repeatable, the same files in the same order). A stream compressed against other files, or against files when none are given here, is refused before a byte of it is decoded.", valueName: "FILE"))
    var reference: [String] = []

    @Flag(help: "Print a JSON line per round (bytes on the wire, image bytes, bytes written into the image) and a summary on standard output.")
    var json = false

    @OptionGroup var secret: SecretOptions

    @OptionGroup var tls: TLSOptions

    @OptionGroup var verbosity: VerbosityOptions

    func validate() throws {
        if Endpoint(listen) == nil { throw ValidationError("--listen '\(listen)' is not [ADDR]:PORT") }
        if (qmp == nil) == (output == nil) { throw ValidationError("give exactly one of --qmp (a QEMU VM) or -o FILE (an image)") }
        if output == "-" { throw ValidationError("-o needs a file or block device: rounds are applied in place") }
        if journalDir != nil && output == nil { throw ValidationError("--journal-dir goes with -o FILE") }
        if let output {
            do { _ = try ImageFiles(image: output, journalDirectory: journalDir) } catch let e as DWCPError {
                // Name the option only where the message is about the image itself.
                throw ValidationError(e.message.hasPrefix(output) ? "-o \(e.message)" : e.message)
            }
        }
        if !(idleTimeout > 0 && idleTimeout <= 1_000_000) { throw ValidationError("--idle-timeout must be above 0 and at most 1000000 seconds") }
        if let t = threads, !(1...256).contains(t) { throw ValidationError("-T must be 1...256") }
        if noPrefault && qmp == nil { throw ValidationError("--no-prefault goes with --qmp") }
        if !reference.isEmpty && qmp == nil { throw ValidationError("--reference goes with --qmp (image rounds are deltas against the image itself)") }
    }

    func emit(_ j: JSONLine) throws {
        if json { try FileDescriptor.standardOutput.writeAll(j.text + "\n") }
    }

    func run() throws {
        verbosity.apply()
        // Interrupted, the round or VM stream under way can never complete here: the source is
        // told, and gives up at once (its VM keeps running) instead of reconnecting.
        SignalCleanup.whenInterrupted { name in
            TransportReceiver.cancelAll(reason: "dwcp-migrate receive was interrupted (\(name))")
        }
        var config = ReceiverConfiguration()
        config.auth = SessionAuth(secret: try secret.load())
        config.tls = try tls.settings.map { try TLSContext(role: .server, $0) }
        config.idleTimeout = idleTimeout
        let files = try output.map { try ImageFiles(image: $0, journalDirectory: journalDir) }
        // Held until this process ends: no other receive or recover touches the image meanwhile.
        let lock = try files.map { try ImageLock($0) }
        defer { lock?.release() }
        if let files { RecoverCommand.report(try ImageJournal.recover(files), image: files.image) }
        // Bound first, so a source that comes early waits in the backlog instead of being
        // refused; listening is announced once the destination is ready.
        let listener = try StreamListener(Endpoint(listen)!)
        if let qmp {
            let destination = QemuDestination(qmpPath: qmp, receiver: config)
            destination.threads = threads ?? OSThread.processorCount
            destination.prefault = !noPrefault
            destination.reference = try reference.isEmpty ? nil : ReferenceFiles(paths: reference)
            try destination.prepare()
            Diagnostics.info("listening on port \(listener.port)")
            let o = try destination.run(listener: listener)
            var j = JSONLine()
            j.add("event", "done")
            j.add("kind", "qemu")
            j.add("bytes_received", o.bytesReceived)
            j.add("bytes_decoded", o.bytesDecoded)
            j.add("seconds", o.seconds, decimals: 3)
            j.add("reconnects", o.reconnects)
            j.add("prefaulted_bytes", destination.prefaulted?.bytes ?? 0)
            j.add("prefault_seconds", destination.prefaulted?.seconds ?? 0, decimals: 3)
            j.add("verified", "stream digest matched; VM running")
            j.add("source_heard_verdict", o.sourceHeardVerdict)
            try emit(j)
            if !o.sourceHeardVerdict {
                Diagnostics.warning("the VM runs here, but its source did not say it heard so within \(Int(config.idleTimeout)) s (--idle-timeout): "
                                    + "it leaves its VM paused (it never resumes a VM it sent whole); quit it there")
            }
            Diagnostics.info("VM received (\(Units.formatBytes(o.bytesDecoded)) of migration stream, \(Units.formatBytes(o.bytesReceived)) on the wire) and running")
            return
        }
        Diagnostics.info("listening on port \(listener.port)")
        let destination = ImageDestination(files: files!, receiver: config)
        destination.threads = threads ?? OSThread.processorCount
        destination.onRound = { label, result, written in
            var j = JSONLine()
            j.add("event", label.kind.rawValue)
            j.add("round", label.round)
            j.add("wire_bytes", result.transfer.bytes)
            j.add("image_bytes", result.decode.bytesOut)
            j.add("written_bytes", written)
            try emit(j)
            Diagnostics.debug("round \(label.round) (\(label.kind.rawValue)) applied: \(Units.formatBytes(result.transfer.bytes)) on the wire, \(Units.formatBytes(written)) written into the image")
        }
        let o = try destination.run(listener: listener)
        if o.aborted {
            throw DWCPError.failure("the source gave up (see its diagnostics); \(output!) \(files!.isDevice ? "marked incomplete" : "discarded")")
        }
        var j = JSONLine()
        j.add("event", "done")
        j.add("kind", "file")
        j.add("rounds", o.rounds)
        j.add("bytes_received", o.bytesReceived)
        j.add("image_bytes", o.imageBytes)
        j.add("rounds_taken_again", o.roundsTakenAgain)
        j.add("sources_replaced", o.sourcesReplaced)
        j.add("verified", "every round's digest matched")
        j.add("source_heard_verdict", o.sourceHeardVerdict)
        try emit(j)
        guard o.sourceHeardVerdict else {
            throw DWCPError(.network, "\(output!): the final round is applied and verified, but its source did not say it heard so within "
                                      + "\(Int(config.idleTimeout)) s (--idle-timeout): if it gave up, it ran --thaw and its writers went on there; "
                                      + "check the source before using this copy")
        }
        Diagnostics.info("\(output!): \(Units.count(o.rounds, "round")) applied, \(Units.formatBytes(o.imageBytes)), verified")
    }
}
