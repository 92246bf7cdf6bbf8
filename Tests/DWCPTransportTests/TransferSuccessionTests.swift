import DWCPCore
import DWCPSystem
@testable import DWCPTransport
import Foundation
import XCTest

/// One listener serving transfer after transfer (`dwcp-recv --keep`, `dwcp-migrate receive`):
/// the end of one must neither cut a connection that is for the next, nor let a late connection
/// of an ended transfer start the next one as its own.
final class TransferSuccessionTests: XCTestCase {
    /// Runs one receiver on `listener` into a temporary file, on a thread; returns a wait for
    /// its result and the file's bytes.
    func receive(on listener: StreamListener, maxPendingHandshakes: Int = 64) throws -> () -> (Result<TransferStats, Error>, Data?) {
        var config = ReceiverConfiguration()
        config.idleTimeout = 10
        config.maxPendingHandshakes = maxPendingHandshakes
        return try ReceiverOnAThread.intoTemporaryFile(on: listener, configuration: config)
    }

    @discardableResult
    func send(_ bytes: [UInt8], to port: UInt16, session: [UInt8], streams: Int = 2) throws -> TransferStats {
        var config = SenderConfiguration(endpoint: Endpoint(host: "127.0.0.1", port: port))
        config.streams = streams
        config.chunkSize = 64 << 10
        config.session = session
        config.resumeTimeout = 5
        var at = 0
        return try TransportSender(configuration: config).send { p, capacity in
            let n = min(capacity, bytes.count - at)
            bytes.withUnsafeBytes { p.copyMemory(from: $0.baseAddress! + at, byteCount: n) }
            at += n
            return n
        }
    }

    @discardableResult
    func handshake(_ socket: StreamSocket, session: [UInt8]) throws -> Welcome {
        try Handshake.client(socket, auth: SessionAuth(secret: nil), session: session, stream: 1,
                             chunkSize: 64 << 10, streams: 2)
    }

    /// A connection accepted during a transfer whose handshake is not done when the transfer
    /// ends is answered ("busy": that transfer is over), not shut down under its sender.
    func testAConnectionStillInItsHandshakeWhenATransferEndsIsAnsweredNotCut() throws {
        let listener = try StreamListener(Endpoint(host: "127.0.0.1", port: 0))
        let first = try receive(on: listener)
        let early = try StreamSocket.connect(Endpoint(host: "127.0.0.1", port: listener.port))
        usleep(300_000)  // accepted by the first transfer, which waits for its hello
        let bytes = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try send(bytes, to: listener.port, session: SessionAuth.nonce())
        let (result, data) = first()
        XCTAssertNoThrow(try result.get())
        XCTAssertEqual(data, Data(bytes))
        XCTAssertThrowsError(try handshake(early, session: SessionAuth.nonce())) { error in
            XCTAssertEqual(error as? DWCPError, Wire.receiverBusy, "the transfer's end cut a connection it had not taken: \(error)")
        }
    }

    /// A connection of a transfer that ended on this listener (a stream still dialling when the
    /// verdict went out) is not taken by the next receiver, which has none of its chunks (and
    /// would welcome it as a transfer that has nothing, `Wire.receiverRestarted` to its sender):
    /// it is welcomed as the ended transfer's, every chunk there (`tellVerdictAgain`; it was
    /// answered "busy" before that). The next sender then gets through.
    func testALateConnectionOfAnEndedTransferDoesNotStartTheNextOne() throws {
        let listener = try StreamListener(Endpoint(host: "127.0.0.1", port: 0))
        let ended = SessionAuth.nonce()
        let first = try receive(on: listener)
        let a = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        try send(a, to: listener.port, session: ended)
        XCTAssertEqual(first().1, Data(a))

        let second = try receive(on: listener)
        let late = try StreamSocket.connect(Endpoint(host: "127.0.0.1", port: listener.port))
        let welcome = try handshake(late, session: ended)
        XCTAssertEqual(welcome.nextExpected, 4, "an ended session's connection was welcomed into the next transfer (200,000 bytes are 4 chunks)")
        late.close()
        let b = (0..<250_000).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        try send(b, to: listener.port, session: SessionAuth.nonce())
        let (result, data) = second()
        XCTAssertNoThrow(try result.get())
        XCTAssertEqual(data, Data(b))
    }

    /// A first connection cut in its handshake (a dropped path: the migration soak's cuts once
    /// failed a `dwcp-migrate qemu` at its start this way, "Software caused connection abort")
    /// is dialled again within the resume timeout, as a busy receiver is asked again; a port
    /// where nobody listens still fails at once.
    func testAFirstConnectionCutInItsHandshakeIsDialledAgain() throws {
        let listener = try StreamListener(Endpoint(host: "127.0.0.1", port: 0))
        // The first connection is taken and closed once its hello arrived; then a receiver.
        var wait: (() -> (Result<TransferStats, Error>, Data?))?
        let cutter = OSThread {
            guard let first = listener.accept() else { return }
            _ = try? first.receive(Wire.helloLength)
            first.close()
            wait = try? self.receive(on: listener)
        }
        // One stream, so the connection cut is the first (the others dial beside it).
        let bytes = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 11) }
        let sent = try send(bytes, to: listener.port, session: SessionAuth.nonce(), streams: 1)
        cutter.join()
        XCTAssertGreaterThanOrEqual(sent.reconnects, 1, "\(sent)")
        XCTAssertEqual(wait?().1, Data(bytes))

        // Nobody listening: no second try.
        let closed = try StreamListener(Endpoint(host: "127.0.0.1", port: 0))
        let port = closed.port
        closed.shutdown()
        let start = MonotonicClock.now()
        var nobody = SenderConfiguration(endpoint: Endpoint(host: "127.0.0.1", port: port))
        nobody.resumeTimeout = 5
        XCTAssertThrowsError(try TransportSender(configuration: nobody).send { _, _ in 0 })
        XCTAssertLessThan(MonotonicClock.now() - start, 1, "a refused dial was tried again")
    }

    /// Handshakes left unfinished by an ended transfer still count against the limit: it is
    /// the listener's, not each transfer's.
    func testTheHandshakeLimitHoldsAcrossTransfers() throws {
        let listener = try StreamListener(Endpoint(host: "127.0.0.1", port: 0))
        let endpoint = Endpoint(host: "127.0.0.1", port: listener.port)
        let first = try receive(on: listener, maxPendingHandshakes: 2)
        let silentA = try StreamSocket.connect(endpoint)
        usleep(300_000)
        let a = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 3) }
        try send(a, to: listener.port, session: SessionAuth.nonce(), streams: 1)
        XCTAssertEqual(first().1, Data(a))

        let second = try receive(on: listener, maxPendingHandshakes: 2)
        let silentB = try StreamSocket.connect(endpoint)
        usleep(300_000)
        let third = try StreamSocket.connect(endpoint)
        XCTAssertThrowsError(try handshake(third, session: SessionAuth.nonce()), "a third handshake was let in past the limit of 2")
        silentA.close()
        silentB.close()
        usleep(300_000)
        let b = (0..<120_000).map { UInt8(truncatingIfNeeded: $0 &* 5) }
        try send(b, to: listener.port, session: SessionAuth.nonce(), streams: 1)
        let (result, data) = second()
        XCTAssertNoThrow(try result.get())
        XCTAssertEqual(data, Data(b))
    }
}
