import DWCPCore
import DWCPSystem

/// Everything the encoder needs to know about the baseline: the file, and its content-defined
/// anchors (`AnchorIndex`), built at most once per encode, on first use.
///
/// Lazily, because most pages of a pre-copy round are found where the baseline had them (the
/// matcher's displacement test, at memory speed) and never ask for anchors: an image that did
/// not change, or changed only in place, is encoded without the index, which otherwise costs
/// about half the time and most of the memory of such a round. The first page that needs
/// anchors builds the index (other workers that need it wait for that build).
///
/// The baseline is scanned in parallel, each thread taking a contiguous range of pages and
/// skipping zero pages (an anchor run restarts after each), then the anchors are inserted in
/// baseline order so the first occurrence of repeated content wins deterministically.
public final class BaselineIndex: @unchecked Sendable {
    public let pageSize: Int
    public let baseline: Baseline
    /// Whether changed pages are looked up by their anchors at all. Without it a page is only
    /// compared with the baseline where the current displacement puts it, and the index is never
    /// built: for rounds whose changes are known to stay in place (`EncoderConfiguration.searchMoved`).
    public let searchesMoved: Bool
    /// The baseline's page digests, when the caller has them (`EncoderConfiguration.baselineDigests`):
    /// pages whose digests match are known equal without reading the baseline.
    public let digests: PageDigests?
    private let threads: Int
    private let lock = ConditionLock()
    private var built: Result<AnchorIndex, Error>?

    public init(baseline: Baseline, pageSize: Int, threads: Int, searchesMoved: Bool = true, digests: PageDigests? = nil) {
        self.baseline = baseline
        self.pageSize = pageSize
        self.searchesMoved = searchesMoved
        // Digests of another length or page size describe another image: not used.
        self.digests = digests.flatMap { $0.length == baseline.length && $0.pageSize == pageSize ? $0 : nil }
        self.threads = threads
    }

    /// The anchor index, built by the first caller (the others wait for it).
    public func anchors() throws -> AnchorIndex {
        try lock.withLock {
            if built == nil { built = Result { try Self.build(baseline: baseline, pageSize: pageSize, threads: threads) } }
            return try built!.get()
        }
    }

    /// Whether the index has been built (for tests and statistics).
    public var isBuilt: Bool { lock.withLock { built != nil } }

    private static func build(baseline: Baseline, pageSize: Int, threads: Int) throws -> AnchorIndex {
        let ps = pageSize
        let pageCount = Int((baseline.length + UInt64(ps) - 1) / UInt64(ps))
        let workers = max(1, min(threads, pageCount / 256 + 1))
        let per = (pageCount + workers - 1) / workers
        let errorLock = ConditionLock()
        var firstError: Error?
        var lists = [[(UInt64, UInt64)]](repeating: [], count: workers)
        let listsPointer = UnsafeMutableBufferPointer<[(UInt64, UInt64)]>.allocate(capacity: workers)
        _ = listsPointer.initialize(from: lists)
        defer { listsPointer.deallocate() }
        var threadList: [OSThread] = []
        for w in 0..<workers {
            let lo = w * per, hi = min(pageCount, lo + per)
            if lo >= hi { continue }
            threadList.append(OSThread {
                let chunkPages = max(1, (4 << 20) / ps)
                let buffer = RawBuffer(capacity: chunkPages * ps)
                var found: [(UInt64, UInt64)] = []
                // About one anchor per 256 bytes: reserve for that, so the list is not copied
                // as it grows (that was a fifth of the index build's page faults).
                found.reserveCapacity((hi - lo) * ps / 224)
                var page = lo
                while page < hi {
                    let start = UInt64(page) * UInt64(ps)
                    let bytes = Int(min(UInt64(min(chunkPages, hi - page) * ps), baseline.length - start))
                    do {
                        try baseline.read(into: buffer.unsafeBase, count: bytes, at: start)
                    } catch {
                        errorLock.withLock { if firstError == nil { firstError = error } }
                        return
                    }
                    // Anchors over each run of non-zero pages (windows may straddle pages).
                    var i = 0
                    while i < bytes {
                        if ZeroScan.isZero(buffer.unsafeBase + i, min(ps, bytes - i)) { i += ps; continue }
                        var j = i + ps
                        while j < bytes && !ZeroScan.isZero(buffer.unsafeBase + j, min(ps, bytes - j)) { j += ps }
                        j = min(j, bytes)
                        let runStart = start + UInt64(i)
                        AnchorIndex.collectAnchors(buffer.unsafeBase + i, j - i, origin: runStart, into: &found)
                        i = j
                    }
                    page += chunkPages
                }
                listsPointer[w] = found
            })
        }
        for t in threadList { t.join() }
        if let firstError { throw firstError }
        lists = Array(listsPointer)
        return AnchorIndex(anchors: lists, threads: threads)
    }
}
