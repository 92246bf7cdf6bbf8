import DWCPCore
import DWCPSystem
#if canImport(Glibc)
import Glibc
#endif

/// Opening a transfer's connections: the first one (patient with a busy receiver), each later
/// one (a kept connection when there is one, else dialled), and the session handshake that
/// registers it.
extension TransportSender {
    /// The first connection. A receiver busy with another transfer is asked again, with backoff,
    /// until `resumeTimeout`: it may be about to finish that transfer, or to give it up for this
    /// one (`Wire.transferAbandoned`). So is one whose connection opened and was lost in the
    /// handshake (`LostInHandshake`: cut, reset, timed out), as any later connection would be.
    /// Any other refusal (nobody listening, a wrong secret) fails at once, with its reason,
    /// unless the receiver was reached before (`receiverSeen`): then a network failure to reach
    /// it is its restart, and is dialled again too.
    func connectWhenFree() throws -> StreamSocket {
        let start = MonotonicClock.now()
        var backoff = Backoff(limit: 1)
        var wasBusy = false
        /// Pauses before the next try, or throws `failure` if that try would come after `resumeTimeout`.
        func pause(orFail failure: @autoclosure () -> DWCPError) throws {
            guard MonotonicClock.now() - start + backoff.next <= configuration.resumeTimeout else { throw failure() }
            backoff.pause()
        }
        while true {
            do {
                return try connect(stream: 0)
            } catch let e as DWCPError where e == Wire.receiverBusy {
                // Named like the handshake's other refusals, which carry the peer.
                try pause(orFail: DWCPError(e.status, "\(configuration.endpoint): \(e.message) (asked again for up to \(Int(configuration.resumeTimeout)) s)"))
                wasBusy = true
            } catch let lost as LostInHandshake {
                // Cut or reset before the welcome (a dropped path, `ss -K`): the receiver was
                // there, and a first connection is worth the same patience as a later one.
                lock.withLock { stats.reconnects += 1 }
                try pause(orFail: DWCPError(.network, "\(lost) (the first connection dialled again for \(Int(configuration.resumeTimeout)) s)"))
            } catch let e as DWCPError where configuration.receiverSeen && e.status == .network && lock.withLock({ failure == nil }) {
                // Refused or unreachable where the receiver was a moment ago: being restarted.
                lock.withLock { stats.reconnects += 1 }
                try pause(orFail: DWCPError(e.status, "\(e.message) (the receiver, reached before, was dialled again for \(Int(configuration.resumeTimeout)) s)"))
            } catch let e as DWCPError where wasBusy {
                // The receiver went away meanwhile (its other transfer ended it): both are news.
                throw DWCPError(e.status, "\(e.message) (before that, the receiver was busy with another transfer)")
            }
        }
    }

    /// Opens connection `stream` of this transfer: a kept one (`ConnectionPool`) when there is
    /// one, else dialled; runs its handshake, each step within `timeout` seconds; registers it in
    /// `sockets`.
    func connect(stream: Int, timeout: Double = 10) throws -> StreamSocket {
        while let kept = configuration.keptConnections?.take(to: configuration.endpoint) {
            do {
                return try handshake(kept.socket, stream: stream, timeout: timeout, kept: kept)
            } catch {
                // Not kept at the other end, or gone since, or taken by a transfer that has
                // ended since (which answers "busy"): a new connection instead, which meets
                // the receiver as it is now.
                ConnectionPool.discard(kept)
            }
        }
        let socket = try dial(timeout: timeout)
        let id = ObjectIdentifier(socket)
        // A transfer that failed while this connection was dialled has no use for it.
        if let failed = lock.withLock({ () -> Error? in
            if failure == nil { handshaking[id] = socket }
            return failure
        }) {
            socket.close()
            throw failed
        }
        defer { lock.withLock { handshaking[id] = nil } }
        do {
            return try handshake(socket, stream: stream, timeout: timeout, kept: nil, early: sendsBeforeWelcome(socket))
        } catch where socket.connectionLost {
            throw LostInHandshake(error: error)
        }
    }

    /// A new connection that opened and was then lost in its handshake (cut, reset, timed out):
    /// the receiver was there. `connectWhenFree` dials a first connection lost so again, as it
    /// asks a busy receiver again; to the other connections it is one more failure to retry.
    struct LostInHandshake: Error, CustomStringConvertible {
        let error: Error
        var description: String { "\(error)" }
    }

    /// A new connection to the receiver, its congestion control, pacing and TLS set.
    func dial(timeout: Double) throws -> StreamSocket {
        let c = configuration
        let socket: StreamSocket
        switch (c.transport, lock.withLock { usesRDMA }) {
        case (.tcp, _), (.auto, false):
            socket = try StreamSocket.connect(c.endpoint, timeout: timeout)
        case (.rdma, _), (.auto, true):
            socket = try StreamSocket.connect(c.endpoint, timeout: timeout, rdma: true)
        case (.auto, nil):
            // RDMA only with a local device and a receiver that answers on it; else TCP.
            if !RDMA.devices().isEmpty, let s = try? StreamSocket.connect(c.endpoint, timeout: timeout, rdma: true) {
                socket = s
            } else {
                socket = try StreamSocket.connect(c.endpoint, timeout: timeout)
            }
        }
        lock.withLock { usesRDMA = socket.rdma }
        if let option = lock.withLock({ congestionOverride }) ?? c.congestionControl, !socket.rdma {
            // The handshake's round trip is already measured (TCP_INFO) when connect returns.
            let rtt = Double(socket.tcpInfo()?.rttMicroseconds ?? 0) / 1e6
            if let cc = CongestionControl.resolve(option, roundTripSeconds: rtt) {
                try socket.setCongestionControl(cc)
                lock.withLock { stats.congestionControl = cc }
            }
        }
        if let tls = c.tls { try socket.startTLS(tls, host: c.endpoint.host, timeout: timeout) }
        return socket
    }

    /// Whether a connection just dialled sends its chunks right behind its hello, without
    /// waiting a round trip for its welcome, as a kept connection does: when the receiver has
    /// welcomed this transfer already (a connection dialled again after a cut, or one added), the
    /// proof goes with the hello (no secret: with one, the receiver has not proved itself on this
    /// connection yet, and nothing goes to it before it has), over TCP, and not to carry a cancel.
    /// A welcome that does not come counts as a failed dial (`streamLoop`).
    func sendsBeforeWelcome(_ socket: StreamSocket) -> Bool {
        !socket.rdma && !configuration.auth.required && lock.withLock { welcomedOnce && cancelling == nil }
    }

    /// Runs the session handshake on `socket` (dialled, or `kept` from an earlier transfer) and
    /// registers it as connection `stream`: a dialled one once welcomed, unless it sends `early`;
    /// a kept or early one once its proof is out (its welcome is read by its ack reader,
    /// `earlyWelcomes`).
    func handshake(_ socket: StreamSocket, stream: Int, timeout: Double, kept: ConnectionPool.Kept?,
                           early: Bool = false) throws -> StreamSocket {
        let c = configuration
        if let kept {
            let override = lock.withLock { () -> String? in
                usesRDMA = false
                if stats.congestionControl == nil { stats.congestionControl = congestionOverride ?? kept.congestionControl }
                return congestionOverride
            }
            if let override { try? socket.setCongestionControl(override) }
        }
        if let rate = c.maxRate { socket.setMaxPacingRate(max(1, rate / UInt64(max(1, lock.withLock { streamCount })))) }
        // Read before the hello goes out: every acknowledgement processed by then was sent before
        // the receiver saw the hello, so a receiver that kept its state answers with at least this.
        // (An acknowledgement arriving on another connection while the welcome is on its way may
        // be newer than the welcome, and says nothing about a restart.)
        let ackedBeforeHello = lock.withLock { ackedThrough }
        let pending = try Handshake.clientHello(socket, auth: c.auth, session: session, stream: UInt16(stream),
                                                chunkSize: c.chunkSize, streams: c.streams, window: c.window, timeout: timeout,
                                                keep: c.keptConnections != nil && !socket.rdma, afterHello: kept.map { k in { try k.awaitRelease() } })
        if kept != nil {
            // A kept connection: once the proof is out (with the hello without a secret; after
            // the challenge with one) its chunks follow at once and its ack reader reads the
            // welcome first (`ackLoop`), so a pre-copy round's bytes leave a round trip sooner.
            // The receiver reads them after its welcome, as if they had been sent after it. The
            // receiver at the other end proved the secret on this very connection in the
            // transfer that kept it; its proof in this welcome is still checked before an
            // acknowledgement counts.
            if !pending.proofSent { try pending.prove() }
            lock.withLock {
                earlyWelcomes[ObjectIdentifier(socket)] = (pending, ackedBeforeHello)
                sockets[stream] = socket
            }
            return socket
        }
        if early && pending.proofSent {
            lock.withLock {
                earlyWelcomes[ObjectIdentifier(socket)] = (pending, ackedBeforeHello)
                awaitingWelcome.insert(ObjectIdentifier(socket))
                sockets[stream] = socket
            }
            return socket
        }
        let welcome = try pending.welcome()
        try lock.withLock {
            try take(welcome, ackedBeforeHello: ackedBeforeHello)
            sockets[stream] = socket
        }
        return socket
    }

    /// Takes in a connection's welcome (waited for by `handshake`, or read by the ack reader of
    /// a kept connection that sent before it): what the receiver has, and the window it allows.
    /// Throws `Wire.receiverRestarted` if it lacks chunks it acknowledged before the hello went
    /// out. The lock must be held.
    func take(_ welcome: Welcome, ackedBeforeHello: UInt64) throws {
        if welcome.nextExpected < ackedBeforeHello { throw Wire.receiverRestarted }
        acknowledge(welcome.nextExpected)
        welcomedWindow = max(welcome.window, UInt64(configuration.chunkSize))
        welcomedOnce = true
    }
}
