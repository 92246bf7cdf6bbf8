import DWCPCore
import DWCPSystem
#if canImport(Glibc)
import Glibc
#endif

/// One connection: the session handshake, then chunk, end and cancel messages in, and
/// acknowledgements, verdicts and cancels out (`sendControl`).
extension TransportReceiver {
    /// Writes a header-only control message; a failure just drops it (the connection's reader
    /// will notice the broken socket). Returns whether it went into the socket.
    @discardableResult
    func sendControl(_ socket: StreamSocket, _ kind: MessageHeader.Kind, _ value: UInt64) -> Bool {
        var m = [UInt8](repeating: 0, count: Wire.messageHeaderLength)
        MessageHeader(kind: kind, length: 0, sequence: value, offset: 0, checksum: 0).store(to: &m)
        return sendLock.withLock { (try? socket.sendAll(m)) != nil }
    }

    /// After `fin` 0 went into `socket` (`told`) to a sender that did not ask to keep it: waits
    /// until the sender closes its side, which it does once it has the verdict, and records
    /// that it heard (`StreamListener.noteVerdictHeard`). Only a FIN read with no error
    /// reported first counts: once a send has reported a reset (a cut), the socket reads as
    /// closed too, which is why a `fin` that failed to go out is no `told`. Nothing of ours
    /// shuts `socket` meanwhile: the end of a transfer leaves its `closingWhenHeard` open, and a
    /// reconnection told again is not one of a transfer's `connections`.
    func awaitCloseOfHeardVerdict(on socket: StreamSocket, told: Bool, session: [UInt8], listener: StreamListener) {
        guard told, !socket.rdma, socket.lingerUntilPeerCloses(timeout: configuration.idleTimeout) else { return }
        listener.noteVerdictHeard(by: session)
    }

    /// A connection of a transfer that has ended with a verdict, from a sender that lost every
    /// connection while the verdict was on its way: it sends its end again (it has nothing more
    /// to send: the welcome said every chunk is here) and is answered as the transfer's own
    /// connections were, `ack` and `fin`. After `fin` 0 a connection that asked to be kept may
    /// be released to the listener's next transfer, as theirs may (so may a stream of the
    /// transfer that dialled after the verdict and heard it on another connection). Anything
    /// else ends it.
    /// Returns whether the connection went to the listener (`release`).
    func tellVerdictAgain(_ ended: StreamListener.FinishedTransfer, of session: [UInt8], on socket: StreamSocket, keepable: Bool,
                          listener: StreamListener) -> Bool {
        socket.setReceiveTimeout(configuration.handshakeTimeout)
        var raw = [UInt8](repeating: 0, count: Wire.messageHeaderLength)
        var told = false
        do {
            while true {
                try raw.withUnsafeMutableBytes { try socket.receiveExactly($0.baseAddress!, Wire.messageHeaderLength) }
                let m = try raw.withUnsafeBytes { try MessageHeader.decode($0.baseAddress!) }
                switch m.kind {
                case .end where !told && m.length == 32:
                    let payload = try socket.receive(32)
                    // The same transfer's end, or nothing: its chunk count is the one that ended.
                    guard Checksum.xxh3(payload) == m.checksum,
                          payload.withUnsafeBytes({ LittleEndian.load(UInt64.self, $0.baseAddress!, 8) }) == ended.chunks else { return false }
                    let sent = sendControl(socket, .ack, ended.chunks) && sendControl(socket, .fin, ended.verdict)
                    told = true
                    if !(keepable && ended.verdict == Wire.verdictOK) {
                        // Heard this time, once its sender closes the connection.
                        awaitCloseOfHeardVerdict(on: socket, told: sent && ended.verdict == Wire.verdictOK, session: session, listener: listener)
                        return false
                    }
                case .release where keepable && ended.verdict == Wire.verdictOK:
                    // After its end was answered here, or after the verdict reached it on another
                    // connection (a stream that dialled late, welcomed with nothing to send).
                    sendControl(socket, .release, 0)
                    socket.setReceiveTimeout(0)
                    listener.stash(socket, releasedBy: session)
                    return true
                default:
                    return false
                }
            }
        } catch {
            return false
        }
    }

    func connectionLoop(_ socket: StreamSocket, from listener: StreamListener) {
        OSThread.blockPipeSignal()
        // Kept for the listener's next transfer (`release`): left open, not this transfer's any more.
        var handedOn = false
        defer {
            // A connection that ends because the transfer failed on this side tells its sender
            // why first: waiting on a full window, it sees the failure before the teardown
            // (`tellSendersWhyItFailed`) would find it still open.
            let id = ObjectIdentifier(socket)
            let (reason, linger): (String?, Bool) = lock.withLock {
                guard authenticated[id] != nil, let failure, verdict == nil else { return (nil, false) }
                if toldWhy[id] != nil {
                    // Being told by the teardown: the message goes out before the linger's FIN.
                    while toldWhy[id] == false { lock.wait() }
                    return (nil, true)
                }
                // The sender cancelled, or was told the receiver was interrupted.
                if sendersKnowTheEnd { return (nil, false) }
                toldWhy[id] = true
                return ("\(failure)", true)
            }
            if let reason { sendLock.withLock { _ = try? socket.sendAll(Wire.cancelMessage(reason: reason)) } }
            if linger { socket.lingerUntilPeerCloses(timeout: 0.5) }
            lock.withLock {
                toldWhy[id] = nil
                connections[ObjectIdentifier(socket)] = nil
                if authenticated.removeValue(forKey: ObjectIdentifier(socket)) != nil && authenticated.isEmpty {
                    connectionsGoneSince = MonotonicClock.now()
                }
                lock.broadcast()
            }
            if !handedOn { socket.close() }
        }
        // Handshake: nothing from this connection is used before it completes for our session.
        let hello: Hello
        var isProbe = false
        do {
            defer { listener.endHandshake() }
            // A connection kept from the last transfer on this listener is in TLS already.
            if let tls = configuration.tls, !socket.hasTLS { try socket.startTLS(tls, host: nil, timeout: configuration.handshakeTimeout) }
            let result = try Handshake.serverAuthenticate(socket, auth: configuration.auth, timeout: configuration.handshakeTimeout)
            hello = result.hello
            isProbe = hello.flags & Hello.probeFlag != 0
            typealias Answer = (status: Welcome.Status, next: UInt64, window: UInt64, ended: StreamListener.FinishedTransfer?)
            let answer: Answer = lock.withLock {
                if !result.authenticated { return (.authenticationFailed, 0, 0, nil) }
                if isProbe { return (.ok, 0, 0, nil) }
                // A transfer that ended with a verdict, this one or an earlier one on this
                // listener, whose sender comes back without having heard it: told it again
                // (`tellVerdictAgain`), and nothing else.
                if let v = verdict, hello.session == session {
                    return (.ok, nextExpected, configuration.window, StreamListener.FinishedTransfer(verdict: v, chunks: nextExpected))
                }
                if hello.session != session, let ended = listener.finishedTransfer(hello.session) {
                    return (.ok, ended.chunks, configuration.window, ended)
                }
                // Past the listener's last transfer (`waitUntilVerdictHeard`): nothing new starts.
                if servesEndedTransfersOnly { return (.busy, 0, 0, nil) }
                if let s = session, s != hello.session {
                    if abandonsForNewSession() { failTransfer(Wire.transferAbandoned) }
                    return (.busy, 0, 0, nil)
                }
                // Ended (verdict or failure): a sender still asking is for the next transfer.
                if verdict != nil || failure != nil { return (.busy, 0, 0, nil) }
                // A late connection of a transfer this listener already ended starts nothing.
                if session == nil, listener.hasRetired(hello.session) { return (.busy, 0, 0, nil) }
                session = hello.session
                if startedAt == nil { startedAt = MonotonicClock.now() }
                if hello.window > 0 { senderWindow = hello.window }
                // One of this transfer's connections from here on: the teardown shuts it even
                // while its welcome is on the way.
                connections[ObjectIdentifier(socket)] = socket
                return (.ok, checkpoint != nil ? checkpointedChunks : nextExpected, configuration.window, nil)
            }
            try Handshake.serverWelcome(socket, auth: configuration.auth, hello: hello, serverNonce: result.serverNonce,
                                        status: answer.status, nextExpected: answer.next, window: answer.window)
            if answer.status != .ok { return }
            if let ended = answer.ended {
                handedOn = tellVerdictAgain(ended, of: hello.session, on: socket, keepable: hello.flags & Hello.keepFlag != 0 && !socket.rdma,
                                            listener: listener)
                return
            }
            if !isProbe {
                socket.setSendTimeout(30)
                lock.withLock {
                    stats.streams += 1
                    authenticated[ObjectIdentifier(socket)] = socket
                    connectionsGoneSince = nil
                    if hello.flags & Hello.keepFlag != 0 && !socket.rdma { keepable.insert(ObjectIdentifier(socket)) }
                    if socket.rdma { overRDMA = true }
                }
            }
        } catch {
            return
        }
        if isProbe {
            ProbeResponder.serve(socket)
            return
        }
        var raw = [UInt8](repeating: 0, count: Wire.messageHeaderLength)
        let limit = min(Int(hello.chunkSize), Wire.maxChunk)
        let chunkPool = pool(limit)
        do {
            while true {
                try raw.withUnsafeMutableBytes { try socket.receiveExactly($0.baseAddress!, Wire.messageHeaderLength) }
                let m = try raw.withUnsafeBytes { try MessageHeader.decode($0.baseAddress!) }
                switch m.kind {
                case .data:
                    guard Int(m.length) <= limit, m.length > 0 else { throw DWCPError(.network, "chunk of \(m.length) bytes exceeds the agreed \(limit)") }
                    let chunk = chunkPool.take()
                    try socket.receiveExactly(chunk.unsafeBase, Int(m.length))
                    chunk.count = Int(m.length)
                    guard Checksum.xxh3(chunk.unsafeBase, chunk.count) == m.checksum else {
                        throw DWCPError(.network, "chunk \(m.sequence) checksum mismatch: connection dropped, sender resends")
                    }
                    guard try place(chunk, m, pool: chunkPool) else { return }
                case .end:
                    guard m.length == 32 else { throw DWCPError(.network, "malformed end message") }
                    let payload = try socket.receive(32)
                    guard Checksum.xxh3(payload) == m.checksum else { throw DWCPError(.network, "end message checksum mismatch") }
                    let e = payload.withUnsafeBytes { raw in
                        (length: LittleEndian.load(UInt64.self, raw.baseAddress!, 0), chunks: LittleEndian.load(UInt64.self, raw.baseAddress!, 8),
                         digest: Digest128(high: LittleEndian.load(UInt64.self, raw.baseAddress!, 16), low: LittleEndian.load(UInt64.self, raw.baseAddress!, 24)))
                    }
                    let v: UInt64? = lock.withLock {
                        end = e
                        lock.broadcast()
                        // The end may come while chunks are still on their way on other
                        // connections (the sender sends it once every chunk has gone out): a
                        // sender that dies meanwhile closes this connection too, which then
                        // leaves like the others, so a new sender can have this transfer given
                        // up for it (`abandonsForNewSession`) instead of being told "busy" until
                        // the idle timeout. A sender that reconnects sends its end again.
                        while verdict == nil && failure == nil {
                            lock.wait(seconds: 0.05)
                            if verdict == nil && failure == nil && socket.peerHasClosed() { break }
                        }
                        return verdict
                    }
                    guard let v else { return }
                    let sent = sendControl(socket, .ack, lock.withLock { nextExpected }) && sendControl(socket, .fin, v)
                    let id = ObjectIdentifier(socket)
                    let (keeps, closesWhenHeard): (Bool, Bool) = lock.withLock {
                        verdictSent = true
                        lock.broadcast()
                        lock.wakeTimers()
                        let keeps = v == Wire.verdictOK && keepable.contains(id)
                        let closes = v == Wire.verdictOK && !keeps && !socket.rdma && !shutAtEnd.contains(id)
                        if closes { closingWhenHeard.insert(id) }
                        return (keeps, closes)
                    }
                    // A sender that did not ask to keep it closes it once it has the verdict:
                    // its FIN (not a reset, nor this transfer's end shutting it meanwhile) says
                    // it heard (`waitUntilVerdictHeard`).
                    if closesWhenHeard { awaitCloseOfHeardVerdict(on: socket, told: sent, session: hello.session, listener: listener) }
                    // Its sender may ask to keep it (`release`), as it may the others.
                    if !keeps { return }
                case .release:
                    // After `fin` 0 the sender keeps this connection for its next transfer: the
                    // answer is this transfer's last byte on it, and the listener's next transfer
                    // takes it (its HELLO may already be on its way behind the release).
                    let id = ObjectIdentifier(socket)
                    let keeps: Bool = lock.withLock {
                        guard verdict == Wire.verdictOK, keepable.contains(id), !reaped.contains(id) else { return false }
                        released.insert(id)
                        lock.broadcast()
                        return true
                    }
                    guard keeps else { throw DWCPError(.network, "release before the transfer succeeded") }
                    sendControl(socket, .release, 0)
                    handedOn = true
                    listener.stash(socket, releasedBy: hello.session)
                    return
                case .cancel:
                    // The sender's side failed (its input, or what feeds it): this transfer can
                    // never complete, so it ends now instead of at the idle timeout.
                    guard Int(m.length) <= Wire.maxCancelReason else { throw DWCPError(.network, "cancel reason of \(m.length) bytes") }
                    let reason = try socket.receive(Int(m.length))
                    guard Checksum.xxh3(reason) == m.checksum else { throw DWCPError(.network, "cancel message checksum mismatch") }
                    guard lock.withLock({ verdict == nil }) else { return }
                    // Answered before the transfer fails (its end shuts this connection).
                    sendControl(socket, .fin, Wire.verdictCancelled)
                    let error = Wire.cancelledBySender(reason: Wire.cancelReason(reason))
                    lock.withLock {
                        guard verdict == nil else { return }
                        sendersKnowTheEnd = true
                        failTransfer(error)
                    }
                    return
                default:
                    throw DWCPError(.network, "unexpected message from sender")
                }
            }
        } catch {
            return
        }
    }
}
