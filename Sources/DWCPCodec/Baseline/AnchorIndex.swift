import DWCPCore
import DWCPSystem

/// Content-defined anchors of the baseline: where input content (unchanged, moved or edited)
/// used to be.
///
/// The baseline's anchors (`AnchorHash`: 8-byte-aligned positions whose word is sampled, about
/// one per 256 bytes) are recorded with their 32-byte window's key. Anchors depend only on
/// content, so they survive shifts: a page of the input that kept any 32-byte window around one
/// of the baseline's anchors names its old position, exactly aligned, whatever moved around it
/// (a grown heap segment, a page the garbage collector copied, a row inserted before it). This
/// is the content-defined-chunking way of matching by content rather than by offset, without
/// materialising chunks. Memory: two to four 16-byte slots per anchor and a one-byte filter per
/// slot, 1/8 to 1/4 of the baseline's non-zero size (17 MiB for the 91 MB sqlite3 dump), plus
/// 16 bytes per anchor while the build runs. Whatever the content it stays under half the
/// baseline's size plus an eighth during the build, since `collectAnchors` keeps at most 32
/// anchors per 4 KiB: a baseline of 256 MiB made of distinct sampled words, the worst case, took
/// 125 MB of peak memory to encode against; one of a single repeated sampled word, 29 MB.
public final class AnchorIndex: @unchecked Sendable {
    /// The table: a slot is two words, the key and the baseline offset of its window + 1 (0 =
    /// empty), side by side so a probe touches one cache line. It is cut into `partitions`
    /// equal open-addressing tables chosen by a key's top bits, so the build inserts with one
    /// thread per partition.
    private let table: UnsafeMutablePointer<UInt64>
    /// Eight bits per slot (16 per key), set by each key's hash and cut into partitions like
    /// the table: an input page scanned for anchors makes ~128 lookups, most for keys the
    /// baseline never had, and this filter (a sixteenth of the table's size) answers ~94 % of
    /// those without touching the table.
    private let filter: UnsafeMutablePointer<UInt64>
    /// The memory behind `table` and `filter`: huge-page mappings that come zeroed from the
    /// kernel, so a table of tens of MiB costs neither a memset nor 4 KiB page faults.
    private let storage: (table: RawBuffer, filter: RawBuffer)
    private let partitionShift: UInt64     // a key's partition: mix >> partitionShift
    private let slotMask: Int              // slots per partition - 1
    private let filterShift: UInt64        // a key's filter bit within its partition: `filterBit`
    public let count: Int

    /// Calls `body(key, windowStart)` for the anchors at every byte position of the `count`
    /// bytes at `p` whose window lies inside them, in order: the scan of an input page.
    /// `body` returns false to stop.
    @inline(__always)
    static func forEachAnchor(_ p: UnsafeRawPointer, _ count: Int, _ body: (UInt64, Int) throws -> Bool) rethrows {
        let last = count - AnchorHash.window
        var i = 0
        while i <= last {
            if WordSample.selects(p.loadUnaligned(fromByteOffset: i, as: UInt64.self)) {
                if try !body(AnchorHash.key(p + i), i) { return }
            }
            i &+= 1
        }
    }

    /// Most anchors the baseline scan keeps per 4 KiB of baseline (16 on average): what bounds
    /// the index when content is made of sampled words.
    static let maxAnchorsPer4KiB = 32

    /// Appends the anchors at positions of the `count` bytes at `p` that lie at a multiple of 8
    /// from the baseline's start (`origin` is where `p` lies in it), whose window lies inside
    /// them, to `found` as (key, baseline offset), in order: the scan of the baseline.
    ///
    /// Two kinds of content would flood the index. A fill of a repeated pattern whose word is
    /// sampled (a poison value, a memset) makes an anchor of every repeat with the same key: a
    /// key still held by a 64-slot cache of recent keys is left out, since only its first
    /// position counts.
    /// Content of distinct sampled words (an array of values that all happen to hash low) is cut
    /// at `maxAnchorsPer4KiB` per 4 KiB of baseline.
    static func collectAnchors(_ p: UnsafeRawPointer, _ count: Int, origin: UInt64, into found: inout [(UInt64, UInt64)]) {
        let last = count - AnchorHash.window
        var i = Int((8 - origin % 8) % 8)
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: 64) { recent in
            recent.initialize(repeating: 0)
            var pageEnd: UInt64 = 0
            var inPage = 0
            while i <= last {
                if WordSample.selects(p.loadUnaligned(fromByteOffset: i, as: UInt64.self)) {
                    let key = AnchorHash.key(p + i)
                    let slot = Int(truncatingIfNeeded: key >> 58)
                    let at = origin + UInt64(i)
                    if at >= pageEnd {
                        pageEnd = (at / 4096 + 1) * 4096
                        inPage = 0
                    }
                    if recent[slot] != key && inPage < maxAnchorsPer4KiB {
                        recent[slot] = key
                        inPage &+= 1
                        found.append((key, at))
                    }
                }
                i &+= 8
            }
        }
    }

    /// Builds the table from anchors collected per thread, in baseline order (the first of
    /// equal keys wins), inserting with up to `threads` threads.
    init(anchors: [[(UInt64, UInt64)]], threads: Int = 1) {
        let total = anchors.reduce(0) { $0 + $1.count }
        var slots = 1024
        while slots < 2 * total { slots <<= 1 }
        var partitions = 1
        while partitions * 2 <= threads && partitions < 64 && slots / (partitions * 2) >= 1024 { partitions *= 2 }
        let perPartition = slots / partitions
        partitionShift = 64 - UInt64(partitions.trailingZeroBitCount)
        slotMask = perPartition - 1
        filterShift = 64 - UInt64((perPartition * 8).trailingZeroBitCount)
        storage = (RawBuffer(zeroedCapacity: slots * 16), RawBuffer(zeroedCapacity: slots))
        table = storage.table.unsafeBase.bindMemory(to: UInt64.self, capacity: slots * 2)
        filter = storage.filter.unsafeBase.bindMemory(to: UInt64.self, capacity: slots / 8)
        // Each thread walks every list in order and inserts the keys of its own partition, so
        // the result is the same for any number of threads.
        let counts = UnsafeMutableBufferPointer<Int>.allocate(capacity: partitions)
        defer { counts.deallocate() }
        counts.initialize(repeating: 0)
        let insertPartition = { [table, filter, partitionShift, slotMask, filterShift] (p: Int) in
            let tableBase = table + 2 * p * perPartition
            let filterBase = filter + p * perPartition / 8
            var inserted = 0
            for list in anchors {
                for (h, offset) in list {
                    let m = AnchorHash.mix(h)
                    guard Int(truncatingIfNeeded: m >> partitionShift) == p else { continue }
                    let bit = Self.filterBit(m, filterShift)
                    filterBase[bit >> 6] |= 1 << UInt64(bit & 63)
                    var slot = Int(truncatingIfNeeded: m) & slotMask
                    while tableBase[2 * slot + 1] != 0 && tableBase[2 * slot] != h { slot = (slot + 1) & slotMask }
                    if tableBase[2 * slot + 1] == 0 {
                        tableBase[2 * slot] = h
                        tableBase[2 * slot + 1] = offset + 1
                        inserted += 1
                    }
                }
            }
            counts[p] = inserted
        }
        if partitions == 1 {
            insertPartition(0)
        } else {
            let workers = (0..<partitions).map { p in OSThread { insertPartition(p) } }
            for w in workers { w.join() }
        }
        count = counts.reduce(0, +)
    }

    /// Calls `body(baselineOffset, windowStart)` for each anchor of the `count` bytes at `p`
    /// (`forEachAnchor`) whose key the baseline has, in order; `body` returns false to stop.
    ///
    /// Most of an input page's ~128 anchors are keys the baseline never had, each rejected by one
    /// filter word, and those words are not in the CPU's cache. Anchors are taken 16 at a time
    /// and their filter words read back to back, so the cache misses overlap instead of
    /// following each other.
    func forEachMatch(_ p: UnsafeRawPointer, _ count: Int, _ body: (UInt64, Int) throws -> Bool) rethrows {
        let batch = 16
        try withUnsafeTemporaryAllocation(of: (key: UInt64, at: Int).self, capacity: batch) { pending in
            var n = 0
            // Looks up the pending anchors; false once `body` has asked to stop.
            func flush() throws -> Bool {
                // Keep the ones the filter passes, without a branch on the (slow) filter word.
                var kept = 0
                for k in 0..<n {
                    pending[kept] = pending[k]
                    kept &+= mayContain(pending[k].key) ? 1 : 0
                }
                n = 0
                for k in 0..<kept {
                    if let old = tableLookup(pending[k].key), try !body(old, pending[k].at) { return false }
                }
                return true
            }
            var going = true
            try Self.forEachAnchor(p, count) { key, at in
                pending[n] = (key, at)
                n &+= 1
                if n == batch { going = try flush() }
                return going
            }
            if going { _ = try flush() }
        }
    }

    /// Baseline offset of the first window whose key is `h`, if recorded.
    @inline(__always)
    public func lookup(_ h: UInt64) -> UInt64? {
        mayContain(h) ? tableLookup(h) : nil
    }

    /// False when the baseline certainly has no window with key `h` (the filter).
    @inline(__always)
    private func mayContain(_ h: UInt64) -> Bool {
        let m = AnchorHash.mix(h)
        let p = Int(truncatingIfNeeded: m >> partitionShift)   // 0 when partitionShift is 64
        let bit = Self.filterBit(m, filterShift)
        return filter[p * (slotMask + 1) / 8 + bit >> 6] & (1 << UInt64(bit & 63)) != 0
    }

    /// A key's filter bit within its partition, from its mixed hash `m`: the same for the build
    /// and the lookups.
    @inline(__always)
    private static func filterBit(_ m: UInt64, _ filterShift: UInt64) -> Int {
        Int(truncatingIfNeeded: (m &* 0x9E37_79B9_7F4A_7C15) >> filterShift)
    }

    @inline(__always)
    private func tableLookup(_ h: UInt64) -> UInt64? {
        let m = AnchorHash.mix(h)
        let tableBase = table + 2 * Int(truncatingIfNeeded: m >> partitionShift) * (slotMask + 1)
        var slot = Int(truncatingIfNeeded: m) & slotMask
        while tableBase[2 * slot + 1] != 0 {
            if tableBase[2 * slot] == h { return tableBase[2 * slot + 1] - 1 }
            slot = (slot + 1) & slotMask
        }
        return nil
    }
}
