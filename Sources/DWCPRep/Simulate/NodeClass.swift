/// The behaviours `dwcp-rep simulate` gives nodes: the ground truth `eval` scores against.
public enum NodeClass: String, CaseIterable, Sendable {
    case honest
    /// Honest, with heavy-tailed delays (Pareto, median ~200 ms, ~1 % beyond the timeout).
    case slow
    /// Honest, cut off for a stretch of the run (its messages in that stretch never arrive).
    case partitioned
    /// Every 10th slot, signs one content for half its observers and another for the rest.
    case equivocator
    /// Each round, sends a message claiming an honest sender's id, with a made-up signature.
    case forger
    /// Each round, re-sends an honest node's message from at least 5 rounds before.
    case replayer
    /// Each round, relays an honest node's message with its payload digest changed.
    case tamperer
    /// Stamps its messages 2–5 s in the future (to look fast).
    case skewer
    /// Late beyond the timeout on every 2nd, 3rd or 5th message, honest otherwise.
    case onOff2 = "on-off-2"
    case onOff3 = "on-off-3"
    case onOff5 = "on-off-5"
    /// Identities one operator made up: valid signatures, no admission.
    case sybil

    public var isHonest: Bool { self == .honest || self == .slow || self == .partitioned }

    static let byzantine: [NodeClass] = [.equivocator, .forger, .replayer, .tamperer, .skewer, .onOff2, .onOff3, .onOff5, .sybil]
}
