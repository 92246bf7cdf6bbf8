/// The gear rolling hash of content-defined chunking (as in FastCDC): `h = (h << 1) + G[byte]`.
///
/// Each step shifts older bytes one bit further out, so after 64 bytes the value depends only on
/// the last 64 bytes: a rolling hash over a 64-byte window that costs a shift, an add and a load
/// per byte, with no byte to subtract. Values from the first 63 bytes of a scan depend on where
/// the scan started and are not used.
public enum GearHash {
    public static let window = 64

    /// 256 fixed pseudo-random words (splitmix64 from a constant seed): encoder and index must agree.
    public static let table: [UInt64] = {
        var state: UInt64 = 0x4457_4350_0000_0001
        return (0..<256).map { _ in
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }()

    /// The hash of 64 zero bytes: zero runs are everywhere and locate nothing.
    public static let zeroWindow: UInt64 = {
        var h: UInt64 = 0
        for _ in 0..<window { h = (h << 1) &+ table[0] }
        return h
    }()

    /// Spreads a hash over table slots.
    @inlinable @inline(__always)
    public static func mix(_ h: UInt64) -> UInt64 {
        let x = (h ^ (h >> 31)) &* 0xD6E8_FEB8_6659_FD93
        return x ^ (x >> 32)
    }
}
