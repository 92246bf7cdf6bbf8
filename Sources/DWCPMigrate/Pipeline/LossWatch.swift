/// The share of a transfer's segments its connections retransmit once slow start's own drops
/// are repaired: counted from 0.2 s and four round trips after the rate was measured (the
/// plateau is where slow start overshoots the bottleneck's queue, and its drops are resent a
/// round trip or two later), over a second or 20 round trips, whichever is longer, in two
/// halves: the lesser half's share is the path's. A path that drops at random drops in both; the
/// tail of an overshoot's repair, or one burst of drops, lands in one.
///
/// Why: counted from the transfer's start, a path that drops nothing read 10-11 % "loss" (a
/// 100 Mbit/s path with 50 ms round trips, and 1 Gbit/s with six connections), which doubled
/// the connections as for real loss; counted over one second from 0.4 s after the plateau, such
/// a path still read 3.7 % in one trial of nine.
struct LossWatch {
    private let from: Double
    private let middle: Double
    private let until: Double
    private var counts: [(retransmitted: UInt64, segments: UInt64)] = []

    /// `measuredAt`: when the rate was measured; `roundTrip`: the path's median round trip.
    init(from measuredAt: Double, roundTrip: Double) {
        from = measuredAt + 0.2 + 4 * roundTrip
        let span = max(1, 20 * roundTrip)
        middle = from + span / 2
        until = from + span
    }

    /// Takes the connections' counts now; returns the loss once `until` has passed (0 if the
    /// counts went back: a connection was replaced).
    mutating func record(time: Double, retransmitted: UInt64, segments: UInt64) -> Double? {
        let due = [from, middle, until]
        guard counts.count < due.count, time >= due[counts.count] else { return nil }
        counts.append((retransmitted, segments))
        guard counts.count == due.count else { return nil }
        func share(_ a: Int, _ b: Int) -> Double {
            let (x, y) = (counts[a], counts[b])
            guard y.segments > x.segments, y.retransmitted >= x.retransmitted else { return 0 }
            return min(1, Double(y.retransmitted - x.retransmitted) / Double(y.segments - x.segments))
        }
        return min(share(0, 1), share(1, 2))
    }
}
