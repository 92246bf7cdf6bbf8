import DWCPCore
import DWCPSystem

/// Connections a finished transfer leaves open for the next transfer to the same receiver
/// (`SenderConfiguration.keptConnections`; docs/TRANSPORT.md, "Kept connections").
///
/// `dwcp-migrate file` sends one transfer per pre-copy round. On new connections each round paid
/// TCP's opening and, worse, slow start: on 100 Mbit with 50 ms RTT a final round of half a
/// megabyte needs five round trips to grow a window from 14 KB. A kept connection skips the
/// opening and keeps the window (and bbr's model of the path) the rounds before it grew.
///
/// A transfer that ends with `fin` 0 sends `release` on each of its connections and puts them
/// here; its acknowledgement reader stays on each until the receiver's answering `release`, the
/// last byte of that transfer on the connection. The next transfer takes them (`take`), sends
/// its HELLO at once and reads the challenge only after that reader is done. A connection the
/// receiver did not keep (an older receiver, or one that gave up waiting) fails there, and the
/// transfer dials a new one instead.
public final class ConnectionPool: @unchecked Sendable {
    /// One kept connection and what the transfer that kept it left reading it.
    final class Kept {
        let socket: StreamSocket
        /// The receiver it leads to.
        let endpoint: Endpoint
        /// The congestion control the connection runs.
        let congestionControl: String?
        /// The old transfer's acknowledgement reader: it ends at the receiver's `release`
        /// (`released` true) or at a failure of the connection.
        let reader: OSThread
        let state: ReaderState

        init(socket: StreamSocket, endpoint: Endpoint, congestionControl: String?, reader: OSThread, state: ReaderState) {
            self.socket = socket
            self.endpoint = endpoint
            self.congestionControl = congestionControl
            self.reader = reader
            self.state = state
        }

        /// Waits for the old transfer's reader; throws unless the receiver answered `release`.
        func awaitRelease() throws {
            reader.join()
            guard state.released else {
                throw DWCPError(.network, "\(socket.peer): the receiver did not keep the connection")
            }
        }
    }

    /// Set by a connection's acknowledgement reader as it ends: whether it ended at `release`.
    final class ReaderState: @unchecked Sendable {
        private let lock = ConditionLock()
        private var outcome: Bool?

        func finish(released: Bool) { lock.withLock { outcome = released; lock.broadcast() } }

        var released: Bool { lock.withLock { outcome == true } }

        /// Whether the reader ended at `release`; nil if it is still reading at `deadline`.
        func wait(until deadline: Double) -> Bool? {
            lock.withLock {
                while outcome == nil {
                    let left = deadline - MonotonicClock.now()
                    if left <= 0 { return nil }
                    lock.wait(seconds: min(left, 0.5))
                }
                return outcome
            }
        }
    }

    private let lock = ConditionLock()
    private var kept: [Kept] = []
    private var closed = false

    public init() {}

    /// Connections waiting for a transfer.
    public var count: Int { lock.withLock { kept.count } }

    func put(_ connection: Kept) {
        let accepted = lock.withLock { () -> Bool in
            if closed { return false }
            kept.append(connection)
            return true
        }
        if !accepted { Self.discard(connection) }
    }

    /// The connection to `endpoint` kept last, or nil. Newest first: an older one a transfer
    /// with fewer connections left over may have been taken by a receiver's transfer that ended
    /// since.
    func take(to endpoint: Endpoint) -> Kept? {
        lock.withLock {
            guard let i = kept.lastIndex(where: { $0.endpoint == endpoint }) else { return nil }
            return kept.remove(at: i)
        }
    }

    /// Whether the receiver answered `release` on a kept connection (it then knows this sender
    /// heard the verdict): waits until one was, or every reader ended without, or `deadline`.
    func awaitAnyRelease(until deadline: Double) -> Bool {
        let all = lock.withLock { kept }
        for k in all {
            switch k.state.wait(until: deadline) {
            case true?: return true
            case false?: continue
            case nil: return false
            }
        }
        return false
    }

    /// Closes every kept connection (their receiver then sees the end of the stream, as after a
    /// transfer that kept nothing); later `put`s close theirs at once.
    public func close() {
        let all: [Kept] = lock.withLock {
            closed = true
            defer { kept = [] }
            return kept
        }
        for k in all { Self.discard(k) }
    }

    static func discard(_ k: Kept) {
        k.socket.shutdownBoth()
        k.reader.join()
        k.socket.close()
    }

    deinit { close() }
}
