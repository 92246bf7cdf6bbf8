#if canImport(Glibc)
import Glibc
#endif
import DWCPCore

/// An in-process pipe between one writer thread and one reader thread whose limit can change
/// while it runs.
///
/// `dwcp-migrate` puts it between the encoder and the sender. A kernel pipe has one size; this
/// queue lets the source hold a few hundred milliseconds of encoded stream while QEMU's first
/// pass runs (so the link stays busy while QEMU syncs its dirty bitmap and sends nothing, or
/// while the encoder crawls through pages that compress well) and shrink to a few dozen
/// kilobytes for the rest, since whatever it holds at the switchover drains inside the downtime.
///
/// The reader gets whole reads: `read` returns fewer bytes than asked only at the end of the
/// stream or when the writer `flush`ed, so a sender's chunks stay full-sized except where the
/// writer asked for its bytes to go out now.
public final class ByteQueue: ByteSink, @unchecked Sendable {
    private let lock = ConditionLock()
    private let buffer: RawBuffer
    /// Bytes written and read so far; `written - readSoFar` are queued from `readSoFar % capacity`.
    private var written: UInt64 = 0
    private var readSoFar: UInt64 = 0
    /// `written` at the writer's last `flush`: the reader may return short up to here.
    private var flushedUpTo: UInt64 = 0
    private var limitBytes: Int
    private var closedByWriter = false
    private var closedByReader = false
    private let name: String

    /// Most bytes the queue can ever hold (the largest limit it will be given).
    public var capacity: Int { buffer.capacity }

    /// A queue holding up to `capacity` bytes, with the writer held back at `limit` (≤ capacity).
    public init(name: String, capacity: Int, limit: Int) {
        precondition(capacity > 0 && limit > 0)
        self.name = name
        buffer = RawBuffer(capacity: capacity)
        limitBytes = min(limit, capacity)
    }

    /// The writer waits while this many bytes are queued (clamped to 1…capacity). Lowering it
    /// below what is queued makes the writer wait until the reader has taken the excess.
    public var limit: Int {
        get { lock.withLock { limitBytes } }
        set {
            lock.withLock {
                limitBytes = min(max(newValue, 1), buffer.capacity)
                lock.broadcast()
            }
        }
    }

    /// Bytes queued now.
    public var queued: Int { lock.withLock { Int(written - readSoFar) } }

    public func writeAll(_ p: UnsafeRawPointer, count: Int) throws {
        var done = 0
        while done < count {
            let (at, n): (Int, Int) = try lock.withLock {
                while !closedByReader && Int(written - readSoFar) >= limitBytes { lock.wait() }
                if closedByReader { throw SystemError(errno: EPIPE, what: "\(name): write") }
                let at = Int(written % UInt64(buffer.capacity))
                // Up to the limit, and up to the end of the ring (the rest goes next turn).
                let n = min(count - done, limitBytes - Int(written - readSoFar), buffer.capacity - at)
                return (at, n)
            }
            // Outside the lock: these bytes lie past `written`, where the reader never looks,
            // in space it has already left (it only moves forward); only this thread moves
            // `written`.
            (buffer.unsafeBase + at).copyMemory(from: p + done, byteCount: n)
            lock.withLock {
                written += UInt64(n)
                lock.broadcast()
            }
            done += n
        }
    }

    /// Lets the reader take everything written so far, even less than it asks for: the
    /// writer has nothing more for now and these bytes should not wait for more.
    public func flush() {
        lock.withLock {
            flushedUpTo = written
            lock.broadcast()
        }
    }

    /// The writer is done: the reader gets the rest, then 0.
    public func closeWriting() {
        lock.withLock {
            closedByWriter = true
            lock.broadcast()
        }
    }

    /// The reader is gone: a blocked or later write fails (EPIPE), as on a pipe.
    public func closeReading() {
        lock.withLock {
            closedByReader = true
            lock.broadcast()
        }
    }

    /// Fills `count` bytes, or fewer if the writer flushed or closed; returns 0 only at the end.
    public func read(into p: UnsafeMutableRawPointer, count: Int) -> Int {
        var done = 0
        while done < count {
            let (at, n): (Int, Int) = lock.withLock {
                // Nothing queued: wait, unless the writer is done, or it flushed everything it
                // wrote and this read already has some of it.
                while written == readSoFar && !closedByWriter && !(done > 0 && flushedUpTo == written) { lock.wait() }
                let at = Int(readSoFar % UInt64(buffer.capacity))
                return (at, min(count - done, Int(written - readSoFar), buffer.capacity - at))
            }
            if n == 0 { break }
            (p + done).copyMemory(from: buffer.unsafeBase + at, byteCount: n)
            lock.withLock {
                readSoFar += UInt64(n)
                lock.broadcast()
            }
            done += n
        }
        return done
    }
}
