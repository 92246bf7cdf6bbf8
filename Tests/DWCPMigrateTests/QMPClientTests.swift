import XCTest
import Glibc
import DWCPCore
import DWCPSystem
@testable import DWCPMigrate

/// The QMP client against a scripted QMP server on a real unix socket: greeting and
/// capability negotiation, events interleaved with replies, errors, a server that goes away.
final class QMPClientTests: XCTestCase {
    override func setUp() {
        // The scripted server may write to a client that already left.
        signal(SIGPIPE, SIG_IGN)
    }

    /// Serves one client on a fresh socket path: sends the greeting, then runs `script` on the
    /// connection.
    func serveClient(_ script: @escaping (FileDescriptor) -> Void) throws -> (String, OSThread) {
        let path = NSTemporaryDirectory() + "qmp-test-\(getpid())-\(Int.random(in: 0..<1_000_000)).sock"
        let listener = try UnixSocket.listen(path)
        let thread = OSThread {
            defer { listener.close(); unlink(path) }
            guard let c = try? UnixSocket.accept(listener, timeout: 5) else { return }
            defer { c.close() }
            try? c.writeAll(#"{"QMP": {"version": {}, "capabilities": []}}"# + "\r\n")
            script(c)
        }
        return (path, thread)
    }

    /// Serves one client: after the greeting, answers each line from `replies` (a reply may be
    /// several lines, e.g. events before the return).
    func serve(_ replies: [String], check: @escaping ([String]) -> Void = { _ in }) throws -> (String, OSThread) {
        try serveClient { c in
            var received: [String] = []
            var pending: [UInt8] = []
            for reply in replies {
                while !pending.contains(0x0a) {
                    var b = [UInt8](repeating: 0, count: 4096)
                    let n = b.withUnsafeMutableBytes { read(c.rawValue, $0.baseAddress, 4096) }
                    if n <= 0 { check(received); return }
                    pending += b[..<n]
                }
                let i = pending.firstIndex(of: 0x0a)!
                received.append(String(decoding: pending[..<i], as: UTF8.self))
                pending.removeSubrange(...i)
                try? c.writeAll(reply + "\r\n")
            }
            check(received)
        }
    }

    func testNegotiatesAndRunsCommandsKeepingEvents() throws {
        var seen: [String] = []
        let (path, thread) = try serve([
            #"{"return": {}}"#,
            #"{"event": "STOP", "timestamp": {"seconds": 100, "microseconds": 250000}}"# + "\r\n" + #"{"return": {"status": "running"}}"#,
        ], check: { seen = $0 })
        let qmp = try QMPClient(path: path, timeout: 5)
        let status = try qmp.query("query-status")
        XCTAssertEqual(status["status"] as? String, "running")
        let events = qmp.takeEvents()
        XCTAssertEqual(events.map(\.name), ["STOP"])
        XCTAssertEqual(events.first?.time ?? 0, 100.25, accuracy: 1e-9)
        thread.join()
        XCTAssertTrue(seen.first?.contains("qmp_capabilities") ?? false, "\(seen)")
        XCTAssertTrue(seen.last?.contains("query-status") ?? false, "\(seen)")
    }

    func testQMPErrorsBecomeDWCPErrors() throws {
        let (path, thread) = try serve([#"{"return": {}}"#, #"{"error": {"class": "GenericError", "desc": "no migration in progress"}}"#])
        let qmp = try QMPClient(path: path, timeout: 5)
        XCTAssertThrowsError(try qmp.execute("migrate_cancel")) { error in
            XCTAssertTrue("\(error)".contains("no migration in progress"), "\(error)")
        }
        thread.join()
    }

    /// `getfd` gets its descriptor with the command's bytes (SCM_RIGHTS), as QEMU's monitor reads
    /// it; what is written into the passed socket comes out of the end we kept.
    func testPassesADescriptorWithTheCommand() throws {
        var command = ""
        var passedWorks = false
        let (path, thread) = try serveClient { c in
            // The capabilities command, then getfd with its descriptor.
            for expectDescriptor in [false, true] {
                guard let (bytes, descriptor) = try? UnixSocket.receive(from: c, capacity: 4096), !bytes.isEmpty else { return }
                if expectDescriptor, let descriptor {
                    command = String(decoding: bytes, as: UTF8.self)
                    passedWorks = (try? descriptor.writeAll("through the passed socket")) != nil
                    descriptor.close()
                }
                try? c.writeAll(#"{"return": {}}"# + "\r\n")
            }
        }
        let qmp = try QMPClient(path: path, timeout: 5)
        let (kept, passed) = try UnixSocket.pair(name: "test pair")
        defer { kept.close() }
        try qmp.execute("getfd", ["fdname": "stream"], passing: passed)
        passed.close()
        thread.join()
        XCTAssertTrue(command.contains(#""execute":"getfd""#), command)
        XCTAssertTrue(passedWorks)
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = try kept.readFully(into: &buffer, count: 25)
        XCTAssertEqual(String(decoding: buffer[..<n], as: UTF8.self), "through the passed socket")
    }

    func testServerGoingAwayIsAnErrorNotAHang() throws {
        let (path, thread) = try serve([#"{"return": {}}"#])
        let qmp = try QMPClient(path: path, timeout: 5)
        thread.join()
        XCTAssertThrowsError(try qmp.execute("query-status")) { error in
            XCTAssertTrue("\(error)".contains("closed") || "\(error)".contains("Broken pipe") || "\(error)".contains("reset"), "\(error)")
        }
    }

    /// `waitForEvent` sleeps out its timeout when QEMU says nothing, but returns as soon as an
    /// event arrives (the source's status loop sees "completed" at once instead of after a fixed
    /// sleep), and at once when one is already queued.
    func testWaitForEventWakesOnTheEventNotTheTimeout() throws {
        let (path, thread) = try serveClient { c in
            var b = [UInt8](repeating: 0, count: 4096)
            _ = b.withUnsafeMutableBytes { read(c.rawValue, $0.baseAddress, 4096) }   // qmp_capabilities
            try? c.writeAll(#"{"return": {}}"# + "\r\n")
            usleep(300_000)
            try? c.writeAll(#"{"event": "MIGRATION", "data": {"status": "completed"}, "timestamp": {"seconds": 1, "microseconds": 0}}"# + "\r\n")
            usleep(1_000_000)   // stays connected while the client waits (a close would be an error there)
        }
        let qmp = try QMPClient(path: path, timeout: 5)
        var started = MonotonicClock.now()
        try qmp.waitForEvent(timeout: 0.05)
        XCTAssertGreaterThanOrEqual(MonotonicClock.now() - started, 0.045, "no event: waits out the timeout")
        XCTAssertTrue(qmp.takeEvents().isEmpty)
        started = MonotonicClock.now()
        try qmp.waitForEvent(timeout: 10)
        let waited = MonotonicClock.now() - started
        XCTAssertLessThan(waited, 2, "woke on the event, not at the 10 s timeout")
        started = MonotonicClock.now()
        try qmp.waitForEvent(timeout: 10)
        XCTAssertLessThan(MonotonicClock.now() - started, 0.5, "an event already queued: returns at once")
        let events = qmp.takeEvents()
        XCTAssertEqual(events.map(\.name), ["MIGRATION"])
        XCTAssertEqual(events.first?.data["status"] as? String, "completed")
        thread.join()
    }

    func testNotQMPIsRefused() throws {
        let path = NSTemporaryDirectory() + "qmp-bogus-\(getpid()).sock"
        let listener = try UnixSocket.listen(path)
        let thread = OSThread {
            if let c = try? UnixSocket.accept(listener, timeout: 5) { try? c.writeAll("SSH-2.0-OpenSSH\r\n"); c.close() }
            listener.close(); unlink(path)
        }
        XCTAssertThrowsError(try QMPClient(path: path, timeout: 5))
        thread.join()
    }
}
