import DWCPCore
import Foundation
@testable import DWCPTransport
import XCTest

/// The checkpoint file of `dwcp-recv --resume`: what was recorded reads back, a record cut at
/// any byte (a crash while it was written, so never acknowledged) is dropped and overwritten by
/// the next, and a file that is not a checkpoint is refused, never truncated.
final class ReceiveCheckpointTests: XCTestCase {
    private var path = ""

    override func setUp() {
        path = NSTemporaryDirectory() + "dwcp-checkpoint-\(getpid())-\(UUID().uuidString)"
    }

    override func tearDown() {
        unlink(path)
    }

    private let session = Array<UInt8>(100..<116)

    private func contents() -> [UInt8] { [UInt8](FileManager.default.contents(atPath: path) ?? Data()) }

    func testRecordsReadBackAndATornRecordIsDropped() throws {
        do {
            let (c, restored) = try ReceiveCheckpoint.open(path)
            XCTAssertNil(restored)
            try c.record(session: session, first: 0, checksums: [1, 2, 3], bytes: 3000)
            try c.record(session: session, first: 3, checksums: [4], bytes: 3500)
        }
        let whole = contents()
        XCTAssertEqual(whole.count, 48 + (24 + 24 + 8) + (24 + 8 + 8))
        let (_, restored) = try ReceiveCheckpoint.open(path)
        XCTAssertEqual(restored, ReceiveCheckpoint.Restored(session: session, chunks: 4, bytes: 3500, checksums: [1, 2, 3, 4]))

        // Cut anywhere inside the second record: the first stands.
        for cut in (48 + 56)..<whole.count {
            XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(whole[0..<cut])))
            let (c, r) = try ReceiveCheckpoint.open(path)
            XCTAssertEqual(r?.chunks, 3, "cut at \(cut)")
            XCTAssertEqual(r?.bytes, 3000)
            // The next record goes where the torn one started.
            try c.record(session: session, first: 3, checksums: [9, 10], bytes: 5000)
            let (_, again) = try ReceiveCheckpoint.open(path)
            XCTAssertEqual(again?.checksums, [1, 2, 3, 9, 10], "cut at \(cut)")
        }
        // Cut inside the header (it goes out with the first record): nothing was recorded.
        for cut in [1, 8, 47] {
            XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(whole[0..<cut])))
            XCTAssertNil(try ReceiveCheckpoint.open(path).1, "cut at \(cut)")
        }
        // A changed byte in a record ends the valid ones there.
        var damaged = whole
        damaged[48 + 30] ^= 1
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(damaged)))
        XCTAssertEqual(try ReceiveCheckpoint.open(path).1?.chunks, 0)
    }

    func testAFileThatIsNotACheckpointIsRefusedAndKept() throws {
        let junk = [UInt8](repeating: 0x41, count: 100)
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(junk)))
        XCTAssertThrowsError(try ReceiveCheckpoint.open(path)) { XCTAssertEqual(($0 as? DWCPError)?.status, .integrity) }
        XCTAssertEqual(contents(), junk)
        do {
            let (c, _) = try ReceiveCheckpoint.open(path + ".new")
            try c.record(session: session, first: 0, checksums: [5], bytes: 10)
        }
        var header = [UInt8](FileManager.default.contents(atPath: path + ".new")!)
        unlink(path + ".new")
        header[12] ^= 1
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(header)))
        XCTAssertThrowsError(try ReceiveCheckpoint.open(path)) { XCTAssertEqual(($0 as? DWCPError)?.status, .integrity) }
    }
}
