import DWCPCore

/// Remembers recently seen pages by XXH3-128 so a repeated page becomes a back-reference.
///
/// A direct-mapped cache of fixed size (two slots per page of the window): bounded memory, no
/// rehashing, and a lost entry only costs a missed duplicate. Pages further back than the window
/// are never referenced, because the decoder keeps only the window.
///
/// The match is by 128-bit digest, without comparing bytes: a collision has probability about
/// n²/2¹²⁹ and would still be caught by the frame's decoded checksum and the stream digest when
/// decoding, so it can cause an integrity error but never silently wrong output.
public final class DuplicateIndex {
    private var keys: UnsafeMutablePointer<Digest128>
    private var offsets: UnsafeMutablePointer<UInt64>  // stream offset + 1; 0 = empty
    private let mask: Int
    public let window: UInt64

    public init(window: UInt64, pageSize: Int) {
        let pages = max(1, Int(min(window, 1 << 34) / UInt64(pageSize)))
        var slots = 1024
        while slots < 2 * pages { slots <<= 1 }
        mask = slots - 1
        self.window = window
        keys = .allocate(capacity: slots)
        offsets = .allocate(capacity: slots)
        offsets.initialize(repeating: 0, count: slots)
        keys.initialize(repeating: .zero, count: slots)
    }

    deinit {
        keys.deallocate()
        offsets.deallocate()
    }

    /// If a page with `digest` was seen within the window before `offset`, returns its distance
    /// back; otherwise records this page at `offset` and returns nil.
    @inline(__always)
    public func lookupOrInsert(_ digest: Digest128, at offset: UInt64) -> UInt64? {
        let slot = Int(truncatingIfNeeded: digest.low ^ (digest.high >> 17)) & mask
        let stored = offsets[slot]
        if stored != 0 && keys[slot] == digest {
            let previous = stored - 1
            let distance = offset - previous
            if distance <= window { return distance }
        }
        keys[slot] = digest
        offsets[slot] = offset + 1
        return nil
    }
}
