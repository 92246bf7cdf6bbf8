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
        reconnectsAtLastAck = stats.reconnects
        lock.broadcast()
    }

    /// Reads acks and the final verdict from one connection, until it fails (false) or the
    /// receiver answers `release` (true: it keeps the connection for the next transfer, and
    /// nothing more of this one follows on it).
    @discardableResult
    func ackLoop(_ socket: StreamSocket) -> Bool {
        if let early = lock.withLock({ earlyWelcomes.removeValue(forKey: ObjectIdentifier(socket)) }), !readEarlyWelcome(socket, early) {
            return false
        }
        var raw = [UInt8](repeating: 0, count: Wire.messageHeaderLength)
        while true {
            do {
                try raw.withUnsafeMutableBytes { try socket.receiveExactly($0.baseAddress!, Wire.messageHeaderLength) }
                let m = try raw.withUnsafeBytes { try MessageHeader.decode($0.baseAddress!) }
                if m.kind == .release { return lock.withLock { finStatus == Wire.verdictOK } }
                if m.kind == .fin && m.sequence == Wire.verdictReceiverInterrupted {
                    // Not worth reconnecting until --resume-timeout: nobody will answer.
                    fail(DWCPError(.network, "\(configuration.endpoint): the receiver was interrupted and ended the transfer"))
                    return false
                }
                if m.kind == .cancel {
                    // The receiver's side failed (its disk is full, say) and it ended the
                    // transfer: the same, with its reason.
                    guard Int(m.length) <= Wire.maxCancelReason else { throw DWCPError(.network, "receiver's cancel reason of \(m.length) bytes") }
                    let reason = try socket.receive(Int(m.length))
                    guard Checksum.xxh3(reason) == m.checksum else { throw DWCPError(.network, "receiver's cancel message checksum mismatch") }
                    fail(Wire.cancelledByReceiver(endpoint: "\(configuration.endpoint)", reason: Wire.cancelReason(reason)))
                    return false
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
                return false
            }
        }
    }

    /// The welcome of a connection that sent before it (kept, or dialled again: `handshake`):
    /// checked as `handshake` checks one it waits for. False if it did not come: a restarted
    /// receiver fails the transfer; any other answer, or none, ends the connection, whose chunks
    /// the others send again, and a new one replaces it (a dialled one after the pause a failed
    /// dial takes).
    private func readEarlyWelcome(_ socket: StreamSocket, _ early: (pending: Handshake.PendingWelcome, ackedBeforeHello: UInt64)) -> Bool {
        do {
            let welcome = try early.pending.welcome()
            try lock.withLock {
                try take(welcome, ackedBeforeHello: early.ackedBeforeHello)
                if awaitingWelcome.remove(ObjectIdentifier(socket)) == nil { stats.keptConnectionsUsed += 1 }
            }
            return true
        } catch let e as DWCPError where e == Wire.receiverRestarted {
            fail(e)
            return false
        } catch {
            // Its sender may be blocked writing to a receiver that reads nothing more.
            socket.shutdownBoth()
            lock.withLock {
                retire(socket)
                // A dialled one stays in `awaitingWelcome`: its loop pauses as after a failed dial.
                if awaitingWelcome.contains(ObjectIdentifier(socket)) {
                    earlyWelcomeError = error
                } else {
                    keptButNotWelcomed.insert(ObjectIdentifier(socket))
                }
                lock.broadcast()
            }
            return false
        }
    }

    /// After `sendLoop` finished on `socket`: whether it goes to `configuration.keptConnections`
    /// for the next transfer. Only once the receiver said `fin` 0, over kernel TCP, and only if
    /// the `release` that asks the receiver to keep it went out; its reader (`ackLoop`) then
    /// stays on it until the receiver's answer.
    func keep(_ socket: StreamSocket) -> Bool {
        let verdict: UInt64? = lock.withLock {
            while finStatus == nil && failure == nil { lock.wait() }
            return failure == nil ? finStatus : nil
        }
        guard verdict == Wire.verdictOK, !socket.rdma, (try? socket.sendAll(Wire.releaseMessage)) != nil else { return false }
        lock.withLock {
            if let info = socket.tcpInfo() { recordTCP(socket, info) }
            retire(socket)
        }
        return true
    }

    /// Takes `socket` out of `sockets` (if it is still there), keeping the bytes it delivered
    /// and its path counters; the lock must be held.
    func retire(_ socket: StreamSocket) {
        guard let i = sockets.first(where: { $0.value === socket })?.key else { return }
        retiredDelivered += socket.bytesAcked() ?? 0
        if let p = socket.pathState() {
            retiredPath.delivered += p.delivered
            retiredPath.retransmittedSegments += UInt64(p.retransmitted)
            retiredPath.segmentsOut += UInt64(p.segmentsOut)
        }
        sockets[i] = nil
    }

    func recordTCP(_ socket: StreamSocket, _ info: (rttMicroseconds: UInt32, retransmits: UInt32)) {
        guard let i = sockets.first(where: { $0.value === socket })?.key else { return }
        stats.tcp.removeAll { $0.stream == i }
        stats.tcp.append((i, info.rttMicroseconds, info.retransmits))
    }
}
