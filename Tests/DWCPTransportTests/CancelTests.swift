import DWCPCore
import DWCPSystem
@testable import DWCPTransport
import Foundation
import XCTest

/// A sender whose own side fails (its input, or the application feeding it) tells the receiver
/// (`cancel`), which ends the transfer at once instead of waiting for the sender up to its idle
/// timeout; a `dwcp-migrate` source that gave up left its destination waiting two minutes.
final class CancelTests: XCTestCase {
    /// Runs one receiver on a thread (idle timeout 30 s, far longer than any wait here); returns
    /// its port and a wait for its result and when it ended.
    func startReceiver() throws -> (port: UInt16, wait: () -> (Result<TransferStats, Error>, Double)) {
        let path = NSTemporaryDirectory() + "cancel-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let output = try FileDescriptor.create(path, overwrite: true)
        var config = ReceiverConfiguration()
        config.idleTimeout = 30
        let receiver = try ReceiverOnAThread(to: output, configuration: config)
        return (receiver.port, {
            let (result, ended) = receiver.wait()
            output.close()
            unlink(path)
            return (result, ended)
        })
    }

    func sender(_ port: UInt16, streams: Int = 4) -> TransportSender {
        var config = SenderConfiguration(endpoint: Endpoint(host: "127.0.0.1", port: port))
        config.streams = streams
        config.chunkSize = 64 << 10
        config.resumeTimeout = 5
        return TransportSender(configuration: config)
    }

    func testAFailingInputCancelsTheTransferAtTheReceiver() throws {
        let receiver = try startReceiver()
        var sent = 0
        var failedAt = 0.0
        XCTAssertThrowsError(try sender(receiver.port).send { p, n in
            if sent >= 2 << 20 {
                failedAt = MonotonicClock.now()
                throw DWCPError.failure("the producer failed")
            }
            memset(p, 0x5a, n)
            sent += n
            return n
        }) { error in
            XCTAssertEqual("\(error)", "the producer failed", "the sender reports its own failure")
        }
        let (result, ended) = receiver.wait()
        XCTAssertThrowsError(try result.get()) { error in
            XCTAssertEqual((error as? DWCPError)?.status, .failure)
            XCTAssertEqual("\(error)", "the sender cancelled the transfer: the producer failed")
        }
        XCTAssertLessThan(ended - failedAt, 3, "the receiver waited for a sender that had given up")
    }

    /// A connection whose handshake is still under way when the transfer fails (its receiver
    /// never answered it: busy with the cancel on another, or gone) is shut down with the
    /// others, so the sender fails at once instead of waiting out the handshake's 10 s for a
    /// welcome. (A pipeline test hit this about one run in six, whenever the receiver ended
    /// before its second connection's hello arrived.)
    func testAConnectionStillInItsHandshakeEndsWithTheFailedTransfer() throws {
        let listener = try StreamListener(Endpoint(host: "127.0.0.1", port: 0))
        defer { listener.shutdown() }
        var scriptError: Error?
        var unanswered: [StreamSocket] = []
        // Welcomes connection 0 and answers its cancel with `fin` "cancelled"; any other
        // connection is accepted and never answered.
        let script = OSThread {
            do {
                while true {
                    guard let s = listener.accept() else { throw DWCPError.failure("no connection") }
                    let hello = try Hello.decode(try s.receive(Wire.helloLength))
                    guard hello.streamIndex == 0 else {
                        unanswered.append(s)
                        continue
                    }
                    defer { s.close() }
                    let nonce = SessionAuth.nonce()
                    _ = try s.receive(Wire.proofLength)
                    try s.sendAll(Challenge(nonce: nonce).encoded())
                    try Handshake.serverWelcome(s, auth: SessionAuth(secret: nil), hello: hello, serverNonce: nonce,
                                                status: .ok, nextExpected: 0, window: 1 << 30)
                    s.setReceiveTimeout(5)
                    while true {
                        let m = try MessageHeader.decode(try s.receive(Wire.messageHeaderLength))
                        _ = try s.receive(Int(m.length))
                        if m.kind == .cancel { break }
                    }
                    var fin = [UInt8](repeating: 0, count: Wire.messageHeaderLength)
                    MessageHeader(kind: .fin, length: 0, sequence: Wire.verdictCancelled, offset: 0, checksum: 0).store(to: &fin)
                    try s.sendAll(fin)
                    _ = try? s.receive(1)   // until the sender closes
                    return
                }
            } catch { scriptError = error }
        }
        var failedAt = 0.0
        XCTAssertThrowsError(try sender(listener.port, streams: 2).send { _, _ in
            failedAt = MonotonicClock.now()
            throw DWCPError.failure("the producer failed")
        }) { XCTAssertEqual("\($0)", "the producer failed") }
        let returned = MonotonicClock.now()
        script.join()
        XCTAssertNil(scriptError)
        XCTAssertLessThan(returned - failedAt, 3, "the sender waited for a handshake nobody would answer")
        for s in unanswered { s.close() }
    }

    /// A file that shrinks while being sent is found by a connection thread, between two chunks:
    /// that connection and the others carry the cancel.
    func testAFileThatShrinksWhileBeingSentCancelsTheTransfer() throws {
        let path = NSTemporaryDirectory() + "cancel-src-\(getpid())"
        defer { unlink(path) }
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(repeating: 0x33, count: 32 << 20)))
        let file = try FileDescriptor.openForReading(path)
        defer { file.close() }
        let receiver = try startReceiver()
        var config = sender(receiver.port, streams: 2).configuration
        config.maxRate = 8 << 20  // 4 s for the whole file: it is cut long before the end
        let transport = TransportSender(configuration: config)
        nonisolated(unsafe) var cutAt = 0.0
        Thread {
            usleep(500_000)
            cutAt = MonotonicClock.now()
            truncate(path, 1 << 20)
        }.start()
        XCTAssertThrowsError(try transport.send(file: file)) { error in
            XCTAssertTrue("\(error)".contains("shrank while being sent"), "\(error)")
        }
        let (result, ended) = receiver.wait()
        XCTAssertThrowsError(try result.get()) { error in
            XCTAssertTrue("\(error)".hasPrefix("the sender cancelled the transfer: "), "\(error)")
            XCTAssertTrue("\(error)".contains("shrank while being sent"), "\(error)")
        }
        XCTAssertLessThan(ended - cutAt, 3, "the receiver waited for a sender that had given up")
    }

    /// A cancel that is too long or corrupt ends only the connection it came on (nothing is
    /// allocated for an overlong one): the transfer goes on, and a sound cancel on a new
    /// connection of the same session then ends it, answered with `fin` 3.
    func testAHostileCancelEndsOnlyItsConnection() throws {
        let receiver = try startReceiver()
        let session = SessionAuth.nonce()
        func connection() throws -> StreamSocket {
            let socket = try StreamSocket.connect(Endpoint(host: "127.0.0.1", port: receiver.port))
            _ = try Handshake.client(socket, auth: SessionAuth(secret: nil), session: session, stream: 0, chunkSize: 1 << 16, streams: 1)
            socket.setReceiveTimeout(5)
            return socket
        }
        func answer(_ socket: StreamSocket) throws -> MessageHeader {
            try socket.receive(Wire.messageHeaderLength).withUnsafeBytes { try MessageHeader.decode($0.baseAddress!) }
        }
        var header = [UInt8](repeating: 0, count: Wire.messageHeaderLength)
        let overlong = try connection()
        MessageHeader(kind: .cancel, length: UInt32(Wire.maxCancelReason + 1), sequence: 0, offset: 0, checksum: 0).store(to: &header)
        try overlong.sendAll(header)
        let sent = MonotonicClock.now()
        XCTAssertThrowsError(try answer(overlong), "an overlong cancel ends its connection")
        XCTAssertLessThan(MonotonicClock.now() - sent, 2, "at once, not after waiting for its reason")
        var corrupt = Wire.cancelMessage(reason: "forged")
        corrupt[corrupt.count - 1] ^= 1
        let second = try connection()
        try second.sendAll(corrupt)
        XCTAssertThrowsError(try answer(second), "a cancel whose checksum fails ends its connection")
        let third = try connection()
        try third.sendAll(Wire.cancelMessage(reason: "really"))
        let fin = try answer(third)
        XCTAssertEqual(fin.kind, .fin)
        XCTAssertEqual(fin.sequence, Wire.verdictCancelled)
        let (result, _) = receiver.wait()
        XCTAssertThrowsError(try result.get()) { error in
            XCTAssertEqual("\(error)", "the sender cancelled the transfer: really", "only the sound cancel counted")
        }
    }

    /// The reason goes out whole when it fits, cut at a character boundary when it does not,
    /// and comes out as one printable line whatever a sender put in it.
    func testTheReasonIsBoundedAndPrintable() throws {
        func reason(of message: [UInt8]) throws -> [UInt8] {
            let header = try message.withUnsafeBytes { try MessageHeader.decode($0.baseAddress!) }
            XCTAssertEqual(header.kind, .cancel)
            XCTAssertEqual(Int(header.length), message.count - Wire.messageHeaderLength)
            let text = Array(message[Wire.messageHeaderLength...])
            XCTAssertEqual(Checksum.xxh3(text), header.checksum)
            return text
        }
        XCTAssertEqual(Wire.cancelReason(try reason(of: Wire.cancelMessage(reason: "QEMU failed"))), "QEMU failed")
        let long = String(repeating: "é", count: 2000)  // two bytes each: a cut inside one would break it
        let cut = try reason(of: Wire.cancelMessage(reason: long))
        XCTAssertLessThanOrEqual(cut.count, Wire.maxCancelReason)
        XCTAssertNotNil(String(validating: cut, as: UTF8.self))
        XCTAssertTrue(Wire.cancelReason(cut).hasSuffix("é..."))
        XCTAssertEqual(Wire.cancelReason(Array("bad\n\u{1b}[2Jline".utf8)), "bad??[2Jline")
    }
}
