/// A Rabin-Karp polynomial hash over a fixed window (mod 2⁶⁴): the rolling hash that lets the
/// encoder find baseline content at any byte offset of the input, as rsync does, in O(1) per byte.
///
///     h(x₀…x_{W-1}) = Σ T[xᵢ]·B^(W-1-i)        roll: h' = h·B + T[in] − T[out]·B^W
///
/// Bytes go through a table of random words first so that low-entropy data (small integers,
/// text) still spreads over all 64 bits. (A cyclic-shift buzhash was tried first: with windows
/// that are multiples of 64 its rotations vanish and the hash of a page degenerates to the XOR of
/// its 64-byte pieces, so every page made of one repeated pattern hashes alike.) The high bits
/// are the well-mixed ones; users index tables with `h >> k` or after `mix`.
public struct RollingHash: Sendable {
    public static let multiplier: UInt64 = 0x9E37_79B9_7F4A_7C15 | 1

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

    public let window: Int
    /// B^window, the weight the outgoing byte had.
    public let outFactor: UInt64

    public init(window: Int) {
        self.window = window
        var f: UInt64 = 1
        for _ in 0..<window { f = f &* Self.multiplier }
        outFactor = f
    }

    /// Hash of the `window` bytes at `p` from scratch.
    @inlinable
    public func hash(_ p: UnsafeRawPointer, _ table: UnsafePointer<UInt64>) -> UInt64 {
        var h: UInt64 = 0
        let bytes = p.assumingMemoryBound(to: UInt8.self)
        for i in 0..<window {
            h = h &* Self.multiplier &+ table[Int(bytes[i])]
        }
        return h
    }

    /// Slides the window one byte: drops `outByte`, adds `inByte`.
    @inlinable @inline(__always)
    public func roll(_ h: UInt64, out outByte: UInt8, in inByte: UInt8, _ table: UnsafePointer<UInt64>) -> UInt64 {
        h &* Self.multiplier &+ table[Int(inByte)] &- table[Int(outByte)] &* outFactor
    }

    /// Spreads the high bits into a table slot index.
    @inlinable @inline(__always)
    public static func mix(_ h: UInt64) -> UInt64 {
        let x = (h ^ (h >> 31)) &* 0xD6E8_FEB8_6659_FD93
        return x ^ (x >> 32)
    }
}
