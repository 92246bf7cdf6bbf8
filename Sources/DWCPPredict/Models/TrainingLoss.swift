/// What the GRU's training minimises for each output, as a function of its error
/// e = forecast − target in log space (both are log(rate ÷ last bin)).
///
/// `squared` (½e²) fits the conditional mean of the log rate. On bumpy links the outcome's
/// distribution is a spike near "no change" with long tails (drops towards zero, bursts), and
/// the mean is pulled into the tails, where few outcomes land. w20, the score the issue judges,
/// counts a forecast as a hit when f ÷ actual is within ±20 %, that is when e ∈ [ln 0.8, ln 1.2];
/// it rewards the densest ±20 % window, not the mean.
///
/// `hit` is a smooth version of that window: σ²·(1 − exp(−(e − c)² ÷ 2σ²)), with c the window's
/// centre in log space and σ = 0.15 (the window's half-width is 0.20). Near the centre its
/// gradient is e − c, the same scale as `squared`'s; outcomes far outside the window pull on the
/// forecast less the further away they are, so the fit seeks the mode instead of the mean.
/// That also means a forecast far from every outcome gets almost no pull at all, so `GRUTrainer`
/// starts with a wide σ and narrows it (`width(epoch:of:)`).
public enum TrainingLoss: String, CaseIterable, Sendable {
    case squared
    case hit

    /// The centre of the ±20 % window in log space: (ln 0.8 + ln 1.2) ÷ 2.
    static let hitCentre = (ln(0.8) + ln(1.2)) / 2
    /// σ once training has narrowed it, and the σ it starts from (log units: a factor of e).
    static let hitWidth = 0.15
    static let startingWidth = 1.0

    /// How many epochs narrow σ: 3, or half of them when there are fewer than 6.
    static func narrowingEpochs(of epochs: Int) -> Int { min(3, max(1, (epochs + 1) / 2)) }

    /// σ for `epoch` (from 1) of `epochs`: from `startingWidth` down to `hitWidth` geometrically
    /// over the narrowing epochs, then `hitWidth`.
    static func width(epoch: Int, of epochs: Int) -> Double {
        let narrowing = narrowingEpochs(of: epochs)
        guard epoch < narrowing else { return hitWidth }
        return startingWidth * pow(hitWidth / startingWidth, Double(epoch - 1) / Double(narrowing - 1))
    }

    /// The loss and its derivative with respect to the forecast, for error `e` (`width`: σ of `hit`).
    @inline(__always)
    func evaluate(_ e: Double, width: Double = hitWidth) -> (loss: Double, slope: Double) {
        switch self {
        case .squared:
            return (0.5 * e * e, e)
        case .hit:
            let s2 = width * width
            let d = e - Self.hitCentre
            let g = expo(-d * d / (2 * s2))
            return (s2 * (1 - g), d * g)
        }
    }
}
