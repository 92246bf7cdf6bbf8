import ArgumentParser
import Glibc
import DWCPCLI
import DWCPCore
import DWCPSystem
import DWCPTransport

/// `dwcp-recv`: the receiving end of `dwcp-send`.
struct RecvCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dwcp-recv",
        abstract: "Receive a stream from dwcp-send and write it, in order and verified, to standard output or a file.",
        discussion: """
            Listens on --listen, accepts the connections of one transfer (after their handshake: \
            with --secret-file both sides prove the shared secret; with --tls a TLS 1.3 handshake \
            comes first and every byte is encrypted; a connection that has not \
            completed the handshake for this transfer never contributes a byte), reassembles the \
            chunks in order within --window bytes of memory, and writes them. Into a regular \
            file, a block device or /dev/null (not opened for appending) nothing is reassembled: \
            each verified chunk is written at its place as it arrives, at most --window bytes \
            ahead of the stream written in order, and the output ends positioned after the \
            stream; a failed transfer leaves a file cut back to what was written in order. The transfer \
            succeeds only if the total length and digest match what the sender read; a \
            file output is fsynced before the sender is told so. dwcp-recv then exits once the \
            sender has heard that verdict (it closes its connection): a sender whose \
            connections were all cut while the verdict was on its way comes back and is told \
            it again, for at most --idle-timeout (then a warning). A sender whose input failed, \
            or that was interrupted, cancels its transfer: dwcp-recv then fails at once (exit \
            1) instead of waiting for it. With --keep it serves transfers one after another, \
            each to -o with %n replaced by the transfer number; a cancelled transfer's output \
            is removed and the next transfer takes its number. Interrupted (SIGINT, SIGTERM, \
            SIGHUP), dwcp-recv tells its sender, which fails at once (exit 4), unless --resume.

            With --resume -o FILE the transfer survives this process: acknowledgements wait \
            until FILE and its checkpoint file FILE.dwcp-recv are fdatasynced, so if dwcp-recv \
            is killed (or its machine stops), starting the same command again continues the \
            transfer: the sender, still reconnecting (see its --resume-timeout), resends only \
            what FILE lacks. FILE is kept on failure; FILE.dwcp-recv is deleted once the \
            transfer is verified.

            Examples:
              dwcp-recv --listen :7000 > vm.img
              dwcp-recv --listen 0.0.0.0:7000 --secret-file /etc/dwcp/key |
                dwcp-encode -d > vm.img
              dwcp-recv --listen [::]:7000 --keep -o round-%n.dwcp
              dwcp-recv --listen :7000 --tls --cert host.pem --key host.key \\
                --ca ca.pem > vm.img
              dwcp-recv --listen :7000 --resume -o disk.img  # again after a crash

            \(ExitStatus.manualTable)
            """,
        version: DWCPVersion.string)

    @Option(help: ArgumentHelp("Address to listen on: [ADDR]:PORT (ADDR empty = all, IPv6 and IPv4).", valueName: "[ADDR]:PORT"))
    var listen: String

    @OptionGroup var output: OutputOptions

    @Flag(help: "Serve transfers one after another (needs -o with %n) instead of exiting after one.")
    var keep = false

    @Flag(help: "Make the transfer survive a restart of this receiver: checkpoint FILE (-o) in FILE.dwcp-recv before acknowledging, and continue a transfer a killed receiver left there.")
    var resume = false

    @Flag(inversion: .prefixedNo, help: "Into a regular file, leave every whole zero page as a hole: it reads back as zeros and takes no disk space (a raw disk image stays sparse). --no-sparse writes every byte.")
    var sparse = true

    @Option(help: ArgumentHelp("Most bytes held out of order (for a file output: written ahead of the bytes written in order), 1MiB to 16GiB; connections wait beyond it.", valueName: "BYTES"))
    var window: String = "256MiB"

    @Option(help: ArgumentHelp("Fail (exit 4) after this long without data. With --secret-file, a sender that proves the secret while the current transfer has had no connection for a second ends that transfer at once (exit 4; with --keep, its output is removed and the new sender served).", valueName: "SECONDS"))
    var idleTimeout: Double = 120

    @Option(help: ArgumentHelp("Network: tcp, rdma (rsockets; fails without an RDMA device, exit 1) or auto (tcp, plus rdma on the same port when this host has an RDMA device; tcp only with --tls).", valueName: "KIND"))
    var transport: String = "auto"

    @OptionGroup var secret: SecretOptions

    @OptionGroup var tls: TLSOptions

    @Flag(help: "Print a JSON summary per transfer (to standard output with -o, else stderr); its seconds run from the transfer's first connection to its verdict.")
    var json = false

    @OptionGroup var verbosity: VerbosityOptions

    func validate() throws {
        if Endpoint(listen) == nil { throw ValidationError("--listen '\(listen)' is not [ADDR]:PORT") }
        guard let kind = TransportKind(rawValue: transport) else { throw ValidationError("--transport must be tcp, rdma or auto") }
        if kind == .rdma && tls.tls { throw ValidationError("--tls works over TCP only: use --transport tcp or auto") }
        if keep && !(output.output?.contains("%n") ?? false) { throw ValidationError("--keep needs -o with %n in the file name") }
        if resume && (output.output == nil || output.output == "-") { throw ValidationError("--resume needs -o FILE") }
        if resume && keep { throw ValidationError("--resume serves one transfer: it cannot go with --keep") }
        guard let w = Units.parseBytes(window), w >= 1 << 20, w <= Wire.maxWindow else {
            throw ValidationError("--window must be a size from 1MiB to 16GiB")
        }
        if !(idleTimeout > 0 && idleTimeout <= 1_000_000) { throw ValidationError("--idle-timeout must be above 0 and at most 1000000 seconds") }
    }

    func run() throws {
        verbosity.apply()
        if !resume {
            // Interrupted, the transfer can never complete here: its sender is told and fails
            // at once instead of reconnecting until its --resume-timeout. A --resume receiver is
            // interrupted to be started again, and its sender keeps trying.
            SignalCleanup.whenInterrupted { name in
                TransportReceiver.cancelAll(reason: "dwcp-recv was interrupted (\(name))")
            }
        }
        var config = ReceiverConfiguration()
        config.auth = SessionAuth(secret: try secret.load())
        config.tls = try tls.settings.map { try TLSContext(role: .server, $0) }
        config.window = Units.parseBytes(window)!
        config.idleTimeout = idleTimeout
        config.sparse = sparse
        let listener = try StreamListener(Endpoint(listen)!, transport: tls.tls ? .tcp : TransportKind(rawValue: transport)!)
        if let problem = listener.rdmaProblem { Diagnostics.warning("RDMA device present but not usable (\(problem)); listening on TCP only") }
        Diagnostics.info("listening on port \(listener.port)\(listener.acceptsRDMA ? " (TCP and RDMA)" : "")")
        var n = 1
        // With --keep, each transfer reuses the chunk buffers the ones before it faulted in.
        let buffers = BufferPools()
        repeat {
            var o = output
            o.output = output.output?.replacingOccurrences("%n", with: String(n))
            let line = ProgressLine(enabled: verbosity.showsProgress)
            let receiver = TransportReceiver(configuration: config)
            receiver.buffers = buffers
            let target: OutputTarget
            var checkpoint: ReceiveCheckpoint?
            if resume {
                let statePath = ReceiveCheckpoint.path(for: o.output!)
                let continuing = access(statePath, F_OK) == 0
                if continuing && access(o.output!, F_OK) != 0 {
                    throw DWCPError.integrity("\(statePath) is there but \(o.output!) is not: nothing to continue (delete \(statePath) to start over)")
                }
                target = try o.openResumable(continuing: continuing)
                let (c, restored) = try ReceiveCheckpoint.open(statePath)
                // Nothing was checkpointed: FILE (ours, as its checkpoint file says) starts over.
                if continuing && restored == nil { try target.fd.truncate(to: 0) }
                checkpoint = c
                receiver.resume(c, restored: restored)
                if let restored { Diagnostics.info("continuing the transfer in \(o.output!): \(Units.formatBytes(restored.bytes)) already written") }
            } else {
                target = try o.open()
            }
            // The sender is about to hear that the data arrived: from now on it is the output,
            // under its own name, and an interrupt no longer removes it.
            receiver.onVerified = { try target.commit() }
            if verbosity.showsProgress {
                receiver.progress = { s in
                    line.update("dwcp-recv: \(Units.formatBytes(s.bytes)), \(Units.format(Double(s.movedBytes) * 8 / max(s.seconds, 1e-6) / 1e9, 2)) Gbit/s, \(Units.count(s.streams, "stream"))")
                }
            }
            let stats: TransferStats
            do {
                stats = try receiver.receive(on: listener, to: target.fd)
                line.clear()
                try target.finish()
                checkpoint?.remove()
            } catch {
                line.clear()
                target.abandon()
                // A stream that failed its digest can never be completed: start over next time.
                if let e = error as? DWCPError, e.status == .integrity { checkpoint?.remove() }
                // With --keep, a transfer given up for another sender's is not the end of the
                // service: that sender is waiting, and takes this transfer's number.
                if keep, let e = error as? DWCPError, e == Wire.transferAbandoned {
                    Diagnostics.warning("transfer \(n): \(e.message)")
                    continue
                }
                // Nor is one its sender cancelled (its input failed, or it was interrupted):
                // the sender said so, and the next one may be on its way.
                if keep, let e = error as? DWCPError, Wire.isCancelledBySender(e) {
                    Diagnostics.warning("transfer \(n): \(e.message); its output is removed")
                    continue
                }
                throw error
            }
            // The transfer's own time, from its first connection: not the wait for a sender.
            let seconds = stats.seconds
            // The last transfer: its sender may have lost the verdict with every connection, and
            // comes back for it (with --keep, the next transfer's wait tells it).
            let senderHeard = keep || TransportReceiver.waitUntilVerdictHeard(on: listener, configuration: config)
            if !senderHeard {
                Diagnostics.warning("the sender did not say it heard the verdict within \(Units.format(idleTimeout, 0)) s (--idle-timeout): it may report a failure though the data arrived")
            }
            if json {
                var j = JSONLine()
                j.add("command", "recv")
                j.add("transfer", n)
                j.add("bytes", stats.bytes)
                j.add("seconds", seconds, decimals: 4)
                // The rate of what this run received: a killed receiver's bytes (--resume) came before.
                j.add("gbit_per_s", stats.movedGbitPerSecond(over: seconds), decimals: 3)
                j.add("connections", stats.streams)
                if resume { j.add("resumed_bytes", stats.resumedBytes) }
                j.add("verified", true)
                if !keep { j.add("sender_heard_verdict", senderHeard) }
                try target.emitJSON(j)
            }
            Diagnostics.info("received \(Units.formatBytes(stats.bytes)), verified")
            n += 1
        } while keep
    }
}

extension String {
    func replacingOccurrences(_ target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
