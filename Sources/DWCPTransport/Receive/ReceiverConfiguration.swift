import DWCPCore

/// Settings of one `dwcp-recv` transfer.
public struct ReceiverConfiguration {
    public var auth = SessionAuth(secret: nil)
    /// TLS 1.3 on every connection (`--tls`): the TLS handshake comes first, within the same
    /// handshake timeout; a connection that fails it never reaches the DWCP handshake.
    public var tls: TLSContext?
    /// Most bytes held out of order before connections are made to wait (TCP backpressure).
    public var window: UInt64 = 256 << 20
    /// A handshake must finish within this many seconds (slow or silent clients are dropped).
    public var handshakeTimeout: Double = 10
    /// Connections still in their handshake at once, on the listener (across the transfers it
    /// serves: `StreamListener.beginHandshake`); more are refused.
    public var maxPendingHandshakes = 64
    /// With no new data for this long (and no end), the transfer fails.
    public var idleTimeout: Double = 120
    /// Leave whole zero pages of a regular-file output as holes (`SparseFileWriter.write`),
    /// where they are sure to read back as zeros: the chunks land past the file's end.
    public var sparse = false
    /// Give a transfer up for a new sender's session also without a shared secret, when nothing
    /// of it was delivered yet (no chunk in order, no checkpoint) and every connection of it has
    /// been gone for `Wire.abandonAfter` (`dwcp-migrate receive -o`). A restarted receiver takes
    /// the session of the first connection that comes, which may be its source's reconnection of
    /// the round it was killed in: refused there (this receiver holds none of its chunks), the
    /// source sends the round again as a new session, which must not wait out `--idle-timeout`
    /// behind the old one, nor share the old one's session (chunks that reconnection sent behind
    /// its hello are of another encoding of the round).
    public var abandonsUndeliveredSessions = false

    public init() {}
}
