import ArgumentParser
import DWCPCLI
import DWCPCodec
import DWCPCore
import DWCPMigrate
import DWCPSystem
import DWCPTransport
import Glibc

/// Options every migration source shares: where to, the downtime budget, and how to move bytes.
struct SourceOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Destination: the HOST:PORT a 'dwcp-migrate receive' listens on.", valueName: "HOST:PORT"))
    var to: String

    @Option(help: ArgumentHelp("Downtime budget: how long the workload may be stopped at the switchover (300ms, 1s; a bare number is ms).", valueName: "TIME"))
    var maxDowntime: String = "300ms"

    @Option(help: ArgumentHelp("Codec for the state: auto (chosen per frame for the measured link; on links faster than compression a VM stream goes raw), raw (VM streams only: no encoder, the transport's checksums only), or CODEC[:LEVEL] such as zstd:1, lz4, none (zstd without a level chooses its search per section, as dwcp-encode does).", valueName: "CODEC"))
    var codec: String = "auto"

    @Option(help: ArgumentHelp("Parallel TCP connections (default: planned from the path: on short paths 1 for a raw stream, else 2-4; one per MiB of bandwidth-delay product on long ones).", valueName: "N"))
    var streams: Int?

    @Option(help: ArgumentHelp("Congestion control per socket: bbr, cubic, reno or auto (cubic when a raw stream crosses a path with a round trip under 2 ms, else bbr, which keeps queues that the switchover must drain short; when the kernel has them). dwcp-migrate qemu with auto also moves a path of 8 ms round trip or more to cubic once its connections have run 2 s without a retransmission (bbr pauses every connection for 0.2 s every 10 s there), and back to bbr if packets are lost.", valueName: "CC"))
    var cc: String = "auto"

    @Option(help: ArgumentHelp("Assume this link rate instead of measuring it (e.g. 100Mbit). The round trip, which sizes the window and the streams, is still timed with a few pings unless --rtt gives it too.", valueName: "RATE"))
    var linkRate: String?

    @Option(help: ArgumentHelp("With --link-rate: assume this round-trip time (50ms, 0.2ms; a bare number is ms) instead of timing it, so nothing is probed.", valueName: "TIME"))
    var rtt: String?

    @Option(help: ArgumentHelp("How the link's rate is measured with --codec auto: burst (the probe sends filler for 0.1-1 s before the migration starts), transfer (the migration starts at once and measures the rate on its own first round trips, then applies the plan: a VM stream starts at zstd level 1, an image's codec is chosen as for a 1.6 Gbit/s link until then), or auto (transfer on paths with a round trip of 8 ms or more, where the burst would run longer than 0.1 s). --dry-run always runs the burst.", valueName: "HOW"))
    var rateProbe: RateProbe = .auto

    @Option(help: ArgumentHelp("Keep reconnecting this long after a connection drops (and probing again, and asking a receiver busy with another transfer again) before failing (exit 4).", valueName: "SECONDS"))
    var resumeTimeout: Double = 30

    @Option(name: [.customShort("T"), .long], help: ArgumentHelp("Compression threads (default: all cores).", valueName: "N"))
    var threads: Int?

    @Flag(help: "Probe the link, print the plan as a JSON line and exit without migrating.")
    var dryRun = false

    @Flag(help: "Print per-round lines and a final summary as JSON lines on standard output.")
    var json = false

    @OptionGroup var secret: SecretOptions

    @OptionGroup var tls: TLSClientOptions

    func validate() throws {
        guard let e = Endpoint(to), !e.host.isEmpty else { throw ValidationError("--to '\(to)' is not HOST:PORT or [IPV6]:PORT") }
        guard let d = Units.parseDuration(maxDowntime), d > 0, d <= 600 else { throw ValidationError("--max-downtime: cannot parse '\(maxDowntime)' (e.g. 300ms, 1s)") }
        if codec != "auto" && codec != "raw" && CodecSetting.parse(codec) == nil { throw ValidationError("--codec must be auto, raw or CODEC[:LEVEL] with CODEC zstd, lz4, brotli or none and a level the codec accepts") }
        if let s = streams, !(1...256).contains(s) { throw ValidationError("--streams must be 1...256") }
        if !["auto", "bbr", "cubic", "reno"].contains(cc) { throw ValidationError("--cc must be bbr, cubic, reno or auto") }
        if let r = linkRate, (Units.parseBitRate(r) ?? 0) <= 0 { throw ValidationError("--link-rate: cannot parse '\(r)'") }
        if let r = rtt {
            guard let d = Units.parseDuration(r), d >= 0, d <= 60 else { throw ValidationError("--rtt: cannot parse '\(r)' (e.g. 50ms, 0.2ms; at most 60s)") }
            if linkRate == nil { throw ValidationError("--rtt goes with --link-rate: together they replace the probe") }
        }
        if let t = threads, !(1...256).contains(t) { throw ValidationError("-T must be 1...256") }
        if !(0...1_000_000).contains(resumeTimeout) { throw ValidationError("--resume-timeout must be 0 to 1000000 seconds") }
    }

    var endpoint: Endpoint { Endpoint(to)! }
    var downtime: Double { Units.parseDuration(maxDowntime)! }
    var threadCount: Int { threads ?? OSThread.processorCount }

    /// Installs what an interrupted source does (SIGINT, SIGTERM, SIGHUP), before any thread
    /// starts: the round under way can never complete, so the destination is told and fails at
    /// once (docs/TRANSPORT.md, "A cancelled transfer"), then the command exits with 128 + the
    /// signal.
    static func cancelTransfersWhenInterrupted() {
        SignalCleanup.whenInterrupted { name in
            TransportSender.cancelAll(reason: "dwcp-migrate was interrupted (\(name))")
        }
    }

    /// How a VM migration measures its link's rate (`dwcp-migrate qemu --rate-probe`).
    enum RateProbe: String, ExpressibleByArgument, CaseIterable {
        case auto, burst, transfer
    }

    /// Probes the link and plans the migration. With `rateProbe` transfer (or auto on a path of
    /// `MigrationPlan.rateOnTransferFromRoundTrip` and more), and the codec left to the plan, the
    /// probe times round trips only and the plan is made before the rate is known
    /// (`MigrationPlan(beforeRate:)`); a dry run always measures the rate. With --link-rate the
    /// probe times round trips only and the rate is the one given: a path's round trip sizes
    /// the window, and a plan for 0 ms held a 100 Mbit path of 50 ms to 42 Mbit/s (a 256 KiB
    /// window). With --rtt as well nothing is probed.
    func plan() throws -> MigrationPlan {
        let givenRate = linkRate.map { Units.parseBitRate($0)! }
        let onTransfer = givenRate == nil && rateProbe != .burst && codec == "auto" && !dryRun
        var measurement: LinkMeasurement? = nil
        if let givenRate, let r = rtt.map({ Units.parseDuration($0)! }) {
            measurement = LinkMeasurement(rttMin: r, rttMedian: r, rttP99: r, jitter: 0, loss: 0, throughput: givenRate, rdmaDevices: [])
        } else {
            // A short probe (it delays the migration): 10 pings 10 round trips (at most 2 ms)
            // apart, or as many as fit in 0.05 s (at least 3 round trips timed, the handshake's
            // two included), then a burst of 12 round trips, 0.1 to 1 s, or 64 MiB if that
            // comes sooner (a datacenter link), or until its rate levels off past slow start.
            // The burst's rate is taken over its second half (or its level round trips) from
            // what TCP saw delivered, and the probe connection is reset as the burst ends,
            // without waiting for the path's queues to drain.
            var probe = LinkProbe(endpoint: endpoint)
            probe.pings = 10
            probe.pingInterval = 0.002
            probe.pingIntervalRoundTrips = 10
            probe.pingSeconds = 0.05
            probe.awaitBurstConfirmation = false
            probe.burstSeconds = 1
            probe.burstRoundTrips = 12
            probe.burstBytes = 64 << 20
            probe.endBurstAtPlateau = true
            if givenRate != nil {
                probe.burstOnlyBelowRoundTrip = 0
            } else if onTransfer {
                probe.burstOnlyBelowRoundTrip = rateProbe == .transfer ? 0 : MigrationPlan.rateOnTransferFromRoundTrip
            }
            probe.auth = SessionAuth(secret: try secret.load())
            probe.tls = try tlsContext()
            // A probe whose connection was cut after it opened (a receiver is there) is run
            // again for as long as the transfer would reconnect (--resume-timeout). Three tries
            // were not enough on a path that cuts connections every few tenths of a second.
            let giveUpAt = MonotonicClock.now() + resumeTimeout
            var backoff = TransportSender.Backoff(limit: 1)
            var lost = 0
            while measurement == nil {
                do {
                    Timeline.mark("probe started")
                    measurement = try probe.measureTellingLoss()
                    Timeline.mark("probe done")
                } catch let e as LinkProbe.ConnectionLost where MonotonicClock.now() < giveUpAt {
                    lost += 1
                    Diagnostics.debug("the probe's connection was lost (\(e)): probing again")
                    backoff.pause()
                } catch let e as LinkProbe.ConnectionLost {
                    throw DWCPError(.network, "cannot probe the destination \(to): its connection was lost \(Units.count(lost + 1, "time")) "
                                    + "in \(Units.format(resumeTimeout, 1)) s (--resume-timeout), the last: \(e)")
                } catch {
                    throw DWCPError(.network, "cannot probe the destination \(to): \(error) (is 'dwcp-migrate receive' running there?)")
                }
            }
        }
        if let givenRate { measurement?.throughput = givenRate }
        if onTransfer, let m = measurement, m.throughput == 0 {
            return MigrationPlan(beforeRate: m, maxDowntime: downtime, streams: streams, threads: threadCount)
        }
        return MigrationPlan(measurement: measurement, maxDowntime: downtime, codec: codec, streams: streams, threads: threadCount)
    }

    /// Prints the plan as a JSON line: on stdout with --dry-run or --json, else at -v on
    /// stderr. A plan made before the link's rate was known is printed again once measured.
    func show(_ plan: MigrationPlan, verbose: Int) throws {
        if dryRun || json { try FileDescriptor.standardOutput.writeAll(plan.json + "\n") } else if verbose > 0 { Diagnostics.info(plan.json) }
    }

    func encoder(_ plan: MigrationPlan) throws -> EncoderConfiguration {
        var e = EncoderConfiguration()
        e.threads = threadCount
        e.blockSize = plan.blockSize
        e.deduplicate = plan.deduplicate
        e.planner = try plan.codecPlanner()
        return e
    }

    func sender(_ plan: MigrationPlan) throws -> SenderConfiguration {
        var s = SenderConfiguration(endpoint: endpoint)
        s.streams = plan.streams
        s.window = plan.window
        s.chunkSize = plan.chunkSize
        s.resumeTimeout = resumeTimeout
        s.auth = SessionAuth(secret: try secret.load())
        s.tls = try tlsContext()
        s.congestionControl = plan.congestionControl(cc)
        return s
    }

    /// The sending side's TLS settings, or nil without --tls.
    func tlsContext() throws -> TLSContext? {
        try tls.settings.map { try TLSContext(role: .client, $0) }
    }

    /// Prints a JSON line to stdout when --json.
    func emit(_ j: JSONLine) throws {
        if json { try FileDescriptor.standardOutput.writeAll(j.text + "\n") }
    }
}
