import ArgumentParser
import DWCPCLI
import DWCPCodec
import DWCPCore
import DWCPMigrate
import DWCPSystem

/// `dwcp-migrate qemu`: migrate a running QEMU VM through DWCP.
struct QemuCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qemu",
        abstract: "Live-migrate the QEMU VM behind a QMP socket to a 'dwcp-migrate receive --qmp' destination.",
        discussion: """
            Speaks QMP to the source QEMU: sets the migration capabilities and parameters (QEMU's \
            bandwidth cap is lifted), starts the migration into a private unix socket, probes the \
            link while QEMU sets up, and sends that stream through the DWCP encoder and transport. \
            QEMU runs the pre-copy passes. A raw stream switches over by QEMU's own rule, with its \
            downtime limit lowered by the time DWCP's buffers take to drain; a compressed one when \
            DWCP's estimate of the downtime (its backlog plus what QEMU has left, at the measured \
            compression ratio and link rate) fits --max-downtime. When QEMU completes and the destination reports its \
            VM running, the source QEMU is told to quit (--keep-source leaves it paused). If \
            anything fails the source VM keeps running and the exit status says why (4: network, \
            1: other; interrupted by SIGINT, SIGTERM or SIGHUP: 128 + the signal). If the copy \
            does not converge within --max-rounds passes it is cancelled (exit 1) unless \
            --auto-converge lets QEMU throttle the guest. Whenever the source gives up before \
            QEMU completed, the destination is told and quits its QEMU at once.
            """)

    @Option(help: ArgumentHelp("The source QEMU's QMP unix socket.", valueName: "PATH"))
    var qmp: String

    @OptionGroup var source: SourceOptions

    @Option(help: ArgumentHelp("Cancel the migration (the VM keeps running) after this many dirty-memory passes without a switchover.", valueName: "N"))
    var maxRounds: Int = 30

    @Flag(help: "Let QEMU throttle the guest's CPUs until the copy converges, instead of giving up.")
    var autoConverge = false

    @Option(help: ArgumentHelp("Enable QEMU's XBZRLE delta encoding of re-sent pages with a cache of SIZE (e.g. 64MiB).", valueName: "SIZE"))
    var xbzrle: String?

    @Flag(help: "Leave the source QEMU paused after a successful migration instead of quitting it.")
    var keepSource = false

    @Option(help: ArgumentHelp("A file the destination holds too, such as the guest's kernel, initrd or disk image (repeatable; at most 1 GiB together): a compressed VM stream is compressed against them, as 'zstd --patch-from' does, so guest RAM that holds copies of them costs little on the wire. Give 'receive' the same files in the same order; it refuses other ones before it decodes a byte. Used only by a zstd stream of --codec auto that begins with the long window (links below 50 MB/s; the JSON's reference_bytes says), not by a raw stream, a faster link's level-1 stream or DWCP frames.", valueName: "FILE"))
    var reference: [String] = []

    @OptionGroup var verbosity: VerbosityOptions

    func validate() throws {
        if maxRounds < 1 { throw ValidationError("--max-rounds must be at least 1") }
        if let x = xbzrle, (Units.parseBytes(x) ?? 0) < 1 << 20 { throw ValidationError("--xbzrle: SIZE must be at least 1MiB") }
        if !reference.isEmpty && source.codec != "auto" { throw ValidationError("--reference goes with --codec auto (the zstd stream; DWCP frames and raw streams do not use it)") }
    }

    func run() throws {
        verbosity.apply()
        SourceOptions.cancelTransfersWhenInterrupted()
        let source = self.source
        let verbose = verbosity.verbose
        let prepare = { () throws -> QemuSource.Prepared in
            let plan = try source.plan()
            try source.show(plan, verbose: verbose)
            return QemuSource.Prepared(plan: plan, encoder: try source.encoder(plan), sender: try source.sender(plan))
        }
        if source.dryRun {
            _ = try prepare()
            return
        }
        var config = QemuSource.Configuration(qmpPath: qmp, prepare: prepare)
        config.maxRounds = maxRounds
        config.autoConverge = autoConverge
        config.xbzrleCache = xbzrle.map { Units.parseBytes($0)! }
        config.keepSource = keepSource
        config.reference = try reference.isEmpty ? nil : ReferenceFiles(paths: reference)
        config.cubicOnCleanLongPaths = source.cc == "auto"
        config.onMeasuredPlan = { try? source.show($0, verbose: verbose) }
        let migration = QemuSource(configuration: config)
        let line = ProgressLine(enabled: verbosity.showsProgress)
        migration.onStatus = { status, ram, wire in
            let sent = ram.transferred, remaining = ram.remaining
            let dirtyRate = min(ram.dirtyBytesPerSecond, 1e18)
            let rate = Double(wire) * 8 / max(line.elapsed, 1e-6) / 1e6
            // ETA of the current pass: what QEMU still has to send, at the rate it has been read.
            let readRate = Double(sent) / max(line.elapsed, 1e-6)
            let eta = readRate > 0 && remaining > 0 ? ", pass ETA \(Int(min(Double(remaining) / readRate, 1e9).rounded(.up))) s" : ""
            line.update("dwcp-migrate: \(status), pass \(ram.pass), dirty \(Units.formatBytes(UInt64(dirtyRate)))/s, read \(Units.formatBytes(sent)), wire \(Units.formatBytes(wire)) (\(Int(rate)) Mbit/s), remaining \(Units.formatBytes(remaining))\(eta)")
        }
        let outcome: QemuSource.Outcome
        do {
            outcome = try migration.run()
        } catch {
            line.clear()
            var j = JSONLine()
            j.add("event", "failed")
            j.add("error", "\(error)")
            j.add("source_running", true)
            try? source.emit(j)
            throw error
        }
        line.clear()
        var j = JSONLine()
        j.add("event", "done")
        j.add("kind", "qemu")
        j.add("status", "completed")
        j.add("total_s", outcome.totalSeconds, decimals: 3)
        if let d = outcome.downtime { j.add("downtime_ms", d * 1000, decimals: 1) }
        if let q = outcome.qemuDowntimeMs { j.add("qemu_downtime_ms", q) }
        if let q = outcome.qemuSetupMs { j.add("qemu_setup_ms", q) }
        if let r = config.reference { j.add("reference_bytes", outcome.referenceUsed ? r.count : 0) }
        j.add("bytes_read", outcome.bytesRead)
        j.add("wire_bytes", outcome.wireBytes)
        if !outcome.codecMix.isEmpty { j.add("codec_mix", outcome.codecMix) }
        j.add("rounds", outcome.passes.count)
        j.add("reconnects", outcome.reconnects)
        j.add("qemu_stall_s", outcome.qemuStallSeconds, decimals: 1)
        let passes = outcome.passes.map { p -> String in
            var o = JSONLine()
            o.add("round", p.pass)
            o.add("bytes_read", p.transferred)
            o.add("remaining", p.remaining)
            o.add("dirty_bytes_per_s", p.dirtyPagesRate * 4096)
            o.add("seconds", p.seconds, decimals: 3)
            return o.text
        }
        j.addRaw("per_round", "[" + passes.joined(separator: ",") + "]")
        j.add("verified", "stream digest matched; destination VM running")
        try source.emit(j)
        Diagnostics.info("migrated in \(Units.format(outcome.totalSeconds, 2)) s, downtime \(outcome.downtime.map { "\(Int($0 * 1000)) ms" } ?? "unknown"), \(Units.formatBytes(outcome.bytesRead)) read, \(Units.formatBytes(outcome.wireBytes)) on the wire; destination VM running")
    }
}
