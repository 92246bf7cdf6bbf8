/// What a link looks like, in two numbers: its level (mean log rate) and its volatility (mean
/// absolute change of log rate from one bin to the next).
///
/// Why it exists: models trained on one kind of link (3G, 5G, broadband…) forecast that kind
/// best. `train` stores the profile of its training traces in the model file, and `ClassRouter`
/// answers with the model whose profile is nearest to the live series'.
public struct LinkProfile: Equatable, Sendable {
    public private(set) var level = 0.0
    public private(set) var volatility = 0.0
    /// Bins seen, and changes seen (pairs of consecutive bins).
    public private(set) var count = 0
    private var changes = 0
    private var last: Double?

    public init() {}

    public init(level: Double, volatility: Double, count: Int = 1) {
        self.level = level
        self.volatility = volatility
        self.count = count
        changes = count
    }

    /// Feeds the next bin (bit/s, > 0); `nil` marks a hole (the next change is not counted).
    public mutating func observe(_ bps: Double?) {
        guard let bps, bps > 0 else { last = nil; return }
        let y = ln(bps)
        count += 1
        level += (y - level) / Double(count)
        if let l = last {
            changes += 1
            volatility += (abs(y - l) - volatility) / Double(changes)
        }
        last = y
    }

    /// Distance to another profile, each feature divided by its scale.
    public func distance(to other: LinkProfile, levelScale: Double, volatilityScale: Double) -> Double {
        abs(level - other.level) / max(levelScale, 1e-9) + abs(volatility - other.volatility) / max(volatilityScale, 1e-9)
    }
}
