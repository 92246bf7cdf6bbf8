@testable import DWCPCodec
import XCTest

final class AnchorScanTests: XCTestCase {
    /// The four-part scan of the index build finds exactly the anchors of the plain scan, in the
    /// same order, at every length around its part boundaries (with zero windows inside, which
    /// are never anchors).
    func testFourPartScanFindsTheSameAnchorsAsOneScan() {
        var gen = TestData(seed: 21)
        var data = gen.bytes(300_000)
        for i in 50_000..<50_400 { data[i] = 0 }
        for i in 200_003..<200_090 { data[i] = 0 }
        let lengths = [0, 1, 63, 64, 65, 1_000, 4 * 256 + 62, 4 * 256 + 63, 4 * 256 + 64, 4 * 256 + 67, 9_999, 65_536, 300_000]
        GearHash.table.withUnsafeBufferPointer { table in
            data.withUnsafeBytes { raw in
                for count in lengths {
                    for start in [0, 7] where start + count <= raw.count {
                        var plain: [(UInt64, UInt64)] = []
                        AnchorIndex.forEachAnchor(raw.baseAddress! + start, count, table.baseAddress!) { h, at in
                            plain.append((h, 1_000 + UInt64(at)))
                            return true
                        }
                        var parts: [(UInt64, UInt64)] = []
                        AnchorIndex.collectAnchors(raw.baseAddress! + start, count, table.baseAddress!, origin: 1_000, into: &parts)
                        XCTAssertEqual(parts.map(\.0), plain.map(\.0), "hashes, \(count) bytes from \(start)")
                        XCTAssertEqual(parts.map(\.1), plain.map(\.1), "positions, \(count) bytes from \(start)")
                        if count >= 65_536 { XCTAssertGreaterThan(plain.count, count / 1_000) }
                    }
                }
            }
        }
    }
}
