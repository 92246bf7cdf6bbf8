import CTLS
import DWCPCore
import DWCPSystem
#if canImport(Glibc)
import Glibc
#endif

/// One TLS session on a connected socket, usable from two threads at once.
///
/// Why it exists: the transport reads and writes each connection from different threads (a
/// sender streams chunks while its ack reader waits for acknowledgements; a receiver reads chunks
/// while its writer thread sends acks). OpenSSL allows only one call at a time on an `SSL`, so
/// the socket is non-blocking, every OpenSSL call happens under one lock, and a call that would
/// block releases the lock and waits in `poll` for the socket instead. Waits are sliced (at most
/// 200 ms) so a record one thread pulled in for the other is never waited for in vain.
final class TLSStream: @unchecked Sendable {
    private let ssl: OpaquePointer
    private let fd: Int32
    private let peer: String
    private let lock = ConditionLock()
    private var freed = false

    /// Wraps `fd` (which becomes non-blocking) and runs the handshake within `timeout` seconds.
    /// A client checks the receiver's certificate names `host` (a DNS name or an IP address).
    init(context: TLSContext, fd: Int32, peer: String, host: String?, timeout: Double) throws {
        guard let ssl = SSL_new(context.context) else {
            throw DWCPError(.network, "\(peer): TLS: \(TLSContext.lastError())")
        }
        self.ssl = ssl
        self.fd = fd
        self.peer = peer
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        SSL_set_fd(ssl, fd)
        if context.role == .client {
            let name = context.expectedName ?? host ?? ""
            var v4 = in_addr(), v6 = in6_addr()
            if inet_pton(AF_INET, name, &v4) == 1 || inet_pton(AF_INET6, name, &v6) == 1 {
                _ = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name)
            } else if !name.isEmpty {
                _ = dwcp_ssl_set_sni(ssl, name)
                _ = SSL_set1_host(ssl, name)
            }
            SSL_set_connect_state(ssl)
        } else {
            SSL_set_accept_state(ssl)
        }
        let deadline = MonotonicClock.now() + timeout
        while true {
            let (rc, error) = call { SSL_do_handshake(ssl) }
            if rc == 1 { break }
            try wait(for: error, deadline: deadline, what: "TLS handshake")
        }
    }

    deinit { free() }

    /// Releases the session; later calls from other threads fail as a closed connection.
    func free() {
        lock.withLock {
            if !freed {
                freed = true
                SSL_free(ssl)
            }
        }
    }

    /// Encrypts and sends all `count` bytes; `timeout` (0 = none) bounds each wait for room.
    func writeAll(_ p: UnsafeRawPointer, _ count: Int, timeout: Double) throws {
        var done = 0
        while done < count {
            var written = 0
            let (rc, error) = call { SSL_write_ex(ssl, p + done, count - done, &written) }
            if rc == 1 {
                done += written
                continue
            }
            do {
                try wait(for: error, deadline: timeout > 0 ? MonotonicClock.now() + timeout : .infinity, what: "send")
            } catch {
                throw pendingAlert() ?? error
            }
        }
    }

    /// After a failed send: the reason the peer gave, if its TLS alert is already here. A TLS 1.3
    /// server rejects a client certificate after the client's handshake has completed, sends an
    /// alert and closes; a client already writing sees the close as a reset, with the alert that
    /// says why still in its receive queue.
    private func pendingAlert() -> DWCPError? {
        var byte: UInt8 = 0
        var got = 0
        let (rc, error) = call { SSL_read_ex(ssl, &byte, 1, &got) }
        guard rc != 1, error == SSL_ERROR_SSL else { return nil }
        return DWCPError(.network, "\(peer): \(describeFailure())")
    }

    /// Receives and decrypts up to `count` bytes (at least one); `timeout` as for writes.
    func read(_ p: UnsafeMutableRawPointer, _ count: Int, timeout: Double) throws -> Int {
        let deadline = timeout > 0 ? MonotonicClock.now() + timeout : .infinity
        while true {
            var got = 0
            let (rc, error) = call { SSL_read_ex(ssl, p, count, &got) }
            if rc == 1 { return got }
            try wait(for: error, deadline: deadline, what: "recv")
        }
    }

    /// Runs one OpenSSL call under the lock and classifies its result in the same thread (the
    /// error queue is per thread). A freed session reports a closed connection.
    private func call(_ body: () -> Int32) -> (Int32, Int32) {
        lock.withLock {
            if freed { return (0, SSL_ERROR_ZERO_RETURN) }
            ERR_clear_error()
            let rc = body()
            return (rc, rc == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl, rc))
        }
    }

    /// Set when a read or write failed because the connection itself went (closed, reset,
    /// timed out), not because the peer refused something (a TLS alert): `StreamSocket`
    /// tells a lost connection from a refusal by it (`connectionLost`).
    private(set) var connectionLost = false

    /// The error of a connection that went, marked so.
    private func lost(_ message: String) -> DWCPError {
        connectionLost = true
        return DWCPError(.network, message)
    }

    /// Waits until the socket is ready for what OpenSSL asked for, or throws the failure.
    private func wait(for error: Int32, deadline: Double, what: String) throws {
        var events: Int16
        switch error {
        case SSL_ERROR_WANT_READ: events = Int16(POLLIN)
        case SSL_ERROR_WANT_WRITE: events = Int16(POLLOUT)
        case SSL_ERROR_ZERO_RETURN: throw lost("\(peer): connection closed")
        case SSL_ERROR_SYSCALL:
            let e = errno
            throw lost(e == 0 ? "\(peer): connection closed" : "\(peer): \(what): \(String(cString: strerror(e)))")
        default:
            let reason = describeFailure()
            // A refusal the peer sent is not this side's send or receive failing.
            throw DWCPError(.network, reason.hasPrefix(Self.peerRefused) ? "\(peer): \(reason)" : "\(peer): \(what): \(reason)")
        }
        let remaining = deadline - MonotonicClock.now()
        if remaining <= 0 { throw lost("\(peer): \(what) timed out") }
        var p = pollfd(fd: fd, events: events, revents: 0)
        let rc = poll(&p, 1, Int32(min(remaining, 0.2) * 1000) + 1)
        if rc > 0 && p.revents & Int16(POLLNVAL) != 0 { throw lost("\(peer): connection closed") }
    }

    /// OpenSSL's reason, with the certificate verdict when verification is what failed, and
    /// what a TLS alert from the peer means for this side: "tlsv1 alert unknown ca" alone after
    /// a client's handshake did not say that the receiver refused the client's certificate.
    private func describeFailure() -> String {
        let reason = TLSContext.lastError()
        let verdict = lock.withLock { freed ? Int(X509_V_OK) : SSL_get_verify_result(ssl) }
        if verdict != Int(X509_V_OK), let text = X509_verify_cert_error_string(verdict) {
            return "certificate rejected: \(String(cString: text)) (\(reason))"
        }
        if reason.contains(" alert ") {
            let aboutOurCertificate = ["unknown ca", "bad certificate", "certificate required", "certificate unknown",
                                       "certificate expired", "certificate revoked", "unsupported certificate"]
                .contains(where: reason.contains)
            return "\(Self.peerRefused) (\(reason))"
                + (aboutOurCertificate ? ": it wants a certificate from this side that it trusts (check --cert and --key here, --ca there)" : "")
        }
        return reason
    }

    /// How a failure the peer announced with a TLS alert begins.
    private static let peerRefused = "the peer refused the TLS session"
}
