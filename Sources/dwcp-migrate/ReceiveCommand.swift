import Glibc
import ArgumentParser
import DWCPCLI
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
            With -o, the first pre-copy round is decoded into FILE.dwcp-partial, fsynced and \
            renamed over FILE; every later round is compared with FILE as it is decoded, its \
            changed pages journaled in FILE.dwcp-journal, and once the round is verified the \
            journal is fsynced and written into FILE (moved aside as FILE.dwcp-applying \
            meanwhile). Each round is durable before the source hears it arrived, and FILE is \
            always a complete round or, after a crash mid-apply, absent with a journal that \
            completes it: receive first finishes or discards what an interrupted receive left \
            (as 'dwcp-migrate recover FILE' does). If the source gives up, FILE is deleted. \
            Answers the source's link probes while waiting.
            """)

    @Option(help: ArgumentHelp("Address to listen on: [ADDR]:PORT (ADDR empty = all, IPv6 and IPv4).", valueName: "[ADDR]:PORT"))
    var listen: String

    @Option(help: ArgumentHelp("QMP unix socket of a destination QEMU started with -incoming defer.", valueName: "PATH"))
    var qmp: String?

    @Option(name: .shortAndLong, help: ArgumentHelp("Image file to build from 'dwcp-migrate file' rounds.", valueName: "FILE"))
    var output: String?

    @Option(help: ArgumentHelp("Fail (exit 4) after this long without data from the source.", valueName: "SECONDS"))
    var idleTimeout: Double = 120

    @Option(name: [.customShort("T"), .long], help: ArgumentHelp("Decompression threads (default: all cores).", valueName: "N"))
    var threads: Int?

    @Flag(help: "Print a JSON line per round (bytes on the wire, image bytes, bytes written into the image) and a summary on standard output.")
    var json = false

    @OptionGroup var secret: SecretOptions

    @OptionGroup var tls: TLSOptions

    @OptionGroup var verbosity: VerbosityOptions

    func validate() throws {
        if Endpoint(listen) == nil { throw ValidationError("--listen '\(listen)' is not [ADDR]:PORT") }
        if (qmp == nil) == (output == nil) { throw ValidationError("give exactly one of --qmp (a QEMU VM) or -o FILE (an image)") }
        if output == "-" { throw ValidationError("-o needs a file: rounds are renamed into place") }
        var st = stat()
        if let output, stat(output, &st) == 0, st.st_mode & S_IFMT != S_IFREG {
            throw ValidationError("-o \(output) is not a regular file: the first round is renamed into place, so a device, pipe or directory cannot hold the image")
        }
        if !(idleTimeout > 0 && idleTimeout <= 1_000_000) { throw ValidationError("--idle-timeout must be above 0 and at most 1000000 seconds") }
        if let t = threads, !(1...256).contains(t) { throw ValidationError("-T must be 1...256") }
    }

    func emit(_ j: JSONLine) throws {
        if json { try FileDescriptor.standardOutput.writeAll(j.text + "\n") }
    }

    func run() throws {
        verbosity.apply()
        var config = ReceiverConfiguration()
        config.auth = SessionAuth(secret: try secret.load())
        config.tls = try tls.settings.map { try TLSContext(role: .server, $0) }
        config.idleTimeout = idleTimeout
        if let output { RecoverCommand.report(try ImageJournal.recover(image: output), image: output) }
        let listener = try StreamListener(Endpoint(listen)!)
        Diagnostics.info("listening on port \(listener.port)")
        if let qmp {
            let destination = QemuDestination(qmpPath: qmp, receiver: config)
            destination.threads = threads ?? OSThread.processorCount
            let o = try destination.run(listener: listener)
            var j = JSONLine()
            j.add("event", "done")
            j.add("kind", "qemu")
            j.add("bytes_received", o.bytesReceived)
            j.add("bytes_decoded", o.bytesDecoded)
            j.add("seconds", o.seconds, decimals: 3)
            j.add("reconnects", o.reconnects)
            j.add("verified", "stream digest matched; VM running")
            try emit(j)
            Diagnostics.info("VM received (\(Units.formatBytes(o.bytesDecoded)) of migration stream, \(Units.formatBytes(o.bytesReceived)) on the wire) and running")
            return
        }
        let destination = ImageDestination(path: output!, receiver: config)
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
            throw DWCPError.failure("the source gave up (see its diagnostics); \(output!) discarded")
        }
        var j = JSONLine()
        j.add("event", "done")
        j.add("kind", "file")
        j.add("rounds", o.rounds)
        j.add("bytes_received", o.bytesReceived)
        j.add("image_bytes", o.imageBytes)
        j.add("verified", "every round's digest matched")
        try emit(j)
        Diagnostics.info("\(output!): \(o.rounds) rounds applied, \(Units.formatBytes(o.imageBytes)), verified")
    }
}
