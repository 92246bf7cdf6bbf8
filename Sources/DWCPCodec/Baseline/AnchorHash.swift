/// The content-defined anchors that locate input content in the baseline: which positions are
/// anchors, and the key each is looked up by.
///
/// A position is an anchor when the 8-byte word starting there is sampled (`WordSample`, one
/// word in 32 by content); its key is a hash of the 32-byte window starting there. Both depend
/// only on the bytes, so an anchor survives any shift of the content around it.
///
/// The two sides scan differently. The baseline is indexed only at positions that are multiples
/// of 8 (`AnchorIndex.collectAnchors`), one multiply and compare per word, so indexing a baseline
/// costs little more than reading it. An input page is scanned at every byte position
/// (`AnchorIndex.forEachAnchor`): whatever the shift of content between baseline and input,
/// the baseline's aligned anchors fall on some byte positions of the input, and are found there.
/// Only the pages the displacement test could not place are scanned, a small part of a round.
/// (The previous scheme, a gear rolling hash over every byte of both, spent a quarter of a delta
/// round's CPU on the baseline; indexing 1 position in 8 found as much on the corpus's dumps.)
public enum AnchorHash {
    /// Bytes an anchor's key covers, from the anchor's position on.
    public static let window = 32

    /// The lookup key of the window at `p` (32 readable bytes).
    @inline(__always)
    public static func key(_ p: UnsafeRawPointer) -> UInt64 {
        var h = p.loadUnaligned(as: UInt64.self) &* 0x9E37_79B9_7F4A_7C15
        h = (h ^ (h >> 32) ^ p.loadUnaligned(fromByteOffset: 8, as: UInt64.self)) &* 0xBF58_476D_1CE4_E5B9
        h = (h ^ (h >> 29) ^ p.loadUnaligned(fromByteOffset: 16, as: UInt64.self)) &* 0x94D0_49BB_1331_11EB
        h = (h ^ (h >> 32) ^ p.loadUnaligned(fromByteOffset: 24, as: UInt64.self)) &* 0xD6E8_FEB8_6659_FD93
        return h ^ (h >> 29)
    }

    /// Spreads a key over the index: its top bits choose a partition, its low bits a slot, and
    /// `AnchorIndex` derives the key's filter bit from it.
    @inline(__always)
    public static func mix(_ h: UInt64) -> UInt64 {
        let x = (h ^ (h >> 31)) &* 0xD6E8_FEB8_6659_FD93
        return x ^ (x >> 32)
    }
}
