import XCTest
import Foundation
import DWCPCore
import DWCPSystem
@testable import DWCPMigrate

/// One receive or recover at a time on an image: a second is refused, naming the first, until
/// the first ends (normally, taking its lock file with it, or killed).
final class ImageLockTests: XCTestCase {
    func testASecondProcessOnTheImageIsRefusedUntilTheFirstEnds() throws {
        let directory = NSTemporaryDirectory() + "dwcp-lock-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let files = try ImageFiles(image: directory + "/disk.img")
        XCTAssertEqual(files.lock, directory + "/disk.img.dwcp-lock")
        XCTAssertEqual(try ImageFiles(image: directory + "/disk.img", journalDirectory: NSTemporaryDirectory()).lock, files.lock,
                       "beside the image whatever the journal directory")
        let first = try ImageLock(files)
        XCTAssertThrowsError(try ImageLock(files)) { error in
            XCTAssertEqual((error as? DWCPError)?.status, .failure)
            XCTAssertTrue("\(error)".contains("disk.img is in use by another dwcp-migrate receive or recover (pid \(getpid())"), "\(error)")
        }
        first.release()
        XCTAssertFalse(FileManager.default.fileExists(atPath: files.lock), "a lock ended normally leaves no file")
        let second = try ImageLock(files)
        // A lock file left by a holder that was killed locks again (the kernel dropped the lock).
        second.release()
        try Data("99999\n".utf8).write(to: URL(fileURLWithPath: files.lock))
        let third = try ImageLock(files)
        third.release()
    }
}
