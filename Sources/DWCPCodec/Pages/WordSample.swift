/// Samples 8-byte words by their content: about one word in 32, never a zero word.
///
/// Both copies of a repeated word are sampled wherever they lie, which is what makes the
/// sample useful for finding repeats without looking at every word: `AnchorHash` places the
/// baseline's anchors with it, `MatchReach` the words whose last occurrence it looks up.
public enum WordSample {
    /// log2 of the sampling interval: one word in 2^`bits` is sampled.
    public static let bits: UInt64 = 5

    /// The word's hash; its top `bits` bits are zero for a sampled word.
    @inline(__always)
    public static func hash(_ w: UInt64) -> UInt64 { w &* 0x9E37_79B9_7F4A_7C15 }

    /// Whether `w` is sampled.
    @inline(__always)
    public static func selects(_ w: UInt64) -> Bool { hash(w) >> (64 - bits) == 0 && w != 0 }
}
