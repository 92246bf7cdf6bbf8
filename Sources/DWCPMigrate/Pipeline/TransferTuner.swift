import DWCPCLI
import DWCPCore
import DWCPSystem
import DWCPTransport

/// What a migration re-tunes on its transfer while it runs, polled from `dwcp-migrate qemu`'s
/// status loop or beside `dwcp-migrate file`'s round 0: a plan made before the link's rate was
/// known is completed once `TransferRateMeter` has measured it on the transfer's own round
/// trips (and applied to the pipeline; a rate that is only a floor is measured again, up to
/// `mostMeasurements` times, on the wider window and the connections the floor gave), then
/// completed again with the path's loss once slow start's own drops are behind (`LossWatch`),
/// and on a long path that drops nothing the connections leave bbr for cubic
/// (`CleanPathSwitch`).
///
/// Why measure a floor again: on a 1 Gbit/s path with 50 ms round trips the first 12 round
/// trips of two connections still open their windows, and a plan sized for the floor they
/// showed (a window of a quarter of the downtime budget at 470-680 Mbit/s) held the migration
/// under it.
final class TransferTuner {
    /// The plan now: the one given, or the measured one once applied.
    private(set) var plan: MigrationPlan
    /// The plan made before the rate was known, which every measured one completes.
    private let planBeforeRate: MigrationPlan
    /// The path's median round trip, as the probe timed it (a measured rate keeps it).
    private let roundTrip: Double
    /// The highest rate a measurement found the path to carry at least (bit/s).
    private var floor = 0.0
    /// The plan's rate is such a floor (the last measurement found no more).
    private var rateIsFloor = false
    private var measurements = 0
    /// How many times a migration measures its rate while each finds only a floor.
    static let mostMeasurements = 3
    /// A VM stream's guest RAM (its zstd stream's window follows it); nil for an image's DWCP
    /// frames.
    private let guestRAM: UInt64?
    /// Bytes of the reference files a VM stream is compressed against (its window covers them).
    private let referenceBytes: UInt64
    private var meter: TransferRateMeter?
    /// When the measurement under way began, the wire bytes acknowledged then, and the
    /// transport's reconnections then.
    private var measuringSince: (time: Double, wireBytes: UInt64, reconnects: Int)?
    private var lossWatch: LossWatch?
    private var pathSwitch: CleanPathSwitch?
    private var transferSeen = false
    private let watchesForACleanPath: Bool

    /// `cubicOnCleanLongPaths` (`--cc auto`) takes effect on a compressed stream over a path of
    /// `MigrationPlan.rateOnTransferFromRoundTrip` and more, where the kernel has cubic.
    init(plan: MigrationPlan, guestRAM: UInt64?, referenceBytes: UInt64 = 0, cubicOnCleanLongPaths: Bool) {
        self.plan = plan
        planBeforeRate = plan
        roundTrip = plan.measurement?.rttMedian ?? 0
        self.guestRAM = guestRAM
        self.referenceBytes = referenceBytes
        meter = plan.ratePending ? TransferRateMeter(roundTrip: roundTrip) : nil
        watchesForACleanPath = cubicOnCleanLongPaths && Self.format(plan, guestRAM: guestRAM, referenceBytes: referenceBytes) != .raw
            && roundTrip >= MigrationPlan.rateOnTransferFromRoundTrip
            && CongestionControl.ifAvailable("cubic") != nil
    }

    /// Takes the transfer's figures now (`wireBytes`: acknowledged so far); returns the plan
    /// when it has just been measured (its rate, or then its loss) and applied to `pipeline`'s
    /// stream and transport.
    func poll(_ pipeline: SendPipeline, wireBytes: UInt64) -> MigrationPlan? {
        guard let transport = pipeline.transport else { return nil }
        let now = MonotonicClock.now()
        let counters = transport.pathCounters
        if !transferSeen {
            transferSeen = true
            // A plan from the probe's burst: slow start is over about when a burst's would be.
            if meter == nil { watchForACleanPath(from: now + TransferRateMeter(roundTrip: roundTrip).longest) }
        }
        var measured: MigrationPlan?
        // Measured from the stream's first acknowledged bytes: the connections open during
        // QEMU's setup (0.4-0.6 s here), and what their handshakes delivered would start the
        // meter's 12 round trips before the stream's slow start.
        if var m = meter, wireBytes > 0 {
            let reconnects = counters?.reconnects ?? 0
            if let since = measuringSince, reconnects != since.reconnects {
                // A connection was cut and dialled again while measuring: what the meter saw was
                // the wait and the new connection's slow start (a path that cut connections every
                // few tenths of a second once measured 0.4 Mbit/s of its 100). Start again; the
                // plan made before the rate stays in force meanwhile.
                m = TransferRateMeter(roundTrip: roundTrip)
                measuringSince = nil
                Timeline.mark("a connection was lost while the rate was measured: measuring again")
            }
            let since = measuringSince ?? (now, wireBytes, reconnects)
            measuringSince = since
            var verdict = counters.flatMap { m.record(time: now, delivered: $0.delivered, backlogged: $0.backlogged) }
            if verdict == nil && now - since.time > m.longest + 2 {
                // No TCP figures to measure on (RDMA), or no plateau: the rate the stream has
                // gone at, as a floor.
                verdict = .atLeast(Double(wireBytes - min(wireBytes, since.wireBytes)) * 8 / (now - since.time))
            }
            meter = m
            if let verdict {
                apply(verdict, to: pipeline)
                measured = plan
                meter = nil
                measuringSince = nil
                if measurements == 1 { watchForACleanPath(from: now) }
                if case .atLeast = verdict, counters != nil, measurements < Self.mostMeasurements {
                    meter = TransferRateMeter(roundTrip: roundTrip)
                } else if counters != nil {
                    lossWatch = LossWatch(from: now, roundTrip: roundTrip)
                }
            }
        }
        if var watch = lossWatch, let counters {
            let loss = watch.record(time: now, retransmitted: counters.retransmittedSegments, segments: counters.segmentsOut)
            lossWatch = loss == nil ? watch : nil
            if let loss {
                applyLoss(loss, to: transport)
                measured = plan
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

    /// Whether the plan may still change: the rate or, after it, the loss is being measured.
    var settling: Bool { meter != nil || lossWatch != nil }

    private static func format(_ plan: MigrationPlan, guestRAM: UInt64?, referenceBytes: UInt64) -> SendPipeline.StreamFormat {
        guestRAM.map { plan.vmStreamFormat(guestRAM: $0, referenceBytes: referenceBytes) } ?? .frames
    }

    private func watchForACleanPath(from time: Double) {
        if watchesForACleanPath { pathSwitch = CleanPathSwitch(start: time) }
    }

    /// Completes the plan with the measured rate (never below a floor measured before; its
    /// loss still unknown: what slow start dropped while it was measured is no path's loss) and
    /// applies it: the stream's next frame if its settings changed (or the adaptive codec's next
    /// choices), the window, the connections (never fewer).
    private func apply(_ verdict: TransferRateMeter.Verdict, to pipeline: SendPipeline) {
        var (rate, atLeast): (Double, Bool) = switch verdict {
        case .rate(let r): (r, false)
        case .atLeast(let r): (r, true)
        }
        measurements += 1
        rate = max(rate, floor)
        if atLeast { floor = rate }
        rateIsFloor = atLeast
        plan = completed(rate: rate, loss: 0)
        let format = Self.format(plan, guestRAM: guestRAM, referenceBytes: referenceBytes)
        pipeline.replan(format: format, window: plan.window, streams: plan.streams, linkBitsPerSecond: plan.linkBitsPerSecond)
        Timeline.mark("link rate measured on the transfer: \(Units.format(rate / 1e6, 1)) Mbit/s\(atLeast ? " or more" : ""); stream format \(format), \(plan.streams) streams, window \(plan.window)")
    }

    /// Completes the plan with the path's loss (`LossWatch`) and opens the connections that
    /// adds (a long path that drops packets gets more: `MigrationPlan`'s stream rule).
    private func applyLoss(_ loss: Double, to transport: TransportSender) {
        let before = plan.streams
        plan = completed(rate: plan.linkBitsPerSecond, loss: loss)
        Timeline.mark("loss after slow start: \(Units.format(loss, 4)); \(plan.streams) streams")
        if plan.streams > before { transport.adjust(window: plan.window, streams: plan.streams) }
    }

    /// The plan made before the rate, completed with `rate` (a floor if `rateIsFloor`) and
    /// `loss`, keeping every connection already open.
    private func completed(rate: Double, loss: Double) -> MigrationPlan {
        var next = planBeforeRate.withMeasuredRate(rate, loss: loss, atLeast: rateIsFloor)
        next.streams = max(next.streams, plan.streams)
        return next
    }
}
