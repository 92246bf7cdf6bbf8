/// When a compressed VM stream should switch over: the source VM stops once everything still
/// to cross the link, what sits in our pipeline plus what QEMU has left to send, fits the
/// downtime budget at the rate the link has been draining.
///
/// QEMU's own rule stops the VM when its remaining bytes fit its downtime limit at the rate it
/// measured, and the rate it measures is how fast it writes into our socket. For a raw stream
/// that is the link's rate. For a compressed one it is the link's rate divided by how well the
/// last 100 ms compressed, which swings tenfold between near-empty pages and random ones: on the
/// test guest at 100 Mbit QEMU stopped with 15.5 MB left after a burst of well-compressing pages
/// and the VM was down for 660 ms against a 300 ms budget. So for compressed streams QEMU is
/// given no say (a downtime limit of 1 ms) and this rule decides; the switchover is then a
/// raised limit that QEMU acts on at its next check.
///
/// A pure value: `record` the pipeline's counters as they come, ask `fits`.
public struct SwitchoverRule: Sendable {
    /// The pipeline's counters at one moment, all cumulative bytes.
    public struct Sample: Sendable {
        public var time: Double
        /// What QEMU has written into the pipeline (its `transferred`).
        public var transferred: UInt64
        /// What the encoder has taken in and put out.
        public var encoderIn: UInt64
        public var encoderOut: UInt64
        /// What the destination has acknowledged.
        public var acknowledged: UInt64

        public init(time: Double, transferred: UInt64, encoderIn: UInt64, encoderOut: UInt64, acknowledged: UInt64) {
            self.time = time
            self.transferred = transferred
            self.encoderIn = encoderIn
            self.encoderOut = encoderOut
            self.acknowledged = acknowledged
        }
    }

    /// The downtime budget, seconds.
    public let budget: Double
    /// Wire bytes per second assumed until enough has been measured (the probe's figure).
    public let assumedRate: Double
    /// How far back the link's rate is measured, seconds.
    public var rateSpan = 2.0
    /// How far back the compression ratio is measured, seconds: the pages re-sent lately are
    /// the ones the last pass will carry.
    public var ratioSpan = 1.0
    /// How long QEMU takes to act on a raised limit (it recomputes its threshold every 100 ms);
    /// the guest keeps dirtying meanwhile.
    public var reactionSeconds = 0.1
    /// From the last byte's arrival to the destination reporting its VM running, seconds.
    public var settleSeconds = 0.04
    /// How long the last byte travels: half the path's round trip, seconds.
    public var propagationSeconds = 0.0

    private var samples: [Sample] = []

    public init(budget: Double, assumedRate: Double) {
        self.budget = budget
        self.assumedRate = assumedRate
    }

    public mutating func record(_ sample: Sample) {
        if let last = samples.last, sample.time <= last.time { return }
        samples.append(sample)
        // Keep one sample older than the span, so the span is always covered.
        while samples.count > 2 && sample.time - samples[1].time >= rateSpan { samples.removeFirst() }
    }

    /// Encoded bytes per stream byte, for the pages the last pass will carry: the higher of
    /// the ratio over the last `ratioSpan` and over the whole stream (1 before a mebibyte has
    /// passed). The last pass carries the pages the guest dirties hottest, and on the test
    /// guest they compressed worse than the re-sent pages before them: 0.36 against 0.21 over
    /// the last second (the whole stream: 0.42).
    public var wireRatio: Double {
        guard let last = samples.last, last.encoderIn >= 1 << 20 else { return 1 }
        var ratio = Double(last.encoderOut) / Double(last.encoderIn)
        // From the newest sample at least `ratioSpan` old (or the oldest kept).
        let from = samples.last { last.time - $0.time >= ratioSpan } ?? samples[0]
        if last.encoderIn - from.encoderIn >= 1 << 20 {
            ratio = max(ratio, Double(last.encoderOut &- from.encoderOut) / Double(last.encoderIn - from.encoderIn))
        }
        return min(max(ratio, 0.001), 1.1)
    }

    /// Acknowledged bytes per second over `rateSpan`; `assumedRate` until half a second of it.
    public var wireRate: Double {
        guard let first = samples.first, let last = samples.last, last.time - first.time >= 0.5,
              last.acknowledged > first.acknowledged else { return assumedRate }
        return Double(last.acknowledged - first.acknowledged) / (last.time - first.time)
    }

    /// Wire bytes in the pipeline now: encoded and not yet acknowledged, plus what QEMU wrote
    /// and the encoder has not taken in yet (at the current ratio).
    public var backlog: Double {
        guard let last = samples.last else { return 0 }
        let encoded = Double(last.encoderOut &- min(last.acknowledged, last.encoderOut))
        let unread = Double(last.transferred &- min(last.encoderIn, last.transferred))
        return encoded + unread * wireRatio
    }

    /// The downtime if QEMU were told to stop the VM now: the backlog, plus QEMU's remaining
    /// bytes and what the guest dirties until QEMU's last bitmap sync (since the previous sync,
    /// and while QEMU reacts), compressed at `wireRatio`; at the recent rate; plus the last
    /// byte's travel and the destination's settling.
    public func expectedDowntime(remaining: UInt64, dirtyBytesPerSecond: Double, sinceSync: Double) -> Double {
        let pending = Double(remaining) + max(0, dirtyBytesPerSecond) * (max(0, sinceSync) + reactionSeconds)
        return (backlog + pending * wireRatio) / max(wireRate, 1) + propagationSeconds + settleSeconds
    }

    /// Whether to switch over now.
    public func fits(remaining: UInt64, dirtyBytesPerSecond: Double, sinceSync: Double) -> Bool {
        expectedDowntime(remaining: remaining, dirtyBytesPerSecond: dirtyBytesPerSecond, sinceSync: sinceSync) <= budget
    }
}
