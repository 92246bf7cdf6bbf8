import DWCPCore
import DWCPSystem
#if canImport(Glibc)
import Glibc
#endif

/// Ending a transfer early: this side failed or was interrupted, and the receiver is told
/// (`cancel`) before the transfer fails, so it does not wait for us up to its idle timeout.
extension TransportSender {
    /// Ends the transfer from outside (a signal): the receiver is told, as when the input fails
    /// (`cancel`), and the transfer fails with `reason`. Returns once the receiver had it, or
    /// after about `Wire.cancelDeliverySeconds`. Once the whole input was read it does nothing:
    /// the stream is complete, and its end may already be with the receiver.
    public func cancel(reason: String) {
        guard !lock.withLock({ inputDone }) else { return }
        cancel(because: DWCPError(.failure, reason))
    }

    /// Cancels (`cancel(reason:)`) every transfer under way in this process, one after the
    /// other: what an interrupted command does before it exits, whichever library started them.
    public static func cancelAll(reason: String) {
        for s in live.all { s.cancel(reason: reason) }
    }

    /// This side failed (the input, or the application feeding it, threw), so the transfer can
    /// never complete: every connection sends `cancel` instead of its next chunk, and the
    /// receiver ends the transfer at once instead of waiting for this sender up to its idle
    /// timeout (a migration that gave up left its destination waiting two minutes). Returns
    /// once a connection delivered it, or none is left to, or after `Wire.cancelDeliverySeconds`
    /// and a little more; the caller then fails the transfer. Nothing is sent when the transport
    /// itself failed (there is nobody to tell) or the verdict is in.
    func cancel(because error: Error) {
        lock.withLock {
            guard startCancelling(error) else { return }
            // A connection that delivered it fails the transfer; one that could not just ends.
            let deadline = MonotonicClock.now() + Wire.cancelDeliverySeconds + 0.5
            while failure == nil && liveStreams > 0 && MonotonicClock.now() < deadline {
                lock.wait(seconds: deadline - MonotonicClock.now())
            }
        }
    }

    /// Makes `error` the reason every connection sends `cancel` for, unless the transfer already
    /// failed or has its verdict (nobody to tell, or nothing to cancel); an earlier reason stays.
    /// Returns whether the transfer is cancelling. Lock held.
    func startCancelling(_ error: Error) -> Bool {
        guard failure == nil, finStatus == nil else { return false }
        if cancelling == nil { cancelling = error }
        lock.broadcast()
        return true
    }

    /// Shuts down every connection, those still in their handshake too.
    func abortSockets() {
        lock.withLock {
            for s in sockets.values { s.shutdownBoth() }
            for s in handshaking.values { s.shutdownBoth() }
        }
    }

    func fail(_ error: Error) {
        lock.withLock {
            if failure == nil { failure = error }
            lock.broadcast()
            lock.wakeTimers()
        }
        abortSockets()
    }
}
