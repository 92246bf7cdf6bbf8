import DWCPCore

/// What the sequential reader stage decided about a stretch of a block, before the parallel
/// stage looks at it: zero pages and duplicates of recent pages are settled here, because the
/// duplicate index depends on every earlier page; everything else is left `open` for baseline
/// matching and compression on a worker.
public enum PlanSegment: Equatable {
    case zero(start: Int, length: Int)
    case back(start: Int, length: Int, distance: UInt64)
    case open(start: Int, length: Int)
}

/// Builds a block's `PlanSegment`s page by page, merging neighbours of the same kind.
struct BlockPlanner {
    let pageSize: Int
    let duplicates: DuplicateIndex?

    /// Classifies the `count` bytes at `base`, the block starting at stream offset `offset`.
    ///
    /// With the baseline's page digests and the block's own (`known`), a page equal to the
    /// baseline's at the same offset is left `open`, whatever else it is (zero, a repeat of a
    /// recent page): the baseline matcher then copies it as part of one run with its unchanged
    /// neighbours. An unchanged block of a pre-copy round is one op instead of one per stretch
    /// of zero and repeated pages (its frame 269 → ~85 bytes for 1 MiB of the bench image), and
    /// the destination, applying the round in place, has nothing to write for it.
    func plan(_ base: UnsafeRawPointer, count: Int, offset: UInt64, baseline: PageDigests? = nil, known: [UInt64]? = nil) -> [PlanSegment] {
        var segments: [PlanSegment] = []
        segments.reserveCapacity(8)
        var pos = 0
        while pos < count {
            let n = min(pageSize, count - pos)
            let p = base + pos
            let segment: PlanSegment
            if n == pageSize, let baseline, let known, pos / pageSize < known.count,
               baseline.digest(at: offset + UInt64(pos)) == known[pos / pageSize] {
                // Still recorded, so later pages repeating it are found as before.
                _ = duplicates?.lookupOrInsert(Checksum.xxh3_128(p, n), at: offset + UInt64(pos))
                segment = .open(start: pos, length: n)
            } else if ZeroScan.isZero(p, n) {
                segment = .zero(start: pos, length: n)
            } else if n == pageSize, let duplicates,
                      let distance = duplicates.lookupOrInsert(Checksum.xxh3_128(p, n), at: offset + UInt64(pos)) {
                segment = .back(start: pos, length: n, distance: distance)
            } else {
                segment = .open(start: pos, length: n)
            }
            Self.append(segment, to: &segments)
            pos += n
        }
        return segments
    }

    static func append(_ s: PlanSegment, to segments: inout [PlanSegment]) {
        if let last = segments.last {
            switch (last, s) {
            case let (.zero(a, l1), .zero(_, l2)):
                segments[segments.count - 1] = .zero(start: a, length: l1 + l2); return
            case let (.open(a, l1), .open(_, l2)):
                segments[segments.count - 1] = .open(start: a, length: l1 + l2); return
            case let (.back(a, l1, d1), .back(b, l2, d2)) where d1 == d2 && !(a < Int(d1) && Int(d1) <= b):
                // Merged unless the run's source would begin before the block and go on into it
                // (decoders before this rule refused such a reference).
                segments[segments.count - 1] = .back(start: a, length: l1 + l2, distance: d1); return
            default: break
            }
        }
        segments.append(s)
    }
}
