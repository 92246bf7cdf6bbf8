import Glibc
import CLinux
import DWCPCore

/// Unix-domain stream sockets and pipes: how dwcp-migrate talks to QEMU (QMP, and the migration
/// stream itself) and joins its in-process stages, with the same EINTR-safe file descriptors as
/// everything else.
public enum UnixSocket {
    private static func address(_ path: String) throws -> sockaddr_un {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard bytes.count < capacity else { throw DWCPError.failure("unix socket path too long: \(path)") }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return addr
    }

    /// Connects to the socket at `path`.
    public static func connect(_ path: String) throws -> FileDescriptor {
        let fd = try syscall("socket(AF_UNIX)") { socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        var addr = try address(path)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if rc != 0 {
            let e = errno
            Glibc.close(fd)
            throw SystemError(errno: e, what: "connect \(path)")
        }
        return FileDescriptor(rawValue: fd, name: path)
    }

    /// Connects, retrying until `timeout` while the socket does not exist yet or refuses.
    public static func connect(_ path: String, retryFor timeout: Double) throws -> FileDescriptor {
        let deadline = MonotonicClock.now() + timeout
        while true {
            do { return try connect(path) } catch let e as SystemError where (e.errno == ENOENT || e.errno == ECONNREFUSED) && MonotonicClock.now() < deadline {
                usleep(20_000)
            }
        }
    }

    /// Listens at `path` (replacing a stale socket file).
    public static func listen(_ path: String) throws -> FileDescriptor {
        unlink(path)
        let fd = try syscall("socket(AF_UNIX)") { socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        var addr = try address(path)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if rc != 0 || Glibc.listen(fd, 4) != 0 {
            let e = errno
            Glibc.close(fd)
            throw SystemError(errno: e, what: "listen \(path)")
        }
        return FileDescriptor(rawValue: fd, name: path)
    }

    /// A connected pair of stream sockets, both close-on-exec: one end is handed to another
    /// process (`send(_:passing:over:)`), which then needs no socket path to connect to.
    public static func pair(name: String) throws -> (FileDescriptor, FileDescriptor) {
        var fds: [Int32] = [0, 0]
        _ = try syscall("socketpair(AF_UNIX)") { socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) }
        return (FileDescriptor(rawValue: fds[0], name: name), FileDescriptor(rawValue: fds[1], name: name))
    }

    /// Writes all of `bytes` to `socket`, with a copy of `descriptor` (if any) attached to the
    /// first write (SCM_RIGHTS); the rest of them, if that write was short, goes without it.
    /// With MSG_NOSIGNAL: a peer that went away is an error, not a SIGPIPE.
    public static func send(_ bytes: [UInt8], passing descriptor: FileDescriptor? = nil, over socket: FileDescriptor) throws {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                if done == 0, let descriptor {
                    return dwcp_send_with_descriptor(socket.rawValue, raw.baseAddress!, raw.count, descriptor.rawValue)
                }
                return Glibc.send(socket.rawValue, raw.baseAddress! + done, raw.count - done, Int32(MSG_NOSIGNAL))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError(errno: errno, what: "send to \(socket.name)")
            }
            done += n
        }
    }

    /// Reads up to `capacity` bytes from `socket`, and the descriptor sent with them, if any
    /// (the receiving half of `send(_:passing:over:)`). Empty bytes: the peer closed.
    public static func receive(from socket: FileDescriptor, capacity: Int) throws -> (bytes: [UInt8], descriptor: FileDescriptor?) {
        var bytes = [UInt8](repeating: 0, count: capacity)
        var fd: Int32 = -1
        while true {
            let n = bytes.withUnsafeMutableBytes { dwcp_receive_with_descriptor(socket.rawValue, $0.baseAddress!, capacity, &fd) }
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError(errno: errno, what: "receive from \(socket.name)")
            }
            bytes.removeSubrange(n...)
            return (bytes, fd >= 0 ? FileDescriptor(rawValue: fd, name: "descriptor from \(socket.name)") : nil)
        }
    }

    /// Accepts one connection, or nil after `timeout` seconds.
    public static func accept(_ listener: FileDescriptor, timeout: Double) throws -> FileDescriptor? {
        var p = pollfd(fd: listener.rawValue, events: Int16(POLLIN), revents: 0)
        let rc = poll(&p, 1, Int32(timeout * 1000))
        if rc < 0 && errno != EINTR { throw SystemError(errno: errno, what: "poll \(listener.name)") }
        if rc <= 0 { return nil }
        let fd = try syscall("accept \(listener.name)") { Glibc.accept(listener.rawValue, nil, nil) }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        return FileDescriptor(rawValue: fd, name: listener.name)
    }

    /// A pipe (read end, write end), both close-on-exec, holding `capacity` bytes (as far as
    /// the kernel allows, `enlargePipeBuffer`).
    public static func pipe(name: String, capacity: Int = 1 << 20) throws -> (read: FileDescriptor, write: FileDescriptor) {
        var fds: [Int32] = [0, 0]
        _ = try syscall("pipe") { Glibc.pipe(&fds) }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        let ends = (read: FileDescriptor(rawValue: fds[0], name: name), write: FileDescriptor(rawValue: fds[1], name: name))
        ends.write.enlargePipeBuffer(to: capacity)
        return ends
    }

    /// Sets the socket's send buffer to `bytes`, past `net.core.wmem_max` where allowed
    /// (`SO_SNDBUFFORCE` needs CAP_NET_ADMIN; otherwise the kernel caps `SO_SNDBUF`). On a unix
    /// stream socket the writer's send buffer bounds everything in flight to the reader, and the
    /// default (~200 KiB) is a few hundred microseconds of a migration stream: a reader that is
    /// not scheduled for that long stalls the writer. Best effort: returns the size in effect.
    @discardableResult
    public static func setSendBuffer(_ fd: FileDescriptor, bytes: Int) -> Int {
        var v = Int32(clamping: bytes)
        let size = socklen_t(MemoryLayout<Int32>.size)
        if setsockopt(fd.rawValue, SOL_SOCKET, SO_SNDBUFFORCE, &v, size) != 0 {
            _ = setsockopt(fd.rawValue, SOL_SOCKET, SO_SNDBUF, &v, size)
        }
        var got: Int32 = 0
        var length = size
        _ = getsockopt(fd.rawValue, SOL_SOCKET, SO_SNDBUF, &got, &length)
        return Int(got)
    }

    /// Shuts a socket down both ways: a read or write blocked on it, on either end, returns at
    /// once (end of file, or EPIPE).
    public static func shutdownBoth(_ fd: FileDescriptor) {
        _ = shutdown(fd.rawValue, Int32(SHUT_RDWR))
    }

    /// Ends reading from a stream socket whose writer is known to be done: what it wrote is
    /// still read, then a read returns end of file at once instead of waiting for the writer
    /// to close (a write after this fails with EPIPE).
    public static func shutdownReading(_ fd: FileDescriptor) {
        _ = shutdown(fd.rawValue, Int32(SHUT_RD))
    }
}
