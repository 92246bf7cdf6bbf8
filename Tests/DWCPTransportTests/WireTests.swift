import DWCPCore
@testable import DWCPTransport
import XCTest

final class WireTests: XCTestCase {
    func testHandshakeMessagesRoundTripAndRejectGarbage() throws {
        let hello = Hello(flags: Hello.authFlag, streamIndex: 7, session: Array(0..<16), nonce: Array(16..<32), chunkSize: 1 << 20, streams: 8, window: 3 << 20)
        XCTAssertEqual(try Hello.decode(hello.encoded()), hello)
        var bad = hello.encoded()
        bad[10] ^= 1
        XCTAssertThrowsError(try Hello.decode(bad))
        XCTAssertThrowsError(try Hello.decode([UInt8](repeating: 0x41, count: Wire.helloLength)))
        let welcome = Welcome(status: .ok, nextExpected: 42, window: 1 << 28, proof: Array(repeating: 9, count: 32))
        XCTAssertEqual(try Welcome.decode(welcome.encoded()), welcome)
        XCTAssertEqual(try Challenge.decode(Challenge(nonce: Array(0..<16)).encoded()).nonce, Array(0..<16))
    }

    func testHugeLengthsAreRejectedBeforeAllocation() {
        var raw = [UInt8](repeating: 0, count: Wire.messageHeaderLength)
        MessageHeader(kind: .data, length: UInt32(Wire.maxChunk) + 1, sequence: 0, offset: 0, checksum: 0).store(to: &raw)
        XCTAssertThrowsError(try raw.withUnsafeBytes { try MessageHeader.decode($0.baseAddress!) })
        raw[0] = 99
        XCTAssertThrowsError(try raw.withUnsafeBytes { try MessageHeader.decode($0.baseAddress!) })
    }

    func testProofsDependOnSecretNoncesAndDirection() {
        let a = SessionAuth(secret: Array("0123456789abcdef".utf8)), b = SessionAuth(secret: Array("0123456789abcdeX".utf8))
        let s = Array(repeating: UInt8(1), count: 16), c = SessionAuth.nonce(), n = SessionAuth.nonce()
        let client = a.proof(role: "client", session: s, stream: 0, clientNonce: c, serverNonce: n)
        XCTAssertEqual(client.count, 32)
        XCTAssertTrue(SessionAuth.equal(client, a.proof(role: "client", session: s, stream: 0, clientNonce: c, serverNonce: n)))
        XCTAssertFalse(SessionAuth.equal(client, b.proof(role: "client", session: s, stream: 0, clientNonce: c, serverNonce: n)))
        XCTAssertFalse(SessionAuth.equal(client, a.proof(role: "server", session: s, stream: 0, clientNonce: c, serverNonce: n)))
        XCTAssertFalse(SessionAuth.equal(client, a.proof(role: "client", session: s, stream: 1, clientNonce: c, serverNonce: n)))
        XCTAssertNotEqual(c, n)
    }

    func testEndpointParsing() {
        XCTAssertEqual(Endpoint("host:7000"), Endpoint(host: "host", port: 7000))
        XCTAssertEqual(Endpoint("[::1]:7000"), Endpoint(host: "::1", port: 7000))
        XCTAssertEqual(Endpoint(":7000"), Endpoint(host: "", port: 7000))
        XCTAssertEqual(Endpoint("7000"), Endpoint(host: "", port: 7000))
        XCTAssertNil(Endpoint("::1:7000"))
        XCTAssertNil(Endpoint("host:99999"))
        XCTAssertEqual(Endpoint(host: "fd00::2", port: 1).description, "[fd00::2]:1")
    }
}
