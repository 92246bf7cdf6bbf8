import CRDMA
#if canImport(Glibc)
import Glibc
#endif

/// The socket calls of one network: the kernel's (TCP) or librdmacm's rsockets (RDMA), which
/// mirror them one for one. `StreamSocket` and `StreamListener` hold the set their descriptor
/// belongs to instead of choosing between the two at every call.
///
/// Kernel sockets are made close-on-exec and sent to with `MSG_NOSIGNAL` (a closed peer is an
/// error, not a SIGPIPE); rsockets descriptors are not kernel file descriptors and need neither.
struct SocketCalls: Sendable {
    let rdma: Bool
    /// A new stream socket of `family` (AF_INET, AF_INET6).
    let socket: @Sendable (_ family: Int32) -> Int32
    let bind: @Sendable (Int32, UnsafePointer<sockaddr>, socklen_t) -> Int32
    let listen: @Sendable (Int32, Int32) -> Int32
    let accept: @Sendable (Int32, UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Int32
    let connect: @Sendable (Int32, UnsafePointer<sockaddr>, socklen_t) -> Int32
    let close: @Sendable (Int32) -> Int32
    let shutdown: @Sendable (Int32, Int32) -> Int32
    let send: @Sendable (Int32, UnsafeRawPointer, Int) -> Int
    let recv: @Sendable (Int32, UnsafeMutableRawPointer, Int) -> Int
    let poll: @Sendable (UnsafeMutablePointer<pollfd>, nfds_t, Int32) -> Int32
    let setsockopt: @Sendable (Int32, Int32, Int32, UnsafeRawPointer, socklen_t) -> Int32
    let getsockname: @Sendable (Int32, UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Int32

    static let kernel = SocketCalls(
        rdma: false,
        socket: { Glibc.socket($0, streamType | Int32(SOCK_CLOEXEC.rawValue), 0) },
        bind: { Glibc.bind($0, $1, $2) },
        listen: { Glibc.listen($0, $1) },
        accept: { fd, address, length in
            let c = Glibc.accept(fd, address, length)
            if c >= 0 { _ = fcntl(c, F_SETFD, FD_CLOEXEC) }
            return c
        },
        connect: { Glibc.connect($0, $1, $2) },
        close: { Glibc.close($0) },
        shutdown: { Glibc.shutdown($0, $1) },
        send: { Glibc.send($0, $1, $2, Int32(MSG_NOSIGNAL)) },
        recv: { Glibc.recv($0, $1, $2, 0) },
        poll: { Glibc.poll($0, $1, $2) },
        setsockopt: { Glibc.setsockopt($0, $1, $2, $3, $4) },
        getsockname: { Glibc.getsockname($0, $1, $2) })

    static let rsockets = SocketCalls(
        rdma: true,
        socket: { rsocket($0, streamType, 0) },
        bind: { rbind($0, $1, $2) },
        listen: { rlisten($0, $1) },
        accept: { raccept($0, $1, $2) },
        connect: { rconnect($0, $1, $2) },
        close: { rclose($0) },
        shutdown: { rshutdown($0, $1) },
        send: { rsend($0, $1, $2, 0) },
        recv: { rrecv($0, $1, $2, 0) },
        poll: { rpoll($0, $1, $2) },
        setsockopt: { rsetsockopt($0, $1, $2, $3, $4) },
        getsockname: { rgetsockname($0, $1, $2) })

    static func of(rdma: Bool) -> SocketCalls { rdma ? .rsockets : .kernel }

    /// `SOCK_STREAM`, for address lookups.
    static let streamType = Int32(SOCK_STREAM.rawValue)

    /// Sets an `Int32` socket option.
    @discardableResult
    func set(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) -> Int32 {
        var v = value
        return setsockopt(fd, level, name, &v, socklen_t(4))
    }

    /// A kernel-socket send that says more follows at once (`MSG_MORE`): the bytes wait, briefly,
    /// to leave in one segment with the next send (a message header with its payload).
    static func kernelSendMore(_ fd: Int32, _ p: UnsafeRawPointer, _ count: Int) -> Int {
        Glibc.send(fd, p, count, Int32(MSG_NOSIGNAL | MSG_MORE))
    }
}
