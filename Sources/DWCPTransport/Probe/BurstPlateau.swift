/// Tells when a probe burst's delivery rate has stopped growing: slow start doubles what TCP
/// delivers every round trip until the path is full, then the rate holds. Sampled a round trip
/// apart, two round trips in a row within a quarter of the one before (neither growing as slow
/// start does nor falling, as after a loss) mean the path is full (BBR leaves its startup on a
/// like rule: three rounds without 25 % growth). The rate over those two round trips is then the
/// path's.
public struct BurstPlateau {
    /// (time, bytes delivered) about a round trip apart, the first at the burst's start.
    public private(set) var samples: [(time: Double, delivered: UInt64)] = []

    /// Change per round trip within which the rate counts as level.
    public static let growth = 1.25

    public init() {}

    /// Takes a delivery count; records it (and returns true) when a round trip has passed since
    /// the last recorded one.
    public mutating func record(time: Double, delivered: UInt64, roundTrip: Double) -> Bool {
        if let last = samples.last, time - last.time < roundTrip || delivered < last.delivered { return false }
        samples.append((time, delivered))
        return true
    }

    /// The sample the plateau's last two round trips start from, once the rate has levelled.
    public var start: (time: Double, delivered: UInt64)? {
        let n = samples.count
        guard n >= 4 else { return nil }
        func rate(_ i: Int) -> Double {
            Double(samples[i].delivered - samples[i - 1].delivered) / (samples[i].time - samples[i - 1].time)
        }
        let (a, b, c) = (rate(n - 3), rate(n - 2), rate(n - 1))
        func level(_ x: Double, _ y: Double) -> Bool { y < Self.growth * x && x < Self.growth * y }
        guard a > 0, level(a, b), level(b, c) else { return nil }
        return samples[n - 3]
    }
}
