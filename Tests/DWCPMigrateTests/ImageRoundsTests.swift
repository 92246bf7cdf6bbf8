import XCTest
import Foundation
import DWCPCodec
import DWCPCore
import DWCPSystem
import DWCPTransport
@testable import DWCPMigrate

/// One receiver taking labelled rounds over loopback, in process, where each round is a real
/// encoder stream against a baseline file: a round offered again after the receiver committed
/// it (its source never heard so) is taken by going back a round, and a round that changed
/// nothing, offered again, is taken by its label.
final class ImageRoundsTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "dwcp-rounds-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func write(_ name: String, _ b: [UInt8]) throws -> String {
        let path = directory + "/" + name
        let fd = try FileDescriptor.create(path, overwrite: true, mode: 0o600)
        defer { fd.close() }
        try fd.writeAll(b)
        return path
    }

    /// The first `count` bytes of the image (a device holds more).
    private func read(_ path: String, count: Int) throws -> [UInt8] {
        let fd = try FileDescriptor.openForReading(path)
        defer { fd.close() }
        var b = [UInt8](repeating: 0, count: count)
        let n = try b.withUnsafeMutableBytes { try fd.readFully(into: $0.baseAddress!, count: count) }
        return Array(b[0..<n])
    }

    /// Sends `content` as round `label`, a delta against `baseline` (a file) if given.
    private func send(_ content: String, _ label: RoundLabel, against baseline: String?, port: UInt16) throws {
        var encoder = EncoderConfiguration()
        encoder.threads = 2
        encoder.baselinePath = baseline
        encoder.infoJSON = label.json
        var sender = SenderConfiguration(endpoint: Endpoint(host: "127.0.0.1", port: port))
        sender.session = SessionAuth.nonce()
        let input = try FileDescriptor.openForReading(content)
        defer { input.close() }
        _ = try SendPipeline(encoder: encoder, sender: sender).run(input: input)
    }

    func testRoundsOfferedAgainAreTakenBackOrByTheirLabel() throws {
        try roundsOfferedAgain(files: ImageFiles(image: directory + "/image"))
    }

    /// The same onto a block device (a 4 MiB loop device, the image its first MiB), whose
    /// journal, record and undo live in a state directory and which is written in place.
    func testRoundsOfferedAgainOntoABlockDevice() throws {
        let backing = directory + "/backing"
        let setup = Process()
        setup.executableURL = URL(fileURLWithPath: "/bin/sh")
        setup.arguments = ["-c", "truncate -s 4M \(backing) && losetup -f --show \(backing)"]
        let out = Pipe()
        setup.standardOutput = out
        setup.standardError = FileHandle.nullDevice
        try setup.run()
        setup.waitUntilExit()
        let device = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard setup.terminationStatus == 0, device.hasPrefix("/dev/loop") else { throw XCTSkip("no loop device here (needs root)") }
        defer {
            let detach = Process()
            detach.executableURL = URL(fileURLWithPath: "/sbin/losetup")
            detach.arguments = ["-d", device]
            try? detach.run()
            detach.waitUntilExit()
        }
        let state = directory + "/state"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        try roundsOfferedAgain(files: ImageFiles(image: device, journalDirectory: state))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: state), [])
    }

    private func roundsOfferedAgain(files: ImageFiles) throws {
        var random = SplitMix(seed: 31)
        let a = (0..<(1 << 20)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        var b = a
        for page in [3, 77, 200] { b[page * 4096 + 9] ^= 0x41 }
        var b2 = a
        for page in [5, 77, 255] { b2[page * 4096 + 100] ^= 0x17 }
        var c = b2
        c[12345] ^= 1
        let (pa, pb, pb2, pc) = (try write("a", a), try write("b", b), try write("b2", b2), try write("c", c))

        let image = files.image
        let listener = try StreamListener(Endpoint(host: "127.0.0.1", port: 0))
        defer { listener.shutdown() }
        let destination = ImageDestination(files: files, receiver: ReceiverConfiguration())
        var rounds: [(RoundLabel, UInt64)] = []
        let applied = ConditionLock()
        destination.onRound = { label, _, written in applied.withLock { rounds.append((label, written)); applied.broadcast() } }
        // A round before the final one is written into the image after its verdict, just
        // before `onRound`: the source's hearing it is no sign that it is in the image yet.
        func waitUntilApplied(rounds n: Int) {
            applied.withLock {
                let deadline = MonotonicClock.now() + 10
                while rounds.count < n && MonotonicClock.now() < deadline { applied.wait(seconds: 0.1) }
            }
        }
        var outcome: Result<ImageDestination.Outcome, Error>?
        let receiving = OSThread { outcome = Result { try destination.run(listener: listener) } }
        let port = listener.port

        try send(pa, RoundLabel(kind: .round, round: 0), against: nil, port: port)
        try send(pb, RoundLabel(kind: .round, round: 1), against: pa, port: port)
        XCTAssertNotNil(RoundRecord.current(files)?.previous, "round 1 keeps its undo")
        // The source did not hear round 1 confirmed: it offers round 1 again against round 0
        // (with other changes: the image has gone on changing at the source).
        try send(pb2, RoundLabel(kind: .round, round: 1), against: pa, port: port)
        waitUntilApplied(rounds: 3)
        XCTAssertEqual(try read(image, count: b2.count), b2)
        // Round 2 changes nothing; offered again, the same bytes are the baseline either way.
        try send(pb2, RoundLabel(kind: .round, round: 2), against: pb2, port: port)
        try send(pb2, RoundLabel(kind: .round, round: 2), against: pb2, port: port)
        try send(pc, RoundLabel(kind: .final, round: 3), against: pb2, port: port)
        receiving.join()

        let done = try XCTUnwrap(outcome).get()
        XCTAssertEqual(done.rounds, 6)
        XCTAssertEqual(done.roundsTakenAgain, 2)
        XCTAssertEqual(rounds.map { $0.0.round }, [0, 1, 1, 2, 2, 3])
        XCTAssertEqual(try read(image, count: c.count), c)
        for leftover in [files.roundRecord, files.undo, files.journal] {
            XCTAssertFalse(FileManager.default.fileExists(atPath: leftover), leftover)
        }
    }
}
