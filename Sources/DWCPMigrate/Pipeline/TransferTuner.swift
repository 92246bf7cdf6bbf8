import DWCPCLI
import DWCPCore
import DWCPSystem
import DWCPTransport

/// What a migration re-tunes on its transfer while it runs, polled from `dwcp-migrate qemu`'s
/// status loop or beside `dwcp-migrate file`'s round 0: a plan made before the link's rate was
/// known is completed once `TransferRateMeter` has measured it on the transfer's own round
/// trips (and applied to the pipeline), and on a long path that drops nothing the connections
/// leave bbr for cubic (`CleanPathSwitch`).
final class TransferTuner {
    /// The plan now: the one given, or the measured one once applied.
    private(set) var plan: MigrationPlan
    /// A VM stream's guest RAM (its zstd stream's window follows it); nil for an image's DWCP
    /// frames.
    private let guestRAM: UInt64?
    private var meter: TransferRateMeter?
    /// When measuring began, and the connections' retransmitted and sent segments then.
    private var measuringSince: (time: Double, retransmitted: UInt64, segments: UInt64)?
    private var pathSwitch: CleanPathSwitch?
    private var transferSeen = false
    private let watchesForACleanPath: Bool

    /// `cubicOnCleanLongPaths` (`--cc auto`) takes effect on a compressed stream over a path of
    /// `MigrationPlan.rateOnTransferFromRoundTrip` and more, where the kernel has cubic.
    init(plan: MigrationPlan, guestRAM: UInt64?, cubicOnCleanLongPaths: Bool) {
        self.plan = plan
        self.guestRAM = guestRAM
        meter = plan.ratePending ? TransferRateMeter(roundTrip: plan.measurement?.rttMedian ?? 0) : nil
        watchesForACleanPath = cubicOnCleanLongPaths && Self.format(plan, guestRAM: guestRAM) != .raw
            && (plan.measurement?.rttMedian ?? 0) >= MigrationPlan.rateOnTransferFromRoundTrip
            && CongestionControl.ifAvailable("cubic") != nil
    }

    /// Takes the transfer's figures now (`wireBytes`: acknowledged so far); returns the plan
    /// when it has just been measured and applied to `pipeline`'s stream and transport.
    func poll(_ pipeline: SendPipeline, wireBytes: UInt64) -> MigrationPlan? {
        guard let transport = pipeline.transport else { return nil }
        let now = MonotonicClock.now()
        let counters = transport.pathCounters
        if !transferSeen {
            transferSeen = true
            // A plan from the probe's burst: slow start is over about when a burst's would be.
            if meter == nil { watchForACleanPath(from: now + TransferRateMeter(roundTrip: plan.measurement?.rttMedian ?? 0).longest) }
        }
        var measured: MigrationPlan?
        if var m = meter {
            let since = measuringSince ?? (now, counters?.retransmittedSegments ?? 0, counters?.segmentsOut ?? 0)
            measuringSince = since
            var verdict = counters.flatMap { m.record(time: now, delivered: $0.delivered, backlogged: $0.backlogged) }
            if verdict == nil && now - since.time > m.longest + 2 {
                // No TCP figures to measure on (RDMA), or no plateau: the rate the stream has
                // gone at, as a floor.
                verdict = .atLeast(Double(wireBytes) * 8 / (now - since.time))
            }
            meter = m
            if let verdict {
                apply(verdict, counters: counters, since: since, to: pipeline)
                measured = plan
                meter = nil
                watchForACleanPath(from: now)
            }
        }
        if var watch = pathSwitch, let counters {
            if let action = watch.record(time: now, retransmitted: counters.retransmittedSegments, segments: counters.segmentsOut) {
                transport.setCongestionControl(action == .useCubic ? "cubic" : "bbr")
                Timeline.mark(action == .useCubic ? "path clean for \(Units.format(CleanPathSwitch.cleanSeconds, 1)) s: connections on cubic"
                                                  : "packets lost on cubic: connections back on bbr")
            }
            pathSwitch = watch
        }
        return measured
    }

    /// Whether the migration is still measuring its link's rate.
    var measuring: Bool { meter != nil }

    private static func format(_ plan: MigrationPlan, guestRAM: UInt64?) -> SendPipeline.StreamFormat {
        guestRAM.map { plan.vmStreamFormat(guestRAM: $0) } ?? .frames
    }

    private func watchForACleanPath(from time: Double) {
        if watchesForACleanPath { pathSwitch = CleanPathSwitch(start: time) }
    }

    /// Completes the plan with the measured rate (and the loss seen meanwhile: retransmitted ÷
    /// sent segments, as the probe's burst counts it; 0 if a connection was replaced) and
    /// applies it: the stream's next frame (or the adaptive codec's next choices), the window,
    /// the connections.
    private func apply(_ verdict: TransferRateMeter.Verdict, counters: TransportSender.PathCounters?,
                       since: (time: Double, retransmitted: UInt64, segments: UInt64), to pipeline: SendPipeline) {
        let segments = counters?.segmentsOut ?? 0, retransmitted = counters?.retransmittedSegments ?? 0
        let loss = segments > since.segments && retransmitted >= since.retransmitted
            ? min(1, Double(retransmitted - since.retransmitted) / Double(segments - since.segments)) : 0
        let (rate, atLeast): (Double, Bool) = switch verdict {
        case .rate(let r): (r, false)
        case .atLeast(let r): (r, true)
        }
        plan = plan.withMeasuredRate(rate, loss: loss, atLeast: atLeast)
        let format = Self.format(plan, guestRAM: guestRAM)
        pipeline.replan(format: format, window: plan.window, streams: plan.streams, linkBitsPerSecond: plan.linkBitsPerSecond)
        Timeline.mark("link rate measured on the transfer: \(Units.format(rate / 1e6, 1)) Mbit/s\(atLeast ? " or more" : ""), loss \(Units.format(loss, 4)); stream format \(format), \(plan.streams) streams, window \(plan.window)")
    }
}
