import DWCPCore
import DWCPSystem
#if canImport(Glibc)
import Glibc
#endif

/// What the receiver says back: acknowledgements (chunks written, buffers freed, the window
/// opened), its verdict, and its `cancel`; one reader thread per connection.
extension TransportSender {
    /// Frees chunks the receiver has written. Lock held.
    func acknowledge(_ next: UInt64) {
        guard next > ackedThrough else { return }
        for s in ackedThrough..<next {
            if let chunk = retained.removeValue(forKey: s) {
                unackedBytes -= UInt64(chunk.length)
                ackedBytes += UInt64(chunk.length)
                // Reused only if no stream thread is still writing it (a resend in progress).
                if let buffer = chunk.buffer, !sending.contains(s) { pool.recycle(buffer) }
            }
        }
        ackedThrough = next
        lastAck = MonotonicClock.now()
        lock.broadcast()
    }

    /// Reads acks and the final verdict from one connection.
    func ackLoop(_ socket: StreamSocket) {
        var raw = [UInt8](repeating: 0, count: Wire.messageHeaderLength)
        while true {
            do {
                try raw.withUnsafeMutableBytes { try socket.receiveExactly($0.baseAddress!, Wire.messageHeaderLength) }
                let m = try raw.withUnsafeBytes { try MessageHeader.decode($0.baseAddress!) }
                if m.kind == .fin && m.sequence == Wire.verdictReceiverInterrupted {
                    // Not worth reconnecting until --resume-timeout: nobody will answer.
                    fail(DWCPError(.network, "\(configuration.endpoint): the receiver was interrupted and ended the transfer"))
                    return
                }
                if m.kind == .cancel {
                    // The receiver's side failed (its disk is full, say) and it ended the
                    // transfer: the same, with its reason.
                    guard Int(m.length) <= Wire.maxCancelReason else { throw DWCPError(.network, "receiver's cancel reason of \(m.length) bytes") }
                    let reason = try socket.receive(Int(m.length))
                    guard Checksum.xxh3(reason) == m.checksum else { throw DWCPError(.network, "receiver's cancel message checksum mismatch") }
                    fail(Wire.cancelledByReceiver(endpoint: "\(configuration.endpoint)", reason: Wire.cancelReason(reason)))
                    return
                }
                let snapshot: TransferStats? = lock.withLock {
                    switch m.kind {
                    case .ack: acknowledge(m.sequence)
                    case .fin where m.sequence == Wire.verdictCancelled:
                        cancelDelivered = true
                        lock.broadcast()
                    case .fin:
                        finStatus = m.sequence
                        if let info = socket.tcpInfo() { recordTCP(socket, info) }
                        lock.broadcast()
                        lock.wakeTimers()
                    default: break
                    }
                    guard progress != nil else { return nil }
                    var s = stats
                    s.bytes = ackedBytes
                    s.streams = sockets.count
                    return s
                }
                if let snapshot { progress?(snapshot) }
            } catch {
                lock.withLock {
                    if let info = socket.tcpInfo() { recordTCP(socket, info) }
                    retire(socket)
                    lock.broadcast()
                }
                return
            }
        }
    }

    /// Takes `socket` out of `sockets` (if it is still there), keeping the bytes it delivered;
    /// the lock must be held.
    func retire(_ socket: StreamSocket) {
        guard let i = sockets.first(where: { $0.value === socket })?.key else { return }
        retiredDelivered += socket.bytesAcked() ?? 0
        sockets[i] = nil
    }

    func recordTCP(_ socket: StreamSocket, _ info: (rttMicroseconds: UInt32, retransmits: UInt32)) {
        guard let i = sockets.first(where: { $0.value === socket })?.key else { return }
        stats.tcp.removeAll { $0.stream == i }
        stats.tcp.append((i, info.rttMicroseconds, info.retransmits))
    }
}
