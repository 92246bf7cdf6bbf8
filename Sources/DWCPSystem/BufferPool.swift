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

    public init(bufferCapacity: Int, maxFree: Int = 64) {
        self.bufferCapacity = bufferCapacity
        self.maxFree = maxFree
    }

    /// A buffer of `bufferCapacity` bytes with `count == 0`.
    public func take() -> RawBuffer {
        lock.lock()
        let b = free.popLast()
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

