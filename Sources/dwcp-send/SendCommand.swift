import ArgumentParser
import DWCPCLI
import DWCPCore
import DWCPSystem
import DWCPTransport

/// `dwcp-send`: a byte stream to a `dwcp-recv`, over many TCP connections.
struct SendCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dwcp-send",
        abstract: "Send a byte stream to dwcp-recv over many parallel TCP connections, resuming after drops.",
        discussion: """
            Reads FILE (standard input if none or -) and sends it to a dwcp-recv listening at \
            HOST:PORT, in checksummed chunks striped over --streams connections: each connection \
            takes the next chunk when its socket has room, so a slow one never stalls the others. \
            If a connection drops, it reconnects with backoff and resends what the receiver has \
            not acknowledged, for up to --resume-timeout seconds. The receiver checks the whole \
            stream's length and digest at the end; success is reported only after that. A regular \
            file goes to the sockets with sendfile(2), without a copy through this process. \
            Any byte stream works (a DWCP stream from dwcp-encode, or raw bytes). If the \
            input fails (a read error, a file that changed while being sent) or dwcp-send is \
            interrupted (SIGINT, SIGTERM, SIGHUP), the receiver is told the transfer is \
            cancelled and ends it at once. See docs/TRANSPORT.md.

            With --resume (a regular file as input), running the same command again after it \
            was stopped continues the transfer: the session is named after the file (device, \
            inode, size, modification time), the offset and the chunk size, the receiver (still \
            waiting, or restarted with dwcp-recv --resume) answers with the first chunk it \
            lacks, and the chunks before it are read again only for the end digest, never \
            sent. A file changed meanwhile is a new transfer. An interrupted --resume sender \
            does not cancel its transfer: the receiver waits for it to be run again.

            Examples:
              dwcp-encode vm.img | dwcp-send peer:7000
              dwcp-send --streams 16 --cc bbr --secret-file /etc/dwcp/key \\
                peer:7000 < big.img
              dwcp-send --max-rate 500Mbit --json [fd00::2]:7000 < image
              dwcp-send --tls --ca ca.pem --cert me.pem --key me.key \\
                peer.example:7000 < vm.img
              dwcp-send --resume peer:7000 big.img  # again after Ctrl-C

            \(ExitStatus.manualTable)
            """,
        version: DWCPVersion.string)

    @Argument(help: ArgumentHelp("Receiver address: HOST:PORT or [IPV6]:PORT.", valueName: "HOST:PORT"))
    var destination: String

    @Argument(help: ArgumentHelp("Input; - or none reads standard input.", valueName: "FILE"))
    var file: String?

    @Option(help: ArgumentHelp("Parallel TCP connections, 1-256, or auto: start at 4 (8 when the RTT exceeds 1 ms) and add connections while throughput grows, up to 64.", valueName: "N|auto"))
    var streams: String = "8"

    @Option(help: ArgumentHelp("Network: tcp, rdma (RDMA reliable connections through rsockets; fails without an RDMA device, exit 1) or auto (rdma when this host has a device and the receiver answers on it, else tcp; always tcp with --tls).", valueName: "KIND"))
    var transport: String = "auto"

    @Option(help: ArgumentHelp("Congestion control per socket: bbr, cubic, reno or auto (bbr on paths with a round trip of 2 ms or more, cubic on shorter ones, when the kernel has them).", valueName: "CC"))
    var cc: String = "auto"

    @Option(help: ArgumentHelp("Pace the whole transfer to at most RATE (e.g. 500Mbit, 2Gbit), shared by the connections that have bytes to send.", valueName: "RATE"))
    var maxRate: String?

    @Option(help: ArgumentHelp("Chunk size: the unit of striping, checksumming and resending. A chunk cut off with its connection is sent again whole, so a path that drops connections often needs smaller ones.", valueName: "BYTES"))
    var chunkSize: String = "1MiB"

    @Option(help: ArgumentHelp("Most bytes in flight (sent, not yet written by the receiver), up to 16GiB; bounds memory.", valueName: "BYTES"))
    var window: String = "256MiB"

    @Option(help: ArgumentHelp("Keep reconnecting this long after a connection drops (and asking a receiver busy with another transfer again) before failing (exit 4).", valueName: "SECONDS"))
    var resumeTimeout: Double = 30

    @Flag(help: "Name the transfer after the input file, so running the same command again continues it where the receiver stands (needs a regular file).")
    var resume = false

    @OptionGroup var secret: SecretOptions

    @OptionGroup var tls: TLSClientOptions

    @Flag(help: "Print a JSON summary (bytes, rate, per-connection RTT and retransmits) to standard output; its t and bps make it a dwcp-predict sample.")
    var json = false

    @Option(help: ArgumentHelp("With --json: also print a sample line every SECONDS while sending (t: seconds since the start; bps: the rate the receiver's TCP acknowledged since the previous line; delivered_bytes), for dwcp-predict.", valueName: "SECONDS"))
    var interval: Double?

    @OptionGroup var verbosity: VerbosityOptions

    func validate() throws {
        if Endpoint(destination) == nil || Endpoint(destination)!.host.isEmpty { throw ValidationError("'\(destination)' is not HOST:PORT or [IPV6]:PORT") }
        if streams != "auto" && !(1...256).contains(Int(streams) ?? 0) { throw ValidationError("--streams must be 1...256 or auto") }
        if let interval {
            if !json { throw ValidationError("--interval needs --json") }
            if !(interval >= 0.05 && interval <= 86_400) { throw ValidationError("--interval must be 0.05 to 86400 seconds") }
        }
        guard let kind = TransportKind(rawValue: transport) else { throw ValidationError("--transport must be tcp, rdma or auto") }
        if kind == .rdma && tls.options.tls { throw ValidationError("--tls works over TCP only: use --transport tcp or auto") }
        if !["auto", "bbr", "cubic", "reno"].contains(cc) { throw ValidationError("--cc must be bbr, cubic, reno or auto") }
        if let r = maxRate, Units.parseBitRate(r) == nil { throw ValidationError("--max-rate: cannot parse '\(r)'") }
        guard let c = Units.parseBytes(chunkSize), c >= 4096, c <= UInt64(Wire.maxChunk) else { throw ValidationError("--chunk-size must be 4KiB...16MiB") }
        guard let w = Units.parseBytes(window), w >= c, w <= Wire.maxWindow else {
            throw ValidationError("--window must be a size from the chunk size to 16GiB")
        }
        if !(0...1_000_000).contains(resumeTimeout) { throw ValidationError("--resume-timeout must be 0 to 1000000 seconds") }
    }

    /// `--streams auto` starts from the path's RTT: a sub-millisecond (datacenter) path fills with
    /// few connections; longer paths need more to cover the bandwidth-delay product.
    static func initialStreams(for endpoint: Endpoint) throws -> Int {
        let probe = try StreamSocket.connect(endpoint)
        defer { probe.close() }
        let rtt = Double(probe.tcpInfo()?.rttMicroseconds ?? 0) / 1e6
        return rtt > 0.001 ? 8 : 4
    }

    func run() throws {
        verbosity.apply()
        let input = try InputFiles.open(file.map { [$0] } ?? [], force: false)[0]
        var config = SenderConfiguration(endpoint: Endpoint(destination)!)
        if streams == "auto" {
            config.autoStreams = true
            config.streams = try Self.initialStreams(for: config.endpoint)
        } else {
            config.streams = Int(streams)!
        }
        config.chunkSize = Int(Units.parseBytes(chunkSize)!)
        config.window = Units.parseBytes(window)!
        config.resumeTimeout = resumeTimeout
        config.auth = SessionAuth(secret: try secret.load())
        config.transport = tls.options.tls ? .tcp : TransportKind(rawValue: transport)!
        config.tls = try tls.settings.map { try TLSContext(role: .client, $0) }
        config.congestionControl = cc
        config.maxRate = maxRate.map { UInt64(Units.parseBitRate($0)! / 8) }
        if resume {
            config.session = try TransportSender.resumeSession(for: input, from: input.currentOffset, chunkSize: config.chunkSize)
        }
        // For the ETA: a file's or block device's size, unless it is a /proc or /sys file's.
        let total = input.isRegularFile && !input.isRegularFileOfKnownLength ? nil : input.sizeIfSeekable()
        let line = ProgressLine(enabled: verbosity.showsProgress)
        let sender = TransportSender(configuration: config)
        if verbosity.showsProgress {
            sender.progress = { s in
                var text = "dwcp-send: \(Units.formatBytes(s.bytes))"
                if let total, total > 0 { text += " / \(Units.formatBytes(total))" }
                let rate = Double(s.bytes) * 8 / max(line.elapsed, 1e-6)
                text += ", \(Units.format(rate / 1e9, 2)) Gbit/s"
                if let total, s.bytes > 0, total > s.bytes { text += ", ETA \(Int(Double(total - s.bytes) * 8 / rate))s" }
                text += ", " + Units.count(s.streams, "stream")
                if s.reconnects > 0 { text += ", \(s.reconnects) reconnects" }
                line.update(text)
            }
        }
        if !resume {
            // Interrupted, the transfer can never complete: the receiver is told and ends it at
            // once instead of waiting for this sender up to its idle timeout. A --resume sender
            // is interrupted to be run again, so its receiver keeps waiting for it.
            SignalCleanup.whenInterrupted { name in
                line.clear()
                TransportSender.cancelAll(reason: "dwcp-send was interrupted (\(name))")
            }
        }
        // dwcp-predict samples: each line's bps covers the time since the line before.
        let started = MonotonicClock.now()
        let series = SampleSeries()
        let ticker = interval.map { interval in
            Ticker(every: interval) {
                guard let bytes = sender.deliveredBytes else { return }
                let t = MonotonicClock.now() - started
                var j = JSONLine()
                j.add("command", "send")
                j.add("event", "progress")
                series.add(bytes: bytes, at: t, to: &j)
                j.add("delivered_bytes", bytes)
                try? FileDescriptor.standardOutput.writeAll(j.text + "\n")
            }
        }
        defer { ticker?.stop() }
        let stats: TransferStats
        do {
            if input.isRegularFileOfKnownLength {
                // From the current offset (`dwcp-send … < file` after a partial read), as read(2) would.
                let start = input.currentOffset
                stats = try sender.send(file: input, from: start)
                input.seek(to: start + stats.bytes)
                // The transfer is the file as it was when it started (its size then); bytes
                // appended meanwhile were not sent, and saying nothing would pass a cut copy
                // for a whole one.
                if let now = input.sizeIfSeekable(), now > start + stats.bytes {
                    Diagnostics.warning("\(input.name): grew by \(now - start - stats.bytes) bytes while being sent; sent the \(stats.bytes) it held when the transfer started")
                }
            } else {
                // A pipe may go quiet for good: the transfer's failure must still end us.
                stats = try sender.send { p, n in try input.readFully(into: p, count: n) { sender.failed } }
            }
        } catch {
            line.clear()
            throw error
        }
        line.clear()
        ticker?.stop()
        let seconds = line.elapsed
        if json {
            let t = MonotonicClock.now() - started
            var j = JSONLine()
            j.add("command", "send")
            series.add(bytes: sender.deliveredBytes ?? stats.bytes, at: t, to: &j)
            j.add("bytes", stats.bytes)
            j.add("seconds", seconds, decimals: 4)
            // The rate of what this run moved: bytes the receiver already had (--resume) were
            // never sent.
            j.add("gbit_per_s", stats.movedGbitPerSecond(over: seconds), decimals: 3)
            j.add("streams", stats.streams)
            j.add("transport", stats.rdma ? "rdma" : "tcp")
            j.add("chunks", stats.chunks)
            j.add("reconnects", stats.reconnects)
            j.add("resent_chunks", stats.resentChunks)
            if resume { j.add("resumed_bytes", stats.resumedBytes) }
            j.add("congestion_control", stats.congestionControl ?? "default")
            j.add("verified", true)
            let tcp = stats.tcp.map { t -> String in
                var o = JSONLine()
                o.add("stream", t.stream)
                o.add("rtt_ms", Double(t.rttMicroseconds) / 1000, decimals: 3)
                o.add("retransmits", Int(t.retransmits))
                return o.text
            }
            j.addRaw("tcp", "[" + tcp.joined(separator: ",") + "]")
            try FileDescriptor.standardOutput.writeAll(j.text + "\n")
        }
        let already = stats.resumedBytes > 0 ? ", after the \(Units.formatBytes(stats.resumedBytes)) the receiver already had;" : ","
        Diagnostics.info("sent \(Units.formatBytes(stats.movedBytes)) in \(Units.format(seconds, 2)) s (\(Units.format(stats.movedGbitPerSecond(over: seconds), 2)) Gbit/s)\(already) verified by the receiver")
    }
}

/// The samples `--json` prints for dwcp-predict: each line's rate covers the time since the line
/// before (the whole transfer for a summary without `--interval` lines).
final class SampleSeries: @unchecked Sendable {
    private let lock = ConditionLock()
    private var last = (t: 0.0, bytes: UInt64(0))

    /// Adds the sample at `t` seconds, with `bytes` delivered so far, to `line`: `t`, `bps` (the
    /// rate since the previous sample, which this one becomes), and `"state":"I"` when nothing
    /// was delivered meanwhile (a quiet input, or the transfer waiting for its verdict): the
    /// link was idle, which is not a rate of 0 (dwcp-predict's "state").
    func add(bytes: UInt64, at t: Double, to line: inout JSONLine) {
        let bps: Double = lock.withLock {
            let bps = Double(bytes - min(bytes, last.bytes)) * 8 / max(t - last.t, 1e-9)
            last = (t, bytes)
            return bps
        }
        line.add("t", t, decimals: 3)
        line.add("bps", bps, decimals: 0)
        if bps == 0 { line.add("state", "I") }
    }
}
