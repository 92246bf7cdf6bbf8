import DWCPCore
import DWCPSystem
#if canImport(Glibc)
import Glibc
#endif

/// One measurement of a path: what `dwcp-detect` prints and classifies.
public struct LinkMeasurement: Sendable {
    public var rttMin: Double          // seconds
    public var rttMedian: Double
    public var rttP99: Double
    public var jitter: Double          // mean |difference| of consecutive RTTs, seconds
    public var loss: Double            // retransmitted ÷ sent segments during the burst
    public var throughput: Double      // bits per second (0 when no burst was run)
    public var rdmaDevices: [String]

    public init(rttMin: Double, rttMedian: Double, rttP99: Double, jitter: Double, loss: Double, throughput: Double, rdmaDevices: [String]) {
        self.rttMin = rttMin
        self.rttMedian = rttMedian
        self.rttP99 = rttP99
        self.jitter = jitter
        self.loss = loss
        self.throughput = throughput
        self.rdmaDevices = rdmaDevices
    }
}

/// The client side of a probe: RTT by echoed pings over an authenticated connection, throughput
/// from the bytes the peer confirms for a short burst, loss from the kernel's retransmission
/// counters (over a paced phase after the burst, `pacedLossSeconds`, or over the burst).
public struct LinkProbe {
    public var endpoint: Endpoint
    public var auth = SessionAuth(secret: nil)
    /// TLS 1.3 for the probe connection, as for a transfer to the same peer.
    public var tls: TLSContext?
    public var pings = 20
    public var pingInterval = 0.01
    public var burstSeconds = 0.5

    /// When set, consecutive pings are this many of the fastest round trips so far apart (at
    /// most `pingInterval`): a fixed 2 ms gap on a 50 µs path is 40 idle round trips per ping,
    /// which only delays what the probe is for. dwcp-migrate uses it.
    public var pingIntervalRoundTrips: Double?

    /// When set, pinging stops once the connection's opening and the pings have taken this many
    /// seconds and at least 3 round trips were timed: on a 50 ms path ten pings alone are half a
    /// second. dwcp-migrate uses it. A new connection times up to three on its own: TCP's (the
    /// kernel's RTT from its SYN) and the session handshake's two, each counted if it took at
    /// most twice the SYN's plus a millisecond (else the receiver was slow to answer). They
    /// count in the figures only when pinging was cut short, on a path long enough that the few
    /// microseconds the receiver spends in them do not show.
    public var pingSeconds: Double?

    /// When set, the burst lasts this many round trips (at least 0.1 s unless `burstBytes`, at
    /// most `burstSeconds`): a short path fills in a few milliseconds, a long one needs seconds
    /// of slow start. dwcp-migrate uses it so planning costs little on a datacenter link.
    public var burstRoundTrips: Double?

    /// With `burstRoundTrips`: the burst may end before 0.1 s once the peer could have this many
    /// bytes (and the round trips have passed). On a fast link 0.1 s is hundreds of megabytes of
    /// traffic that only delays what the probe is for; the rate is taken from the bytes the peer
    /// confirms, including the drain of every buffer, so a token bucket or socket buffers of a
    /// few MiB bias 64 MiB by a few per cent at most. Links under ~5 Gbit/s still take 0.1 s.
    public var burstBytes: UInt64?

    /// When false, the burst's rate is what the sender's TCP saw delivered over its second half,
    /// and the connection is reset as the burst ends instead of waiting for the peer's count:
    /// that answer comes only once every queue on the path has drained (0.2 s on a 100 Mbit/s,
    /// 50 ms path), and the burst's unsent bytes would go on competing with the transfer that
    /// follows. dwcp-migrate uses it. Without the kernel's delivery count (`tcpi_delivered`)
    /// the probe waits for the answer all the same.
    public var awaitBurstConfirmation = true

    /// When set, the burst also ends once the rate TCP delivers per round trip has stopped
    /// growing (`BurstPlateau`), at least 0.1 s in, and its rate is that of the last two round
    /// trips: on a 50 ms path slow start fills a 100 Mbit/s link in about 6 round trips, and the
    /// rest of `burstRoundTrips` only measured the same rate again. dwcp-migrate uses it.
    public var endBurstAtPlateau = false

    /// When set, a path whose median round trip is at least this long gets no burst: the
    /// measurement has RTT, jitter and no throughput (0), and the caller measures the rate on
    /// its transfer's own first round trips (`TransferRateMeter`). dwcp-migrate qemu uses it.
    public var burstOnlyBelowRoundTrip: Double?

    /// When above 0, loss is counted in a phase of its own this long, after the burst and paced
    /// below the rate it measured (`pacedLoss`): a burst's own overshoot fills the path's queue
    /// and its drops are not the path's. dwcp-detect uses it; without it, loss is counted over
    /// the burst.
    public var pacedLossSeconds = 0.0

    /// Keep the probe connection open between measurements (`dwcp-detect --watch`): a new one
    /// costs the TCP and session handshakes, three round trips (four with TLS) before the first
    /// ping, which on a loaded 130 ms path made each measurement 1.1 s instead of 0.7 s.
    /// A kept connection that fails is replaced once, at once.
    public var keepConnection = false
    private let kept = KeptConnection()

    /// The connection `keepConnection` keeps; closed when the last copy of the probe goes.
    private final class KeptConnection {
        var socket: StreamSocket?
        func drop() {
            socket?.close()
            socket = nil
        }
        deinit { socket?.close() }
    }

    public init(endpoint: Endpoint) {
        self.endpoint = endpoint
    }

    /// A probe whose connection opened and was then lost (cut, reset, timed out): the receiver
    /// was there, and probing again may well succeed (`dwcp-migrate` does, a few times).
    public struct ConnectionLost: Error, CustomStringConvertible {
        public let error: Error
        public var description: String { "\(error)" }
    }

    /// Measures the path.
    public func measure() throws -> LinkMeasurement {
        do { return try measureTellingLoss() } catch let lost as ConnectionLost { throw lost.error }
    }

    /// Measures the path; throws `ConnectionLost` (wrapping the error) when the connection
    /// opened and was lost, so a caller can probe again.
    public func measureTellingLoss() throws -> LinkMeasurement {
        if keepConnection, let socket = kept.socket {
            // The peer may have restarted, or the path dropped the idle connection: a new one.
            if let m = try? measure(onKept: socket) { return m }
        }
        let (socket, opening) = try connect()
        do {
            guard keepConnection else {
                defer { socket.close() }
                return try measure(on: socket, opening: opening).0
            }
            kept.socket = socket
            return try measure(onKept: socket, opening: opening)
        } catch where socket.connectionLost {
            throw ConnectionLost(error: error)
        }
    }

    /// A measurement on the kept connection, which is dropped when it failed or cannot carry
    /// another.
    private func measure(onKept socket: StreamSocket, opening: Opening? = nil) throws -> LinkMeasurement {
        do {
            let (m, reusable) = try measure(on: socket, opening: opening)
            if !reusable { kept.drop() }
            return m
        } catch {
            kept.drop()
            throw error
        }
    }

    /// When a new connection was opened, and the round trips its opening timed.
    private struct Opening {
        var start: Double
        var roundTrips: [Double]
    }

    /// A new probe connection (TLS when configured, then the session handshake) and what its
    /// opening timed.
    private func connect() throws -> (StreamSocket, Opening) {
        let start = MonotonicClock.now()
        let socket = try StreamSocket.connect(endpoint)
        // Right after connecting, the kernel's smoothed RTT is its SYN's round trip.
        let synRoundTrip = socket.tcpInfo().map { Double($0.rttMicroseconds) / 1e6 } ?? 0
        var exchanges: [Double] = []
        do {
            if let tls { try socket.startTLS(tls, host: endpoint.host) }
            _ = try Handshake.client(socket, auth: auth, session: SessionAuth.nonce(), stream: 0, chunkSize: 1 << 20, streams: 1,
                                     probe: true, roundTrip: { exchanges.append($0) })
        } catch {
            socket.close()
            if socket.connectionLost { throw ConnectionLost(error: error) }
            throw error
        }
        // The handshake's exchanges count only when they took about the SYN's round trip: a
        // receiver slow to take the connection (one still getting its VM ready, with the
        // connection waiting in its backlog) stretches them by its own delay.
        let roundTrips = synRoundTrip > 0 ? [synRoundTrip] + exchanges.filter { $0 <= 2 * synRoundTrip + 0.001 } : []
        return (socket, Opening(start: start, roundTrips: roundTrips))
    }

    /// One measurement on `socket`, and whether the connection can carry another (not when the
    /// burst's confirmation did not come in time, as it may still arrive, nor when it was not
    /// awaited: the connection is reset then).
    private func measure(on socket: StreamSocket, opening: Opening?) throws -> (LinkMeasurement, Bool) {
        socket.setReceiveTimeout(10)
        var raw = [UInt8](repeating: 0, count: Wire.messageHeaderLength)
        var rtts: [Double] = []
        let timedBefore = opening?.roundTrips ?? []
        let pingStart = opening?.start ?? MonotonicClock.now()
        for i in 0..<pings {
            if let limit = pingSeconds, rtts.count + timedBefore.count >= 3, MonotonicClock.now() - pingStart >= limit { break }
            MessageHeader(kind: .ping, length: 0, sequence: UInt64(i), offset: 0, checksum: 0).store(to: &raw)
            let t0 = MonotonicClock.now()
            try socket.sendAll(raw)
            try raw.withUnsafeMutableBytes { try socket.receiveExactly($0.baseAddress!, Wire.messageHeaderLength) }
            rtts.append(MonotonicClock.now() - t0)
            var gap = pingInterval
            if let n = pingIntervalRoundTrips, let fastest = rtts.min() { gap = min(gap, n * fastest) }
            if gap > 0 && rtts.count < pings { usleep(UInt32(gap * 1e6)) }
        }
        if rtts.count < pings { rtts = timedBefore + rtts }
        var throughput = 0.0, loss = 0.0
        var reusable = true
        let sorted = rtts.sorted()
        let medianRTT = sorted.isEmpty ? nil : sorted[sorted.count / 2]
        var burstSeconds = self.burstSeconds
        var earliestEnd = burstSeconds  // when `burstBytes` may end the burst
        if let limit = burstOnlyBelowRoundTrip, let rtt = medianRTT, rtt >= limit { burstSeconds = 0 }
        if let n = burstRoundTrips, let rtt = medianRTT {
            let roundTrips = n * rtt
            burstSeconds = min(burstSeconds, max(0.1, roundTrips))
            earliestEnd = min(burstSeconds, roundTrips)
        }
        if burstSeconds > 0 {
            let countersAtStart = Self.segmentCounters(socket)
            // Pieces of 128 KiB, so the delivered count is sampled every few milliseconds even
            // on a slow link whose socket buffer is full.
            let block = RawBuffer(capacity: 128 << 10)
            block.unsafeBase.initializeMemory(as: UInt8.self, repeating: 0x5A, count: block.capacity)
            let t0 = MonotonicClock.now()
            var sent: UInt64 = 0
            // (time, bytes delivered to the peer) where the rate is measured from, once the burst
            // is half over or where its plateau began, and lately.
            var measuredFrom: (time: Double, delivered: UInt64)?
            var last: (time: Double, delivered: UInt64)?
            let first = socket.bytesDelivered()
            var unsentLimit = 0
            // (time, bytes delivered) a round trip apart, for `endBurstAtPlateau`.
            var plateau = BurstPlateau()
            // Only a burst planned longer than 0.1 s (12 round trips of 8 ms and more) can end
            // sooner, and its level round trips then span at least 16 ms.
            let roundTrip = endBurstAtPlateau && burstSeconds > 0.1 ? medianRTT ?? 0 : 0
            while true {
                let elapsed = MonotonicClock.now() - t0
                let state = socket.deliveryState()
                if let delivered = state?.delivered {
                    let now = MonotonicClock.now()
                    if measuredFrom == nil && elapsed >= burstSeconds / 2 { measuredFrom = (now, delivered) }
                    last = (now, delivered)
                    if roundTrip > 0, plateau.record(time: now, delivered: delivered, roundTrip: roundTrip),
                       elapsed >= 0.1, let start = plateau.start {
                        measuredFrom = start
                        break
                    }
                }
                if elapsed >= burstSeconds { break }
                if let enough = burstBytes, sent >= enough && elapsed >= earliestEnd { break }
                // Only as fast as the path takes it: a socket buffer filled at memory speed
                // drained for seconds after the burst on a busy 20 Mbit/s path (7 s for one
                // measurement), where the burst was to last half a second. What may wait unsent
                // is one congestion window (16 KiB to 8 MiB), in messages no longer: TCP always
                // has its next window queued, so the burst never waits on us, and what is left at
                // the end drains in about a round trip. A short burst on a long path reads lower
                // than it did, as it no longer runs on while a full buffer drains (0.3 s on a
                // 50 ms path: 33 against 50 Mbit/s).
                let window = min(8 << 20, max(16 << 10, state?.congestionWindow ?? (8 << 20)))
                let limit = 1 << (Int.bitWidth - 1 - window.leadingZeroBitCount)  // a power of two: set rarely
                if limit != unsentLimit {
                    socket.setUnsentLimit(limit)
                    unsentLimit = limit
                }
                if !socket.waitUntilWritable(timeout: min(0.05, burstSeconds - elapsed)) { continue }
                let length = min(block.capacity, unsentLimit)
                try sendBurst(on: socket, block, length: length, header: &raw)
                sent += UInt64(length)
            }
            func burstLoss() -> Double { Self.loss(on: socket, since: countersAtStart) }
            // The whole burst's average includes slow start: on a 50 ms path a 1 s burst
            // averaged 78 Mbit/s of a 95 Mbit/s link. The second half (or the round trips since
            // the plateau), from what the sender's TCP saw delivered, is the rate the path
            // sustains once open.
            var sustainedRate: Double?
            if let h = measuredFrom, let l = last, l.time - h.time >= 0.02, l.delivered > h.delivered {
                sustainedRate = Double(l.delivered - h.delivered) * 8 / (l.time - h.time)
            }
            if !awaitBurstConfirmation, let sustainedRate {
                throughput = sustainedRate
                loss = burstLoss()
                socket.abort()
                reusable = false
            } else {
                try sendBurstDone(on: socket, header: &raw)
                // The answer comes once the burst has drained. On a path another flow keeps full
                // the probe's share can be a few kbit/s: after a second the rate is what TCP saw
                // delivered, and this connection, whose answer may still come, carries no more
                // probes.
                do {
                    try receiveBurstAnswer(on: socket, timeout: max(1, burstSeconds), header: &raw)
                    let confirmed = try raw.withUnsafeBytes { try MessageHeader.decode($0.baseAddress!) }.sequence
                    throughput = Double(confirmed) * 8 / (MonotonicClock.now() - t0)
                } catch {
                    guard let l = last, l.time > t0, l.delivered >= (first ?? 0) else { throw error }
                    throughput = Double(l.delivered - (first ?? 0)) * 8 / (l.time - t0)
                    reusable = false
                }
                throughput = max(throughput, sustainedRate ?? 0)
                loss = burstLoss()
                if pacedLossSeconds > 0, reusable, throughput > 0 {
                    (loss, reusable) = try pacedLoss(on: socket, bitsPerSecond: throughput, seconds: pacedLossSeconds,
                                                     block: block, header: &raw)
                }
            }
        }
        let jitter = zip(rtts, rtts.dropFirst()).reduce(0) { $0 + abs($1.1 - $1.0) } / Double(max(1, rtts.count - 1))
        return (LinkMeasurement(rttMin: sorted.first ?? 0, rttMedian: sorted[sorted.count / 2],
                                rttP99: sorted[min(sorted.count - 1, Int(Double(sorted.count) * 0.99))],
                                jitter: jitter, loss: loss, throughput: throughput, rdmaDevices: RDMA.devices()), reusable)
    }
}

/// The burst's messages and TCP's segment counters, which the burst and the paced loss phase
/// after it (`pacedLoss`) both use.
extension LinkProbe {
    /// Sends `length` bytes of `block` as one `burst` message (the peer discards them).
    func sendBurst(on socket: StreamSocket, _ block: RawBuffer, length: Int, header raw: inout [UInt8]) throws {
        MessageHeader(kind: .burst, length: UInt32(length), sequence: 0, offset: 0, checksum: 0).store(to: &raw)
        try socket.sendAll(raw)
        try socket.sendAll(block.unsafeBase, length)
    }

    /// Sends `burst-done`: the peer answers with the burst bytes it received since the last one.
    func sendBurstDone(on socket: StreamSocket, header raw: inout [UInt8]) throws {
        MessageHeader(kind: .burstDone, length: 0, sequence: 0, offset: 0, checksum: 0).store(to: &raw)
        try socket.sendAll(raw)
    }

    /// Reads the answer to `burst-done` into `raw`, waiting at most `timeout` seconds.
    func receiveBurstAnswer(on socket: StreamSocket, timeout: Double, header raw: inout [UInt8]) throws {
        socket.setReceiveTimeout(timeout)
        try raw.withUnsafeMutableBytes { try socket.receiveExactly($0.baseAddress!, Wire.messageHeaderLength) }
    }

    /// Retransmitted and sent segments so far (`TCP_INFO`), which a loss is worked out from.
    static func segmentCounters(_ socket: StreamSocket) -> (retransmits: UInt32, segments: UInt32) {
        (socket.tcpInfo()?.retransmits ?? 0, socket.segmentsOut() ?? 0)
    }

    /// Retransmitted ÷ sent segments since `start` (`segmentCounters`); 0 when none were sent.
    static func loss(on socket: StreamSocket, since start: (retransmits: UInt32, segments: UInt32)) -> Double {
        let now = segmentCounters(socket)
        let retransmits = now.retransmits &- start.retransmits, segments = now.segments &- start.segments
        return segments > 0 ? Double(retransmits) / Double(segments) : 0
    }
}
