/// Content-defined anchors of the baseline: where a page that was *edited* (not copied) most
/// likely came from.
///
/// Whole-page matching finds unchanged pages; a page with a few edits matches nothing whole, and
/// when content has also moved (a core dump whose heap grew shifts every later segment) its old
/// position is unknown. Anchors fix that: a 64-byte rolling hash is computed at every offset, and
/// the positions where it has `anchorBits` zero bits (about one per 1 KiB) are recorded with their
/// baseline offset. Anchors depend only on content, so they survive shifts; one unedited 64-byte
/// window around an anchor in the input page is enough to find the page's old position, exactly
/// aligned, for an XOR or a zstd reference. (The idea is the "resemblance detection" of delta
/// deduplication systems.)
public final class AnchorIndex: @unchecked Sendable {
    public static let windowLength = 64
    public static let anchorBits: UInt64 = 10

    private let keys: UnsafeMutablePointer<UInt64>
    private let positions: UnsafeMutablePointer<UInt64>  // baseline offset + 1; 0 = empty
    private let mask: Int
    public private(set) var count = 0

    static let roller = RollingHash(window: windowLength)

    /// Hash of an all-zero window: never an anchor (zero runs are everywhere and say nothing).
    static let zeroWindowHash: UInt64 = {
        let zeros = [UInt8](repeating: 0, count: windowLength)
        return RollingHash.table.withUnsafeBufferPointer { t in
            zeros.withUnsafeBytes { roller.hash($0.baseAddress!, t.baseAddress!) }
        }
    }()

    @inline(__always)
    static func isAnchor(_ h: UInt64) -> Bool {
        h >> (64 - anchorBits) == 0 && h != zeroWindowHash
    }

    /// Calls `body(hash, offset)` for every anchor in `count` bytes at `p` (offsets relative to p).
    @inline(__always)
    static func forEachAnchor(_ p: UnsafeRawPointer, _ count: Int, _ table: UnsafePointer<UInt64>,
                              _ body: (UInt64, Int) throws -> Bool) rethrows {
        guard count >= windowLength else { return }
        let bytes = p.assumingMemoryBound(to: UInt8.self)
        let roller = Self.roller
        var h = roller.hash(p, table)
        var i = 0
        while true {
            if isAnchor(h) {
                if try !body(h, i) { return }
            }
            if i + windowLength >= count { return }
            h = roller.roll(h, out: bytes[i], in: bytes[i + windowLength], table)
            i += 1
        }
    }

    /// Builds the table from anchors collected per thread, in baseline order (first wins).
    init(anchors: [[(UInt64, UInt64)]]) {
        let total = anchors.reduce(0) { $0 + $1.count }
        var slots = 1024
        while slots < 2 * total { slots <<= 1 }
        mask = slots - 1
        keys = .allocate(capacity: slots)
        positions = .allocate(capacity: slots)
        positions.initialize(repeating: 0, count: slots)
        for list in anchors {
            for (h, offset) in list { insert(h, offset) }
        }
    }

    deinit {
        keys.deallocate()
        positions.deallocate()
    }

    private func insert(_ h: UInt64, _ offset: UInt64) {
        var slot = Int(truncatingIfNeeded: RollingHash.mix(h)) & mask
        while positions[slot] != 0 {
            if keys[slot] == h { return }
            slot = (slot + 1) & mask
        }
        keys[slot] = h
        positions[slot] = offset + 1
        count += 1
    }

    /// Baseline offset of the window with anchor hash `h`, if recorded.
    @inline(__always)
    public func lookup(_ h: UInt64) -> UInt64? {
        var slot = Int(truncatingIfNeeded: RollingHash.mix(h)) & mask
        while positions[slot] != 0 {
            if keys[slot] == h { return positions[slot] - 1 }
            slot = (slot + 1) & mask
        }
        return nil
    }
}
