import DWCPCore

/// The server side of `dwcp-detect` probes, shared by `dwcp-detect --serve` and `dwcp-recv`:
/// echoes pings, and absorbs a burst of bytes then reports how many arrived.
///
/// Runs after the normal handshake (so with a secret, only peers that know it can probe) and
/// never touches a transfer's state.
public enum ProbeResponder {
    /// `dwcp-detect --serve`'s side of one connection: TLS (when configured), the handshake,
    /// then probes. Anything but an authenticated probe is refused.
    public static func answer(_ socket: StreamSocket, auth: SessionAuth, tls: TLSContext?, timeout: Double = 10) {
        defer { socket.close() }
        do {
            if let tls { try socket.startTLS(tls, host: nil, timeout: timeout) }
            let r = try Handshake.serverAuthenticate(socket, auth: auth, timeout: timeout)
            let ok = r.authenticated && r.hello.flags & Hello.probeFlag != 0
            try Handshake.serverWelcome(socket, auth: auth, hello: r.hello, serverNonce: r.serverNonce,
                                        status: ok ? .ok : .authenticationFailed, nextExpected: 0, window: 0)
            if ok { serve(socket) }
        } catch {
            return
        }
    }

    public static func serve(_ socket: StreamSocket) {
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
