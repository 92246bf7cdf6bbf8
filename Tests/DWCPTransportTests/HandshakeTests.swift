import DWCPCore
import DWCPSystem
@testable import DWCPTransport
import Glibc
import XCTest

/// The handshake as the receiver's side sees it on the wire: without a secret a data
/// connection's proof comes with its hello (a round trip less per opening); with a secret, and
/// on a probe, it waits for the challenge. Either way the handshake completes.
final class HandshakeTests: XCTestCase {
    /// Runs one handshake against a receiver's side that, before sending its challenge, looks
    /// whether the proof has already arrived; returns that and the receiver's verdict.
    private func handshake(secret: [UInt8]?, probe: Bool) throws -> (proofBeforeChallenge: Bool, authenticated: Bool) {
        let listener = try StreamListener(Endpoint(host: "127.0.0.1", port: 0))
        defer { listener.shutdown() }
        let auth = SessionAuth(secret: secret)
        var seen: (Bool, Bool)?
        var serverError: Error?
        let server = OSThread {
            guard let socket = listener.accept() else { return }
            defer { socket.close() }
            do {
                let hello = try Hello.decode(try socket.receive(Wire.helloLength))
                usleep(50_000)   // loopback: anything sent with the hello is here by now
                var peek = [UInt8](repeating: 0, count: Wire.proofLength)
                let early = recv(socket.fd, &peek, peek.count, Int32(MSG_PEEK | MSG_DONTWAIT)) == peek.count
                let nonce = SessionAuth.nonce()
                try socket.sendAll(Challenge(nonce: nonce).encoded())
                let proof = try socket.receive(Wire.proofLength)
                let expected = auth.proof(role: "client", session: hello.session, stream: hello.streamIndex, clientNonce: hello.nonce, serverNonce: nonce)
                let ok = SessionAuth.equal(expected, proof)
                try Handshake.serverWelcome(socket, auth: auth, hello: hello, serverNonce: nonce, status: ok ? .ok : .authenticationFailed,
                                            nextExpected: 0, window: 1 << 20)
                seen = (early, ok)
            } catch { serverError = error }
        }
        let socket = try StreamSocket.connect(Endpoint(host: "127.0.0.1", port: listener.port))
        defer { socket.close() }
        var roundTrips = 0
        _ = try Handshake.client(socket, auth: auth, session: SessionAuth.nonce(), stream: 0, chunkSize: 1 << 16, streams: 1,
                                 probe: probe, roundTrip: { _ in roundTrips += 1 })
        server.join()
        if let serverError { throw serverError }
        XCTAssertEqual(roundTrips, secret == nil && !probe ? 1 : 2, "round trips timed")
        let result = try XCTUnwrap(seen)
        return (result.0, result.1)
    }

    func testWithoutASecretTheProofComesWithTheHello() throws {
        let r = try handshake(secret: nil, probe: false)
        XCTAssertTrue(r.proofBeforeChallenge, "the proof waited for the challenge: a round trip lost")
        XCTAssertTrue(r.authenticated)
    }

    func testWithASecretOrOnAProbeTheProofWaitsForTheChallenge() throws {
        for (secret, probe) in [(Array("0123456789abcdef".utf8), false), (nil, true)] as [([UInt8]?, Bool)] {
            let r = try handshake(secret: secret, probe: probe)
            XCTAssertFalse(r.proofBeforeChallenge, "secret \(secret != nil), probe \(probe)")
            XCTAssertTrue(r.authenticated)
        }
    }
}
