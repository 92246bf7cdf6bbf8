import DWCPCore

/// The XXH3-64 of every whole page of an image, so a pre-copy round can tell the pages that did
/// not change since the round before without reading the old copy.
///
/// `dwcp-migrate file` keeps a snapshot of what the destination holds, and each round used to read
/// it twice beside the image: once where the encoder extends a copy from the baseline, once where
/// the snapshot's journal compares each page it is handed. Both now compare the image page's
/// digest with the snapshot page's, which the round before computed from the same bytes as it
/// read them, and read the snapshot only for pages whose digests differ. A collision (2^-64 per
/// page) cannot go unnoticed: the destination's output would then differ from the image the
/// encoder read, and the end frame's digest over the image fails the round (exit 3).
public final class PageDigests: @unchecked Sendable {
    public let pageSize: Int
    /// The image length these pages cover; a partial last page has no digest.
    public let length: UInt64
    private let values: [UInt64]

    init(pageSize: Int, length: UInt64, values: [UInt64]) {
        self.pageSize = pageSize
        self.length = length
        self.values = values
    }

    /// The digests of an image of `length` bytes from its page-list pieces in order
    /// (`PageListDigest`, frames cut at whole pages): a short last piece is no whole page.
    public convenience init(pageSize: Int, length: UInt64, pieces: [UInt64]) {
        var values = pieces
        if length % UInt64(pageSize) != 0, !values.isEmpty { values.removeLast() }
        self.init(pageSize: pageSize, length: length, values: values)
    }

    /// The digest of the whole page at image offset `offset` (page-aligned), if there is one.
    @inline(__always)
    public func digest(at offset: UInt64) -> UInt64? {
        let i = Int(offset / UInt64(pageSize))
        return offset % UInt64(pageSize) == 0 && i < values.count ? values[i] : nil
    }

    /// Whether the `count` bytes at image offset `offset` are whole pages that all have digests.
    func hasWholePages(at offset: UInt64, count: Int) -> Bool {
        let size = UInt64(pageSize)
        return offset % size == 0 && UInt64(count) % size == 0 && (offset + UInt64(count)) / size <= UInt64(values.count)
    }

    /// Whether `count` bytes at `p` (whole pages) equal the image's pages at `offset`, by their
    /// digests: false as soon as one differs or has none.
    func matches(_ p: UnsafeRawPointer, _ count: Int, at offset: UInt64) -> Bool {
        guard count > 0, count % pageSize == 0, offset % UInt64(pageSize) == 0 else { return false }
        var i = 0
        while i < count {
            guard let d = digest(at: offset + UInt64(i)), d == Checksum.xxh3(p + i, pageSize) else { return false }
            i += pageSize
        }
        return true
    }

    /// Whether the pages whose digests are `known[first...]` (the input's, from `Builder`) equal
    /// the image's pages at `offset`, `count` bytes (whole pages) of them: false as soon as one
    /// differs or either digest is missing.
    func matches(known: [UInt64], first: Int, count: Int, at offset: UInt64) -> Bool {
        guard count > 0, count % pageSize == 0, offset % UInt64(pageSize) == 0 else { return false }
        var k = 0
        while k < count / pageSize {
            guard first + k < known.count, let d = digest(at: offset + UInt64(k * pageSize)), d == known[first + k] else { return false }
            k += 1
        }
        return true
    }

    /// Computes the digests of a stream as it passes (the encoder's input tap), and says which of
    /// its pages equal the pages of `previous` (the digests of the image they replace).
    public final class Builder {
        public let pageSize: Int
        private let previous: PageDigests?
        private var values: [UInt64] = []
        private var offset: UInt64 = 0
        /// A page split between two calls: its bytes so far.
        private var carry: [UInt8] = []

        public init(pageSize: Int, previous: PageDigests?) {
            self.pageSize = pageSize
            self.previous = previous?.pageSize == pageSize ? previous : nil
        }

        /// Takes the next `count` bytes of the stream; returns the byte ranges of them (counted
        /// from `p`) that are whole pages whose digest equals the previous image's page there.
        public func take(_ p: UnsafeRawPointer, _ count: Int) -> [Range<Int>] {
            var same: [Range<Int>] = []
            var i = 0
            if !carry.isEmpty {
                let n = min(pageSize - carry.count, count)
                carry.append(contentsOf: UnsafeRawBufferPointer(start: p, count: n))
                i = n
                if carry.count == pageSize {
                    values.append(carry.withUnsafeBytes { Checksum.xxh3($0.baseAddress!, pageSize) })
                    carry.removeAll(keepingCapacity: true)
                }
            }
            while count - i >= pageSize {
                let d = Checksum.xxh3(p + i, pageSize)
                let at = offset + UInt64(i)
                if let previous, previous.digest(at: at) == d { same.appendMerging(i..<(i + pageSize)) }
                values.append(d)
                i += pageSize
            }
            if i < count { carry.append(contentsOf: UnsafeRawBufferPointer(start: p + i, count: count - i)) }
            offset += UInt64(count)
            return same
        }

        /// The digests of the whole pages among the `count` bytes at stream offset `offset`
        /// (page-aligned) that were taken already, or nil: the encoder's reader asks for each
        /// block it read, so its workers compare pages by digest without hashing them again.
        public func digests(ofPagesAt offset: UInt64, count: Int) -> [UInt64]? {
            guard offset % UInt64(pageSize) == 0 else { return nil }
            let first = Int(offset / UInt64(pageSize))
            let end = min(values.count, first + count / pageSize)
            return first < end ? Array(values[first..<end]) : nil
        }

        /// The digests of everything taken: the next round's `previous`.
        public func finish() -> PageDigests {
            PageDigests(pageSize: pageSize, length: offset, values: values)
        }
    }
}
