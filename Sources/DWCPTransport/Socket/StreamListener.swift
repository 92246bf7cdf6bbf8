import DWCPCore
import DWCPSystem
#if canImport(Glibc)
import Glibc
#endif

/// A listening socket on one port: kernel TCP, RDMA (rsockets), or both (`--transport auto` on a
/// host with an RDMA device, so senders with and without RDMA can reach it).
public final class StreamListener: @unchecked Sendable {
    /// One listening descriptor and the calls of the network it belongs to.
    private struct Listening {
        let fd: Int32
        let calls: SocketCalls
    }

    private let listening: [Listening]
    public let port: UInt16
    /// Whether connections may arrive over RDMA.
    public var acceptsRDMA: Bool { listening.contains { $0.calls.rdma } }
    /// With `.auto` on a host with an RDMA device: why the RDMA listener could not be opened.
    public private(set) var rdmaProblem: String?

    /// Listens on `endpoint`; an empty host means every address (IPv6 and IPv4, dual stack).
    /// `.rdma` fails without an RDMA device; `.auto` adds an RDMA listener on the same port only
    /// when this host has one.
    public init(_ endpoint: Endpoint, transport: TransportKind = .tcp) throws {
        var listening: [Listening] = []
        var port = endpoint.port
        if transport != .rdma {
            let l = try Self.listen(endpoint, .kernel)
            port = l.port
            listening.append(l.listening)
        }
        if transport == .rdma || (transport == .auto && !RDMA.devices().isEmpty) {
            do {
                let l = try Self.listen(Endpoint(host: endpoint.host, port: port), .rsockets)
                port = l.port
                listening.append(l.listening)
            } catch where transport == .auto {
                // auto: TCP alone still serves every sender; the command reports why.
                rdmaProblem = "\(error)"
            }
        }
        self.listening = listening
        self.port = port
        var fds: [Int32] = [-1, -1]
        guard Glibc.pipe(&fds) == 0 else {
            throw DWCPError(.failure, "pipe: \(String(cString: strerror(errno)))")
        }
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        stashSignal = (fds[0], fds[1])
    }

    deinit {
        for l in listening { _ = l.calls.close(l.fd) }
        _ = Glibc.close(stashSignal.read)
        _ = Glibc.close(stashSignal.write)
    }

    /// A pipe that `stash` writes a byte into, so an `accept` waiting on the kernel listener
    /// returns a stashed connection at once (a kept connection's next HELLO may be waiting on it).
    private var stashSignal: (read: Int32, write: Int32) = (-1, -1)

    /// A listening descriptor bound to `endpoint`, and the port it got.
    private static func listen(_ endpoint: Endpoint, _ calls: SocketCalls) throws -> (listening: Listening, port: UInt16) {
        let rdma = calls.rdma
        let family = endpoint.host.contains(":") || endpoint.host.isEmpty ? AF_INET6 : AF_INET
        let fd = calls.socket(family)
        guard fd >= 0 else {
            if rdma { throw RDMA.failure("rsocket", errno) }
            throw DWCPError(.network, "socket: \(String(cString: strerror(errno)))")
        }
        calls.set(fd, SOL_SOCKET, SO_REUSEADDR, 1)
        var rc: Int32
        if family == AF_INET6 {
            if !rdma { calls.set(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 0) }
            var a = sockaddr_in6()
            a.sin6_family = sa_family_t(AF_INET6)
            a.sin6_port = endpoint.port.bigEndian
            if !endpoint.host.isEmpty { _ = inet_pton(AF_INET6, endpoint.host, &a.sin6_addr) } else { a.sin6_addr = in6addr_any }
            rc = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                calls.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
            } }
        } else {
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = endpoint.port.bigEndian
            guard inet_pton(AF_INET, endpoint.host, &a.sin_addr) == 1 else {
                _ = calls.close(fd)
                throw DWCPError(.usage, "\(endpoint.host): not an IPv4 or IPv6 address to listen on")
            }
            rc = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                calls.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            } }
        }
        guard rc == 0, calls.listen(fd, 128) == 0 else {
            let e = errno
            _ = calls.close(fd)
            if rdma { throw RDMA.failure("\(endpoint): cannot listen over RDMA", e) }
            throw DWCPError(.network, "\(endpoint): cannot listen: \(String(cString: strerror(e)))")
        }
        return (Listening(fd: fd, calls: calls), boundPort(fd, calls))
    }

    private static func boundPort(_ fd: Int32, _ calls: SocketCalls) -> UInt16 {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            calls.getsockname(fd, $0, &len)
        } }
        let v6 = storage.ss_family == sa_family_t(AF_INET6)
        return withUnsafePointer(to: &storage) { p in
            v6
                ? UInt16(bigEndian: p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_port })
                : UInt16(bigEndian: p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_port })
        }
    }

    /// Waits up to `timeout` seconds for a connection: `.connection`, `.timeout`, or `.closed`
    /// when the listener was shut down.
    public enum AcceptResult { case connection(StreamSocket), timeout, closed }

    public func accept(timeout: Double) -> AcceptResult {
        if let s = takeStashed() { return .connection(s) }
        // Kernel and rsockets descriptors cannot share one poll: the time is split between them.
        let share = Int32(timeout * 1000) / Int32(listening.count)
        var sawTimeout = false
        for l in listening {
            var p = pollfd(fd: l.fd, events: Int16(POLLIN), revents: 0)
            let rc: Int32
            if l.calls.rdma {
                rc = l.calls.poll(&p, 1, share)
            } else {
                var both = [p, pollfd(fd: stashSignal.read, events: Int16(POLLIN), revents: 0)]
                rc = Glibc.poll(&both, 2, share)
                p = both[0]
                if rc > 0 && both[1].revents != 0 {
                    var drain = [UInt8](repeating: 0, count: 64)
                    while Glibc.read(stashSignal.read, &drain, drain.count) > 0 {}
                    if let s = takeStashed() { return .connection(s) }
                    if p.revents == 0 {
                        sawTimeout = true
                        continue
                    }
                }
            }
            if rc == 0 || (rc < 0 && errno == EINTR) {
                sawTimeout = true
                continue
            }
            if rc < 0 { continue }
            if let s = acceptReady(l) { return .connection(s) }
        }
        return sawTimeout ? .timeout : .closed
    }

    /// Blocks for the next connection; nil when the listener was shut down.
    public func accept() -> StreamSocket? {
        while true {
            switch accept(timeout: 1) {
            case .connection(let s): return s
            case .timeout: continue
            case .closed: return nil
            }
        }
    }

    private func acceptReady(_ l: Listening) -> StreamSocket? {
        while true {
            var storage = sockaddr_storage()
            var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let c = withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                l.calls.accept(l.fd, $0, &len)
            } }
            if c >= 0 { return StreamSocket(fd: c, peer: Endpoint.describe(&storage), calls: l.calls) }
            if errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE {
                if errno == EMFILE || errno == ENFILE { usleep(10_000) }
                continue
            }
            return nil
        }
    }

    public func shutdown() {
        for l in listening { _ = l.calls.shutdown(l.fd, Int32(SHUT_RDWR)) }
    }

    /// Guards what the transfers served on this listener share: stashed connections and the
    /// ended sessions. A leaf: nothing is called with it held.
    private let sharedLock = ConditionLock()
    private var stashed: [StreamSocket] = []

    /// Hands an accepted connection back: the next `accept(timeout:)` returns it. A transfer that
    /// has just finished uses this for a connection that belongs to the next transfer on the
    /// same listener (dwcp-recv --keep, dwcp-migrate rounds) instead of dropping it, and so does a
    /// connection its sender keeps for its next transfer (`release`).
    public func stash(_ socket: StreamSocket, releasedBy session: [UInt8]? = nil) {
        sharedLock.withLock { stashed.append(socket) }
        if let session { noteVerdictHeard(by: session) }
        var one: UInt8 = 1
        _ = Glibc.write(stashSignal.write, &one, 1)
    }

    /// The connection stashed first, if any.
    private func takeStashed() -> StreamSocket? {
        sharedLock.withLock { stashed.isEmpty ? nil : stashed.removeFirst() }
    }

    /// Sessions whose transfer on this listener has ended, newest last (at most
    /// `retiredSessionLimit`), with the verdict each ended with, if it had one. A connection of
    /// one that arrives late (a stream still dialling when the verdict went out, or a sender
    /// this listener gave up) must not start a transfer of its own on the next receiver: that
    /// one has none of its chunks. One whose transfer had a verdict is told it again
    /// (`FinishedTransfer`): its sender lost every connection before the verdict reached it.
    private var retired: [(session: [UInt8], finished: FinishedTransfer?)] = []
    static let retiredSessionLimit = 64

    /// How a transfer on this listener ended, for a sender that reconnects after the end
    /// without having heard it: its connections were cut while the verdict was on its way
    /// (docs/TRANSPORT.md, "A verdict told again").
    public struct FinishedTransfer: Equatable, Sendable {
        /// The verdict the transfer's `fin` carried.
        public var verdict: UInt64
        /// Its chunk count: the reconnection's WELCOME asks for nothing before it.
        public var chunks: UInt64
        /// Whether its sender tells the receiver it heard the verdict (`fin` 0), which
        /// `TransportReceiver.waitUntilVerdictHeard` waits for: one that asked to keep its
        /// connections releases one (`release`), any other over TCP closes the connection the
        /// verdict reached it on. Not over RDMA.
        public var senderConfirms: Bool

        public init(verdict: UInt64, chunks: UInt64, senderConfirms: Bool = false) {
            self.verdict = verdict
            self.chunks = chunks
            self.senderConfirms = senderConfirms
        }
    }

    /// Handshakes under way on connections from this listener, whichever transfer accepted
    /// them: a transfer's end leaves its unfinished handshakes to finish (or time out), so
    /// their limit holds for the listener; per transfer, a stranger could hold the limit's
    /// worth of threads again at each transfer of a `--keep` receiver.
    private let handshakes = Occupancy()

    /// Counts a new connection's handshake unless `limit` are under way (then the caller closes it).
    public func beginHandshake(limit: Int) -> Bool {
        handshakes.enter(limit: limit)
    }

    /// A handshake counted by `beginHandshake` is over (answered, failed or timed out).
    public func endHandshake() {
        handshakes.leave()
    }

    /// Records that `session`'s transfer on this listener has ended, and its verdict if it had one.
    public func retire(_ session: [UInt8], finished: FinishedTransfer? = nil) {
        sharedLock.withLock {
            retired.append((session, finished))
            if retired.count > Self.retiredSessionLimit { retired.removeFirst() }
        }
    }

    /// Sessions whose sender has heard its transfer's verdict (`fin` 0): it released a
    /// connection to this listener (`stash(_:releasedBy:)`), or closed one the verdict went out
    /// on. Newest last, at most `retiredSessionLimit`.
    private var heard: [[UInt8]] = []

    /// Records that `session`'s sender heard its transfer's verdict.
    public func noteVerdictHeard(by session: [UInt8]) {
        sharedLock.withLock {
            guard !heard.contains(session) else { return }
            heard.append(session)
            if heard.count > Self.retiredSessionLimit { heard.removeFirst() }
            sharedLock.broadcast()
        }
    }

    /// Waits until `session`'s sender has heard its verdict (`noteVerdictHeard`) or `deadline`
    /// (`MonotonicClock`) has passed; returns whether it did.
    public func waitUntilVerdictHeard(by session: [UInt8], until deadline: Double) -> Bool {
        sharedLock.withLock {
            while !heard.contains(session) {
                let left = deadline - MonotonicClock.now()
                if left <= 0 { return false }
                sharedLock.wait(seconds: min(left, 0.5))
            }
            return true
        }
    }

    /// The transfer that ended last on this listener, with its verdict if it had one.
    public var lastRetired: (session: [UInt8], finished: FinishedTransfer?)? {
        sharedLock.withLock { retired.last }
    }

    /// Whether `session`'s transfer on this listener has ended (`retire`).
    public func hasRetired(_ session: [UInt8]) -> Bool {
        sharedLock.withLock { retired.contains { $0.session == session } }
    }

    /// The verdict `session`'s transfer on this listener ended with; nil if it has not ended
    /// or ended without one.
    public func finishedTransfer(_ session: [UInt8]) -> FinishedTransfer? {
        sharedLock.withLock { retired.last { $0.session == session }?.finished }
    }
}
