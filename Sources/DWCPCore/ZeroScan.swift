/// Finds all-zero memory quickly: free pages of a VM and unused heap are zero, and sending them
/// as a two-byte op instead of compressing them is the cheapest win in memory migration.
public enum ZeroScan {
    /// True when `count` bytes at `p` are all zero. Reads 64 bytes per step and stops at the
    /// first non-zero word, so non-zero pages (the common case in dense images) cost a few loads.
    @inlinable
    public static func isZero(_ p: UnsafeRawPointer, _ count: Int) -> Bool {
        var i = 0
        // Early exit on the first word: most non-zero pages fail here.
        if count >= 8 && p.loadUnaligned(as: UInt64.self) != 0 { return false }
        while i + 64 <= count {
            let a = p.loadUnaligned(fromByteOffset: i, as: UInt64.self) | p.loadUnaligned(fromByteOffset: i + 8, as: UInt64.self)
            let b = p.loadUnaligned(fromByteOffset: i + 16, as: UInt64.self) | p.loadUnaligned(fromByteOffset: i + 24, as: UInt64.self)
            let c = p.loadUnaligned(fromByteOffset: i + 32, as: UInt64.self) | p.loadUnaligned(fromByteOffset: i + 40, as: UInt64.self)
            let d = p.loadUnaligned(fromByteOffset: i + 48, as: UInt64.self) | p.loadUnaligned(fromByteOffset: i + 56, as: UInt64.self)
            if (a | b | c | d) != 0 { return false }
            i += 64
        }
        while i < count {
            if p.load(fromByteOffset: i, as: UInt8.self) != 0 { return false }
            i += 1
        }
        return true
    }

    /// Number of zero bytes among `count` at `p` (used to judge whether an XOR delta is sparse).
    @inlinable
    public static func zeroByteCount(_ p: UnsafeRawPointer, _ count: Int) -> Int {
        var zeros = 0
        var i = 0
        while i + 8 <= count {
            let w = p.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            // A byte is zero iff its high bit is clear after the classic "has zero byte" trick per byte.
            let t = ((w & 0x7f7f7f7f7f7f7f7f) &+ 0x7f7f7f7f7f7f7f7f) | w
            zeros += (~t & 0x8080808080808080).nonzeroBitCount
            i += 8
        }
        while i < count {
            if p.load(fromByteOffset: i, as: UInt8.self) == 0 { zeros += 1 }
            i += 1
        }
        return zeros
    }
}
