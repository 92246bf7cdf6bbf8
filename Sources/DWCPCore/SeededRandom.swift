/// splitmix64: the toolkit's seeded generator (weights, shuffles, simulations), so every
/// command that takes `--seed` is deterministic for it.
public struct SplitMix {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    public mutating func nextUnit() -> Double { Double(next() >> 11) / Double(1 << 53) }
    /// A uniform value in `a..<b`.
    public mutating func uniform(_ a: Double, _ b: Double) -> Double { a + (b - a) * nextUnit() }
    /// A uniform integer in `0..<n` (n > 0).
    public mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}
