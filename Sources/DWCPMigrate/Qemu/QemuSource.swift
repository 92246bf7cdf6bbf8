import Glibc
import DWCPCLI
import DWCPCodec
import DWCPCore
import DWCPSystem
import DWCPTransport

/// Source side of `dwcp-migrate qemu`: QEMU's own pre-copy, with its migration stream routed
/// through the DWCP encoder and transport.
///
/// QEMU writes the stream into one end of a socket pair we hand it over QMP (`getfd`, then
/// `migrate uri=fd:…`), whose send buffer we size (`rawStreamBuffer`); the
/// `SendPipeline` compresses it and stripes it over the TCP streams. QEMU keeps deciding when to
/// switch over (its bandwidth estimate is the rate our pipeline drains, which is the compressed
/// link rate), with its downtime limit lowered by the time our buffers take to drain. The source
/// VM is only stopped for good once the destination confirmed its VM runs; on any failure the
/// source VM is resumed, so there is never zero or two running copies.
public final class QemuSource {
    /// What the transfer needs from a plan: the plan itself and the encoder and sender settings
    /// derived from it.
    public struct Prepared {
        public var plan: MigrationPlan
        public var encoder: EncoderConfiguration
        public var sender: SenderConfiguration

        public init(plan: MigrationPlan, encoder: EncoderConfiguration = EncoderConfiguration(), sender: SenderConfiguration) {
            self.plan = plan
            self.encoder = encoder
            self.sender = sender
        }
    }

    /// Everything one QEMU migration needs, set by `dwcp-migrate qemu` from its options (and by tests directly).
    public struct Configuration {
        public var qmpPath: String
        /// Probes the link and plans the transfer. Called once QEMU's migration has started:
        /// QEMU first spends a while in setup (0.32 s for a 512 MiB TCG guest on this machine,
        /// a dirty-bitmap sync over all of RAM), sending almost nothing, and the probe (0.19 s
        /// on a 100 Mbit link) runs meanwhile instead of before it. If it throws, the migration
        /// is cancelled and the source VM keeps running.
        public var prepare: () throws -> Prepared
        /// Give up (cancel, source keeps running) after this many dirty-bitmap passes.
        public var maxRounds = 30
        public var autoConverge = false
        /// XBZRLE cache for QEMU's own delta encoding of re-sent pages; nil: off.
        public var xbzrleCache: UInt64?
        /// Leave the source paused after success instead of quitting it.
        public var keepSource = false
        /// `--cc auto`: on a path of `MigrationPlan.rateOnTransferFromRoundTrip` and more, the
        /// connections leave bbr for cubic while the path drops nothing (`CleanPathSwitch`).
        public var cubicOnCleanLongPaths = false
        /// Files the destination holds too (the guest's kernel, initrd, disk image): a zstd
        /// stream is compressed against them (`ReferenceFiles`).
        public var reference: ReferenceFiles?
        /// Called with the plan once a migration that started before its link's rate was known
        /// (`MigrationPlan.ratePending`) has measured it and applied the plan.
        public var onMeasuredPlan: ((MigrationPlan) -> Void)?

        public init(qmpPath: String, prepare: @escaping () throws -> Prepared) {
            self.qmpPath = qmpPath
            self.prepare = prepare
        }
    }

    /// The RAM figures of one `query-migrate` answer, read once for the status loop and for
    /// `onStatus` (progress lines). Clamped at 0: a figure QEMU got wrong must not trap.
    public struct RamFigures {
        /// Dirty-bitmap passes so far (`dirty-sync-count`).
        public var pass: Int
        public var transferred: UInt64
        public var remaining: UInt64
        public var dirtyPagesRate: UInt64
        public var pageSize: UInt64

        public init(_ ram: [String: Any]) {
            func figure(_ key: String, _ fallback: Int = 0) -> UInt64 { UInt64(clamping: ram[key] as? Int ?? fallback) }
            pass = ram["dirty-sync-count"] as? Int ?? 0
            transferred = figure("transferred")
            remaining = figure("remaining")
            dirtyPagesRate = figure("dirty-pages-rate")
            pageSize = figure("page-size", 4096)
        }

        /// The guest's dirtying rate in bytes per second.
        public var dirtyBytesPerSecond: Double { Double(dirtyPagesRate) * Double(pageSize) }
    }

    /// One dirty-bitmap pass as QEMU reported it.
    public struct Pass {
        public var pass: Int
        public var transferred: UInt64
        public var remaining: UInt64
        public var dirtyPagesRate: UInt64
        public var seconds: Double
    }

    /// What the migration did, for its final JSON line and exit status.
    public struct Outcome {
        public var totalSeconds = 0.0
        /// From the source VM stopping (QEMU's STOP event) to the destination confirming its VM
        /// runs, as seen here: includes the pipeline drain QEMU's own figure leaves out.
        public var downtime: Double?
        public var qemuDowntimeMs: Int?
        /// QEMU's own `setup-time`: from the migrate command to its first pass, ms.
        public var qemuSetupMs: Int?
        public var bytesRead: UInt64 = 0
        public var wireBytes: UInt64 = 0
        /// Stream bytes per codec and level (`zstd-3`, …): where an adaptive level went.
        public var codecMix: [String: UInt64] = [:]
        public var passes: [Pass] = []
        public var reconnects = 0
        /// Seconds the source QEMU left a QMP command (`query-migrate`, `migrate-set-parameters`)
        /// unanswered for longer than `Self.stallThreshold` at a time: its migration thread held
        /// the big QEMU lock and sent nothing (QEMU 7.2 under TCG syncs the dirty bitmap page by
        /// page in its setup and at the end of a pass, for 1-30 s on a 2 GiB guest). The link
        /// idles then whatever the transport, so this is the part of the total time that is
        /// QEMU's, not the pipeline's.
        public var qemuStallSeconds = 0.0
        /// Whether the stream was compressed against `Configuration.reference`: only a zstd
        /// stream that begins with the long window is (not a raw one, DWCP frames, or a fast
        /// link's level-1 stream).
        public var referenceUsed = false
    }

    /// Send buffer of QEMU's end of the stream socket for a raw stream: 4 MiB, as TCP autotunes
    /// QEMU's own `tcp:` socket to. With the default (208 KiB) QEMU blocked and we woke up every
    /// ~100 KiB, 4,600 times in a 350 MB loopback migration. A compressed stream keeps the
    /// default: what the buffer holds at the switchover is still to be compressed and sent
    /// during the downtime, unseen by `SwitchoverRule` (4 MiB of pages compressed 2:1 is 170 ms
    /// of a 100 Mbit link).
    static let rawStreamBuffer = 4 << 20

    /// The name QEMU knows the stream's descriptor by (`getfd`).
    static let streamDescriptorName = "dwcp-migration-stream"

    /// The downtime limit that tells QEMU to stop the VM at its next check, ms (QEMU accepts up
    /// to 2,000,000).
    static let switchoverLimitMs = 60_000

    /// A `query-migrate` slower than this counts as a QEMU stall (normally it takes < 1 ms).
    public static let stallThreshold = 0.5

    /// What `--watch` and progress lines see while it runs.
    public var onStatus: ((_ status: String, _ ram: RamFigures, _ wire: UInt64) -> Void)?
    public let configuration: Configuration

    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    private enum Gate { case open, completed, failed(String) }

    public func run() throws -> Outcome {
        let c = configuration
        let started = MonotonicClock.now()
        let qmp = try QMPClient(path: c.qmpPath)
        let initial = try qmp.query("query-status")["status"] as? String ?? "unknown"
        guard initial == "running" || initial == "paused" else {
            throw DWCPError.failure("source VM is '\(initial)', not running or paused: nothing to migrate")
        }
        var capabilities: [[String: Any]] = [["capability": "events", "state": true]]
        capabilities.append(["capability": "auto-converge", "state": c.autoConverge])
        capabilities.append(["capability": "xbzrle", "state": c.xbzrleCache != nil])
        try qmp.execute("migrate-set-capabilities", ["capabilities": capabilities])
        var parameters: [String: Any] = [
            // Until the plan says how long our buffers take to drain: nothing can switch over
            // before the first pass is through anyway.
            "downtime-limit": 10,
            // Our pipeline's back-pressure paces QEMU; its own cap (32 MiB/s by default) must not.
            "max-bandwidth": Int(1) << 40,
        ]
        if let cache = c.xbzrleCache { parameters["xbzrle-cache-size"] = Int(cache) }
        try qmp.execute("migrate-set-parameters", parameters)

        // Long-distance matching reaches back over the guest's whole RAM (capped at 1 GiB).
        let guestRAM = (try? qmp.query("query-memory-size-summary"))?["base-memory"] as? Int ?? (1 << 30)
        let (stream, qemuEnd) = try UnixSocket.pair(name: "QEMU's migration stream")
        defer { stream.close() }
        // Our copy of QEMU's end stays open until the plan has sized its buffer (QEMU's setup
        // writes little before that); once closed, QEMU's close is the stream's end.
        var qemuEndOpen = true
        func closeQemuEnd() {
            if qemuEndOpen { qemuEnd.close() }
            qemuEndOpen = false
        }
        defer { closeQemuEnd() }
        try qmp.execute("getfd", ["fdname": Self.streamDescriptorName], passing: qemuEnd)

        // QEMU's setup and the probe overlap: QEMU blocks on a socket nobody reads yet, which
        // is the back-pressure it sees all along anyway.
        try qmp.execute("migrate", ["uri": "fd:\(Self.streamDescriptorName)"])
        Timeline.mark("migrate issued")
        let prepared: Prepared
        do {
            prepared = try c.prepare()
        } catch {
            cancelBeforeTransfer(qmp, stream: stream, wasRunning: initial == "running")
            throw error
        }
        let plan = prepared.plan
        let referenceBytes = UInt64(c.reference?.count ?? 0)
        var format = plan.vmStreamFormat(guestRAM: UInt64(guestRAM), referenceBytes: referenceBytes)
        if plan.ratePending, referenceBytes > 0, case .zstd = format {
            // A stream that starts before its link's rate is known begins at level 1, without
            // the long window and so without the reference files; but what matches them most
            // (the guest's kernel, low in its RAM) is read first. With them it begins as for a
            // slow link, and a fast link's plan changes it later.
            format = MigrationPlan.slowLinkVMStreamFormat(guestRAM: UInt64(guestRAM), referenceBytes: referenceBytes)
        }
        if format == .raw { _ = UnixSocket.setSendBuffer(qemuEnd, bytes: Self.rawStreamBuffer) }
        closeQemuEnd()
        // Who picks the moment to stop the VM: for a raw stream QEMU (its rate is the link's),
        // with its limit lowered by our drain; for a compressed one `SwitchoverRule`, made once
        // the link's rate is known (a plan made before it measures it on the transfer).
        func switchoverRule(_ plan: MigrationPlan) -> SwitchoverRule {
            var rule = SwitchoverRule(budget: plan.maxDowntime, assumedRate: min(plan.linkBitsPerSecond / 8, MigrationPlan.pipelineBytesPerSecond))
            rule.propagationSeconds = (plan.measurement?.rttMedian ?? 0) / 2
            return rule
        }
        var rule = format == .raw || plan.ratePending ? nil : switchoverRule(plan)
        let tuner = TransferTuner(plan: plan, guestRAM: UInt64(guestRAM), referenceBytes: referenceBytes,
                                  cubicOnCleanLongPaths: c.cubicOnCleanLongPaths)
        let limitMs = format == .raw ? max(10, Int((plan.maxDowntime - plan.drainSeconds) * 1000)) : 1
        var outcome = Outcome()
        var switchoverAsked = false
        // Only a stream that begins with the long window is compressed against the reference
        // files: a fast link's stream (level 1, no long window) would gain nothing, and a
        // decoder that references a prefix decodes every frame more slowly (`zstd -d
        // --patch-from` of a level-1 stream: 0.37-0.50 → 0.50-0.71 s).
        let streamReference: ReferenceFiles? = if case .zstd(_, .some, _) = format { c.reference } else { nil }

        // A compressed stream may run ahead of the link during the first pass (see
        // `MigrationPlan.firstPassBacklog`); the queue is back to its normal size from the
        // second pass on, and `SwitchoverRule` counts whatever it holds.
        let firstPassBacklog = format == .raw ? 0 : plan.firstPassBacklog
        // The connections ask to be kept (and are released, then closed, once the verdict is
        // in): a release tells the destination the confirmation got here, and until one comes
        // it tells a source that lost the confirmation with every connection again
        // (docs/TRANSPORT.md, "A verdict told again"); kept for nothing else.
        var sender = prepared.sender
        let kept = ConnectionPool()
        defer { kept.close() }
        sender.keptConnections = kept
        let pipeline = SendPipeline(encoder: prepared.encoder, sender: sender, encodedBacklog: firstPassBacklog)
        var normalBacklog = pipeline.encodedQueue.limit
        pipeline.encodedQueue.limit = max(normalBacklog, firstPassBacklog)
        let gate = ConditionLock()
        var gateState = Gate.open
        var pipelineResult: SendPipeline.Result?
        var pipelineError: Error?
        var finishedAt = 0.0
        var wire: UInt64 = 0
        let pipelineThread = OSThread {
            do {
                pipeline.onWire = { s in gate.withLock { wire = s.bytes } }
                let gateCheck: () throws -> Void = {
                    // QEMU closed the stream: end it only if QEMU says the migration completed.
                    Timeline.mark("QEMU closed its migration stream")
                    let state: Gate = gate.withLock {
                        while case .open = gateState { gate.wait() }
                        return gateState
                    }
                    if case .failed(let why) = state { throw DWCPError.failure(why) }
                }
                pipeline.format = format
                pipeline.reference = streamReference
                pipelineResult = try pipeline.run(input: stream, endGate: gateCheck)
            } catch {
                gate.withLock { pipelineError = error }
            }
            finishedAt = WallClock.now()
            Timeline.mark("transfer finished: \(pipelineError.map { "\($0)" } ?? "destination confirmed")")
            gate.withLock { gate.broadcast() }
        }

        var lastPass = 0
        var passStart = MonotonicClock.now()
        var cancelled: String?
        var stopTime: Double?
        var final: [String: Any] = [:]
        var qmpError: Error?
        do {
            // QEMU answers this once its setup is through: for a 2 GiB TCG guest that holds its
            // lock for seconds (the setup's dirty-bitmap sync), which counts as a stall. The
            // pipeline is already connecting meanwhile: on a 50 ms path its connections'
            // openings (three round trips) then overlap QEMU's setup instead of following it.
            try timed(&outcome) { try qmp.execute("migrate-set-parameters", ["downtime-limit": limitMs]) }
            Timeline.mark("stream format \(format), downtime limit \(limitMs) ms")
            while true {
                let info = try timed(&outcome) { try qmp.query("query-migrate") }
                let status = info["status"] as? String ?? "none"
                let ram = RamFigures(info["ram"] as? [String: Any] ?? [:])
                let passNow = ram.pass
                let transferred = ram.transferred
                let remaining = ram.remaining
                let wireNow = gate.withLock { wire }
                for e in qmp.takeEvents() where e.name == "STOP" {
                    stopTime = e.time
                    pipeline.flushWhenIdle()
                    Timeline.mark("source VM stopped: \(transferred) read, \(wireNow) on the wire")
                }
                if passNow > lastPass {
                    let now = MonotonicClock.now()
                    if passNow >= 2 { pipeline.encodedQueue.limit = normalBacklog }
                    outcome.passes.append(Pass(pass: passNow, transferred: transferred, remaining: remaining,
                                               dirtyPagesRate: ram.dirtyPagesRate, seconds: now - passStart))
                    passStart = now
                    lastPass = passNow
                    Timeline.mark("pass \(passNow) (\(remaining) bytes remaining, \(transferred) read, \(wireNow) on the wire)")
                }
                onStatus?(status, ram, wireNow)
                if let measured = tuner.poll(pipeline, wireBytes: wireNow) {
                    normalBacklog = SendPipeline.encodedQueueBytes(window: measured.window)
                    pipeline.encodedQueue.limit = lastPass >= 2 ? normalBacklog : max(normalBacklog, measured.firstPassBacklog)
                    // A plan completed with its loss only keeps the rule's samples.
                    let next = switchoverRule(measured)
                    if rule?.assumedRate != next.assumedRate { rule = next }
                    c.onMeasuredPlan?(measured)
                }
                if rule != nil {
                    let now = MonotonicClock.now()
                    let encoder = pipeline.counters.snapshot
                    // Recorded in place: a mutable copy would copy the sample history every round.
                    rule!.record(SwitchoverRule.Sample(time: now, transferred: transferred,
                                                       encoderIn: encoder.input, encoderOut: encoder.output, acknowledged: wireNow))
                    let r = rule!
                    if status == "active" && !switchoverAsked && cancelled == nil && passNow >= 2
                        && r.fits(remaining: remaining, dirtyBytesPerSecond: ram.dirtyBytesPerSecond, sinceSync: now - passStart) {
                        // QEMU stops the VM at its next check (after a last bitmap sync).
                        try timed(&outcome) { try qmp.execute("migrate-set-parameters", ["downtime-limit": Self.switchoverLimitMs]) }
                        switchoverAsked = true
                        Timeline.mark("switchover: \(remaining) bytes remaining, expected downtime \(Int(r.expectedDowntime(remaining: remaining, dirtyBytesPerSecond: ram.dirtyBytesPerSecond, sinceSync: now - passStart) * 1000)) ms (ratio \(r.wireRatio), \(Int(r.wireRate)) B/s, backlog \(Int(r.backlog)) B, dirty \(Int(ram.dirtyBytesPerSecond)) B/s)")
                    }
                }
                if status == "completed" || status == "failed" || status == "cancelled" {
                    Timeline.mark("QEMU status \(status) (setup \(info["setup-time"] as? Int ?? -1) ms, \(transferred) read, \(wireNow) on the wire)")
                    // QEMU reports "completed" after flushing the stream's last byte into the
                    // socket, and closes it only when its main loop gets to the cleanup (35-43 ms
                    // later on the test guest, all of it before the destination can confirm).
                    // So the stream ends at what the socket holds now.
                    if status == "completed" { UnixSocket.shutdownReading(stream) }
                    final = info
                    gate.withLock {
                        gateState = status == "completed" ? .completed : .failed(cancelled ?? "QEMU reports the migration \(status)" + ((info["error-desc"] as? String).map { ": \($0)" } ?? ""))
                        gate.broadcast()
                    }
                    break
                }
                if cancelled == nil && status == "active" {
                    if gate.withLock({ pipelineError != nil }) {
                        cancelled = "transport failed"
                        _ = try? qmp.execute("migrate_cancel")
                    } else if !c.autoConverge && passNow > c.maxRounds {
                        cancelled = "not converging: \(passNow) passes and QEMU still expects \(remaining) bytes to move (dirtying outpaces the link; try --auto-converge or a larger --max-downtime)"
                        _ = try? qmp.execute("migrate_cancel")
                    }
                }
                // Until QEMU's next event (a pass, a stop, a status change), or 20 ms: the stream's
                // end waits for "completed", and a fixed sleep here added up to 20 ms to the downtime.
                try qmp.waitForEvent(timeout: 0.02)
            }
        } catch {
            // QMP failed: the source QEMU exited or crashed, so its stream can never complete.
            // The transfer is cancelled with the reason (below, as when QEMU reports a failure),
            // so the destination quits its QEMU at once instead of waiting for this source up to
            // its idle timeout.
            qmpError = error
            gate.withLock {
                if case .open = gateState { gateState = .failed("the source QEMU failed: \(error)") }
                gate.broadcast()
            }
        }
        // If QEMU failed, make the pipeline give up too (its input may still be open): its read
        // ends, and the end gate fails it.
        if case .failed = gate.withLock({ gateState }) { UnixSocket.shutdownBoth(stream) }
        pipelineThread.join()
        if let qmpError { throw qmpError }
        for e in qmp.takeEvents() where e.name == "STOP" { stopTime = e.time }
        outcome.qemuDowntimeMs = final["downtime"] as? Int
        outcome.qemuSetupMs = final["setup-time"] as? Int
        outcome.bytesRead = RamFigures(final["ram"] as? [String: Any] ?? [:]).transferred
        outcome.wireBytes = pipelineResult?.transfer.bytes ?? gate.withLock { wire }
        outcome.codecMix = pipelineResult?.encode.codecMix ?? [:]
        outcome.reconnects = pipelineResult?.transfer.reconnects ?? 0
        outcome.referenceUsed = streamReference != nil
        if case .failed(let why) = gate.withLock({ gateState }) {
            try resumeSource(qmp, wasRunning: initial == "running")
            let cause = pipelineError.map { "\($0)" }
            throw DWCPError(pipelineError is DWCPError ? (pipelineError as! DWCPError).status : .failure,
                            "migration failed, source VM kept: \(cause ?? why)")
        }
        if let error = pipelineError as? DWCPError, error == Wire.rejected {
            // The destination said it could not run the VM (and quit its QEMU): resume here.
            try resumeSource(qmp, wasRunning: initial == "running")
            throw DWCPError(.failure, "the destination could not start the VM (see its diagnostics); source VM resumed")
        }
        if let error = pipelineError {
            // QEMU finished sending the whole stream but the destination's confirmation never
            // came. The destination QEMU may have loaded it and started the VM on its own, so
            // resuming here could make two running copies: leave the source paused and say so.
            let status = (error as? DWCPError)?.status ?? .network
            throw DWCPError(status, "the whole VM was sent but the destination did not confirm it runs (\(error)); the source VM is left paused: check the destination, and resume the source with QMP 'cont' only if the destination VM is not running")
        }
        if let stopTime {
            outcome.downtime = max(0, finishedAt - stopTime)
            Timeline.mark("source VM had stopped at t=\(Int64(stopTime * 1000) % 100_000) ms")
        }
        if !c.keepSource { _ = try? qmp.execute("quit") }
        outcome.totalSeconds = MonotonicClock.now() - started
        // The destination waits until it knows this source heard the confirmation (a released
        // connection); if every kept connection was cut before that got through, one more says so.
        if pipeline.transport?.confirmVerdictHeard() == false {
            Diagnostics.warning("could not tell the destination that its confirmation arrived: it waits for that up to its --idle-timeout, then warns")
        }
        return outcome
    }

    /// Runs one QMP command of the migration and counts it in `qemuStallSeconds` when QEMU
    /// took longer than `stallThreshold` to answer.
    @discardableResult
    private func timed<T>(_ outcome: inout Outcome, _ command: () throws -> T) throws -> T {
        let asked = MonotonicClock.now()
        let result = try command()
        let waited = MonotonicClock.now() - asked
        if waited > Self.stallThreshold {
            outcome.qemuStallSeconds += waited
            Diagnostics.info("source QEMU did not answer for \(Units.format(waited, 1)) s (its migration thread held the QEMU lock; nothing was sent meanwhile)")
        }
        return result
    }

    /// Stops a migration whose transfer never started (the probe failed): QEMU, blocked on
    /// the unread socket, is cancelled and the source VM goes on as before. Best effort: the
    /// caller reports why the transfer could not start, and a QMP failure here is only a
    /// warning.
    private func cancelBeforeTransfer(_ qmp: QMPClient, stream: FileDescriptor, wasRunning: Bool) {
        do {
            try qmp.execute("migrate_cancel")
            // Shut the stream down too, so a write QEMU is blocked in fails at once.
            UnixSocket.shutdownBoth(stream)
            let deadline = MonotonicClock.now() + 10
            while MonotonicClock.now() < deadline {
                let status = try qmp.query("query-migrate")["status"] as? String ?? "none"
                if status == "cancelled" || status == "failed" || status == "completed" { break }
                try qmp.waitForEvent(timeout: 0.02)
            }
            try resumeSource(qmp, wasRunning: wasRunning)
        } catch {
            Diagnostics.warning("could not cancel QEMU's migration cleanly (\(error)); check the source VM with QMP 'query-migrate' and 'query-status'")
        }
    }

    private func resumeSource(_ qmp: QMPClient, wasRunning: Bool) throws {
        guard wasRunning else { return }
        let status = try qmp.query("query-status")["status"] as? String ?? ""
        if status != "running" { try qmp.execute("cont") }
    }
}
