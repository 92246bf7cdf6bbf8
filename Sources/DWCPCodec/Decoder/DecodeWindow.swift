import DWCPCore
import DWCPSystem

/// The most recent decoded bytes, kept so back-references (duplicate pages) can be resolved.
///
/// Holds whole decoded frames rather than copying into a ring: a frame leaves once the frames
/// after it cover the window. Memory is at most `window` plus one frame.
final class DecodeWindow {
    private var frames: [(start: UInt64, buffer: RawBuffer, unread: [Range<Int>])] = []
    private static let empty = RawBuffer(capacity: 0)
    private var head = 0
    private var retained: UInt64 = 0
    let window: UInt64
    private let pool: BufferPool
    /// Reads `count` baseline bytes at an offset: the bytes of a frame's unread ranges
    /// (`DecodedFrame.unread`), which equal the baseline's at their own offset.
    private let readBaseline: ((UnsafeMutableRawPointer, Int, UInt64) throws -> Void)?

    /// Buffers leaving the window go back to `pool`, and so does the window's content when the
    /// decode is over: the pool may outlive it (`StreamDecoder.buffers`).
    init(window: UInt64, pool: BufferPool, readBaseline: ((UnsafeMutableRawPointer, Int, UInt64) throws -> Void)? = nil) {
        self.window = window
        self.pool = pool
        self.readBaseline = readBaseline
    }

    deinit {
        for f in frames[head...] { pool.recycle(f.buffer) }
    }

    func append(_ buffer: RawBuffer, at start: UInt64, unread: [Range<Int>] = []) {
        guard window > 0 else {
            pool.recycle(buffer)
            return
        }
        frames.append((start, buffer, unread))
        retained += UInt64(buffer.count)
        while head < frames.count - 1 && retained - UInt64(frames[head].buffer.count) >= window {
            retained -= UInt64(frames[head].buffer.count)
            pool.recycle(frames[head].buffer)
            frames[head].buffer = Self.empty
            head += 1
        }
        if head > 64 {
            frames.removeFirst(head)
            head = 0
        }
    }

    /// Copies `count` bytes that started at stream offset `from` into `dst`. Returns false if any
    /// of them is no longer (or not yet) in the window.
    func copy(from: UInt64, count: Int, into dst: UnsafeMutableRawPointer) throws -> Bool {
        var need = count
        var at = from
        var out = dst
        // Binary search for the frame containing `at`.
        var lo = head, hi = frames.count - 1
        guard lo <= hi, at >= frames[lo].start else { return false }
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if frames[mid].start <= at { lo = mid } else { hi = mid - 1 }
        }
        var i = lo
        while need > 0 {
            guard i < frames.count else { return false }
            let f = frames[i]
            let inFrame = Int(at - f.start)
            guard inFrame < f.buffer.count else { return false }
            let n = min(need, f.buffer.count - inFrame)
            out.copyMemory(from: f.buffer.unsafeBase + inFrame, byteCount: n)
            try Self.fillUnread(f.unread, of: inFrame..<(inFrame + n), frameStart: f.start, into: out, readBaseline)
            need -= n
            at += UInt64(n)
            out += n
            i += 1
        }
        return true
    }

    /// Replaces what was copied from `source` (a range of a frame starting at stream offset
    /// `frameStart`) to `dst` where it overlaps the frame's `unread` ranges with the baseline's
    /// bytes there.
    static func fillUnread(_ unread: [Range<Int>], of source: Range<Int>, frameStart: UInt64, into dst: UnsafeMutableRawPointer,
                           _ readBaseline: ((UnsafeMutableRawPointer, Int, UInt64) throws -> Void)?) throws {
        for r in unread where r.overlaps(source) {
            let part = r.clamped(to: source)
            guard let readBaseline else { throw DWCPError.failure("decoder: a frame's unread bytes referred to without a baseline") }
            try readBaseline(dst + (part.lowerBound - source.lowerBound), part.count, frameStart + UInt64(part.lowerBound))
        }
    }
}
