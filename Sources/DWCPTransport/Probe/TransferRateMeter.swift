/// Measures a path's rate on a transfer's own first round trips, as the probe's burst does on
/// bytes sent only to be measured: what TCP delivered, sampled about a round trip apart, until
/// the rate levels (`BurstPlateau`, at least 0.1 s in) or `longest` seconds have passed since
/// the first delivery (then over the second half).
///
/// Why: on a long path the probe's burst is most of a second of link carrying nothing (a
/// 100 Mbit/s path with 50 ms round trips: 4.9 MB of filler, then 0.3 s of the transfer's own
/// opening and slow start). A migration that starts at once with settings good for any rate
/// measures the rate on its real bytes and applies the plan then.
///
/// Unlike a burst, a transfer may run out of bytes to send (its encoder is the limit, not the
/// path): only round trips through which every sample found bytes waiting unsent in a socket
/// (`backlogged`) say what the path carries. Any other round trip starts the plateau's search
/// again, and a measurement that mostly had none is reported as `atLeast`: the path takes more
/// than the sender gave it. So is one that ends at `longest` while the rate still grows (slow
/// start has not filled the path yet: the second half's later half delivered at more than
/// `BurstPlateau.growth` times its earlier half's rate). On a 1 Gbit/s path with 50 ms round
/// trips two connections were still opening their windows at 12 round trips, and the average
/// then (308 Mbit/s in one trial) planned the link as a slow one.
public struct TransferRateMeter {
    /// The measurement: the path's rate, or a lower bound when the sender was the limit.
    public enum Verdict: Equatable {
        /// The path's rate, bits per second.
        case rate(Double)
        /// The sender was the limit for most of the measurement: the path takes at least this.
        case atLeast(Double)
    }

    public let roundTrip: Double
    /// Seconds after the first delivery when the measurement ends without a plateau.
    public let longest: Double

    private var plateau = BurstPlateau()
    private var first: (time: Double, delivered: UInt64)?
    private var measuredFrom: (time: Double, delivered: UInt64)?
    private var measuredMiddle: (time: Double, delivered: UInt64)?   // three quarters of `longest` in
    private var recorded = 0       // round-trip samples since `measuredFrom`
    private var backlogged = 0     // of those, with bytes waiting unsent at every sample since the one before
    private var ranDry = false     // a sample since the last round-trip one had nothing waiting

    /// `roundTrip`: the path's (median) round trip. The measurement lasts up to 12 of them,
    /// 0.1 to 1 s, as the probe's burst does.
    public init(roundTrip: Double) {
        self.roundTrip = roundTrip
        longest = min(1, max(0.1, 12 * roundTrip))
    }

    /// Takes one sample (called often; only samples a round trip apart count); returns the
    /// verdict once there is one.
    public mutating func record(time: Double, delivered: UInt64, backlogged hadBacklog: Bool) -> Verdict? {
        if first == nil {
            guard delivered > 0 else { return nil }
            first = (time, delivered)
        }
        let elapsed = time - first!.time
        if measuredFrom == nil && elapsed >= longest / 2 { measuredFrom = (time, delivered) }
        if measuredMiddle == nil && elapsed >= longest * 3 / 4 { measuredMiddle = (time, delivered) }
        if elapsed >= longest, let from = measuredFrom, time - from.time >= 0.02, delivered > from.delivered {
            let rate = Double(delivered - from.delivered) * 8 / (time - from.time)
            return 2 * backlogged >= recorded && !stillGrowing(from: from, now: (time, delivered)) ? .rate(rate) : .atLeast(rate)
        }
        ranDry = ranDry || !hadBacklog
        if let last = plateau.samples.last, time - last.time < roundTrip { return nil }
        let wasBacklogged = !ranDry
        ranDry = false
        if measuredFrom != nil {
            recorded += 1
            if wasBacklogged { backlogged += 1 }
        }
        guard wasBacklogged else {
            // What the sender gave, not what the path takes: look for the level again.
            plateau = BurstPlateau()
            _ = plateau.record(time: time, delivered: delivered, roundTrip: roundTrip)
            return nil
        }
        guard plateau.record(time: time, delivered: delivered, roundTrip: roundTrip), elapsed >= 0.1,
              let start = plateau.start, time > start.time else { return nil }
        return .rate(Double(delivered - start.delivered) * 8 / (time - start.time))
    }

    /// Whether the measured half's later half delivered at more than `BurstPlateau.growth`
    /// times the rate of its earlier half.
    private func stillGrowing(from: (time: Double, delivered: UInt64), now: (time: Double, delivered: UInt64)) -> Bool {
        guard let middle = measuredMiddle, middle.time > from.time, now.time > middle.time,
              middle.delivered >= from.delivered, now.delivered >= middle.delivered else { return false }
        let early = Double(middle.delivered - from.delivered) / (middle.time - from.time)
        let late = Double(now.delivered - middle.delivered) / (now.time - middle.time)
        return late > BurstPlateau.growth * early
    }
}
