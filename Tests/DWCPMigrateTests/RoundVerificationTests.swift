import XCTest
import Foundation
import DWCPCore
import DWCPSystem
@testable import DWCPMigrate

/// `recover --verify`'s check: an image is the round its record names when its bytes have that
/// record's digest, of either kind (over page digests, as rounds since format 1.2 are named, or
/// over the bytes, as earlier builds named them); any other image, or none, is told apart.
final class RoundVerificationTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "dwcp-verify-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private var image: String { directory + "/disk.img" }

    private func write(_ b: [UInt8]) throws {
        let fd = try FileDescriptor.create(image, overwrite: true, mode: 0o600)
        defer { fd.close() }
        try fd.writeAll(b)
    }

    /// The digests written out from docs/FORMAT.md, not through the code under test: XXH3-128
    /// of the bytes, and XXH3-128 of the little-endian XXH3-64 of each 4096-byte page.
    private func identities(_ b: [UInt8]) -> (bytes: BaselineIdentity, pageList: BaselineIdentity) {
        let bytes = StreamDigest(), pages = StreamDigest()
        b.withUnsafeBytes { p in
            bytes.update(p.baseAddress!, p.count)
            var list: [UInt8] = []
            for start in stride(from: 0, to: p.count, by: 4096) {
                withUnsafeBytes(of: Checksum.xxh3(p.baseAddress! + start, min(4096, p.count - start)).littleEndian) { list += $0 }
            }
            list.withUnsafeBytes { pages.update($0.baseAddress!, $0.count) }
        }
        let n = UInt64(b.count)
        return (BaselineIdentity(length: n, digest: bytes.finalize()), BaselineIdentity(length: n, digest: pages.finalize()))
    }

    func testAnImageIsTheRoundItsRecordNamesOnlyByItsBytes() throws {
        var random = SplitMix(seed: 41)
        var content = (0..<(300 << 10) + 123).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        try write(content)
        let files = try ImageFiles(image: image)
        XCTAssertEqual(try RoundVerification.check(files), .noRecord, "no record: nothing to check against")

        let (bytes, pageList) = identities(content)
        XCTAssertNotEqual(bytes, pageList)
        for named in [pageList, bytes] {
            try RoundRecord(round: 4, identity: named).save(to: files.roundRecord)
            XCTAssertEqual(try RoundVerification.check(files), .verified(round: 4, bytes: UInt64(content.count)))
        }
        // A record naming another image of the same size (a digest off by one bit).
        let other = BaselineIdentity(length: pageList.length, digest: Digest128(high: pageList.digest.high ^ 1, low: pageList.digest.low))
        try RoundRecord(round: 4, identity: other).save(to: files.roundRecord)
        guard case .mismatch(4, let reason) = try RoundVerification.check(files) else { return XCTFail("another digest verified") }
        XCTAssertTrue(reason.contains("does not have round 4's digest"), reason)

        try RoundRecord(round: 4, identity: pageList, previous: bytes).save(to: files.roundRecord)
        // Every byte counts: the first, one in the middle, the last of the short last page.
        for position in [0, content.count / 2, content.count - 1] {
            content[position] ^= 0x80
            try write(content)
            guard case .mismatch(4, _) = try RoundVerification.check(files) else { return XCTFail("byte \(position) changed, still verified") }
            content[position] ^= 0x80
        }
        try write(content + [0])
        guard case .mismatch(4, let longer) = try RoundVerification.check(files) else { return XCTFail("a longer file verified") }
        XCTAssertTrue(longer.contains("\(content.count + 1) bytes, round 4 is \(content.count)"), longer)
        try write(Array(content.dropLast()))
        guard case .mismatch(4, _) = try RoundVerification.check(files) else { return XCTFail("a shorter file verified") }
        try write(content)
        XCTAssertEqual(try RoundVerification.check(files), .verified(round: 4, bytes: UInt64(content.count)))
        // A damaged record names nothing.
        var record = [UInt8](FileManager.default.contents(atPath: files.roundRecord)!)
        record[20] ^= 1
        try Data(record).write(to: URL(fileURLWithPath: files.roundRecord))
        XCTAssertEqual(try RoundVerification.check(files), .noRecord)
    }
}
