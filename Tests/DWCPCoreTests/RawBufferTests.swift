import DWCPCore
import XCTest

final class RawBufferTests: XCTestCase {
    /// Small buffers come from the heap, large ones from their own 2 MiB-aligned mapping; both
    /// must be usable to their last byte, and `zeroedCapacity` must really be zero either way
    /// (a small buffer is reused heap memory, so it is dirtied and freed first).
    func testSmallAndHugePageBuffersAreUsableAndZeroedWhenAsked() {
        for capacity in [100, (2 << 20) - 1, 2 << 20, (3 << 20) + 123, 9 << 20] {
            do {
                let dirty = RawBuffer(capacity: capacity)
                dirty.unsafeBase.initializeMemory(as: UInt8.self, repeating: 0xA5, count: capacity)
            }
            let b = RawBuffer(zeroedCapacity: capacity)
            XCTAssertEqual(b.capacity, capacity)
            let bytes = UnsafeRawBufferPointer(start: b.unsafeBase, count: capacity)
            XCTAssertTrue(bytes.allSatisfy { $0 == 0 }, "capacity \(capacity)")
            b.unsafeBase.storeBytes(of: 0x5A, toByteOffset: capacity - 1, as: UInt8.self)
            XCTAssertEqual(b.unsafeBase.load(fromByteOffset: capacity - 1, as: UInt8.self), 0x5A)
            XCTAssertEqual(Int(bitPattern: b.unsafeBase) % 64, 0, "at least 64-byte aligned")
            if capacity >= 2 << 20 {
                XCTAssertEqual(Int(bitPattern: b.unsafeBase) % (2 << 20), 0, "huge-page buffers start on a 2 MiB boundary")
            }
        }
    }
}
