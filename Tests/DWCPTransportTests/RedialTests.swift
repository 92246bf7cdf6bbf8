import DWCPCore
import DWCPSystem
@testable import DWCPTransport
import Foundation
import XCTest

/// A connection dialled again after a cut, in a transfer the receiver has welcomed, sends its
/// chunks right behind its hello when there is no secret (a round trip sooner on every
/// reconnection of a long path), and a welcome that then never comes counts as a failed dial.
final class RedialTests: XCTestCase {
    let chunkSize = 64 << 10

    func bytes(_ n: Int) -> [UInt8] {
        (0..<n).map { UInt8(truncatingIfNeeded: ($0 &* 37) ^ ($0 >> 11)) }
    }

    func sender(_ port: UInt16, secret: [UInt8]?, resumeTimeout: Double = 5) -> TransportSender {
        var config = SenderConfiguration(endpoint: Endpoint(host: "127.0.0.1", port: port))
        config.auth = SessionAuth(secret: secret)
        config.streams = 1
        config.chunkSize = chunkSize
        config.resumeTimeout = resumeTimeout
        return TransportSender(configuration: config)
    }

    func send(_ data: [UInt8], with sender: TransportSender) throws -> TransferStats {
        var at = 0
        return try sender.send { p, capacity in
            let n = min(capacity, data.count - at)
            data.withUnsafeBytes { p.copyMemory(from: $0.baseAddress! + at, byteCount: n) }
            at += n
            return n
        }
    }

    /// The receiver's side of a handshake, scripted: reads the hello and the proof (after a
    /// challenge with a secret); then, if `peek`, waits up to `peekSeconds` for a message header
    /// before it answers (returned, nil if none came); then welcomes with `status`.
    func answer(_ s: StreamSocket, auth: SessionAuth, status: Welcome.Status = .ok, peek: Bool,
                peekSeconds: Double = 1) throws -> [UInt8]? {
        s.setReceiveTimeout(5)
        let hello = try Hello.decode(try s.receive(Wire.helloLength))
        let nonce = SessionAuth.nonce()
        if auth.required { try s.sendAll(Challenge(nonce: nonce).encoded()) }
        _ = try s.receive(Wire.proofLength)
        var early: [UInt8]?
        if peek {
            s.setReceiveTimeout(peekSeconds)
            early = try? s.receive(Wire.messageHeaderLength)
            s.setReceiveTimeout(5)
        }
        if !auth.required { try s.sendAll(Challenge(nonce: nonce).encoded()) }
        try Handshake.serverWelcome(s, auth: auth, hello: hello, serverNonce: nonce, status: status, nextExpected: 0, window: 1 << 30)
        return early
    }

    /// Reads one message (its header possibly read already); returns it and its body.
    func message(_ s: StreamSocket, header: [UInt8]? = nil) throws -> (MessageHeader, [UInt8]) {
        let m = try MessageHeader.decode(try header ?? s.receive(Wire.messageHeaderLength))
        return (m, try s.receive(Int(m.length)))
    }

    func control(_ s: StreamSocket, _ kind: MessageHeader.Kind, _ value: UInt64) throws {
        var m = [UInt8](repeating: 0, count: Wire.messageHeaderLength)
        MessageHeader(kind: kind, length: 0, sequence: value, offset: 0, checksum: 0).store(to: &m)
        try s.sendAll(m)
    }

    /// The first connection is welcomed, delivers one chunk and is cut; the one dialled in its
    /// place finds its first chunk waiting before the receiver answered its hello (without a
    /// secret) or after the welcome only (with one), and the stream arrives whole.
    func checkRedial(secret: [UInt8]?, file: StaticString = #filePath, line: UInt = #line) throws {
        let listener = try StreamListener(Endpoint(host: "127.0.0.1", port: 0))
        defer { listener.shutdown() }
        let auth = SessionAuth(secret: secret)
        let data = bytes(5 * chunkSize + 1234)
        var firstEarly: [UInt8]?, redialEarly: [UInt8]?
        var chunks: [UInt64: [UInt8]] = [:]
        var scriptError: Error?
        let script = OSThread { [self] in
            do {
                guard let a = listener.accept() else { throw DWCPError.failure("no first connection") }
                firstEarly = try answer(a, auth: auth, peek: true, peekSeconds: 0.3)
                let (m, body) = try message(a, header: firstEarly)
                chunks[m.sequence] = body
                a.shutdownBoth()   // cut: nothing acknowledged
                a.close()
                guard let b = listener.accept() else { throw DWCPError.failure("no second connection") }
                defer { b.close() }
                redialEarly = try answer(b, auth: auth, peek: true)
                var header = redialEarly
                while true {
                    let (m, body) = try message(b, header: header)
                    header = nil
                    if m.kind == .end { break }
                    chunks[m.sequence] = body
                }
                try control(b, .ack, UInt64(chunks.count))
                try control(b, .fin, Wire.verdictOK)
                _ = try? b.receive(1)   // until the sender closes
            } catch { scriptError = error }
        }
        let stats = try send(data, with: sender(listener.port, secret: secret))
        script.join()
        XCTAssertNil(scriptError, file: file, line: line)
        XCTAssertNil(firstEarly, "the transfer's first connection sent before its welcome", file: file, line: line)
        if secret == nil {
            let m = try MessageHeader.decode(try XCTUnwrap(redialEarly, "the connection dialled again waited for its welcome", file: file, line: line))
            XCTAssertEqual(m.kind, .data, file: file, line: line)
            XCTAssertEqual(m.sequence, 0, "the cut connection's chunks go first", file: file, line: line)
        } else {
            XCTAssertNil(redialEarly, "with a secret, a chunk went before the receiver proved it", file: file, line: line)
        }
        XCTAssertEqual(chunks.keys.sorted().map { chunks[$0]! }.reduce([], +), data, file: file, line: line)
        XCTAssertEqual(stats.reconnects, 1, file: file, line: line)
        XCTAssertEqual(stats.keptConnectionsUsed, 0, file: file, line: line)
    }

    func testAConnectionDialledAgainSendsBeforeItsWelcome() throws {
        try checkRedial(secret: nil)
    }

    func testWithASecretAConnectionDialledAgainWaitsForItsWelcome() throws {
        try checkRedial(secret: Array("redial test secret, long enough".utf8))
    }

    /// A receiver that answers every connection dialled again with "busy" (another transfer took
    /// it) is asked again after pauses, as a failed dial is, until the resume timeout: not in a
    /// loop as fast as the answers come.
    func testAConnectionDialledAgainThatIsRefusedPausesAsAFailedDial() throws {
        let listener = try StreamListener(Endpoint(host: "127.0.0.1", port: 0))
        let auth = SessionAuth(secret: nil)
        var redials = 0
        var scriptError: Error?
        let script = OSThread { [self] in
            do {
                guard let a = listener.accept() else { throw DWCPError.failure("no first connection") }
                _ = try answer(a, auth: auth, peek: false)
                _ = try message(a)
                a.shutdownBoth()
                a.close()
                while let b = listener.accept() {
                    redials += 1
                    _ = try? answer(b, auth: auth, status: .busy, peek: false)
                    b.close()
                }
            } catch { scriptError = error }
        }
        let started = MonotonicClock.now()
        XCTAssertThrowsError(try send(bytes(3 * chunkSize), with: sender(listener.port, secret: nil, resumeTimeout: 1))) { error in
            XCTAssertEqual((error as? DWCPError)?.status, .network, "\(error)")
            XCTAssertTrue("\(error)".contains("busy"), "the refusal is named: \(error)")
        }
        let took = MonotonicClock.now() - started
        listener.shutdown()
        script.join()
        XCTAssertNil(scriptError)
        // Pauses of 0.1, 0.2, 0.4 and 0.8 s fit in the second: five or six dials, not hundreds.
        XCTAssertGreaterThanOrEqual(redials, 3)
        XCTAssertLessThanOrEqual(redials, 8, "dialled again without pausing")
        XCTAssertGreaterThan(took, 1)
        XCTAssertLessThan(took, 4)
    }
}
