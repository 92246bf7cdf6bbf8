import DWCPCore
import DWCPSystem
#if canImport(Glibc)
import Glibc
#endif

/// A connected stream socket (kernel TCP, or RDMA through rsockets) with the blocking,
/// EINTR-safe operations bulk transfer needs.
///
/// One thread per connection with blocking I/O: simple, fast for a handful of bulk streams, and
/// gives direct control of `TCP_CONGESTION`, pacing and `TCP_INFO` (STYLE.md). Kernel buffer
/// autotuning is left on: `SO_SNDBUF`/`SO_RCVBUF` are never set. On RDMA (`rdma`), the same
/// calls go to their rsockets twins (see `RDMA`); the TCP-only knobs do nothing there.
public final class StreamSocket: @unchecked Sendable {
    public let fd: Int32
    public let peer: String
    /// The calls this descriptor takes: the kernel's, or rsockets' for RDMA.
    let calls: SocketCalls
    /// An rsockets descriptor (RDMA), not a kernel socket.
    public var rdma: Bool { calls.rdma }
    private var closed = false
    /// The TLS session once `startTLS` ran: every read and write then goes through it.
    private var tls: TLSStream?
    /// Whether `startTLS` ran: a connection kept from an earlier transfer (`ConnectionPool`)
    /// carries its TLS session on into the next.
    public var hasTLS: Bool { tls != nil }
    private var receiveTimeout = 0.0
    private var sendTimeout = 0.0
    /// Set once a send or receive on the open connection failed (closed, reset, timed out):
    /// the connection was there and is gone, as opposed to a dial that found nobody or an
    /// answer that refused (`TransportSender.connectWhenFree` dials a lost first connection again).
    public private(set) var connectionLost = false

    /// The error of a failed send or receive, the connection marked lost.
    private func lost(_ what: String) -> DWCPError {
        connectionLost = true
        return DWCPError(.network, "\(peer): \(what)")
    }

    init(fd: Int32, peer: String, calls: SocketCalls) {
        self.fd = fd
        self.peer = peer
        self.calls = calls
        calls.set(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
        if !calls.rdma {
            calls.set(fd, SOL_SOCKET, SO_KEEPALIVE, 1)
            calls.set(fd, Int32(IPPROTO_TCP), TCP_KEEPIDLE, Self.keepaliveIdle)
            calls.set(fd, Int32(IPPROTO_TCP), TCP_KEEPINTVL, Self.keepaliveInterval)
            calls.set(fd, Int32(IPPROTO_TCP), TCP_KEEPCNT, Self.keepaliveProbes)
        }
    }

    /// TCP keepalive: after `keepaliveIdle` s without a byte, a probe every `keepaliveInterval`
    /// s; `keepaliveProbes` unanswered ones end the connection (about 10 s in all). A receiver
    /// sends nothing while it waits for data, so without probes a peer whose host died, or whose
    /// path went away, left a connection open forever: it held a transfer that a new
    /// authenticated sender could otherwise take over (`Wire.transferAbandoned`). A peer that is
    /// only slow or paused still answers probes from its kernel.
    static let keepaliveIdle: Int32 = 5
    static let keepaliveInterval: Int32 = 1
    static let keepaliveProbes: Int32 = 5

    deinit { close() }

    public func close() {
        if !closed {
            closed = true
            tls?.free()
            _ = calls.close(fd)
        }
    }

    /// Runs the TLS 1.3 handshake on this connection (within `timeout` seconds); from then on
    /// `sendAll` and `receiveExactly` encrypt and decrypt. A client checks that the receiver's
    /// certificate names `host`, unless the context names another.
    public func startTLS(_ context: TLSContext, host: String?, timeout: Double = 10) throws {
        if rdma { throw DWCPError.usage("--tls works over TCP only, not RDMA") }
        tls = try TLSStream(context: context, fd: fd, peer: peer, host: host, timeout: timeout)
    }

    /// Closes at once with a reset (`SO_LINGER` 0): whatever the send queue still holds is
    /// dropped instead of sent. For a connection whose unsent bytes are worthless, a probe's
    /// burst, so they do not go on competing for the path with the transfer that follows.
    public func abort() {
        guard !closed else { return }
        if !rdma {
            var option = linger(l_onoff: 1, l_linger: 0)
            _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &option, socklen_t(MemoryLayout<linger>.size))
        }
        close()
    }

    /// Sends nothing more (a FIN after what was sent) and reads and discards until the peer
    /// closes, at most `timeout` seconds: a last message sent before `close` then reaches the
    /// peer. Closed with unread bytes in its receive queue (a sender still streaming chunks), a
    /// socket resets the connection at once, and the reset drops whatever of the message its
    /// send queue still held (paced, not yet on the wire). Returns whether the peer closed its
    /// side (a FIN): not when the connection was reset or failed, nor at the timeout.
    @discardableResult
    public func lingerUntilPeerCloses(timeout: Double) -> Bool {
        guard !closed else { return false }
        _ = calls.shutdown(fd, Int32(SHUT_WR))
        let deadline = MonotonicClock.now() + timeout
        var scratch = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let left = deadline - MonotonicClock.now()
            if left <= 0 { return false }
            var waiter = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = calls.poll(&waiter, 1, Int32(left * 1000) + 1)
            if ready < 0 && errno == EINTR { continue }
            if ready <= 0 { return false }
            let n = scratch.withUnsafeMutableBytes { calls.recv(fd, $0.baseAddress!, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return n == 0 }
        }
    }

    /// Whether the peer has closed its side or the connection failed, asked without waiting
    /// and without reading: for a thread that no longer reads the socket (it waits for
    /// something else) but must not outlive a peer that went away.
    public func peerHasClosed() -> Bool {
        guard !closed else { return true }
        let peerShutdown: Int16 = 0x2000  // POLLRDHUP (Linux), which Glibc exports only with _GNU_SOURCE
        var waiter = pollfd(fd: fd, events: Int16(POLLIN) | peerShutdown, revents: 0)
        guard calls.poll(&waiter, 1, 0) > 0 else { return false }
        return waiter.revents & (peerShutdown | Int16(POLLHUP) | Int16(POLLERR)) != 0
    }

    /// Shuts both directions down, unblocking any thread in `recv`/`send` on this socket.
    /// (A closed socket's number may already belong to another file: leave it alone.)
    public func shutdownBoth() { if !closed { _ = calls.shutdown(fd, Int32(SHUT_RDWR)) } }

    /// Connects to `endpoint` (`HOST:PORT`, `[V6]:PORT`), trying each resolved address; over
    /// RDMA (rsockets) when `rdma`.
    public static func connect(_ endpoint: Endpoint, timeout: Double = 10, rdma: Bool = false) throws -> StreamSocket {
        var hints = addrinfo()
        hints.ai_socktype = SocketCalls.streamType
        hints.ai_family = AF_UNSPEC
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(endpoint.host, String(endpoint.port), &hints, &list)
        guard rc == 0, let first = list else {
            throw DWCPError(.network, "\(endpoint): cannot resolve (\(String(cString: gai_strerror(rc))))")
        }
        defer { freeaddrinfo(list) }
        let calls = SocketCalls.of(rdma: rdma)
        var lastError = ECONNREFUSED
        var ai: UnsafeMutablePointer<addrinfo>? = first
        while let a = ai {
            ai = a.pointee.ai_next
            // A connect this host aborted (ECONNABORTED: its socket destroyed mid-handshake, as
            // `ss -K` or a conntrack flush does) says nothing of the peer: tried again, twice.
            for attempt in 0..<3 {
                if attempt > 0 { usleep(50_000) }
                let fd = calls.socket(a.pointee.ai_family)
                if fd < 0 {
                    // No RDMA device: every address would fail the same way.
                    if rdma { throw RDMA.failure("\(endpoint): rsocket", errno) }
                    break
                }
                // The connect timeout is a kernel send timeout (rsockets has none).
                if !rdma { Self.setKernelTimeout(fd, SO_SNDTIMEO, timeout) }
                if calls.connect(fd, a.pointee.ai_addr, a.pointee.ai_addrlen) == 0 {
                    if !rdma { Self.setKernelTimeout(fd, SO_SNDTIMEO, 0) }
                    return StreamSocket(fd: fd, peer: endpoint.description, calls: calls)
                }
                lastError = errno
                _ = calls.close(fd)
                if lastError != ECONNABORTED { break }
            }
        }
        throw DWCPError(.network, "\(endpoint): \(String(cString: strerror(lastError)))")
    }

    /// Sends all `count` bytes. `more` (kernel TCP only) says more follows at once (`MSG_MORE`),
    /// so a message header leaves in the same segment as the payload after it.
    public func sendAll(_ p: UnsafeRawPointer, _ count: Int, more: Bool = false) throws {
        if let tls {
            do { return try tls.writeAll(p, count, timeout: sendTimeout) } catch { connectionLost = tls.connectionLost; throw error }
        }
        var done = 0
        while done < count {
            let n = more && !rdma ? SocketCalls.kernelSendMore(fd, p + done, count - done) : calls.send(fd, p + done, count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw lost("send: \(String(cString: strerror(errno)))")
            }
            done += n
        }
    }

    /// Whether `sendFile` works here: a kernel TCP socket without TLS (TLS and rsockets must
    /// see the bytes).
    public var canSendFile: Bool { tls == nil && !rdma }

    /// Sends `count` bytes of `file` from `offset` with `sendfile(2)`: the kernel passes page-cache
    /// pages to the socket, with no copy through user space. Throws `.network` when the
    /// connection fails and `.failure` when the file ends before `count` bytes (it shrank).
    /// `sendfile` has no `MSG_NOSIGNAL`: the calling thread must block SIGPIPE
    /// (`OSThread.blockPipeSignal`, as every connection thread does) or the process ignore it.
    public func sendFile(_ file: Int32, offset: UInt64, count: Int) throws {
        precondition(canSendFile)
        var position = off_t(offset)
        var done = 0
        while done < count {
            let n = Glibc.sendfile(fd, file, &position, count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw lost("sendfile: \(String(cString: strerror(errno)))")
            }
            if n == 0 { throw DWCPError(.failure, "input ended at byte \(position), before the \(offset + UInt64(count)) already read: the file shrank while being sent") }
            done += n
        }
    }

    public func sendAll(_ bytes: [UInt8], more: Bool = false) throws {
        try bytes.withUnsafeBytes { try sendAll($0.baseAddress!, $0.count, more: more) }
    }

    /// Receives exactly `count` bytes; throws on error, timeout or end of stream.
    public func receiveExactly(_ p: UnsafeMutableRawPointer, _ count: Int) throws {
        var done = 0
        if let tls {
            do {
                while done < count { done += try tls.read(p + done, count - done, timeout: receiveTimeout) }
            } catch { connectionLost = tls.connectionLost; throw error }
            return
        }
        while done < count {
            if rdma && receiveTimeout > 0 {
                // rsockets has no SO_RCVTIMEO: wait for data with rpoll instead.
                var waiter = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let ready = calls.poll(&waiter, 1, Int32(receiveTimeout * 1000))
                if ready == 0 { throw lost("timed out") }
            }
            let n = calls.recv(fd, p + done, count - done)
            if n == 0 { throw lost("connection closed") }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { throw lost("timed out") }
                throw lost("recv: \(String(cString: strerror(errno)))")
            }
            done += n
        }
    }

    public func receive(_ count: Int) throws -> [UInt8] {
        var b = [UInt8](repeating: 0, count: count)
        try b.withUnsafeMutableBytes { try receiveExactly($0.baseAddress!, count) }
        return b
    }

    /// `SO_RCVTIMEO`: a receive blocks at most this long (0 = forever).
    public func setReceiveTimeout(_ seconds: Double) {
        receiveTimeout = seconds
        if !rdma { Self.setKernelTimeout(fd, SO_RCVTIMEO, seconds) }
    }

    /// `SO_SNDTIMEO`: a send blocks at most this long (a peer that stopped reading).
    public func setSendTimeout(_ seconds: Double) {
        sendTimeout = seconds
        if !rdma { Self.setKernelTimeout(fd, SO_SNDTIMEO, seconds) }
    }

    /// `SO_RCVTIMEO`/`SO_SNDTIMEO` on a kernel socket (0 = forever). rsockets has neither: its
    /// receive timeout is an `rpoll` before each receive.
    private static func setKernelTimeout(_ fd: Int32, _ option: Int32, _ seconds: Double) {
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1e6))
        setsockopt(fd, SOL_SOCKET, option, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// `TCP_CONGESTION`: per-socket congestion control (bbr, cubic, reno).
    public func setCongestionControl(_ name: String) throws {
        if rdma { return }
        let rc = name.withCString { setsockopt(fd, Int32(IPPROTO_TCP), TCP_CONGESTION, $0, socklen_t(strlen($0))) }
        if rc != 0 {
            throw DWCPError(.usage, "congestion control '\(name)' not available here (see /proc/sys/net/ipv4/tcp_available_congestion_control)")
        }
    }

    /// `SO_MAX_PACING_RATE` in bytes per second: the kernel paces this socket (TCP internal pacing).
    public func setMaxPacingRate(_ bytesPerSecond: UInt64) {
        if rdma { return }
        var rate = bytesPerSecond
        setsockopt(fd, SOL_SOCKET, SO_MAX_PACING_RATE, &rate, socklen_t(8))
    }

    /// Limits the bytes that may wait unsent in this socket before `waitUntilWritable` waits
    /// (`TCP_NOTSENT_LOWAT`). Nothing over RDMA.
    public func setUnsentLimit(_ bytes: Int) {
        if rdma { return }
        var lowat = Int32(clamping: bytes)
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NOTSENT_LOWAT, &lowat, socklen_t(4))
    }

    /// Waits at most `timeout` seconds until the socket takes more data (with `setUnsentLimit`,
    /// until fewer unsent bytes wait than the limit); false on timeout. At once over RDMA.
    public func waitUntilWritable(timeout: Double) -> Bool {
        if rdma { return true }
        var waiter = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        while true {
            let ready = poll(&waiter, 1, Int32(max(0, min(timeout * 1000, 86_400_000))))
            if ready < 0 && errno == EINTR { continue }
            return ready > 0
        }
    }

    /// Bytes of this connection the peer has acknowledged (`tcpi_bytes_acked`, Linux ≥ 4.1).
    public func bytesAcked() -> UInt64? {
        kernelTCPInfo(through: 128)?.bytesAcked
    }

    /// Bytes written to this socket that TCP has not sent yet (`tcpi_notsent_bytes`, Linux ≥ 4.6):
    /// what its pacing still has to pace.
    public func unsentBytes() -> UInt32? {
        kernelTCPInfo(through: 148)?.notSentBytes
    }

    /// Segments sent so far (`tcpi_segs_out`, Linux ≥ 4.2). glibc's `struct tcp_info` stops
    /// before this field, so it is read from the kernel's layout.
    public func segmentsOut() -> UInt32? {
        kernelTCPInfo(through: 140)?.segmentsOut
    }

    /// Bytes of this connection the peer has received so far as this end's TCP knows: segments
    /// delivered, selectively acknowledged ones included (`tcpi_delivered`, Linux 4.18+), times
    /// the segment size. Unlike `tcpi_bytes_acked` it does not jump when a loss is repaired and
    /// the cumulative acknowledgement catches up with data that arrived long before.
    public func bytesDelivered() -> UInt64? {
        deliveryState()?.delivered
    }

    /// `bytesDelivered` and the congestion window in bytes (`tcpi_snd_cwnd` × MSS: what TCP may
    /// have in flight now) from one `TCP_INFO` read, for a loop that samples both each round
    /// (`dwcp-detect`'s burst).
    public func deliveryState() -> (delivered: UInt64, congestionWindow: Int)? {
        kernelTCPInfo(through: 196).map { ($0.deliveredBytes, Int($0.congestionWindowSegments) * Int($0.mss)) }
    }

    /// What a transfer measures its path on, from one `TCP_INFO` read (Linux 4.18+): bytes
    /// delivered (as `bytesDelivered`), bytes written and not yet sent (as `unsentBytes`), and
    /// retransmitted (`tcpi_total_retrans`) and sent (`tcpi_segs_out`) segments. A migration polls
    /// it for every connection every 20 ms: one system call each instead of four.
    public func pathState() -> (delivered: UInt64, unsent: UInt32, retransmitted: UInt32, segmentsOut: UInt32)? {
        kernelTCPInfo(through: 196).map { ($0.deliveredBytes, $0.notSentBytes, $0.totalRetransmits, $0.segmentsOut) }
    }

    /// `TCP_INFO` as the kernel lays it out (glibc's `struct tcp_info` stops early), or nil when
    /// the kernel gave fewer than `length` bytes (an older kernel lacks the field) or this is
    /// not a kernel TCP socket.
    private func kernelTCPInfo(through length: Int) -> KernelTCPInfo? {
        if rdma { return nil }
        var raw = [UInt8](repeating: 0, count: 256)
        var len = socklen_t(raw.count)
        guard getsockopt(fd, Int32(IPPROTO_TCP), TCP_INFO, &raw, &len) == 0, Int(len) >= length else { return nil }
        return KernelTCPInfo(raw: raw)
    }

    /// The fields of the kernel's `struct tcp_info` this file reads, each at its offset in the
    /// kernel's layout (Linux's include/uapi/linux/tcp.h): the one place those offsets are
    /// written down.
    private struct KernelTCPInfo {
        let raw: [UInt8]
        private func load<T>(_ offset: Int, as type: T.Type) -> T {
            raw.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: T.self) }
        }
        var mss: UInt32 { load(16, as: UInt32.self) }                          // tcpi_snd_mss
        var congestionWindowSegments: UInt32 { load(80, as: UInt32.self) }     // tcpi_snd_cwnd
        var totalRetransmits: UInt32 { load(100, as: UInt32.self) }            // tcpi_total_retrans
        var bytesAcked: UInt64 { load(120, as: UInt64.self) }                  // tcpi_bytes_acked
        var segmentsOut: UInt32 { load(136, as: UInt32.self) }                 // tcpi_segs_out
        var notSentBytes: UInt32 { load(144, as: UInt32.self) }                // tcpi_notsent_bytes
        /// `tcpi_delivered` (segments) × the segment size.
        var deliveredBytes: UInt64 { UInt64(load(192, as: UInt32.self)) * UInt64(mss) }
    }

    /// Smoothed RTT (microseconds) and total retransmitted segments from `TCP_INFO`.
    public func tcpInfo() -> (rttMicroseconds: UInt32, retransmits: UInt32)? {
        if rdma { return nil }
        var info = tcp_info()
        var len = socklen_t(MemoryLayout<tcp_info>.size)
        guard getsockopt(fd, Int32(IPPROTO_TCP), TCP_INFO, &info, &len) == 0 else { return nil }
        return (info.tcpi_rtt, info.tcpi_total_retrans)
    }
}
