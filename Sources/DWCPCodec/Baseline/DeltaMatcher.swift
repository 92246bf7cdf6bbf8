import DWCPCore
#if canImport(Glibc)
import Glibc
#endif

/// Encodes the open stretches of a block against the baseline (one instance per worker).
///
/// Page by page, cheapest test first:
/// 1. the page where the current displacement (`shift`) says it used to be: an XOR with it
///    that is all zero means unchanged, so a copy starts and is extended with `memcmp` as far as
///    the bytes agree, stepping over small in-place edits; an XOR that is at least 7/8 zero means
///    edited in place;
/// 2. otherwise the page's content-defined anchors (`AnchorIndex`) propose old positions (a page
///    the garbage collector moved, content shifted by a grown segment); the best becomes the new
///    displacement: all zero starts a copy;
/// 3. otherwise a page whose XOR with the best candidate is at least 7/8 zero is sent as XOR (an
///    edit in place: counters, pointers), and any other page as literal with that candidate
///    offered to zstd as prefix. Content shifted inside the page (a row inserted into a database
///    page) makes an XOR of noise from the shift on, which zstd with the old page as reference
///    encodes as a few matches instead: on the sqlite3 dump this rule (instead of "at least half
///    zero") cut the delta by 13 %, on node's by 6 %.
/// The displacement carries from page to page, so for memory that mostly stayed put or moved
/// together only step 1 runs, at memory speed.
final class DeltaMatcher {
    private let index: BaselineIndex
    private let pageSize: Int
    private let scratch: RawBuffer
    private let trial: RawBuffer
    static let extendChunk = 64 << 10
    /// Longest in-place edit a copy steps over, and how many equal bytes must follow it.
    static let maxEditGap = 256
    static let resyncLength = 32
    /// Anchor candidates tried per page.
    static let maxAnchorTrials = 3

    init(index: BaselineIndex, pageSize: Int) {
        self.index = index
        self.pageSize = pageSize
        scratch = RawBuffer(capacity: max(Self.extendChunk, pageSize) + Self.maxEditGap + Self.resyncLength)
        trial = RawBuffer(capacity: pageSize)
    }

    /// The digests of the current block's whole pages, when the caller has them.
    private var pageDigests: [UInt64]?

    /// Encodes `[start, end)` of the block at `base` (stream offset `blockOffset`), whose whole
    /// pages' digests are `pageDigests` if known.
    func encode(_ base: UnsafeRawPointer, start: Int, end: Int, blockOffset: UInt64, pageDigests: [UInt64]? = nil, shift: inout Int64,
                into content: inout FrameContent) throws {
        self.pageDigests = pageDigests
        defer { self.pageDigests = nil }
        var pos = start
        while pos < end {
            let pageEnd = min(end, (pos / pageSize + 1) * pageSize)
            let n = pageEnd - pos
            let dst = content.literalCursor
            var best: (offset: UInt64, zeros: Int)?

            // 1. Where the current displacement puts it (by digest when the baseline's are known).
            if let c = candidate(blockOffset, pos, n, shift) {
                best = (c, matchesByDigest(base, pos, n, at: c) ? n : try xorZeros(base + pos, n, at: c, into: dst))
            }
            // 2. Anchors, unless the page is unchanged or barely edited where it was.
            if index.searchesMoved, best == nil || best!.zeros < n - n / 8, let found = try anchorCandidate(base, pos, n, blockOffset, except: shift) {
                if found.zeros > (best?.zeros ?? -1) {
                    best = (found.offset, found.zeros)
                    shift = Int64(found.offset) - Int64(blockOffset) - Int64(pos)
                    _ = try xorZeros(base + pos, n, at: found.offset, into: dst)
                }
            }
            if let b = best, b.zeros == n {
                pos = try copyRun(base, from: pos, baselineAt: b.offset, end: end, moved: b.offset != blockOffset + UInt64(pos), into: &content)
                continue
            }
            // 3. Edited in place (XOR), or literal.
            sendEdited(base + pos, n, against: best?.offset, zeros: best?.zeros ?? 0, into: &content)
            pos = pageEnd
        }
    }

    /// Whether the `n` bytes at block position `pos` equal the baseline's pages at `offset` by
    /// their digests: the baseline's from the round before, the input's from the caller when the
    /// stretch starts on a page, else hashed here. False when a digest differs or is unknown.
    @inline(__always)
    private func matchesByDigest(_ base: UnsafeRawPointer, _ pos: Int, _ n: Int, at offset: UInt64) -> Bool {
        guard let digests = index.digests else { return false }
        if let known = pageDigests, pos % pageSize == 0 {
            return digests.matches(known: known, first: pos / pageSize, count: n, at: offset)
        }
        return digests.matches(base + pos, n, at: offset)
    }

    /// An edited stretch whose XOR against `offset` is already at the literal cursor: sent as XOR
    /// when it is an edit in place (at least 7/8 zero), else as literal bytes with `offset` as
    /// zstd reference.
    private func sendEdited(_ p: UnsafeRawPointer, _ n: Int, against offset: UInt64?, zeros: Int, into content: inout FrameContent) {
        if let offset, zeros >= n - n / 8 {
            content.xor(n, against: offset)
        } else {
            content.literal(p, n, resembling: offset)
        }
    }

    /// Copies from the baseline starting at input `from` / baseline `baselineAt` (the first page
    /// is known equal), extending while bytes agree and stepping over edits of up to
    /// `maxEditGap` bytes; `moved` counts its copies as moved content. Returns where the run ended.
    private func copyRun(_ base: UnsafeRawPointer, from: Int, baselineAt: UInt64, end: Int, moved: Bool,
                         into content: inout FrameContent) throws -> Int {
        func copy(_ n: Int, from offset: UInt64) {
            content.copy(n, from: offset)
            if moved { content.stats.movedBytes += UInt64(n) }
        }
        let bytes = base.assumingMemoryBound(to: UInt8.self)
        let baselineLength = index.baseline.length
        var s = from, bs = baselineAt
        var e = from, be = baselineAt
        while e < end && be < baselineLength {
            let n = min(Self.extendChunk, end - e, Int(baselineLength - be))
            if matchesByDigest(base, e, n, at: be) {
                e += n
                be += UInt64(n)
                continue
            }
            try index.baseline.read(into: scratch.unsafeBase, count: n, at: be)
            if memcmp(base + e, scratch.unsafeBase, n) == 0 {
                e += n
                be += UInt64(n)
                continue
            }
            var k = 0
            while k < n && bytes[e + k] == scratch.unsafeBase.load(fromByteOffset: k, as: UInt8.self) { k += 1 }
            e += k
            be += UInt64(k)
            guard let skip = try resync(base, at: e, end: end, baselineAt: be) else { break }
            if e > s { copy(e - s, from: bs) }
            let zeros = try xorZeros(base + e, skip, at: be, into: content.literalCursor)
            sendEdited(base + e, skip, against: be, zeros: zeros, into: &content)
            e += skip
            be += UInt64(skip)
            s = e
            bs = be
        }
        if e > s { copy(e - s, from: bs) }
        return e
    }

    /// After a mismatch, the smallest skip after which `resyncLength` bytes agree again at the
    /// same displacement, if within `maxEditGap`.
    private func resync(_ base: UnsafeRawPointer, at: Int, end: Int, baselineAt: UInt64) throws -> Int? {
        let available = min(Self.maxEditGap + Self.resyncLength, end - at,
                            Int(min(UInt64(Int.max), index.baseline.length - baselineAt)))
        guard available > Self.resyncLength + 1 else { return nil }
        try index.baseline.read(into: scratch.unsafeBase, count: available, at: baselineAt)
        var j = 1
        while j + Self.resyncLength <= available {
            if memcmp(base + at + j, scratch.unsafeBase + j, Self.resyncLength) == 0 { return j }
            j += 1
        }
        return nil
    }

    /// The best of up to `maxAnchorTrials` old positions proposed by anchors in the page.
    private func anchorCandidate(_ base: UnsafeRawPointer, _ pos: Int, _ n: Int, _ blockOffset: UInt64,
                                 except current: Int64) throws -> (offset: UInt64, zeros: Int)? {
        var best: (offset: UInt64, zeros: Int)?
        var tried = 0
        var seen: [Int64] = [current]
        let anchors = try index.anchors()
        try anchors.forEachMatch(base + pos, n) { old, at in
            let s = Int64(old) - Int64(blockOffset) - Int64(pos + at)
            guard !seen.contains(s), let c = candidate(blockOffset, pos, n, s) else { return true }
            seen.append(s)
            tried += 1
            let zeros = try xorZeros(base + pos, n, at: c, into: trial.unsafeBase)
            if zeros > (best?.zeros ?? -1) { best = (c, zeros) }
            return tried < Self.maxAnchorTrials && zeros < n
        }
        return best
    }

    /// Baseline offset of input `[pos, pos+n)` under displacement `shift`, if inside the baseline.
    private func candidate(_ blockOffset: UInt64, _ pos: Int, _ n: Int, _ shift: Int64) -> UInt64? {
        let c = Int64(blockOffset) + Int64(pos) + shift
        guard c >= 0 && UInt64(c) + UInt64(n) <= index.baseline.length else { return nil }
        return UInt64(c)
    }

    /// XORs `n` input bytes with the baseline at `offset` into `dst`; returns how many are zero.
    private func xorZeros(_ p: UnsafeRawPointer, _ n: Int, at offset: UInt64, into dst: UnsafeMutableRawPointer) throws -> Int {
        try index.baseline.read(into: scratch.unsafeBase, count: n, at: offset)
        XOR.apply(p, scratch.unsafeBase, into: dst, count: n)
        return ZeroScan.zeroByteCount(dst, n)
    }
}

/// Byte-wise XOR of two buffers, eight bytes at a time: the in-place-edit delta.
enum XOR {
    @inline(__always)
    static func apply(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, into dst: UnsafeMutableRawPointer, count: Int) {
        var i = 0
        while i + 8 <= count {
            dst.storeBytes(of: a.loadUnaligned(fromByteOffset: i, as: UInt64.self) ^ b.loadUnaligned(fromByteOffset: i, as: UInt64.self),
                           toByteOffset: i, as: UInt64.self)
            i += 8
        }
        while i < count {
            dst.storeBytes(of: a.load(fromByteOffset: i, as: UInt8.self) ^ b.load(fromByteOffset: i, as: UInt8.self),
                           toByteOffset: i, as: UInt8.self)
            i += 1
        }
    }
}
