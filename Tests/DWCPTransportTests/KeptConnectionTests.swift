import DWCPCore
import DWCPSystem
@testable import DWCPTransport
import Foundation
import XCTest

/// A sender's connections kept from one transfer for the next to the same receiver
/// (`ConnectionPool`, `Hello.keepFlag`, `release`): reused when the receiver keeps them, replaced
/// when it did not, and never held by a receiver whose sender does not release them.
final class KeptConnectionTests: XCTestCase {
    func receive(on listener: StreamListener, handshakeTimeout: Double = 10) throws -> () -> (Result<TransferStats, Error>, Data?) {
        var config = ReceiverConfiguration()
        config.idleTimeout = 10
        config.handshakeTimeout = handshakeTimeout
        return try ReceiverOnAThread.intoTemporaryFile(on: listener, configuration: config)
    }

    func send(_ bytes: [UInt8], to port: UInt16, streams: Int, pool: ConnectionPool?, session: [UInt8]? = nil,
              auth: SessionAuth = SessionAuth(secret: nil)) throws -> TransferStats {
        var config = SenderConfiguration(endpoint: Endpoint(host: "127.0.0.1", port: port))
        config.auth = auth
        config.session = session
        config.streams = streams
        config.chunkSize = 64 << 10
        config.resumeTimeout = 5
        config.keptConnections = pool
        var at = 0
        return try TransportSender(configuration: config).send { p, capacity in
            let n = min(capacity, bytes.count - at)
            bytes.withUnsafeBytes { p.copyMemory(from: $0.baseAddress! + at, byteCount: n) }
            at += n
            return n
        }
    }

    func bytes(_ n: Int, _ seed: Int) -> [UInt8] {
        (0..<n).map { UInt8(truncatingIfNeeded: ($0 &* (31 + seed)) ^ ($0 >> 9)) }
    }

    /// Transfer after transfer runs on the first one's connections, and each arrives whole.
    func testTransfersInARowRunOnTheFirstOnesConnections() throws {
        let listener = try StreamListener(Endpoint(host: "127.0.0.1", port: 0))
        let pool = ConnectionPool()
        defer { pool.close() }
        for round in 0..<4 {
            let wait = try receive(on: listener)
            let data = bytes(700_000 + round * 1000, round)
            let sent = try send(data, to: listener.port, streams: 3, pool: pool)
            let (result, received) = wait()
            XCTAssertNoThrow(try result.get(), "round \(round)")
            XCTAssertEqual(received, Data(data), "round \(round)")
            XCTAssertEqual(sent.keptConnectionsUsed, round == 0 ? 0 : 3, "round \(round)")
            XCTAssertEqual(pool.count, 3, "round \(round): the connections were not kept")
        }
        // A transfer with fewer streams leaves one waiting, which the receiver's next transfer
        // takes into its handshake; that one ends without it, so the transfer after, with more
        // streams, is told "busy" on it and dials it anew, as it dials the stream it lacks.
        for (round, streams) in [(4, 2), (5, 4)] {
            let wait = try receive(on: listener)
            let data = bytes(300_000, round)
            let sent = try send(data, to: listener.port, streams: streams, pool: pool)
            let (result, received) = wait()
            XCTAssertNoThrow(try result.get(), "round \(round)")
            XCTAssertEqual(received, Data(data), "round \(round)")
            XCTAssertEqual(sent.keptConnectionsUsed, 2, "round \(round)")
        }
    }

    /// Kept connections the receiving side closed meanwhile (here: its next transfer's handshake
    /// timed out waiting for them) are replaced by new ones, and the transfer goes through.
    func testKeptConnectionsTheReceiverClosedAreReplaced() throws {
        let listener = try StreamListener(Endpoint(host: "127.0.0.1", port: 0))
        let pool = ConnectionPool()
        defer { pool.close() }
        let first = try receive(on: listener)
        let a = bytes(500_000, 1)
        _ = try send(a, to: listener.port, streams: 2, pool: pool)
        XCTAssertEqual(first().1, Data(a))
        XCTAssertEqual(pool.count, 2)
        let second = try receive(on: listener, handshakeTimeout: 0.3)
        usleep(800_000)   // the kept connections' handshakes time out: the receiver closes them
        let b = bytes(500_000, 2)
        let sent = try send(b, to: listener.port, streams: 2, pool: pool)
        let (result, received) = second()
        XCTAssertNoThrow(try result.get())
        XCTAssertEqual(received, Data(b))
        XCTAssertEqual(sent.keptConnectionsUsed, 0)
        XCTAssertEqual(pool.count, 2, "the new connections are kept in turn")
    }

    /// A kept connection has nothing more to prove without a secret, so its transfer's chunks
    /// follow the hello at once: a scripted receiver finds the first chunk waiting before it has
    /// answered the hello (a round trip sooner than after the welcome, on every pre-copy round
    /// of `dwcp-migrate file`), and the transfer completes as usual. The first transfer, on a
    /// new connection, waits for its welcome.
    func testAKeptConnectionSendsItsChunksBeforeItsWelcome() throws {
        try checkChunksBeforeWelcome(secret: nil)
    }

    /// With a secret, a kept connection's chunks follow its proof, before the welcome.
    func testAKeptConnectionWithASecretSendsItsChunksAfterItsProof() throws {
        try checkChunksBeforeWelcome(secret: Array("kept connection test secret".utf8))
    }

    /// Two transfers of one sender to a scripted receiver, which looks for a chunk after the
    /// hello (and, with a `secret`, after the challenge and the proof) before it welcomes.
    func checkChunksBeforeWelcome(secret: [UInt8]?, file: StaticString = #filePath, line: UInt = #line) throws {
        let listener = try StreamListener(Endpoint(host: "127.0.0.1", port: 0))
        let auth = SessionAuth(secret: secret)
        let sendControl = { (s: StreamSocket, kind: MessageHeader.Kind, value: UInt64) in
            var m = [UInt8](repeating: 0, count: Wire.messageHeaderLength)
            MessageHeader(kind: kind, length: 0, sequence: value, offset: 0, checksum: 0).store(to: &m)
            try s.sendAll(m)
        }
        /// Reads the hello and its proof; with `peek`, then waits up to 1 s for a message header
        /// before answering (nil if none came); then welcomes.
        func handshake(_ s: StreamSocket, peek: Bool) throws -> [UInt8]? {
            let hello = try Hello.decode(try s.receive(Wire.helloLength))
            let nonce = SessionAuth.nonce()
            if secret != nil { try s.sendAll(Challenge(nonce: nonce).encoded()) }
            let proof = try s.receive(Wire.proofLength)
            XCTAssertEqual(proof, auth.proof(role: "client", session: hello.session, stream: hello.streamIndex, clientNonce: hello.nonce, serverNonce: nonce),
                           file: file, line: line)
            var early: [UInt8]?
            if peek {
                s.setReceiveTimeout(1)
                early = try? s.receive(Wire.messageHeaderLength)
            }
            if secret == nil { try s.sendAll(Challenge(nonce: nonce).encoded()) }
            try Handshake.serverWelcome(s, auth: auth, hello: hello, serverNonce: nonce, status: .ok, nextExpected: 0, window: 1 << 30)
            return early
        }
        /// Reads chunks up to the end (the first header may have been read already), answers
        /// with the acknowledgement and `fin` 0, then the sender's `release`; returns the bytes.
        func transfer(_ s: StreamSocket, first: [UInt8]?) throws -> [UInt8] {
            var received: [UInt8] = [], chunks: UInt64 = 0, pending = first
            s.setReceiveTimeout(5)
            while true {
                let header = try pending ?? s.receive(Wire.messageHeaderLength)
                pending = nil
                let m = try MessageHeader.decode(header)
                let body = try s.receive(Int(m.length))
                if m.kind == .end { break }
                XCTAssertEqual(m.kind, .data)
                received += body
                chunks += 1
            }
            try sendControl(s, .ack, chunks)
            try sendControl(s, .fin, Wire.verdictOK)
            XCTAssertEqual(try MessageHeader.decode(try s.receive(Wire.messageHeaderLength)).kind, .release)
            try s.sendAll(Wire.releaseMessage)
            return received
        }
        let a = bytes(300_000, 1), b = bytes(200_000, 2)
        var early: [[UInt8]?] = []
        var received: [[UInt8]] = []
        var scriptError: Error?
        let script = OSThread {
            do {
                guard let s = listener.accept() else { throw DWCPError.failure("no connection") }
                defer { s.close() }
                for _ in 0..<2 {
                    let first = try handshake(s, peek: true)
                    early.append(first)
                    received.append(try transfer(s, first: first))
                }
            } catch { scriptError = error }
        }
        let pool = ConnectionPool()
        defer { pool.close() }
        let first = try send(a, to: listener.port, streams: 1, pool: pool, auth: auth)
        let second = try send(b, to: listener.port, streams: 1, pool: pool, auth: auth)
        script.join()
        XCTAssertNil(scriptError, file: file, line: line)
        XCTAssertEqual(early.count, 2, file: file, line: line)
        XCTAssertNil(early.first ?? nil, "a new connection sent before its welcome", file: file, line: line)
        let chunk = try MessageHeader.decode(try XCTUnwrap(early.last ?? nil, "the kept connection waited for its welcome", file: file, line: line))
        XCTAssertEqual(chunk.kind, .data, file: file, line: line)
        XCTAssertEqual(received, [a, b], file: file, line: line)
        XCTAssertEqual(first.keptConnectionsUsed, 0, file: file, line: line)
        XCTAssertEqual(second.keptConnectionsUsed, 1, file: file, line: line)
    }

    /// Opens a connection that asks to be kept (unless not `keep`) and sends one chunk and the
    /// end; returns it with the verdict read (if `readVerdict`).
    func transferOneChunk(port: UInt16, session: [UInt8] = SessionAuth.nonce(), keep: Bool = true, readVerdict: Bool = true) throws -> StreamSocket {
        let socket = try StreamSocket.connect(Endpoint(host: "127.0.0.1", port: port))
        _ = try Handshake.client(socket, auth: SessionAuth(secret: nil), session: session, stream: 0,
                                 chunkSize: 1 << 16, streams: 1, keep: keep)
        let chunk = bytes(5000, 3)
        let checksum = Checksum.xxh3(chunk)
        var header = [UInt8](repeating: 0, count: Wire.messageHeaderLength)
        MessageHeader(kind: .data, length: UInt32(chunk.count), sequence: 0, offset: 0, checksum: checksum).store(to: &header)
        try socket.sendAll(header + chunk)
        try socket.sendAll(oneChunkEnd)
        socket.setReceiveTimeout(5)
        guard readVerdict else { return socket }
        XCTAssertEqual(try verdict(on: socket), Wire.verdictOK)
        return socket
    }

    /// The end message of `transferOneChunk`'s transfer (one chunk of 5,000 bytes).
    var oneChunkEnd: [UInt8] {
        let chunk = bytes(5000, 3)
        let digest = ChunkListDigest()
        digest.add(Checksum.xxh3(chunk))
        let d = digest.finalize()
        var end = [UInt8](repeating: 0, count: 32)
        end.withUnsafeMutableBytes { raw in
            LittleEndian.store(UInt64(chunk.count), raw.baseAddress!, 0)
            LittleEndian.store(UInt64(1), raw.baseAddress!, 8)
            LittleEndian.store(d.high, raw.baseAddress!, 16)
            LittleEndian.store(d.low, raw.baseAddress!, 24)
        }
        var header = [UInt8](repeating: 0, count: Wire.messageHeaderLength)
        MessageHeader(kind: .end, length: 32, sequence: 0, offset: 0, checksum: Checksum.xxh3(end)).store(to: &header)
        return header + end
    }

    /// Sends `release` and checks the receiver answers it (after any acknowledgements).
    func release(_ socket: StreamSocket, file: StaticString = #filePath, line: UInt = #line) throws {
        try socket.sendAll(Wire.releaseMessage)
        var m = try MessageHeader.decode(try socket.receive(Wire.messageHeaderLength))
        while m.kind == .ack { m = try MessageHeader.decode(try socket.receive(Wire.messageHeaderLength)) }
        XCTAssertEqual(m.kind, .release, file: file, line: line)
    }

    /// Reads acknowledgements up to the verdict (`fin`) and returns it.
    func verdict(on socket: StreamSocket) throws -> UInt64 {
        while true {
            let m = try MessageHeader.decode(try socket.receive(Wire.messageHeaderLength))
            if m.kind == .fin { return m.sequence }
        }
    }

    /// A sender that asks to keep its connection and then never releases it (gone with its
    /// host, or not a DWCP sender) has it closed after the handshake timeout, not held forever.
    func testAConnectionNeverReleasedIsClosedAfterTheHandshakeTimeout() throws {
        let listener = try StreamListener(Endpoint(host: "127.0.0.1", port: 0))
        let wait = try receive(on: listener, handshakeTimeout: 0.5)
        let socket = try transferOneChunk(port: listener.port)
        XCTAssertNoThrow(try wait().0.get())
        let start = MonotonicClock.now()
        XCTAssertThrowsError(try socket.receive(1), "the receiver kept the connection open")
        let held = MonotonicClock.now() - start
        XCTAssertLessThan(held, 3, "closed only after \(held) s")
        socket.close()
    }

    /// A connection kept open after the verdict carries nothing more of the transfer: a chunk
    /// there is never written into the verified output, and ends the connection.
    func testAChunkAfterTheVerdictIsNeverWritten() throws {
        let listener = try StreamListener(Endpoint(host: "127.0.0.1", port: 0))
        let path = NSTemporaryDirectory() + "kept-late-\(UUID().uuidString)"
        defer { unlink(path) }
        let output = try FileDescriptor.create(path, overwrite: true)
        defer { output.close() }
        let receiver = try ReceiverOnAThread(listener: listener, to: output)
        let socket = try transferOneChunk(port: listener.port)
        XCTAssertNoThrow(try receiver.wait().result.get())
        let late = bytes(4000, 5)
        var header = [UInt8](repeating: 0, count: Wire.messageHeaderLength)
        MessageHeader(kind: .data, length: UInt32(late.count), sequence: 1, offset: 5000, checksum: Checksum.xxh3(late)).store(to: &header)
        try socket.sendAll(header + late)
        XCTAssertThrowsError(try { while true { _ = try socket.receive(Wire.messageHeaderLength) } }(), "the connection stayed open")
        socket.close()
        XCTAssertEqual(FileManager.default.contents(atPath: path), Data(bytes(5000, 3)))
    }

    /// The answer to `release` is the transfer's last byte on the connection; a `release` before
    /// the verdict is a protocol error that ends the connection.
    /// A sender that lost every connection while its verdict was on its way (the soak of
    /// `dwcp-migrate file` with connections cut at random: 4 migrations in 20 failed this way,
    /// told "busy" until their resume timeout) reconnects to a receiver already on its next
    /// transfer: it is welcomed with nothing to send, told the verdict again for its end, and
    /// may release the connection to that next transfer, which goes on undisturbed. Only that
    /// transfer's end is answered.
    func testASenderThatLostItsVerdictIsToldItAgain() throws {
        let listener = try StreamListener(Endpoint(host: "127.0.0.1", port: 0))
        let session = SessionAuth.nonce()
        let first = try receive(on: listener)
        let lost = try transferOneChunk(port: listener.port, session: session, readVerdict: false)
        XCTAssertNoThrow(try first().0.get())
        lost.close()

        let next = try receive(on: listener)
        let again = try StreamSocket.connect(Endpoint(host: "127.0.0.1", port: listener.port))
        let welcome = try Handshake.client(again, auth: SessionAuth(secret: nil), session: session, stream: 0,
                                           chunkSize: 1 << 16, streams: 1, keep: true)
        XCTAssertEqual(welcome.status, .ok)
        XCTAssertEqual(welcome.nextExpected, 1, "the welcome asks for a chunk of a transfer that has ended")
        again.setReceiveTimeout(5)
        try again.sendAll(oneChunkEnd)
        XCTAssertEqual(try verdict(on: again), Wire.verdictOK)
        try release(again)
        again.close()

        // An end that is not the ended transfer's is not answered.
        let wrong = try StreamSocket.connect(Endpoint(host: "127.0.0.1", port: listener.port))
        _ = try Handshake.client(wrong, auth: SessionAuth(secret: nil), session: session, stream: 0, chunkSize: 1 << 16, streams: 1)
        var end = oneChunkEnd
        end[Wire.messageHeaderLength + 8] = 2
        MessageHeader(kind: .end, length: 32, sequence: 0, offset: 0, checksum: Checksum.xxh3(Array(end[Wire.messageHeaderLength...]))).store(to: &end)
        try wrong.sendAll(end)
        wrong.setReceiveTimeout(5)
        XCTAssertThrowsError(try verdict(on: wrong), "an end of another chunk count was answered")
        wrong.close()

        let data = bytes(200_000, 9)
        _ = try send(data, to: listener.port, streams: 2, pool: nil)
        let (result, received) = next()
        XCTAssertNoThrow(try result.get())
        XCTAssertEqual(received, Data(data))
    }

    /// After a listener's last transfer (`dwcp-migrate receive`'s final round) the receiver
    /// waits until the sender says it heard the verdict (a `release`): at once when it did; a
    /// sender that lost the verdict and comes back is told it meanwhile, and a new session is
    /// answered "busy"; nobody coming back ends the wait at its deadline, unheard.
    func testAfterTheLastTransferTheVerdictIsToldUntilTheSenderHeardIt() throws {
        var config = ReceiverConfiguration()
        config.handshakeTimeout = 5
        config.idleTimeout = 10  // the wait's bound
        // Heard: the sender released its connection after the verdict.
        let listener = try StreamListener(Endpoint(host: "127.0.0.1", port: 0))
        let first = try receive(on: listener)
        let heard = try transferOneChunk(port: listener.port)
        XCTAssertNoThrow(try first().0.get())
        try heard.sendAll(Wire.releaseMessage)
        let start = MonotonicClock.now()
        XCTAssertTrue(TransportReceiver.waitUntilVerdictHeard(on: listener, configuration: config))
        XCTAssertLessThan(MonotonicClock.now() - start, 1, "waited for a sender that had released")
        heard.close()

        // Lost: told again to the sender that comes back; a stranger meanwhile is busy.
        let session = SessionAuth.nonce()
        let second = try receive(on: listener)
        let lost = try transferOneChunk(port: listener.port, session: session, readVerdict: false)
        XCTAssertNoThrow(try second().0.get())
        lost.close()
        var result: Bool?
        let waiting = OSThread { result = TransportReceiver.waitUntilVerdictHeard(on: listener, configuration: config) }
        let stranger = try StreamSocket.connect(Endpoint(host: "127.0.0.1", port: listener.port))
        XCTAssertThrowsError(try Handshake.client(stranger, auth: SessionAuth(secret: nil), session: SessionAuth.nonce(), stream: 0,
                                                  chunkSize: 1 << 16, streams: 1)) { XCTAssertEqual($0 as? DWCPError, Wire.receiverBusy) }
        stranger.close()
        let again = try StreamSocket.connect(Endpoint(host: "127.0.0.1", port: listener.port))
        XCTAssertEqual(try Handshake.client(again, auth: SessionAuth(secret: nil), session: session, stream: 0,
                                            chunkSize: 1 << 16, streams: 1, keep: true).nextExpected, 1)
        again.setReceiveTimeout(5)
        try again.sendAll(oneChunkEnd)
        XCTAssertEqual(try verdict(on: again), Wire.verdictOK)
        try again.sendAll(Wire.releaseMessage)
        waiting.join()
        XCTAssertEqual(result, true, "the sender that heard the verdict again was not counted")
        again.close()

        // Nobody comes back: unheard at the deadline.
        let third = try receive(on: listener)
        try transferOneChunk(port: listener.port, readVerdict: false).close()
        XCTAssertNoThrow(try third().0.get())
        config.idleTimeout = 0.5
        let deadline = MonotonicClock.now() + config.idleTimeout
        XCTAssertFalse(TransportReceiver.waitUntilVerdictHeard(on: listener, configuration: config))
        XCTAssertGreaterThanOrEqual(MonotonicClock.now(), deadline)
    }

    /// A sender that did not ask to keep its connections (`dwcp-send` into `dwcp-recv`) tells
    /// it heard the verdict by closing the connection it came on: the wait ends at that FIN,
    /// not before; one whose connection was reset instead comes back and is told again, and
    /// its close then ends the wait; a reset with nobody back, after the verdict went out or
    /// before, is unheard at the deadline.
    func testASenderThatClosesAfterTheVerdictHasHeardIt() throws {
        var config = ReceiverConfiguration()
        config.handshakeTimeout = 5
        config.idleTimeout = 10
        let listener = try StreamListener(Endpoint(host: "127.0.0.1", port: 0))
        let first = try receive(on: listener)
        let heard = try transferOneChunk(port: listener.port, keep: false)
        XCTAssertNoThrow(try first().0.get())
        var result: Bool?
        var waiting = OSThread { result = TransportReceiver.waitUntilVerdictHeard(on: listener, configuration: config) }
        usleep(300_000)
        XCTAssertNil(result, "the wait ended while the sender still held the connection the verdict came on")
        let closed = MonotonicClock.now()
        heard.close()
        waiting.join()
        XCTAssertEqual(result, true)
        XCTAssertLessThan(MonotonicClock.now() - closed, 1, "the sender's close was not taken for hearing")

        // Reset with the verdict unread: told again to the sender that comes back.
        let session = SessionAuth.nonce()
        let second = try receive(on: listener)
        let lost = try transferOneChunk(port: listener.port, session: session, keep: false, readVerdict: false)
        XCTAssertNoThrow(try second().0.get())
        lost.abort()
        result = nil
        waiting = OSThread { result = TransportReceiver.waitUntilVerdictHeard(on: listener, configuration: config) }
        usleep(300_000)
        XCTAssertNil(result, "a reset connection was taken for a sender that heard")
        let again = try StreamSocket.connect(Endpoint(host: "127.0.0.1", port: listener.port))
        XCTAssertEqual(try Handshake.client(again, auth: SessionAuth(secret: nil), session: session, stream: 0,
                                            chunkSize: 1 << 16, streams: 1).nextExpected, 1)
        again.setReceiveTimeout(5)
        try again.sendAll(oneChunkEnd)
        XCTAssertEqual(try verdict(on: again), Wire.verdictOK)
        again.close()
        waiting.join()
        XCTAssertEqual(result, true, "the sender told its verdict again and gone was not counted")

        // Reset, and nobody comes back: unheard at the deadline.
        let third = try receive(on: listener)
        let gone = try transferOneChunk(port: listener.port, keep: false, readVerdict: false)
        XCTAssertNoThrow(try third().0.get())
        gone.abort()
        config.idleTimeout = 0.5
        XCTAssertFalse(TransportReceiver.waitUntilVerdictHeard(on: listener, configuration: config))

        // Reset before the verdict went out: the failed send of it reported the reset, and the
        // socket then reads as closed, which is no sender that heard.
        let fourth = try receive(on: listener)
        try transferOneChunk(port: listener.port, keep: false, readVerdict: false).abort()
        XCTAssertNoThrow(try fourth().0.get())
        XCTAssertFalse(TransportReceiver.waitUntilVerdictHeard(on: listener, configuration: config))
    }

    func testReleaseIsAnsweredAfterTheVerdictAndRefusedBefore() throws {
        let listener = try StreamListener(Endpoint(host: "127.0.0.1", port: 0))
        let wait = try receive(on: listener)
        let socket = try transferOneChunk(port: listener.port)
        XCTAssertNoThrow(try wait().0.get())
        try release(socket)
        socket.close()

        let early = try StreamSocket.connect(Endpoint(host: "127.0.0.1", port: listener.port))
        let next = try receive(on: listener, handshakeTimeout: 2)
        let session = SessionAuth.nonce()
        _ = try Handshake.client(early, auth: SessionAuth(secret: nil), session: session, stream: 0,
                                 chunkSize: 1 << 16, streams: 1, keep: true)
        try early.sendAll(Wire.releaseMessage)
        early.setReceiveTimeout(5)
        XCTAssertThrowsError(try early.receive(1), "a release before the verdict was taken")
        early.close()
        // The transfer goes on with the session's other connections.
        let data = bytes(100_000, 4)
        _ = try send(data, to: listener.port, streams: 1, pool: nil, session: session)
        XCTAssertEqual(next().1, Data(data))
    }
}
