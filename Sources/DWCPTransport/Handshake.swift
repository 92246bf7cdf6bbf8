import DWCPCore
import DWCPSystem

/// The connection handshake of both sides (docs/TRANSPORT.md):
///
///     client                                 server
///     HELLO(session, stream, nonce_c)  ──▶
///                                      ◀──  CHALLENGE(nonce_s)
///     PROOF = HMAC(k, client|…)        ──▶  verified (constant time)
///                                      ◀──  WELCOME(status, next chunk, window, HMAC(k, server|…))
///
/// A receiver writes nothing from a connection before this completed for the transfer's session.
///
/// Without a shared secret the proof is 32 zero bytes that no challenge can change, so a data
/// connection sends it with the hello: the receiver finds it waiting once it has sent its
/// challenge and welcomes at once, and the opening takes one round trip less (three instead of
/// four, the TCP handshake's included), which every pre-copy round of `dwcp-migrate file` pays
/// on its new connections. A probe keeps the two exchanges apart: it times each as a round trip.
/// A connection kept from the sender's last transfer goes further: once its proof is sent (with
/// the hello, or after the challenge with a secret), its chunks follow and the welcome is read
/// after them (`clientHello`, `TransportSender.handshake`); the receiver reads them after its
/// welcome either way. So does a connection dialled again, without a secret, in a transfer the
/// receiver has welcomed (`TransportSender.sendsBeforeWelcome`).
public enum Handshake {
    /// Client side. Returns the receiver's welcome (status ok) or throws (exit status 4); each of
    /// the receiver's answers must come within `timeout` seconds. `keep` asks the receiver to keep
    /// the connection after the transfer (`Hello.keepFlag`); `afterHello` runs once the hello is
    /// out and before anything is read. `roundTrip` is told how long
    /// each of the two exchanges took (hello to challenge, proof to welcome): a probe counts
    /// them as round trips of the path.
    public static func client(_ socket: StreamSocket, auth: SessionAuth, session: [UInt8], stream: UInt16,
                              chunkSize: Int, streams: Int, window: UInt64 = 0, probe: Bool = false,
                              timeout: Double = 10, keep: Bool = false, afterHello: (() throws -> Void)? = nil,
                              roundTrip: ((Double) -> Void)? = nil) throws -> Welcome {
        try clientHello(socket, auth: auth, session: session, stream: stream, chunkSize: chunkSize, streams: streams, window: window,
                        probe: probe, timeout: timeout, keep: keep, afterHello: afterHello, roundTrip: roundTrip).welcome()
    }

    /// Client side, first half: sends the hello (with the proof, when there is no secret) and
    /// returns what reads and checks the receiver's answers, so that a caller may send before
    /// the welcome arrives (`PendingWelcome.proofSent`). Arguments as for `client`.
    public static func clientHello(_ socket: StreamSocket, auth: SessionAuth, session: [UInt8], stream: UInt16,
                                   chunkSize: Int, streams: Int, window: UInt64 = 0, probe: Bool = false,
                                   timeout: Double = 10, keep: Bool = false, afterHello: (() throws -> Void)? = nil,
                                   roundTrip: ((Double) -> Void)? = nil) throws -> PendingWelcome {
        let nonce = SessionAuth.nonce()
        let flags = (auth.required ? Hello.authFlag : 0) | (probe ? Hello.probeFlag : 0) | (keep ? Hello.keepFlag : 0)
        let hello = Hello(flags: flags, streamIndex: stream, session: session, nonce: nonce,
                          chunkSize: UInt32(chunkSize), streams: UInt16(clamping: streams), window: window)
        socket.setReceiveTimeout(timeout)
        let proofWithHello = !auth.required && !probe
        let helloSent = MonotonicClock.now()
        try socket.sendAll(hello.encoded() + (proofWithHello ? SessionAuth.noProof : []))
        return PendingWelcome(socket: socket, auth: auth, session: session, stream: stream, nonce: nonce, proofSent: proofWithHello,
                              helloSent: helloSent, afterHello: afterHello, roundTrip: roundTrip)
    }

    /// A hello sent and not yet answered (`clientHello`).
    public final class PendingWelcome {
        let socket: StreamSocket
        let auth: SessionAuth
        let session: [UInt8]
        let stream: UInt16
        let nonce: [UInt8]
        /// Whether the proof has gone (with the hello when there is no secret and it is not a
        /// probe; else `prove`): the receiver then needs nothing more before it welcomes, and
        /// what is sent from here on reaches it after the handshake, as if sent after the
        /// welcome.
        public private(set) var proofSent: Bool
        let helloSent: Double
        let afterHello: (() throws -> Void)?
        let roundTrip: ((Double) -> Void)?
        private var challenge: Challenge?

        init(socket: StreamSocket, auth: SessionAuth, session: [UInt8], stream: UInt16, nonce: [UInt8], proofSent: Bool,
             helloSent: Double, afterHello: (() throws -> Void)?, roundTrip: ((Double) -> Void)?) {
            self.socket = socket
            self.auth = auth
            self.session = session
            self.stream = stream
            self.nonce = nonce
            self.proofSent = proofSent
            self.helloSent = helloSent
            self.afterHello = afterHello
            self.roundTrip = roundTrip
        }

        /// Runs `afterHello`, reads the challenge and sends the proof if it did not go with the
        /// hello. Once only; `welcome` runs it if nobody did.
        public func prove() throws {
            guard challenge == nil else { return }
            // A kept connection: the last transfer's reader must have read its last byte first.
            try afterHello?()
            let challenge = try Challenge.decode(try socket.receive(Wire.challengeLength))
            self.challenge = challenge
            roundTrip?(MonotonicClock.now() - helloSent)
            if !proofSent {
                try socket.sendAll(auth.proof(role: "client", session: session, stream: stream, clientNonce: nonce, serverNonce: challenge.nonce))
                proofSent = true
            }
        }

        /// Reads the welcome (after `prove`) and checks it: returns it (status ok) or throws
        /// (exit status 4; `Wire.receiverBusy` for a busy receiver).
        public func welcome() throws -> Welcome {
            let proofWithHello = proofSent
            try prove()
            let proofDone = MonotonicClock.now()
            let welcome = try Welcome.decode(try socket.receive(Wire.welcomeLength))
            if !proofWithHello { roundTrip?(MonotonicClock.now() - proofDone) }
            switch welcome.status {
            case .authenticationFailed:
                throw DWCPError(.network, "\(socket.peer): authentication failed (secret mismatch, or one side has none)")
            case .busy:
                throw Wire.receiverBusy
            case .ok:
                break
            }
            let expected = auth.proof(role: "server", session: session, stream: stream, clientNonce: nonce, serverNonce: challenge!.nonce)
            guard SessionAuth.equal(expected, welcome.proof) else {
                throw DWCPError(.network, "\(socket.peer): receiver failed to prove the shared secret")
            }
            socket.setReceiveTimeout(0)
            return welcome
        }
    }

    /// Server side, first half: reads and checks the hello, sends the challenge, checks the proof.
    /// Returns the hello and the proof's validity; the caller decides on the session and answers.
    public static func serverAuthenticate(_ socket: StreamSocket, auth: SessionAuth, timeout: Double) throws
        -> (hello: Hello, authenticated: Bool, serverNonce: [UInt8]) {
        socket.setReceiveTimeout(timeout)
        let hello = try Hello.decode(try socket.receive(Wire.helloLength))
        let nonce = SessionAuth.nonce()
        try socket.sendAll(Challenge(nonce: nonce).encoded())
        let proof = try socket.receive(Wire.proofLength)
        let clientWantsAuth = hello.flags & Hello.authFlag != 0
        let expected = auth.proof(role: "client", session: hello.session, stream: hello.streamIndex, clientNonce: hello.nonce, serverNonce: nonce)
        let ok = clientWantsAuth == auth.required && SessionAuth.equal(expected, proof)
        return (hello, ok, nonce)
    }

    public static func serverWelcome(_ socket: StreamSocket, auth: SessionAuth, hello: Hello, serverNonce: [UInt8],
                                     status: Welcome.Status, nextExpected: UInt64, window: UInt64) throws {
        let proof = status == .ok
            ? auth.proof(role: "server", session: hello.session, stream: hello.streamIndex, clientNonce: hello.nonce, serverNonce: serverNonce)
            : [UInt8](repeating: 0, count: 32)
        try socket.sendAll(Welcome(status: status, nextExpected: nextExpected, window: window, proof: proof).encoded())
        socket.setReceiveTimeout(0)
    }
}
