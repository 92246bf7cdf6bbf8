import ArgumentParser
import DWCPCLI
import DWCPCore
import DWCPSystem
import DWCPTransport
#if canImport(Glibc)
import Glibc
#endif

/// `dwcp-detect`: measure a path to a peer and say whether it is a datacenter or internet link.
struct DetectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dwcp-detect",
        abstract: "Probe a peer (RTT, jitter, loss, throughput, local RDMA devices) and classify the link: datacenter, internet or hybrid.",
        discussion: """
            Probes a dwcp-recv (which answers probes on its port) or a dwcp-detect --serve. Pings \
            echo over an authenticated TCP connection (RTT min/median/p99 and jitter); a short \
            burst measures throughput, and a phase after it paced below that rate the loss, from \
            the kernel's retransmission counters (the burst's own overshoot drops are not the \
            path's). Prints \
            one JSON line with mode, figures and reasons; --watch SECONDS repeats at that interval and \
            changes mode only after --confirm measurements in a row leave the current mode's limits \
            by --hysteresis (no flapping on a noisy link). A measurement that fails under --watch \
            is reported and the next one tried at the next interval. Scripts use --print mode.

            Modes: internet if median RTT >= --internet-rtt or loss >= --internet-loss; datacenter \
            if median RTT <= --datacenter-rtt, jitter <= --datacenter-jitter and loss <= \
            --datacenter-loss; hybrid otherwise. Under --watch the current mode's own limits are \
            widened by --hysteresis: with the defaults an internet link stays internet down to 16 ms \
            of median RTT, a datacenter link stays datacenter up to 2.4 ms.

            Examples:
              dwcp-detect peer:7000
              mode=$(dwcp-detect --print mode peer:7000)
              dwcp-detect --watch 1 peer:7000 | dwcp-predict --follow
              dwcp-detect --serve :7001

            \(ExitStatus.manualTable)
            """,
        version: DWCPVersion.string)

    @Argument(help: ArgumentHelp("Peer to probe: HOST:PORT of a dwcp-recv or dwcp-detect --serve.", valueName: "HOST:PORT"))
    var peer: String?

    @Option(help: ArgumentHelp("Answer probes on [ADDR]:PORT instead of probing (runs until SIGINT/SIGTERM).", valueName: "[ADDR]:PORT"))
    var serve: String?

    @Option(help: ArgumentHelp("Measure at this interval and print a line each time. Pinging stops after half the interval less the loss phase (after at least 3 pings), so a measurement takes about the interval (with the default --burst, 0.75 s) even on a long path.", valueName: "SECONDS"))
    var watch: Double?

    @Option(help: ArgumentHelp("Print only this field: mode.", valueName: "FIELD"))
    var print: String?

    @Option(help: ArgumentHelp("Pings per measurement.", valueName: "N")) var pings: Int = 20
    @Option(help: ArgumentHelp("Length of the throughput burst; loss is then counted over half as long again, paced at 80% of the rate found. 0 skips both.", valueName: "SECONDS"))
    var burst: Double = 0.5
    @Option(help: ArgumentHelp("Datacenter if the median RTT is at most this.", valueName: "MS")) var datacenterRtt: Double = 2
    @Option(help: ArgumentHelp("... and jitter at most this.", valueName: "MS")) var datacenterJitter: Double = 1
    @Option(help: ArgumentHelp("... and loss at most this.", valueName: "PERCENT")) var datacenterLoss: Double = 0.1
    @Option(help: ArgumentHelp("Internet if the median RTT is at least this.", valueName: "MS")) var internetRtt: Double = 20
    @Option(help: ArgumentHelp("... or loss at least this.", valueName: "PERCENT")) var internetLoss: Double = 1
    @Option(help: ArgumentHelp("With --watch: measurements in a row that must agree before the mode changes.", valueName: "N")) var confirm: Int = 2
    @Option(help: ArgumentHelp("With --watch: how far beyond the current mode's limits a measurement must be to count against it.", valueName: "PERCENT"))
    var hysteresis: Double = 20

    @OptionGroup var secret: SecretOptions
    @OptionGroup var tls: TLSClientOptions
    @OptionGroup var verbosity: VerbosityOptions

    func validate() throws {
        if serve == nil && peer == nil { throw ValidationError("give HOST:PORT to probe, or --serve [ADDR]:PORT") }
        if serve != nil && peer != nil { throw ValidationError("--serve takes no HOST:PORT") }
        if let p = peer, Endpoint(p) == nil || Endpoint(p)!.host.isEmpty { throw ValidationError("'\(p)' is not HOST:PORT") }
        if let s = serve, Endpoint(s) == nil { throw ValidationError("--serve '\(s)' is not [ADDR]:PORT") }
        if let w = watch, !(w > 0 && w <= 86_400) { throw ValidationError("--watch needs an interval above 0 and at most 86400 seconds") }
        if let p = print, p != "mode" { throw ValidationError("--print supports: mode") }
        if !(1...10000).contains(pings) { throw ValidationError("--pings must be 1...10000") }
        if !(0...60).contains(burst) { throw ValidationError("--burst must be 0...60 seconds") }
        for (name, v) in [("--datacenter-rtt", datacenterRtt), ("--datacenter-jitter", datacenterJitter), ("--datacenter-loss", datacenterLoss),
                          ("--internet-rtt", internetRtt), ("--internet-loss", internetLoss)] where !(v >= 0 && v.isFinite) {
            throw ValidationError("\(name) must be a number ≥ 0")
        }
        if confirm < 1 { throw ValidationError("--confirm must be at least 1") }
        if !(hysteresis >= 0 && hysteresis < 100) { throw ValidationError("--hysteresis must be 0 or more and below 100 (percent)") }
    }

    func run() throws {
        verbosity.apply()
        let auth = SessionAuth(secret: try secret.load())
        if let serve {
            let listener = try StreamListener(Endpoint(serve)!)
            Diagnostics.info("answering probes on port \(listener.port)")
            let context = try tls.options.settings.map { try TLSContext(role: .server, $0) }
            while let socket = listener.accept() {
                _ = OSThread { ProbeResponder.answer(socket, auth: auth, tls: context) }
            }
            return
        }
        var probe = LinkProbe(endpoint: Endpoint(peer!)!)
        probe.auth = auth
        probe.tls = try tls.settings.map { try TLSContext(role: .client, $0) }
        probe.pings = pings
        probe.burstSeconds = burst
        probe.pacedLossSeconds = burst / 2
        if let watch {
            // About a line every interval, and a real change confirmed within `--confirm` of them:
            // on a 130 ms path 20 pings alone took 2.6 s. The loss phase after the burst comes
            // out of the pings' half.
            probe.keepConnection = true
            probe.pingSeconds = max(0, watch / 2 - probe.pacedLossSeconds)
        }
        var classifier = LinkClassifier()
        classifier.datacenterRTT = datacenterRtt / 1000
        classifier.datacenterJitter = datacenterJitter / 1000
        classifier.datacenterLoss = datacenterLoss / 100
        classifier.internetRTT = internetRtt / 1000
        classifier.internetLoss = internetLoss / 100
        classifier.confirmations = confirm
        classifier.hysteresis = hysteresis / 100
        let start = MonotonicClock.now()
        repeat {
            let began = MonotonicClock.now()
            let m: LinkMeasurement
            do {
                m = try probe.measure()
            } catch let e as DWCPError where watch != nil && e.status == .network {
                // A monitor outlives a peer restart or a link outage: say so, try again.
                Diagnostics.warning("measurement failed: \(e.message); next try in \(watch!) s")
                pause(until: began + watch!)
                continue
            }
            let (mode, raw, reasons) = classifier.update(m)
            if print == "mode" {
                try FileDescriptor.standardOutput.writeAll(mode.rawValue + "\n")
            } else {
                var j = JSONLine()
                j.add("command", "detect")
                j.add("t", MonotonicClock.now() - start, decimals: 3)
                j.add("mode", mode.rawValue)
                if watch != nil { j.add("measured_mode", raw.rawValue) }
                var rtt = JSONLine()
                rtt.add("min", m.rttMin * 1000, decimals: 3)
                rtt.add("p50", m.rttMedian * 1000, decimals: 3)
                rtt.add("p99", m.rttP99 * 1000, decimals: 3)
                j.addRaw("rtt_ms", rtt.text)
                j.add("rtt_ms_median", m.rttMedian * 1000, decimals: 3)
                j.add("jitter_ms", m.jitter * 1000, decimals: 3)
                j.add("loss", m.loss, decimals: 5)
                j.add("bps", m.throughput, decimals: 0)
                j.addRaw("rdma_devices", "[" + m.rdmaDevices.map(JSONLine.quote).joined(separator: ",") + "]")
                j.addRaw("reasons", "[" + reasons.map(JSONLine.quote).joined(separator: ",") + "]")
                try FileDescriptor.standardOutput.writeAll(j.text + "\n")
            }
            guard let watch else { break }
            pause(until: began + watch)
        } while true
    }

    /// Sleeps until the monotonic clock reads `deadline` (at once if it already has).
    private func pause(until deadline: Double) {
        let wait = deadline - MonotonicClock.now()
        guard wait > 0 else { return }
        var pause = timespec(tv_sec: Int(wait), tv_nsec: Int((wait - wait.rounded(.down)) * 1e9))
        var left = timespec()
        while nanosleep(&pause, &left) != 0 && errno == EINTR { pause = left }
    }
}
