import DWCPCore

/// Recycles `RawBuffer`s of one size between pipeline stages.
///
/// Blocks of megabytes are needed at gigabytes per second; fresh allocations of that size are
/// `mmap`s whose page faults cost more than compressing the data (measured ~30% of encode time).
/// The pipelines bound how many buffers are in flight, so the pool stays small on its own; it
/// also keeps at most `maxFree` idle buffers.
public final class BufferPool: @unchecked Sendable {
    public let bufferCapacity: Int
    private let maxFree: Int
    private var free: [RawBuffer] = []
    private let lock = ConditionLock()
    /// Buffers this pool allocated, because none was free when one was asked for.
    public private(set) var allocated = 0

    public init(bufferCapacity: Int, maxFree: Int = 64) {
        self.bufferCapacity = bufferCapacity
        self.maxFree = maxFree
    }

    /// A buffer of `bufferCapacity` bytes with `count == 0`.
    public func take() -> RawBuffer {
        lock.lock()
        let b = free.popLast()
        if b == nil { allocated += 1 }
        lock.unlock()
        if let b {
            b.count = 0
            return b
        }
        return RawBuffer(capacity: bufferCapacity)
    }

    /// Returns a buffer obtained from `take()`; the caller must hold no other reference to it.
    public func recycle(_ buffer: RawBuffer) {
        guard buffer.capacity == bufferCapacity else { return }
        lock.lock()
        if free.count < maxFree { free.append(buffer) }
        lock.unlock()
    }
}

/// Pools of every buffer size a process uses, kept from one stream to the next.
///
/// A pipeline that makes its pools when it starts gets fresh buffers every run, and the first
/// touch of each page of a fresh buffer is a fault that zeroes it. `dwcp-migrate receive` decodes
/// one round after another: with pools of its own each round touched ~150 MiB of new frame
/// buffers (the decoder's window of back-references and its frames in flight), which was ~30 %
/// of the receiver's CPU in a round that changed nothing. Pipelines that run one after another
/// (or at once: the pools are thread-safe) take their pools from one `BufferPools` instead.
public final class BufferPools: @unchecked Sendable {
    private var pools: [Int: BufferPool] = [:]
    private let lock = ConditionLock()

    public init() {}

    /// The pool of `bufferCapacity`-byte buffers; `maxFree` applies when it is made.
    public func pool(bufferCapacity: Int, maxFree: Int = 64) -> BufferPool {
        lock.withLock {
            if let p = pools[bufferCapacity] { return p }
            let p = BufferPool(bufferCapacity: bufferCapacity, maxFree: maxFree)
            pools[bufferCapacity] = p
            return p
        }
    }
}
