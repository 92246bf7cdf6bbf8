import DWCPCore
import DWCPSystem
#if canImport(Glibc)
import Glibc
#endif

/// A listening TCP socket.
public final class StreamListener: @unchecked Sendable {
    public let fd: Int32
    public let port: UInt16

    /// Listens on `endpoint`; an empty host means every address (IPv6 and IPv4, dual stack).
    public init(_ endpoint: Endpoint) throws {
        let family = endpoint.host.contains(":") || endpoint.host.isEmpty ? AF_INET6 : AF_INET
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw DWCPError(.network, "socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, 4)
        var rc: Int32
        if family == AF_INET6 {
            var zero: Int32 = 0
            setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &zero, 4)
            var a = sockaddr_in6()
            a.sin6_family = sa_family_t(AF_INET6)
            a.sin6_port = endpoint.port.bigEndian
            if !endpoint.host.isEmpty { _ = inet_pton(AF_INET6, endpoint.host, &a.sin6_addr) } else { a.sin6_addr = in6addr_any }
            rc = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        } else {
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = endpoint.port.bigEndian
            guard inet_pton(AF_INET, endpoint.host, &a.sin_addr) == 1 else {
                _ = Glibc.close(fd)
                throw DWCPError(.usage, "\(endpoint.host): not an IPv4 or IPv6 address to listen on")
            }
            rc = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        }
        guard rc == 0, Glibc.listen(fd, 128) == 0 else {
            let e = errno
            _ = Glibc.close(fd)
            throw DWCPError(.network, "\(endpoint): cannot listen: \(String(cString: strerror(e)))")
        }
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        port = withUnsafePointer(to: &storage) { p in
            family == AF_INET6 ? UInt16(bigEndian: p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_port })
                               : UInt16(bigEndian: p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_port })
        }
        self.fd = fd
    }

    deinit { _ = Glibc.close(fd) }

    /// Waits up to `timeout` seconds for a connection: `.connection`, `.timeout`, or `.closed`
    /// when the listener was shut down.
    public enum AcceptResult { case connection(StreamSocket), timeout, closed }

    public func accept(timeout: Double) -> AcceptResult {
        if let s = stashLock.withLock({ stashed.isEmpty ? nil : stashed.removeFirst() }) { return .connection(s) }
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let rc = poll(&p, 1, Int32(timeout * 1000))
        if rc == 0 { return .timeout }
        if rc < 0 { return errno == EINTR ? .timeout : .closed }
        if let s = accept() { return .connection(s) }
        return .closed
    }

    /// Blocks for the next connection; nil when the listener was shut down.
    public func accept() -> StreamSocket? {
        while true {
            var storage = sockaddr_storage()
            var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let c = withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.accept(fd, $0, &len) } }
            if c >= 0 {
                _ = fcntl(c, F_SETFD, FD_CLOEXEC)
                return StreamSocket(fd: c, peer: Endpoint.describe(&storage))
            }
            if errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE {
                if errno == EMFILE || errno == ENFILE { usleep(10_000) }
                continue
            }
            return nil
        }
    }

    public func shutdown() { _ = Glibc.shutdown(fd, Int32(SHUT_RDWR)) }

    private let stashLock = ConditionLock()
    private var stashed: [StreamSocket] = []

    /// Hands an accepted connection back: the next `accept(timeout:)` returns it. A transfer that
    /// has just finished uses this for a connection that belongs to the next transfer on the
    /// same listener (dwcp-recv --keep, dwcp-migrate rounds) instead of dropping it.
    public func stash(_ socket: StreamSocket) {
        stashLock.withLock { stashed.append(socket) }
    }
}
