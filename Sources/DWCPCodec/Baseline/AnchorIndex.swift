import DWCPCore

/// Content-defined anchors of the baseline: where input content (unchanged, moved or edited)
/// used to be.
///
/// A gear hash (`GearHash`) runs over every byte of the baseline's non-zero pages; the positions
/// where its top `anchorBits` bits are zero (about one per 256 bytes) are recorded with the
/// 64-byte window's hash as key. Anchors depend only on content, so they survive shifts: a page
/// of the input that kept any 64-byte window around one of its anchors names its old position,
/// exactly aligned, whatever moved around it (a grown heap segment, a page the garbage collector
/// copied). The same scan of an input page then yields candidates to copy from or XOR against.
/// This is the content-defined-chunking way of matching by content rather than by offset, without
/// materialising chunks. Memory: two 16-byte slots per anchor, about 1/8 of the baseline's
/// non-zero size (20 MiB for a 160 MiB core dump).
public final class AnchorIndex: @unchecked Sendable {
    public static let anchorBits: UInt64 = 8

    private let keys: UnsafeMutablePointer<UInt64>
    private let positions: UnsafeMutablePointer<UInt64>  // baseline offset of the window's first byte + 1; 0 = empty
    /// The memory behind `keys` and `positions`: huge-page mappings that come zeroed from the
    /// kernel, so a table of tens of MiB costs neither a memset nor 4 KiB page faults.
    private let storage: (keys: RawBuffer, positions: RawBuffer)
    private let mask: Int
    public private(set) var count = 0

    /// Calls `body(hash, windowStart)` for every anchor in `count` bytes at `p`, in order, for
    /// windows lying entirely inside the range. `body` returns false to stop.
    @inline(__always)
    static func forEachAnchor(_ p: UnsafeRawPointer, _ count: Int, _ table: UnsafePointer<UInt64>,
                              _ body: (UInt64, Int) throws -> Bool) rethrows {
        let w = GearHash.window
        guard count >= w else { return }
        let bytes = p.assumingMemoryBound(to: UInt8.self)
        let shift = 64 - anchorBits
        var h: UInt64 = 0
        for i in 0..<(w - 1) { h = (h << 1) &+ table[Int(bytes[i])] }
        var i = w - 1
        while i < count {
            h = (h << 1) &+ table[Int(bytes[i])]
            if h >> shift == 0 && h != GearHash.zeroWindow {
                if try !body(h, i + 1 - w) { return }
            }
            i += 1
        }
    }

    /// Builds the table from anchors collected per thread, in baseline order (first wins).
    init(anchors: [[(UInt64, UInt64)]]) {
        let total = anchors.reduce(0) { $0 + $1.count }
        var slots = 1024
        while slots < 2 * total { slots <<= 1 }
        mask = slots - 1
        storage = (RawBuffer(capacity: slots * 8), RawBuffer(zeroedCapacity: slots * 8))
        keys = storage.keys.unsafeBase.bindMemory(to: UInt64.self, capacity: slots)
        positions = storage.positions.unsafeBase.bindMemory(to: UInt64.self, capacity: slots)
        for list in anchors {
            for (h, offset) in list { insert(h, offset) }
        }
    }

    private func insert(_ h: UInt64, _ offset: UInt64) {
        var slot = Int(truncatingIfNeeded: GearHash.mix(h)) & mask
        while positions[slot] != 0 {
            if keys[slot] == h { return }
            slot = (slot + 1) & mask
        }
        keys[slot] = h
        positions[slot] = offset + 1
        count += 1
    }

    /// Baseline offset of the first window whose anchor hash is `h`, if recorded.
    @inline(__always)
    public func lookup(_ h: UInt64) -> UInt64? {
        var slot = Int(truncatingIfNeeded: GearHash.mix(h)) & mask
        while positions[slot] != 0 {
            if keys[slot] == h { return positions[slot] - 1 }
            slot = (slot + 1) & mask
        }
        return nil
    }
}
