import DWCPCore
import DWCPSystem

/// The server side of `dwcp-detect` probes, shared by `dwcp-detect --serve` and `dwcp-recv`:
/// echoes pings, and absorbs a burst of bytes then reports how many arrived.
///
/// Runs after the normal handshake (so with a secret, only peers that know it can probe) and
/// never touches a transfer's state.
///
/// Bounded, since without a secret anyone may probe and a probe holds a thread while its peer
/// keeps the connection (`dwcp-detect --watch` keeps one): at most `maxSessions` probe sessions
/// at once in a process (more are closed after their handshake), each closed after `idleTimeout`
/// seconds without a message, and `dwcp-detect --serve` answers at most `maxConnections`
/// connections at once, handshakes included.
public enum ProbeResponder {
    public static let maxSessions = 32
    public static let maxConnections = 64
    /// Seconds a probe connection may stay silent (a `--watch` slower than this reconnects).
    public static let idleTimeout = 60.0

    private static let sessions = Occupancy()
    private static let connections = Occupancy()

    /// Probe sessions under way in this process.
    public static var activeSessions: Int { sessions.count }

    /// `dwcp-detect --serve`'s side of one connection: TLS (when configured), the handshake,
    /// then probes. Anything but an authenticated probe is refused.
    public static func answer(_ socket: StreamSocket, auth: SessionAuth, tls: TLSContext?, timeout: Double = 10,
                              idleTimeout: Double = idleTimeout) {
        defer { socket.close() }
        guard connections.enter(limit: maxConnections) else { return }
        defer { connections.leave() }
        do {
            if let tls { try socket.startTLS(tls, host: nil, timeout: timeout) }
            let r = try Handshake.serverAuthenticate(socket, auth: auth, timeout: timeout)
            let ok = r.authenticated && r.hello.flags & Hello.probeFlag != 0
            try Handshake.serverWelcome(socket, auth: auth, hello: r.hello, serverNonce: r.serverNonce,
                                        status: ok ? .ok : .authenticationFailed, nextExpected: 0, window: 0)
            if ok { serve(socket, idleTimeout: idleTimeout) }
        } catch {
            return
        }
    }

    /// Answers probes on an authenticated connection until the peer closes it, sends anything
    /// else, or stays silent for `idleTimeout` seconds; at once when `maxSessions` are under way.
    /// The caller closes the socket.
    public static func serve(_ socket: StreamSocket, idleTimeout: Double = idleTimeout) {
        guard sessions.enter(limit: maxSessions) else { return }
        defer { sessions.leave() }
        socket.setReceiveTimeout(idleTimeout)
        var raw = [UInt8](repeating: 0, count: Wire.messageHeaderLength)
        let sink = RawBuffer(capacity: 1 << 20)
        var received: UInt64 = 0
        while true {
            do {
                try raw.withUnsafeMutableBytes { try socket.receiveExactly($0.baseAddress!, Wire.messageHeaderLength) }
                let m = try raw.withUnsafeBytes { try MessageHeader.decode($0.baseAddress!) }
                switch m.kind {
                case .ping:
                    try socket.sendAll(raw)
                case .burst:
                    var left = Int(m.length)
                    while left > 0 {
                        let n = min(left, sink.capacity)
                        try socket.receiveExactly(sink.unsafeBase, n)
                        left -= n
                    }
                    received += UInt64(m.length)
                case .burstDone:
                    MessageHeader(kind: .burstDone, length: 0, sequence: received, offset: 0, checksum: 0).store(to: &raw)
                    try socket.sendAll(raw)
                    received = 0
                default:
                    return
                }
            } catch {
                return
            }
        }
    }
}
