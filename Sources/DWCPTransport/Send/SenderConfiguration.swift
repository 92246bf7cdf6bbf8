import DWCPCore

/// Settings of one `dwcp-send` transfer.
public struct SenderConfiguration {
    public var endpoint: Endpoint
    public var streams = 8
    public var chunkSize = 1 << 20
    /// Most bytes sent and not yet acknowledged (also capped by the receiver's window).
    public var window: UInt64 = 256 << 20
    public var auth = SessionAuth(secret: nil)
    /// TLS 1.3 on every connection (`--tls`); nil sends in the clear.
    public var tls: TLSContext?
    /// TCP, RDMA, or RDMA when this host has a device and the receiver answers on it.
    public var transport = TransportKind.tcp
    /// `--cc`: a kernel name (bbr, cubic, reno), `auto` (chosen per connection from its
    /// handshake's round trip, `CongestionControl.resolve`), or nil for the system default.
    public var congestionControl: String?
    /// Total pacing rate in bytes per second, split over the streams; nil = unpaced.
    public var maxRate: UInt64?
    /// How long to keep reconnecting after a connection drops before giving up.
    public var resumeTimeout: Double = 30
    /// The transfer's session id (16 bytes); nil: a random one. A sender that derives it from
    /// its input (`dwcp-send --resume`, `resumeSession(for:)`) continues, when run again, the
    /// transfer an earlier run left at the receiver: the receiver answers with the chunk it needs
    /// next, and the chunks before it are only read again for the end digest, never sent.
    public var session: [UInt8]?
    /// `--streams auto`: start with `streams` and add connections while throughput grows.
    public var autoStreams = false
    public var maxStreams = 64
    /// Where this transfer's connections go when it succeeds, and where it takes connections
    /// from before dialling new ones: for a sender that makes transfer after transfer to one
    /// receiver (`dwcp-migrate file`'s rounds). Nil: every connection is closed at the end.
    public var keptConnections: ConnectionPool?
    /// The receiver was reached before, by an earlier transfer of this sender (a migration's
    /// rounds): a first connection refused or cut off then means it is being restarted, and is
    /// dialled again with backoff up to `resumeTimeout`, as a later connection would be. False:
    /// nobody listening is an answer (a wrong port fails at once, as `dwcp-send` should).
    public var receiverSeen = false

    public init(endpoint: Endpoint) {
        self.endpoint = endpoint
    }
}

/// What a transfer did, for `--json` and the progress line.
public struct TransferStats: Sendable {
    public var bytes: UInt64 = 0
    public var chunks: UInt64 = 0
    public var reconnects = 0
    /// Connections this transfer took from `SenderConfiguration.keptConnections` (an earlier
    /// transfer's, still open) instead of dialling.
    public var keptConnectionsUsed = 0
    public var resentChunks = 0
    /// Stream bytes an earlier run had delivered, which this one continued from: on the
    /// receiver, what a killed receiver had made durable; on the sender, what the receiver
    /// already had when it answered (never sent again).
    public var resumedBytes: UInt64 = 0
    /// The bytes this run moved itself: `bytes` less what an earlier run had delivered
    /// (`resumedBytes`), the ones a rate is of.
    public var movedBytes: UInt64 { bytes - min(bytes, resumedBytes) }
    /// The rate of `movedBytes` over `seconds` (at least a nanosecond), in Gbit/s.
    public func movedGbitPerSecond(over seconds: Double) -> Double { Double(movedBytes) * 8 / max(seconds, 1e-9) / 1e9 }
    public var streams = 0
    /// On the receiver: seconds from the first connection it welcomed for the transfer to the
    /// verdict (the time spent waiting for a sender to come is not the transfer's).
    public var seconds: Double = 0
    /// The connections ran over RDMA (rsockets), not TCP.
    public var rdma = false
    /// The congestion control the connections use (nil: the system default).
    public var congestionControl: String?
    /// Per stream: smoothed RTT (µs) and retransmitted segments, from TCP_INFO.
    public var tcp: [(stream: Int, rttMicroseconds: UInt32, retransmits: UInt32)] = []
    public init() {}
}
