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

    /// Appends every anchor in `count` bytes at `p` to `found` as (hash, `origin` + window start),
    /// in order: the same anchors as `forEachAnchor`, about twice as fast on long runs.
    ///
    /// The rolling hash is a chain (each step needs the previous value), so one scan runs at
    /// the latency of two additions per byte. The range is cut into four parts scanned in one
    /// loop, so the parts' chains overlap in the CPU. Each part starts 63 bytes early to warm its
    /// hash up; a window's hash depends only on its 64 bytes, so the values match a single scan.
    static func collectAnchors(_ p: UnsafeRawPointer, _ count: Int, _ table: UnsafePointer<UInt64>, origin: UInt64,
                               into found: inout [(UInt64, UInt64)]) {
        let w = GearHash.window
        // Windows end at w-1..<count; the parts take `part` window ends each, the last one also
        // the remainder. Short ranges are not worth the set-up.
        let part = (count - (w - 1)) / 4
        guard part >= 4 * w else {
            forEachAnchor(p, count, table) { h, at in
                found.append((h, origin + UInt64(at)))
                return true
            }
            return
        }
        let bytes = p.assumingMemoryBound(to: UInt8.self)
        let shift = 64 - anchorBits
        let zero = GearHash.zeroWindow
        let s0 = w - 1, s1 = s0 + part, s2 = s1 + part, s3 = s2 + part
        var h0: UInt64 = 0, h1: UInt64 = 0, h2: UInt64 = 0, h3: UInt64 = 0
        for k in 0..<(w - 1) {
            h0 = (h0 << 1) &+ table[Int(bytes[s0 - (w - 1) + k])]
            h1 = (h1 << 1) &+ table[Int(bytes[s1 - (w - 1) + k])]
            h2 = (h2 << 1) &+ table[Int(bytes[s2 - (w - 1) + k])]
            h3 = (h3 << 1) &+ table[Int(bytes[s3 - (w - 1) + k])]
        }
        // Anchors of parts 1...3 wait in their own lists, so `found` stays in order.
        var later: [[(UInt64, UInt64)]] = [[], [], []]
        for k in 0..<3 { later[k].reserveCapacity(part / 128) }
        let b0 = bytes + s0, b1 = bytes + s1, b2 = bytes + s2, b3 = bytes + s3
        let limit: UInt64 = 1 << shift   // a hash below this has its top anchorBits bits zero
        var i = 0
        while i < part {
            h0 = (h0 << 1) &+ table[Int(b0[i])]
            h1 = (h1 << 1) &+ table[Int(b1[i])]
            h2 = (h2 << 1) &+ table[Int(b2[i])]
            h3 = (h3 << 1) &+ table[Int(b3[i])]
            // One test for the four (an anchor is 1 position in 256), then which of them.
            if min(min(h0, h1), min(h2, h3)) < limit {
                if h0 < limit && h0 != zero { found.append((h0, origin + UInt64(s0 + i + 1 - w))) }
                if h1 < limit && h1 != zero { later[0].append((h1, origin + UInt64(s1 + i + 1 - w))) }
                if h2 < limit && h2 != zero { later[1].append((h2, origin + UInt64(s2 + i + 1 - w))) }
                if h3 < limit && h3 != zero { later[2].append((h3, origin + UInt64(s3 + i + 1 - w))) }
            }
            i &+= 1
        }
        // Part 3 runs on to the end of the range.
        i = s3 + part
        while i < count {
            h3 = (h3 << 1) &+ table[Int(bytes[i])]
            if h3 < limit && h3 != zero { later[2].append((h3, origin + UInt64(i + 1 - w))) }
            i += 1
        }
        for list in later { found.append(contentsOf: list) }
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
