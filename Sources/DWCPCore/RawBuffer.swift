#if canImport(Glibc)
import Glibc
#endif

/// A fixed-capacity, uninitialised, heap-allocated byte buffer.
///
/// Why not `[UInt8]`: blocks of a megabyte or more move through the pipelines at gigabytes per
/// second; an array zero-fills on creation and can copy on write when shared across threads.
/// A `RawBuffer` is allocated once, filled by `read(2)` or a compressor, and handed between
/// threads by reference. Access is through `unsafe` pointers, so callers own the bounds checks.
///
/// Buffers of 2 MiB or more are mapped on their own, 2 MiB-aligned, and marked for transparent
/// huge pages: a decoder that keeps 128 MiB of output for back-references touches every page of
/// fresh buffers once, and with 4 KiB pages that was 30,000 page faults (most of its system time)
/// for a 90 MB stream.
public final class RawBuffer: @unchecked Sendable {
    /// Start of the allocation (64-byte aligned).
    public let unsafeBase: UnsafeMutableRawPointer
    /// Bytes allocated.
    public let capacity: Int
    /// Bytes in use, `0...capacity`.
    public var count: Int

    /// Bytes mapped for a huge-page buffer (0: allocated from the heap).
    private let mappedBytes: Int
    private static let hugePage = 2 << 20

    /// `hugePages: false` keeps a large buffer in small pages: for one filled once and read
    /// where it lies (`ReferenceFiles`), where a fault that must find 2 MiB of free memory can
    /// cost more than it saves.
    public init(capacity: Int, hugePages: Bool = true) {
        precondition(capacity >= 0)
        self.capacity = capacity
        self.count = 0
        if hugePages, capacity >= Self.hugePage, let base = Self.mapHuge(capacity) {
            unsafeBase = base
            mappedBytes = Self.roundUp(capacity)
        } else {
            unsafeBase = UnsafeMutableRawPointer.allocate(byteCount: max(capacity, 1), alignment: 64)
            mappedBytes = 0
        }
    }

    /// A buffer whose `capacity` bytes are all zero: a huge-page mapping comes zeroed from the
    /// kernel (no memset, no faults until touched); a small one is cleared here.
    public convenience init(zeroedCapacity capacity: Int) {
        self.init(capacity: capacity)
        if mappedBytes == 0 { unsafeBase.initializeMemory(as: UInt8.self, repeating: 0, count: max(capacity, 1)) }
    }

    deinit {
        if mappedBytes > 0 { munmap(unsafeBase, mappedBytes) } else { unsafeBase.deallocate() }
    }

    private static func roundUp(_ n: Int) -> Int { (n + hugePage - 1) / hugePage * hugePage }

    /// An anonymous mapping of `capacity` rounded up to 2 MiB, starting on a 2 MiB boundary, with
    /// `MADV_HUGEPAGE`; nil if the kernel refuses the mapping (the heap is used then).
    private static func mapHuge(_ capacity: Int) -> UnsafeMutableRawPointer? {
        let size = roundUp(capacity)
        guard let raw = mmap(nil, size + hugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              raw != MAP_FAILED else { return nil }
        let address = UInt(bitPattern: raw)
        let aligned = (address + UInt(hugePage) - 1) & ~UInt(hugePage - 1)
        let head = Int(aligned - address)
        if head > 0 { munmap(raw, head) }
        let tail = hugePage - head
        if tail > 0 { munmap(UnsafeMutableRawPointer(bitPattern: aligned + UInt(size))!, tail) }
        let base = UnsafeMutableRawPointer(bitPattern: aligned)!
        _ = madvise(base, size, MADV_HUGEPAGE)   // advice only: without THP the pages stay small
        return base
    }

    /// The bytes in use.
    public var unsafeBytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: unsafeBase, count: count)
    }

    /// A copy of the bytes in use, for tests and small payloads.
    public var array: [UInt8] {
        Array(unsafeBytes)
    }
}
