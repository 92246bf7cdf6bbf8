/// How far back a literal section's repeats lie: a cheap test of whether zstd needs large match
/// tables there, taken before choosing its search (`ZstdSearch`).
///
/// zstd's tables hold one position per hash slot, so a table of 2^15 slots forgets a position
/// after a few hundred KiB of input, and a repeat further back is found only by a larger table
/// (2^17–2^18 slots), which costs a third more time per byte. Which one pays depends on the
/// heap: on the round-2 dumps of `scripts/make-corpus.sh`, 8 MiB sections of node's heap came out
/// 8–26 % smaller with the large tables, while python3's came out 0.3–3.5 % *larger* (more far
/// candidates, costlier offsets) and slower.
///
/// The test: 8-byte words are sampled by their content (`WordSample`), so both copies of a
/// repeated word are sampled wherever they lie, and each sampled word looks up where it was last
/// seen. The answer is the fraction of samples that repeat a word last seen at least
/// `farDistance` bytes back. Like zstd's own tables, the last-seen table keeps one position per
/// slot, so a later sample may take a slot first: of the repeats 2 MiB back in a 3 MiB section,
/// ~88 % are counted. Measured per section on those dumps: node's sections that gained from the
/// large tables 0.013–0.17; python3's that lost 0.0002–0.012.
///
/// Cost: one multiply and compare per word plus a table lookup per sample, ~1 ms per 8 MiB
/// (compressing it takes ~15).
public enum MatchReach {
    /// Repeats at least this far back count as far.
    public static let farDistance = 256 << 10
    /// Slots in the last-seen table, a power of two (8 bytes each: 512 KiB).
    static let tableSlots = 1 << 16

    /// The fraction (0 to 1) of sampled words whose previous occurrence lies at least
    /// `farDistance` bytes back. 0 for a section with nothing sampled.
    public static func farRepeatFraction(_ bytes: UnsafeRawBufferPointer) -> Double {
        let words = bytes.count / 8
        guard let base = bytes.baseAddress, words > 0 else { return 0 }
        // Positions are word indices + 1 in the low 32 bits (0 = empty slot), a tag from the
        // hash in the high 32 bits; sections are at most 64 MiB, 2^23 words.
        // On the heap: 512 KiB is more than an encoder thread's stack should hold.
        let table = UnsafeMutablePointer<UInt64>.allocate(capacity: tableSlots)
        defer { table.deallocate() }
        table.initialize(repeating: 0, count: tableSlots)
        let farWords = UInt64(farDistance / 8)
        var samples = 0, far = 0
        for i in 0..<words {
            let w = base.loadUnaligned(fromByteOffset: i &* 8, as: UInt64.self)
            guard WordSample.selects(w) else { continue }
            let h = WordSample.hash(w)
            samples &+= 1
            let slot = Int(truncatingIfNeeded: h >> 16) & (tableSlots - 1)
            let tag = (h << WordSample.bits) & 0xFFFF_FFFF_0000_0000
            let entry = table[slot]
            let position = UInt64(i) &+ 1
            if entry != 0 && entry & 0xFFFF_FFFF_0000_0000 == tag && position - (entry & 0xFFFF_FFFF) >= farWords {
                far &+= 1
            }
            table[slot] = tag | position
        }
        return samples == 0 ? 0 : Double(far) / Double(samples)
    }
}
