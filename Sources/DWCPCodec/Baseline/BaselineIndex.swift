import DWCPCore
import DWCPSystem

/// Where each page-aligned, non-zero page of the baseline is, keyed by its rolling hash.
///
/// Built once per encode (the baseline is hashed in parallel, then inserted in order, so the
/// first occurrence of a repeated page wins deterministically). Lookups first test a bit filter
/// that fits in cache, so the per-byte rolling search costs a shift and a load for the vast
/// majority of positions that match nothing. Memory: 16 bytes per table slot (two slots per
/// indexed page) plus 2 bytes of filter per page.
public final class BaselineIndex: @unchecked Sendable {
    public let pageSize: Int
    public let baseline: Baseline
    private let hashes: UnsafeMutablePointer<UInt64>
    private let pages: UnsafeMutablePointer<UInt64>   // page index + 1; 0 = empty
    private let mask: Int
    private let filter: UnsafeMutablePointer<UInt64>
    private let filterShift: UInt64
    /// Pages indexed (non-zero, first occurrence).
    public private(set) var indexedPages = 0
    /// Content-defined anchors, to find where an edited page came from.
    public let anchors: AnchorIndex
    /// The page-window rolling hash the index is keyed by.
    public let roller: RollingHash

    public init(baseline: Baseline, pageSize: Int, threads: Int) throws {
        self.baseline = baseline
        self.pageSize = pageSize
        let pageCount = Int(baseline.length / UInt64(pageSize))
        var slots = 1024
        while slots < 2 * pageCount { slots <<= 1 }
        mask = slots - 1
        hashes = .allocate(capacity: slots)
        pages = .allocate(capacity: slots)
        pages.initialize(repeating: 0, count: slots)
        var filterBits = 1 << 16
        while filterBits < 16 * pageCount { filterBits <<= 1 }
        var log: UInt64 = 0
        while (1 << log) < filterBits { log += 1 }
        filterShift = 64 - log
        filter = .allocate(capacity: filterBits / 64)
        filter.initialize(repeating: 0, count: filterBits / 64)

        // Hash all pages in parallel: each thread takes a contiguous range.
        let pageHashes = UnsafeMutablePointer<UInt64>.allocate(capacity: max(pageCount, 1))
        let isZero = UnsafeMutablePointer<Bool>.allocate(capacity: max(pageCount, 1))
        defer {
            pageHashes.deallocate()
            isZero.deallocate()
        }
        let workers = max(1, min(threads, pageCount / 256 + 1))
        let per = (pageCount + workers - 1) / workers
        let errorLock = ConditionLock()
        var firstError: Error?
        var threadList: [OSThread] = []
        let ps = pageSize
        let roller = RollingHash(window: pageSize)
        self.roller = roller
        let anchorLists = UnsafeMutablePointer<[(UInt64, UInt64)]>.allocate(capacity: workers)
        anchorLists.initialize(repeating: [], count: workers)
        defer {
            anchorLists.deinitialize(count: workers)
            anchorLists.deallocate()
        }
        for w in 0..<workers {
            let lo = w * per, hi = min(pageCount, lo + per)
            if lo >= hi { continue }
            threadList.append(OSThread {
                let chunkPages = max(1, (4 << 20) / ps)
                let buffer = RawBuffer(capacity: chunkPages * ps)
                RollingHash.table.withUnsafeBufferPointer { table in
                    var page = lo
                    while page < hi {
                        let n = min(chunkPages, hi - page)
                        do {
                            try baseline.read(into: buffer.unsafeBase, count: n * ps, at: UInt64(page) * UInt64(ps))
                        } catch {
                            errorLock.withLock { if firstError == nil { firstError = error } }
                            return
                        }
                        for i in 0..<n {
                            let p = buffer.unsafeBase + i * ps
                            let zero = ZeroScan.isZero(p, ps)
                            isZero[page + i] = zero
                            pageHashes[page + i] = zero ? 0 : roller.hash(p, table.baseAddress!)
                        }
                        // Anchors over each run of non-zero pages (windows may straddle pages).
                        var i = 0
                        while i < n {
                            if isZero[page + i] { i += 1; continue }
                            var j = i
                            while j < n && !isZero[page + j] { j += 1 }
                            let runStart = UInt64(page + i) * UInt64(ps)
                            AnchorIndex.forEachAnchor(buffer.unsafeBase + i * ps, (j - i) * ps, table.baseAddress!) { h, at in
                                anchorLists[w].append((h, runStart + UInt64(at)))
                                return true
                            }
                            i = j
                        }
                        page += n
                    }
                }
            })
        }
        for t in threadList { t.join() }
        if let firstError { throw firstError }
        anchors = AnchorIndex(anchors: Array(UnsafeBufferPointer(start: anchorLists, count: workers)))
        for page in 0..<pageCount where !isZero[page] {
            insert(pageHashes[page], page: page)
        }
    }

    deinit {
        hashes.deallocate()
        pages.deallocate()
        filter.deallocate()
    }

    private func insert(_ h: UInt64, page: Int) {
        var slot = Int(truncatingIfNeeded: RollingHash.mix(h)) & mask
        while pages[slot] != 0 {
            if hashes[slot] == h { return }  // keep the first page with this hash
            slot = (slot + 1) & mask
        }
        hashes[slot] = h
        pages[slot] = UInt64(page) + 1
        let bit = h >> filterShift
        filter[Int(bit >> 6)] |= 1 << (bit & 63)
        indexedPages += 1
    }

    /// Cheap pre-test: false means no baseline page has hash `h`.
    @inline(__always)
    public func mayContain(_ h: UInt64) -> Bool {
        let bit = h >> filterShift
        return filter[Int(bit >> 6)] & (1 << (bit & 63)) != 0
    }

    /// Baseline byte offset of a page with rolling hash `h`, if any (to be verified by the caller).
    @inline(__always)
    public func lookup(_ h: UInt64) -> UInt64? {
        var slot = Int(truncatingIfNeeded: RollingHash.mix(h)) & mask
        while pages[slot] != 0 {
            if hashes[slot] == h { return (pages[slot] - 1) * UInt64(pageSize) }
            slot = (slot + 1) & mask
        }
        return nil
    }
}
