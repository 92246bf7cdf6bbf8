import DWCPCore
import DWCPSystem
#if canImport(Glibc)
import Glibc
#endif

/// Ending a transfer that cannot complete: this side failed, was interrupted, or a sender
/// cancelled; the senders are told why (`cancel`) before the connections close.
extension TransportReceiver {
    /// Ends the transfer from outside (an interrupted `dwcp-recv`): each connected sender is told
    /// (`fin` 4) and fails at once, where it would have reconnected until its resume timeout;
    /// the transfer fails with `reason`. Waits up to half a second for the senders to close
    /// (a message still queued when the process exits can be lost to the reset its close
    /// sends). Nothing happens once the verdict is known.
    public func cancel(reason: String) {
        let senders: [StreamSocket] = lock.withLock {
            guard verdict == nil && failure == nil else { return [] }
            sendersKnowTheEnd = true
            return Array(authenticated.values)
        }
        guard !senders.isEmpty else { return fail(DWCPError(.failure, reason)) }
        for s in senders { sendControl(s, .fin, Wire.verdictReceiverInterrupted) }
        lock.withLock {
            waitForSendersToClose()
            failTransfer(DWCPError(.failure, reason))
        }
    }

    /// Fails the transfer with `error` from outside, while its stream is still arriving: what
    /// consumes the output (`dwcp-migrate receive`'s decoder) stopped, and its error, not the
    /// closed pipe the writer would find next, is the cause the senders are told and `receive`
    /// throws. Once the end arrived it does nothing: the acceptance step reports it then.
    public func abort(because error: Error) {
        lock.withLock { if end == nil && verdict == nil { failTransfer(error) } }
    }

    /// A transfer that failed on this side (its output could not be written or synced, nothing
    /// came for the idle timeout, a sender broke the protocol) is told to the senders still
    /// connected: `cancel` with the reason, so each fails at once with it (exit 4) where it would
    /// have reconnected to a receiver that is gone until its resume timeout (30 s by default).
    /// Connections that end on their own because of the failure tell their sender as they go
    /// (`connectionLoop`); a sender told twice fails at the first.
    func tellSendersWhyItFailed() {
        let (reason, senders): (String, [StreamSocket]) = lock.withLock {
            guard let failure, verdict == nil, !sendersKnowTheEnd else { return ("", []) }
            sendersKnowTheEnd = true
            let untold = authenticated.filter { toldWhy[$0.key] == nil }
            for id in untold.keys { toldWhy[id] = false }
            return ("\(failure)", Array(untold.values))
        }
        let message = Wire.cancelMessage(reason: reason)
        for s in senders {
            sendLock.withLock { _ = try? s.sendAll(message) }
            lock.withLock {
                toldWhy[ObjectIdentifier(s)] = true
                lock.broadcast()
            }
        }
        lock.withLock { waitForSendersToClose() }
    }

    /// Waits (lock held) up to half a second for the senders to close their connections: a
    /// message still queued when the process exits can be lost to the reset its close sends.
    func waitForSendersToClose() {
        let deadline = MonotonicClock.now() + 0.5
        while !authenticated.isEmpty && MonotonicClock.now() < deadline { lock.wait(seconds: deadline - MonotonicClock.now()) }
    }

    /// Cancels (`cancel(reason:)`) every transfer this process is receiving.
    public static func cancelAll(reason: String) {
        for r in live.all { r.cancel(reason: reason) }
    }

    func fail(_ error: Error) {
        lock.withLock { failTransfer(error) }
    }

    /// `fail` with the lock held.
    func failTransfer(_ error: Error) {
        if failure == nil { failure = error }
        lock.broadcast()
        lock.wakeTimers()
    }
}
