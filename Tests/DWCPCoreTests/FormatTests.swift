import DWCPCore
import XCTest

final class VarIntTests: XCTestCase {
    func testRoundTripsBoundaryValues() {
        for v: UInt64 in [0, 1, 127, 128, 255, 16383, 16384, 1 << 32, UInt64.max - 1, UInt64.max] {
            var bytes: [UInt8] = []
            VarInt.append(v, to: &bytes)
            XCTAssertLessThanOrEqual(bytes.count, VarInt.maxLength)
            var cursor = 0
            let r = bytes.withUnsafeBytes { VarInt.read($0.baseAddress!, &cursor, $0.count) }
            XCTAssertEqual(r, v)
            XCTAssertEqual(cursor, bytes.count)
        }
    }

    func testRejectsTruncatedAndOverlongEncodings() {
        let truncated: [UInt8] = [0x80, 0x80]
        var c = 0
        XCTAssertNil(truncated.withUnsafeBytes { VarInt.read($0.baseAddress!, &c, $0.count) })
        let overlong = [UInt8](repeating: 0xFF, count: 11) + [0x01]
        c = 0
        XCTAssertNil(overlong.withUnsafeBytes { VarInt.read($0.baseAddress!, &c, $0.count) })
        // Ten bytes whose last one overflows bit 63.
        let overflow = [UInt8](repeating: 0xFF, count: 9) + [0x02]
        c = 0
        XCTAssertNil(overflow.withUnsafeBytes { VarInt.read($0.baseAddress!, &c, $0.count) })
    }
}

final class StreamHeaderTests: XCTestCase {
    let header = StreamHeader(pageSize: 4096, maxBlock: 1 << 20, window: 1 << 27,
                              baseline: BaselineIdentity(length: 12345, digest: Digest128(high: 1, low: 2)), streamID: 99)

    func testRoundTrip() throws {
        let bytes = header.encoded()
        XCTAssertEqual(bytes.count, StreamHeader.encodedLength)
        XCTAssertEqual(Array(bytes[0..<4]), Array("DWCP".utf8))
        let back = try bytes.withUnsafeBytes { try StreamHeader.decode($0) }
        XCTAssertEqual(back, header)
    }

    /// Page-list checksums (flag bit 1) come with minor version 2; a stream without them keeps
    /// writing 1.1, byte for byte; a flag no reader knows is refused by name.
    func testPageListFlagRoundTripsAndUnknownFlagsAreRefused() throws {
        var h = header
        h.pageListChecksums = true
        let bytes = h.encoded()
        XCTAssertEqual(bytes[5], 2)
        XCTAssertEqual(bytes[24], 3)
        XCTAssertEqual(try bytes.withUnsafeBytes { try StreamHeader.decode($0) }, h)
        XCTAssertEqual(header.encoded()[5], 1)
        XCTAssertEqual(header.encoded()[24], 1)
        var unknown = bytes
        unknown.withUnsafeMutableBytes { raw in
            LittleEndian.store(UInt32(3 | 8), raw.baseAddress!, 24)
            LittleEndian.store(Checksum.xxh3(raw.baseAddress!, 64), raw.baseAddress!, 64)
        }
        XCTAssertThrowsError(try unknown.withUnsafeBytes { try StreamHeader.decode($0) }) { error in
            XCTAssertEqual((error as? DWCPError)?.status, .integrity)
            XCTAssertTrue("\(error)".contains("flags 0xb"), "\(error)")
        }
    }

    func testEveryFlippedBitIsDetected() {
        let bytes = header.encoded()
        for i in 0..<bytes.count {
            var b = bytes
            b[i] ^= 0x10
            XCTAssertThrowsError(try b.withUnsafeBytes { try StreamHeader.decode($0) }, "byte \(i)") { error in
                XCTAssertEqual((error as? DWCPError)?.status, .integrity)
            }
        }
    }

    func testUnknownMajorVersionIsRefusedByName() {
        var b = header.encoded()
        b[4] = 2
        XCTAssertThrowsError(try b.withUnsafeBytes { try StreamHeader.decode($0) }) { error in
            XCTAssertTrue("\(error)".contains("unsupported DWCP format version 2.\(StreamHeader.minorVersion)"), "\(error)")
        }
    }

    func testHostileGeometryIsRefused() {
        for (offset, value) in [(8, UInt32(3000)), (8, UInt32(1 << 30)), (12, UInt32(0)), (12, UInt32(1 << 30))] {
            var b = header.encoded()
            b.withUnsafeMutableBytes { raw in
                LittleEndian.store(value, raw.baseAddress!, offset)
                LittleEndian.store(Checksum.xxh3(raw.baseAddress!, 64), raw.baseAddress!, 64)
            }
            XCTAssertThrowsError(try b.withUnsafeBytes { try StreamHeader.decode($0) })
        }
    }
}

final class FrameHeaderTests: XCTestCase {
    let frame = FrameHeader(kind: .data, payloadLength: 1000, sequence: 7, offset: 1 << 33, decodedLength: 4096,
                            payloadChecksum: 0xDEAD, decodedChecksum: 0xBEEF)

    func testRoundTripAndCorruption() throws {
        let bytes = frame.encoded()
        XCTAssertEqual(bytes.count, 56)
        XCTAssertEqual(try bytes.withUnsafeBytes { try FrameHeader.decode($0.baseAddress!, streamOffset: 0) }, frame)
        for i in 0..<bytes.count {
            var b = bytes
            b[i] ^= 1
            XCTAssertThrowsError(try b.withUnsafeBytes { try FrameHeader.decode($0.baseAddress!, streamOffset: 0) })
        }
    }

    func testHugePayloadLengthIsRejectedBeforeAllocation() {
        var f = frame
        f.payloadLength = UInt32.max
        let bytes = f.encoded()
        XCTAssertThrowsError(try bytes.withUnsafeBytes { try FrameHeader.decode($0.baseAddress!, streamOffset: 77) }) { error in
            XCTAssertTrue("\(error)".contains("offset 77"), "\(error)")
        }
    }
}

final class BlockOpTests: XCTestCase {
    func testOpsRoundTrip() throws {
        let ops: [BlockOp] = [.literal(length: 10), .zero(length: 4096), .copyBaseline(length: 8192, baselineOffset: 1 << 20),
                              .copyBack(length: 4096, distance: 8192), .xorBaseline(length: 100, baselineOffset: 0)]
        var bytes: [UInt8] = []
        for op in ops { op.append(to: &bytes) }
        let parsed = try bytes.withUnsafeBytes {
            try BlockOp.parseAll($0, maxLength: 1 << 20, window: 1 << 20, baselineLength: 1 << 30)
        }
        XCTAssertEqual(parsed, ops)
    }

    func testInvalidOpsAreRejected() {
        func parse(_ op: BlockOp, baseline: UInt64? = 1000, window: UInt64 = 1 << 20) throws {
            var bytes: [UInt8] = []
            op.append(to: &bytes)
            _ = try bytes.withUnsafeBytes { try BlockOp.parseAll($0, maxLength: 4096, window: window, baselineLength: baseline) }
        }
        XCTAssertThrowsError(try parse(.copyBaseline(length: 100, baselineOffset: 950)))       // beyond baseline
        XCTAssertThrowsError(try parse(.copyBaseline(length: 100, baselineOffset: 0), baseline: nil))
        XCTAssertThrowsError(try parse(.copyBack(length: 100, distance: 50)))                  // overlapping
        XCTAssertThrowsError(try parse(.copyBack(length: 100, distance: 5000), window: 4096))  // outside window
        XCTAssertThrowsError(try parse(.literal(length: 5000)))                                // longer than frame
        XCTAssertThrowsError(try parse(.zero(length: 0)))
        var unknown: [UInt8] = []
        VarInt.append(UInt64(8) << 3 | 6, to: &unknown)
        XCTAssertThrowsError(try unknown.withUnsafeBytes { try BlockOp.parseAll($0, maxLength: 4096, window: 0, baselineLength: nil) })
    }
}

final class ChecksumTests: XCTestCase {
    func testStreamingDigestEqualsOneShot() {
        let data = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ ($0 >> 7)) }
        let d = StreamDigest()
        data.withUnsafeBytes { raw in
            d.update(UnsafeRawBufferPointer(rebasing: raw[0..<333]))
            d.update(UnsafeRawBufferPointer(rebasing: raw[333...]))
        }
        let oneShot = data.withUnsafeBytes { Checksum.xxh3_128($0.baseAddress!, $0.count) }
        XCTAssertEqual(d.finalize(), oneShot)
        XCTAssertEqual(oneShot.description.count, 32)
    }
}
