/// A fixed-capacity, uninitialised, heap-allocated byte buffer.
///
/// Why not `[UInt8]`: blocks of a megabyte or more move through the pipelines at gigabytes per
/// second; an array zero-fills on creation and can copy on write when shared across threads.
/// A `RawBuffer` is allocated once, filled by `read(2)` or a compressor, and handed between
/// threads by reference. Access is through `unsafe` pointers, so callers own the bounds checks.
public final class RawBuffer: @unchecked Sendable {
    /// Start of the allocation (64-byte aligned).
    public let unsafeBase: UnsafeMutableRawPointer
    /// Bytes allocated.
    public let capacity: Int
    /// Bytes in use, `0...capacity`.
    public var count: Int

    public init(capacity: Int) {
        precondition(capacity >= 0)
        self.capacity = capacity
        self.unsafeBase = UnsafeMutableRawPointer.allocate(byteCount: max(capacity, 1), alignment: 64)
        self.count = 0
    }

    deinit { unsafeBase.deallocate() }

    /// The bytes in use.
    public var unsafeBytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: unsafeBase, count: count)
    }

    /// A copy of the bytes in use, for tests and small payloads.
    public var array: [UInt8] {
        Array(unsafeBytes)
    }
}
