import CRDMA
import DWCPCore
import DWCPSystem
#if canImport(Glibc)
import Glibc
#endif

/// A listening socket on one port: kernel TCP, RDMA (rsockets), or both (`--transport auto` on a
/// host with an RDMA device, so senders with and without RDMA can reach it).
public final class StreamListener: @unchecked Sendable {
    /// One listening descriptor and the socket family it belongs to.
    private struct Listening {
        let fd: Int32
        let rdma: Bool
    }

    private let listening: [Listening]
    public let port: UInt16
    /// Whether connections may arrive over RDMA.
    public var acceptsRDMA: Bool { listening.contains { $0.rdma } }
    /// With `.auto` on a host with an RDMA device: why the RDMA listener could not be opened.
    public private(set) var rdmaProblem: String?

    /// Listens on `endpoint`; an empty host means every address (IPv6 and IPv4, dual stack).
    /// `.rdma` fails without an RDMA device; `.auto` adds an RDMA listener on the same port only
    /// when this host has one.
    public init(_ endpoint: Endpoint, transport: TransportKind = .tcp) throws {
        var listening: [Listening] = []
        var port = endpoint.port
        if transport != .rdma {
            let fd = try Self.listen(endpoint, rdma: false)
            port = Self.boundPort(fd, rdma: false)
            listening.append(Listening(fd: fd, rdma: false))
        }
        if transport == .rdma || (transport == .auto && !RDMA.devices().isEmpty) {
            do {
                let fd = try Self.listen(Endpoint(host: endpoint.host, port: port), rdma: true)
                port = Self.boundPort(fd, rdma: true)
                listening.append(Listening(fd: fd, rdma: true))
            } catch where transport == .auto {
                // auto: TCP alone still serves every sender; the command reports why.
                rdmaProblem = "\(error)"
            }
        }
        self.listening = listening
        self.port = port
    }

    deinit {
        for l in listening { _ = l.rdma ? rclose(l.fd) : Glibc.close(l.fd) }
    }

    private static func listen(_ endpoint: Endpoint, rdma: Bool) throws -> Int32 {
        let family = endpoint.host.contains(":") || endpoint.host.isEmpty ? AF_INET6 : AF_INET
        let fd = rdma ? rsocket(family, Int32(SOCK_STREAM.rawValue), 0)
                      : socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            if rdma { throw RDMA.failure("rsocket", errno) }
            throw DWCPError(.network, "socket: \(String(cString: strerror(errno)))")
        }
        let close = { _ = rdma ? rclose(fd) : Glibc.close(fd) }
        let setOption = { (level: Int32, name: Int32, value: Int32) in
            var v = value
            _ = rdma ? rsetsockopt(fd, level, name, &v, 4) : setsockopt(fd, level, name, &v, 4)
        }
        setOption(SOL_SOCKET, SO_REUSEADDR, 1)
        var rc: Int32
        if family == AF_INET6 {
            if !rdma { setOption(Int32(IPPROTO_IPV6), IPV6_V6ONLY, 0) }
            var a = sockaddr_in6()
            a.sin6_family = sa_family_t(AF_INET6)
            a.sin6_port = endpoint.port.bigEndian
            if !endpoint.host.isEmpty { _ = inet_pton(AF_INET6, endpoint.host, &a.sin6_addr) } else { a.sin6_addr = in6addr_any }
            rc = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                rdma ? rbind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) : bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
            } }
        } else {
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = endpoint.port.bigEndian
            guard inet_pton(AF_INET, endpoint.host, &a.sin_addr) == 1 else {
                close()
                throw DWCPError(.usage, "\(endpoint.host): not an IPv4 or IPv6 address to listen on")
            }
            rc = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                rdma ? rbind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) : bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            } }
        }
        guard rc == 0, (rdma ? rlisten(fd, 128) : Glibc.listen(fd, 128)) == 0 else {
            let e = errno
            close()
            if rdma { throw RDMA.failure("\(endpoint): cannot listen over RDMA", e) }
            throw DWCPError(.network, "\(endpoint): cannot listen: \(String(cString: strerror(e)))")
        }
        return fd
    }

    private static func boundPort(_ fd: Int32, rdma: Bool) -> UInt16 {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            rdma ? rgetsockname(fd, $0, &len) : getsockname(fd, $0, &len)
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
        if let s = stashLock.withLock({ stashed.isEmpty ? nil : stashed.removeFirst() }) { return .connection(s) }
        // Kernel and rsockets descriptors cannot share one poll: the time is split between them.
        let share = Int32(timeout * 1000) / Int32(listening.count)
        var sawTimeout = false
        for l in listening {
            var p = pollfd(fd: l.fd, events: Int16(POLLIN), revents: 0)
            let rc = l.rdma ? rpoll(&p, 1, share) : poll(&p, 1, share)
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
                l.rdma ? raccept(l.fd, $0, &len) : Glibc.accept(l.fd, $0, &len)
            } }
            if c >= 0 {
                if !l.rdma { _ = fcntl(c, F_SETFD, FD_CLOEXEC) }
                return StreamSocket(fd: c, peer: Endpoint.describe(&storage), rdma: l.rdma)
            }
            if errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE {
                if errno == EMFILE || errno == ENFILE { usleep(10_000) }
                continue
            }
            return nil
        }
    }

    public func shutdown() {
        for l in listening { _ = l.rdma ? rshutdown(l.fd, Int32(SHUT_RDWR)) : Glibc.shutdown(l.fd, Int32(SHUT_RDWR)) }
    }

    private let stashLock = ConditionLock()
    private var stashed: [StreamSocket] = []

    /// Hands an accepted connection back: the next `accept(timeout:)` returns it. A transfer that
    /// has just finished uses this for a connection that belongs to the next transfer on the
    /// same listener (dwcp-recv --keep, dwcp-migrate rounds) instead of dropping it.
    public func stash(_ socket: StreamSocket) {
        stashLock.withLock { stashed.append(socket) }
    }
}
