import Foundation
import DWCPSystem
@testable import DWCPMigrate
import XCTest

/// `RAMPrefault` against a real QEMU waiting for an incoming migration: every page of its guest
/// RAM becomes resident, and a second run finds nothing left to do.
final class RAMPrefaultTests: XCTestCase {
    func testAnIncomingQemusRAMIsResidentAfterwards() throws {
        guard let qemu = ["/usr/bin/qemu-system-x86_64", "/usr/local/bin/qemu-system-x86_64"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw XCTSkip("qemu-system-x86_64 is not installed")
        }
        let dir = try TemporaryDirectory(prefix: "dwcp-prefault-test")
        defer { dir.remove() }
        let qmpPath = dir.path + "/qmp.sock", pidPath = dir.path + "/qemu.pid"
        // system(3): the daemonizing parent returns once QEMU is up and its QMP socket listens.
        let command = [qemu, "-machine", "q35", "-accel", "tcg", "-m", "96M", "-display", "none", "-monitor", "none",
                       "-qmp", "unix:\(qmpPath),server=on,wait=off", "-incoming", "defer", "-daemonize", "-pidfile", pidPath]
        XCTAssertEqual(system(command.joined(separator: " ")), 0)
        guard let pid = Int32((try? String(contentsOfFile: pidPath, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") else {
            return XCTFail("QEMU wrote no pid file")
        }
        defer { kill(pid, SIGKILL) }
        func residentKiB() -> Int {
            let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
            let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
            return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
        }
        let qmp = try QMPClient(path: qmpPath)
        let before = residentKiB()
        let first = try RAMPrefault.run(qmp, threads: 2)
        XCTAssertEqual(first.backends, ["/objects/pc.ram"])
        XCTAssertEqual(first.bytes, 96 << 20)
        XCTAssertGreaterThanOrEqual(residentKiB() - before, 90 << 10, "the guest's 96 MiB became resident")
        let second = try RAMPrefault.run(qmp, threads: 2)
        XCTAssertEqual(second.backends, [], "already pre-faulted: nothing to do")
        XCTAssertEqual(try qmp.query("query-status")["status"] as? String, "inmigrate", "still waiting for its migration")
    }
}
