/// Tells when a long path's connections should leave bbr for cubic, and come back.
///
/// Why: bbr (v1, Linux's) drops every connection's window to 4 segments for 200 ms plus a round
/// trip whenever its minimum RTT has not been seen again for 10 s (PROBE_RTT), which a transfer
/// that keeps the bottleneck's queue from ever emptying forces every 10 s. Connections started
/// together enter it together: a migration over a 100 Mbit/s path with 50 ms round trips left
/// the link almost idle for 0.3 s at ~11 s in, in every trial. A migration's window (a quarter
/// of the downtime budget at the link's rate) already bounds its queue, so on a path that does
/// not drop packets cubic costs nothing there and has no such pause. On a path that drops
/// packets at random cubic's window collapses where bbr's does not, so the connections stay on
/// (or go back to) bbr as soon as any real loss shows.
///
/// Fed the connections' retransmitted and sent segments: after `settleSeconds` (for slow start's
/// own losses to be repaired), `cleanSeconds` without a retransmission say the path is clean;
/// once on cubic, a second with more than `lossLimit` of its segments retransmitted goes back to
/// bbr for good.
public struct CleanPathSwitch {
    /// The congestion control a connection should change to.
    public enum Action: Equatable { case useCubic, useBBR }

    public static let settleSeconds = 0.5
    public static let cleanSeconds = 2.0
    public static let lossLimit = 0.001

    private enum Phase { case watching, cubic, settled }
    private var phase = Phase.watching
    private let start: Double
    private var base: (time: Double, retransmitted: UInt64, segments: UInt64)?

    /// `start`: when the transfer's rate was known (its slow start over).
    public init(start: Double) {
        self.start = start + Self.settleSeconds
    }

    /// Takes the connections' counts now; returns what to switch to, once.
    public mutating func record(time: Double, retransmitted: UInt64, segments: UInt64) -> Action? {
        guard time >= start, phase != .settled else { return nil }
        guard let b = base, retransmitted >= b.retransmitted, segments >= b.segments else {
            // The first count, or fewer than before (a connection was replaced): start over.
            base = (time, retransmitted, segments)
            return nil
        }
        switch phase {
        case .watching:
            if retransmitted > b.retransmitted {
                base = (time, retransmitted, segments)   // not clean: watch again from here
            } else if time - b.time >= Self.cleanSeconds && segments > b.segments {
                phase = .cubic
                base = (time, retransmitted, segments)
                return .useCubic
            }
        case .cubic:
            guard time - b.time >= 1 else { return nil }
            base = (time, retransmitted, segments)
            if segments > b.segments, Double(retransmitted - b.retransmitted) / Double(segments - b.segments) > Self.lossLimit {
                phase = .settled
                return .useBBR
            }
        case .settled:
            break
        }
        return nil
    }
}
