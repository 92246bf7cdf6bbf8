/// Decides after each pre-copy round whether to copy again, switch over, or give up.
///
/// A pure state machine (no clocks, no I/O): the image migration feeds it what each round
/// measured, so simulation tests can drive it through any dirty-rate and bandwidth schedule.
///
/// The model: a round costs a fixed part (reading the whole image and matching it against the
/// baseline, the smallest transfer time of the delta rounds) or its changed bytes over the
/// link, whichever is longer, since the two overlap. The changed bytes of the next round are what
/// the writers dirty while this round runs, so they scale with this round's duration:
/// `next ≈ dirtyRate × seconds`. The final round is worth doing when its predicted duration (the
/// downtime: the source is frozen for it) fits the budget. When the dirtied amount stops
/// shrinking, the link can never catch up: give up rather than copy forever. With random
/// writes what a round finds changed wanders a few percent either way at that plateau, so
/// shrinking is judged over `patience` rounds against the rounds before them, not round by
/// round (where each small dip reset the count: 30 rounds at 8 MiB/s of writes on 100 Mbit).
public struct PrecopyPlanner: Sendable {
    /// What one round measured.
    public struct Round: Sendable, Equatable {
        /// Bytes of the image that had to be sent as data (not copies of the baseline, zero or
        /// duplicate pages): changed since the previous round (everything, in round 0).
        public var dirtyBytes: UInt64
        /// Encoded bytes that crossed the link.
        public var wireBytes: UInt64
        /// Seconds the round spent after its transfer (the source bringing its snapshot of what
        /// was sent up to date); the final round has none.
        public var snapshotSeconds: Double
        /// Seconds to read, encode and send the image, until the destination had applied it.
        /// Reading the whole image is in every round's, so their smallest is the fixed part.
        public var sendSeconds: Double
        /// Seconds of `sendSeconds` before the round's first connection was open (on a long
        /// path, its opening's three round trips), which a final round that connects before it
        /// freezes the source spends outside the downtime (`finalRoundConnectsFirst`).
        public var connectSeconds: Double
        /// Connections that were cut and dialled again during the round. Such a round ran
        /// longer than the path makes it, so the next one finds more changed: no measure of
        /// whether the copy converges (`stalled` leaves it out).
        public var reconnects: Int

        public init(dirtyBytes: UInt64, wireBytes: UInt64, snapshotSeconds: Double, sendSeconds: Double, connectSeconds: Double = 0,
                    reconnects: Int = 0) {
            self.dirtyBytes = dirtyBytes
            self.wireBytes = wireBytes
            self.snapshotSeconds = snapshotSeconds
            self.sendSeconds = sendSeconds
            self.connectSeconds = connectSeconds
            self.reconnects = reconnects
        }

        public var seconds: Double { snapshotSeconds + sendSeconds }
    }

    /// What the planner answers after each round: the only thing `ImageSource` acts on.
    public enum Decision: Sendable, Equatable {
        /// Run another pre-copy round while the source keeps running.
        case another
        /// Freeze the source and run the final round; predicted downtime in seconds.
        case switchover(predictedDowntime: Double)
        /// The copy cannot converge within the budget: stop, discard the destination.
        case giveUp(reason: String)
    }

    /// Downtime budget in seconds.
    public var maxDowntime: Double
    /// Most pre-copy rounds before giving up.
    public var maxRounds: Int
    /// Rounds without the dirty amount shrinking before giving up: the least of the last
    /// `patience` delta rounds must be `minimumShrink` below the least of the delta rounds
    /// before them.
    public var patience: Int
    /// What counts as shrinking over `patience` rounds: a tenth. A copy that shrinks by a
    /// twentieth a round (a tenth in two) converges, if slowly; noise at a plateau rarely
    /// reaches a tenth below every round before it.
    public var minimumShrink = 0.1
    /// Forecast of the link's bytes/s, if one is known (dwcp-predict); else measured rounds only.
    public var forecastBytesPerSecond: Double?
    /// The final round opens its connections before the source is frozen, so its downtime is
    /// a round's time less its `connectSeconds`.
    public var finalRoundConnectsFirst = false

    public private(set) var rounds: [Round] = []

    public init(maxDowntime: Double, maxRounds: Int = 30, patience: Int = 3, forecastBytesPerSecond: Double? = nil) {
        self.maxDowntime = maxDowntime
        self.maxRounds = maxRounds
        self.patience = patience
        self.forecastBytesPerSecond = forecastBytesPerSecond
    }

    /// Wire bytes per second the rounds achieved (the smaller of measured and forecast, when
    /// both exist: a forecast of a slowdown is taken seriously, an optimistic one is not).
    public var wireRate: Double? {
        let measured = rounds.filter { $0.wireBytes >= 64 << 10 && $0.sendSeconds > 0 }
        var rate: Double? = nil
        if !measured.isEmpty {
            rate = Double(measured.map(\.wireBytes).reduce(0, +)) / measured.map(\.sendSeconds).reduce(0, +)
        }
        if let f = forecastBytesPerSecond, f > 0 { rate = min(rate ?? f, f) }
        return rate
    }

    /// Bytes per second the writers dirty: what the last recorded round found changed, over the
    /// length of the round before it (while which it was dirtied). Nil until a delta round is
    /// recorded: after the first full copy nothing is known about the change rate yet.
    public var dirtyBytesPerSecond: Double? {
        guard rounds.count >= 2 else { return nil }
        return Double(rounds[rounds.count - 1].dirtyBytes) / max(rounds[rounds.count - 2].seconds, 1e-3)
    }

    /// What of a round like `round` the source would be frozen for, were it the final one.
    private func frozenSeconds(_ round: Round) -> Double {
        finalRoundConnectsFirst ? max(0, round.sendSeconds - round.connectSeconds) : round.sendSeconds
    }

    /// Predicted downtime of a final round run right after the last recorded one.
    public var predictedFinalSeconds: Double? {
        guard let last = rounds.last, let dirtyRate = dirtyBytesPerSecond else { return nil }
        let wirePerDirty = last.dirtyBytes > 0 ? Double(last.wireBytes) / Double(last.dirtyBytes) : 1
        let nextDirty = dirtyRate * last.seconds
        let overhead = rounds.dropFirst().map(frozenSeconds).min() ?? 0
        guard let rate = wireRate, rate > 0 else { return nil }
        return max(nextDirty * wirePerDirty / rate, min(overhead, frozenSeconds(last)))
    }

    /// Whether the last `patience` delta rounds got nowhere: the least any of them found changed
    /// is not `minimumShrink` below the least of the delta rounds before them (round 0, the
    /// whole image, is no measure of the change). Only rounds whose connections all held count,
    /// and those after a round that lost one (it found what the longer round let the writers
    /// dirty): on a 100 Mbit, 50 ms path cutting connections every few tenths of a second, 2 of
    /// 12 migrations gave up as "not converging" where the other 10 converged.
    var stalled: Bool {
        let deltas = rounds.indices.dropFirst().filter { rounds[$0].reconnects == 0 && rounds[$0 - 1].reconnects == 0 }.map { rounds[$0] }
        guard patience > 0, deltas.count > patience else { return false }
        let recent = deltas.suffix(patience).map(\.dirtyBytes).min()!
        let before = deltas.dropLast(patience).map(\.dirtyBytes).min()!
        return Double(recent) > Double(before) * (1 - minimumShrink)
    }

    public mutating func record(_ round: Round) -> Decision {
        rounds.append(round)
        if rounds.count >= 2 && round.dirtyBytes == 0 {
            return .switchover(predictedDowntime: frozenSeconds(round))
        }
        if let predicted = predictedFinalSeconds, predicted <= maxDowntime {
            return .switchover(predictedDowntime: predicted)
        }
        if stalled {
            let rate = wireRate.map { " (link \(Int($0 * 8 / 1e6)) Mbit/s)" } ?? ""
            return .giveUp(reason: "not converging: \(patience) rounds without the dirtied data shrinking by \(Int((minimumShrink * 100).rounded())) %\(rate); the writers dirty data too fast for a final round to fit the budget on this link")
        }
        if rounds.count >= maxRounds {
            let p = predictedFinalSeconds.map { "\(Int($0 * 1000)) ms" } ?? "unknown"
            return .giveUp(reason: "not converged after \(rounds.count) rounds (a final round would still take \(p), budget \(Int(maxDowntime * 1000)) ms)")
        }
        return .another
    }
}
