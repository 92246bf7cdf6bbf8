import DWCPCore
import DWCPSystem
#if canImport(Glibc)
import Glibc
#endif

/// Settings of one `dwcp-recv` transfer.
public struct ReceiverConfiguration {
    public var auth = SessionAuth(secret: nil)
    /// TLS 1.3 on every connection (`--tls`): the TLS handshake comes first, within the same
    /// handshake timeout; a connection that fails it never reaches the DWCP handshake.
    public var tls: TLSContext?
    /// Most bytes held out of order before connections are made to wait (TCP backpressure).
    public var window: UInt64 = 256 << 20
    /// A handshake must finish within this many seconds (slow or silent clients are dropped).
    public var handshakeTimeout: Double = 10
    /// Connections still in their handshake at once, on the listener (across the transfers it
    /// serves: `StreamListener.beginHandshake`); more are refused.
    public var maxPendingHandshakes = 64
    /// With no new data for this long (and no end), the transfer fails.
    public var idleTimeout: Double = 120

    public init() {}
}

/// Receives one transfer from `TransportSender` and writes it, in order, to an output.
///
/// Each authenticated connection has a thread that verifies chunk checksums and puts chunks into
/// a reorder buffer; the writer thread writes them in sequence and acknowledges what is written.
/// The buffer is bounded by `window`: a connection whose chunk does not fit waits, which stops
/// reading from its socket, which slows that sender stream down.
///
/// An output that can be written at any offset (a regular file, a block device, /dev/null) needs
/// no reorder buffer: the connection thread writes its chunk at the chunk's place with `pwrite`
/// while the bytes are still in its cache, and only a record of it waits for the writer thread,
/// which then checks that the chunks tile the stream and acknowledges them in order.
public final class TransportReceiver {
    public let configuration: ReceiverConfiguration
    /// Called as chunks are written (a progress line): `bytes` written in order, `streams` the
    /// authenticated connections open at that moment.
    public var progress: ((TransferStats) -> Void)?
    /// Called once the output is complete, verified and synced, just before the sender is told:
    /// from here on the output must survive an interruption.
    /// Throwing turns the verdict into "rejected" (the output could not be given its name).
    public var onVerified: (() throws -> Void)?
    /// Asked after the stream is verified and written, before the sender hears the verdict: an
    /// application (dwcp-migrate) uses it to confirm the data was applied, e.g. that the
    /// destination VM is running. Throwing turns the verdict into "rejected" (the sender fails).
    public var acceptance: (() throws -> Void)?
    /// Where the stream goes, decided from its first bytes: called once, with the first chunk
    /// before it is written, when the output is written in order (not at places, as a file is).
    /// It returns the descriptor the stream goes to instead and how many of its first bytes to
    /// leave out there. dwcp-migrate's destination sends a raw VM stream (after its marker)
    /// straight into QEMU's socket this way, and anything else to its decoder: no pipe and
    /// thread in between only to look at eight bytes. Throwing fails the transfer.
    public var redirect: ((UnsafeRawBufferPointer) throws -> (output: FileDescriptor, skip: Int))?
    /// Why `acceptance` rejected the transfer, if it did.
    public private(set) var rejection: Error?
    /// A resumable transfer's checkpoint file (`resume(_:restored:)`): acknowledgements wait for
    /// the output and the checkpoint to be durable.
    private var checkpoint: ReceiveCheckpoint?
    /// What a killed receiver had made durable, continued from.
    private var restored: ReceiveCheckpoint.Restored?
    private let lock = ConditionLock()
    private var session: [UInt8]?
    /// A chunk received ahead of the writer. `bytes` is nil once it is at its place in a
    /// positional output (`written` says when that write finished).
    private struct Held {
        var bytes: RawBuffer?
        let checksum: UInt64
        let offset: UInt64
        let length: Int
        /// What it counts against the window (`bufferedBytes`).
        let charge: UInt64
        var written: Bool
    }
    /// Chunks received ahead of the writer, by sequence.
    private var buffer: [UInt64: Held] = [:]
    /// What the held chunks count against the window: a chunk buffer's full capacity each, even
    /// for a short chunk, so a sender of tiny chunks cannot make us hold window ÷ size buffers.
    private var bufferedBytes: UInt64 = 0
    /// The output and its offset of the stream's first byte, when chunks are written at their
    /// places (`FileDescriptor.positionalWriteStart`).
    private var positional: (output: FileDescriptor, start: UInt64)?
    /// Positional writes under way (a failed transfer's output is cut only after they end).
    private var writesInFlight = 0
    /// Positional writes take turns. A file system serialises writes to one file anyway
    /// (ext4: the inode's lock), and the kernel's waiters spin on it: with 8 connections into a
    /// file that was 28 % of the receiver's CPU. Waiting here sleeps instead.
    private let writeTurn = ConditionLock()
    private var nextExpected: UInt64 = 0
    /// Resumable: the chunks the last checkpoint made durable. A reconnecting sender is told
    /// this, not `nextExpected`, since it frees every chunk below what it is told, and a
    /// restarted receiver has only what a checkpoint covers. Written only by the writer thread
    /// (under the lock), which also reads it without.
    private var checkpointedChunks: UInt64 = 0
    private var written: UInt64 = 0
    /// The sender's window from HELLO (nil: not told), which bounds how long acknowledgements
    /// may be held back.
    private var senderWindow: UInt64?
    private var end: (length: UInt64, chunks: UInt64, digest: Digest128)?
    private var verdict: UInt64?
    /// The verdict went out on the connection that carried the end message.
    private var verdictSent = false
    private var failure: Error?
    /// The senders know how the transfer ended without being told why: they cancelled it, or
    /// were sent `fin` 4 (interrupted).
    private var sendersKnowTheEnd = false
    /// Connections told why the transfer failed: `cancel` sent (true) or being sent by
    /// `tellSendersWhyItFailed` (false). They linger before closing (`connectionLoop`), once the
    /// message is out, so a reset does not drop it.
    private var toldWhy: [ObjectIdentifier: Bool] = [:]
    /// The connections this transfer said yes to (from that decision, before their welcome is
    /// out): the ones its end shuts down.
    private var connections: [ObjectIdentifier: StreamSocket] = [:]
    /// Connections past the handshake: acknowledgements go to them in turn.
    private var authenticated: [ObjectIdentifier: StreamSocket] = [:]
    /// When the last of them closed, while none is open (for `Wire.transferAbandoned`).
    private var connectionsGoneSince: Double?
    /// Serialises control messages (acks, verdicts) written by different threads to one socket.
    private let sendLock = ConditionLock()
    private var lastProgress = MonotonicClock.now()
    private var stats = TransferStats()
    /// Where chunk buffers come from, by size, reused after writing (fresh megabyte allocations
    /// cost page faults). A process receiving one transfer after another gives each the same.
    public var buffers = BufferPools()

    private func pool(_ size: Int) -> BufferPool {
        buffers.pool(bufferCapacity: size, maxFree: 512)
    }

    public init(configuration: ReceiverConfiguration) {
        self.configuration = configuration
    }

    /// Makes the transfer resumable after this process dies: acknowledgements only at
    /// checkpoints, each made durable first in `checkpoint` (see `ReceiveCheckpoint`); and, with
    /// `restored`, continues the transfer a killed receiver left in it. The output must be a
    /// regular file positioned at the stream's start.
    public func resume(_ checkpoint: ReceiveCheckpoint, restored: ReceiveCheckpoint.Restored?) {
        self.checkpoint = checkpoint
        self.restored = restored
        checkpointedChunks = restored?.chunks ?? 0
    }

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
    private func tellSendersWhyItFailed() {
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
    private func waitForSendersToClose() {
        let deadline = MonotonicClock.now() + 0.5
        while !authenticated.isEmpty && MonotonicClock.now() < deadline { lock.wait(seconds: deadline - MonotonicClock.now()) }
    }

    /// Cancels (`cancel(reason:)`) every transfer this process is receiving.
    public static func cancelAll(reason: String) {
        for r in live.all { r.cancel(reason: reason) }
    }

    /// Receivers whose transfer is under way.
    private static let live = LiveObjects<TransportReceiver>()

    /// Accepts connections on `listener` until one transfer is complete, writing it to `output`
    /// (which is fsynced before the sender is told the transfer succeeded, when it is a file).
    public func receive(on listener: StreamListener, to output: FileDescriptor) throws -> TransferStats {
        Self.live.add(self)
        defer { Self.live.remove(self) }
        positional = output.positionalWriteStart().map { (output, $0) }
        if checkpoint != nil {
            guard output.isRegularFile, let start = positional?.start else {
                throw DWCPError.usage("\(output.name): a resumable transfer needs a regular file")
            }
            if let r = restored {
                let size = output.sizeIfSeekable() ?? 0
                guard size >= start + r.bytes else {
                    throw DWCPError.integrity("\(output.name) holds \(size) bytes, but its checkpoint says \(r.bytes) were written: cannot resume")
                }
                // Chunks written ahead of the last checkpoint were never acknowledged: resent.
                try output.truncate(to: start + r.bytes)
                session = r.session
                nextExpected = r.chunks
                written = r.bytes
                stats.resumedBytes = r.bytes
            }
        }
        let writer = OSThread { [unowned self] in self.writeLoop(output) }
        let acceptor = OSThread { [unowned self] in
            // Polls so the listener outlives this transfer (dwcp-recv --keep serves the next one).
            while true {
                if self.lock.withLock({ self.verdict != nil || self.failure != nil }) { return }
                let socket: StreamSocket
                switch listener.accept(timeout: 0.1) {
                case .timeout: continue
                case .closed: return
                case .connection(let s): socket = s
                }
                let admitted = self.lock.withLock { () -> Bool in
                    if self.verdict != nil || self.failure != nil { return false }
                    return listener.beginHandshake(limit: self.configuration.maxPendingHandshakes)
                }
                if !admitted {
                    // Accepted after this transfer ended, with its verdict or given up (for the
                    // sender of this very connection, maybe: `Wire.transferAbandoned`): it belongs
                    // to the next transfer on this listener, if there is one.
                    if self.lock.withLock({ self.verdict != nil || self.failure != nil }) {
                        listener.stash(socket)
                        return
                    }
                    socket.close()
                    continue
                }
                // Held strongly: a connection may outlive `receive` (its answer to a handshake
                // still on its way after the transfer ended), and must find this object there.
                _ = OSThread { [self] in self.connectionLoop(socket, from: listener) }
            }
        }
        // Watchdog: idle timeout, and completion.
        lock.lock()
        while verdict == nil && failure == nil {
            lock.waitForTimer(seconds: 0.1)
            if MonotonicClock.now() - lastProgress > configuration.idleTimeout && verdict == nil {
                let idle = configuration.idleTimeout
                let limit = "\(idle == idle.rounded() ? "\(Int(idle))" : "\(idle)") s"
                failTransfer(DWCPError(.network, session == nil ? "no sender came within \(limit) (--idle-timeout)"
                                                                : "no data for \(limit): sender gone"))
            }
        }
        lock.unlock()
        tellSendersWhyItFailed()
        // Let the connection that carried the end deliver the verdict (briefly: a vanished
        // sender must not hold us), then stop this transfer's connections.
        lock.withLock {
            let deadline = MonotonicClock.now() + 0.2
            while failure == nil && !verdictSent && MonotonicClock.now() < deadline { lock.waitForTimer(seconds: 0.02) }
        }
        // Only the connections this transfer took: one still in its handshake finishes it
        // and is answered "busy" (its sender, maybe the one this transfer was given up for,
        // asks the next transfer on this listener), or fails it within the handshake timeout.
        lock.withLock {
            for s in connections.values { s.shutdownBoth() }
            lock.broadcast()
        }
        writer.join()
        acceptor.join()
        // Whatever its end, this session's transfer is over on this listener.
        if let s = lock.withLock({ session }) { listener.retire(s) }
        if let start = positional?.start { finishPositional(output, start) }
        return try lock.withLock {
            if let failure { throw failure }
            if verdict == Wire.verdictRejected { throw rejection ?? DWCPError(.failure, "transfer rejected") }
            if verdict != Wire.verdictOK { throw DWCPError.integrity("stream digest or length mismatch: the received data is not what was sent") }
            var s = stats
            s.bytes = written
            s.chunks = nextExpected
            return s
        }
    }

    /// Leaves a positional output as writing in order would have: the file offset after the
    /// stream, and after a failure a regular file cut back to the chunks written in order (chunks
    /// written past a gap are not part of any verified stream).
    private func finishPositional(_ output: FileDescriptor, _ start: UInt64) {
        let (failed, end): (Bool, UInt64) = lock.withLock {
            while writesInFlight > 0 { lock.wait() }
            return (failure != nil || verdict != Wire.verdictOK, start + written)
        }
        if failed && output.isRegularFile { try? output.truncate(to: end) }
        output.seek(to: end)
    }

    private func fail(_ error: Error) {
        lock.withLock { failTransfer(error) }
    }

    /// `fail` with the lock held.
    private func failTransfer(_ error: Error) {
        if failure == nil { failure = error }
        lock.broadcast()
        lock.wakeTimers()
    }

    /// Whether an authenticated sender's new session ends this transfer (`Wire.transferAbandoned`):
    /// only with a shared secret (a stranger cannot prove it), before the verdict, and once every
    /// connection of this transfer has been gone for `Wire.abandonAfter`. Called with the lock held.
    private func abandonsForNewSession() -> Bool {
        guard configuration.auth.required, verdict == nil, authenticated.isEmpty, let gone = connectionsGoneSince else { return false }
        return MonotonicClock.now() - gone >= Wire.abandonAfter
    }

    private func writeLoop(_ output: FileDescriptor) {
        let digest = ChunkListDigest()
        for c in restored?.checksums ?? [] { digest.add(c) }
        // Resumable: the checksums of the chunks written since the last checkpoint (which
        // reached `checkpointedChunks`; only this thread changes it, under the lock).
        var uncheckpointed: [UInt64] = []
        // Acknowledgements are coalesced: one goes out once an eighth of the smaller window (the
        // sender's or ours, at most 4 MiB) was written since the last, or when the writer has
        // written everything received and nothing more arrives within `ackDelay` (a sender
        // waiting to send its end message is answered within a millisecond). At gigabytes per
        // second an acknowledgement per chunk cost a send here and a wake-up of the sender's
        // acknowledgement reader per chunk.
        let ackDelay = 0.001
        // What the last acknowledgement said, and how much was written when it went out.
        var acknowledged: UInt64 = restored?.chunks ?? 0
        var writtenWhenAcknowledged: UInt64 = restored?.bytes ?? 0
        var acksSent: UInt64 = 0
        // Where in-order chunks go: `output` unless `redirect` says otherwise.
        var target = output
        var redirected = false
        struct Acknowledgement { let next: UInt64; let written: UInt64; let peers: [StreamSocket] }
        func acknowledge(_ a: Acknowledgement) {
            // Resumable: nothing is acknowledged that a restarted receiver would not have.
            if let checkpoint, a.next > checkpointedChunks {
                do {
                    try target.syncData()
                    try checkpoint.record(session: lock.withLock { session ?? [] }, first: checkpointedChunks, checksums: uncheckpointed, bytes: a.written)
                } catch {
                    fail(error)
                    return
                }
                uncheckpointed.removeAll(keepingCapacity: true)
                lock.withLock { checkpointedChunks = a.next }
            }
            // Acknowledgements are cumulative and the sender takes them from any connection: one
            // connection per acknowledgement, in turn, is enough.
            if !a.peers.isEmpty { sendControl(a.peers[Int(acksSent % UInt64(a.peers.count))], .ack, a.next) }
            acksSent += 1
            acknowledged = a.next
            writtenWhenAcknowledged = a.written
        }
        while true {
            enum Step { case chunk(Held), flush(Acknowledgement), finished }
            let step: Step = lock.withLock {
                var ackDue: Double?
                while buffer[nextExpected]?.written != true && failure == nil && verdict == nil && !(end.map { nextExpected == $0.chunks } ?? false) {
                    if nextExpected > acknowledged {
                        let now = MonotonicClock.now()
                        if let due = ackDue, now >= due {
                            return .flush(Acknowledgement(next: nextExpected, written: written, peers: Array(authenticated.values)))
                        }
                        if ackDue == nil { ackDue = now + ackDelay }
                        lock.wait(seconds: ackDue! - now)
                    } else {
                        lock.wait()
                    }
                }
                if let held = buffer[nextExpected], held.written { return .chunk(held) }
                return .finished
            }
            let held: Held
            switch step {
            case .flush(let acknowledgement):
                acknowledge(acknowledgement)
                continue
            case .chunk(let h):
                held = h
            case .finished:
                // Complete (or failed): check the end-to-end digest.
                let matched: Bool? = lock.withLock {
                    guard failure == nil, verdict == nil, let e = end else { return nil }
                    return e.length == written && e.digest == digest.finalize()
                }
                guard let matched else { return }
                var result: UInt64 = matched ? Wire.verdictOK : Wire.verdictCorrupt
                if matched {
                    // Durable before the sender hears it arrived: a file that cannot be
                    // fsynced (a disk error) is a failed transfer, not a success. The descriptor
                    // is the one the stream went to (`redirect` may have chosen another).
                    do {
                        if target.isRegularFile { try target.sync() }
                    } catch {
                        rejection = error
                        result = Wire.verdictRejected
                    }
                }
                if result == Wire.verdictOK {
                    // Outside the lock: accepting may take a while (a VM starting up).
                    do {
                        try onVerified?()
                        try acceptance?()
                    } catch {
                        rejection = error
                        result = Wire.verdictRejected
                    }
                }
                lock.withLock {
                    verdict = result
                    lock.broadcast()
                    lock.wakeTimers()
                }
                return
            }
            // The chunks must tile the stream: each starts where the one before it ended. (In a
            // positional output this also proves that no two chunks were written over each other.)
            guard held.offset == written else {
                fail(DWCPError(.network, "chunk \(nextExpected) claims stream offset \(held.offset), but \(written) bytes precede it"))
                return
            }
            if let chunk = held.bytes {
                do {
                    var skip = 0
                    if let redirect, positional == nil, !redirected {
                        redirected = true
                        let r = try redirect(UnsafeRawBufferPointer(start: chunk.unsafeBase, count: chunk.count))
                        target = r.output
                        skip = min(max(0, r.skip), chunk.count)
                    }
                    try target.writeAll(chunk.unsafeBase + skip, count: chunk.count - skip)
                } catch {
                    fail(error)
                    return
                }
            }
            digest.add(held.checksum)
            if checkpoint != nil { uncheckpointed.append(held.checksum) }
            let size = UInt64(held.length)
            let (due, chunk): (Acknowledgement?, RawBuffer?) = lock.withLock {
                buffer[nextExpected] = nil
                bufferedBytes -= held.charge
                nextExpected += 1
                written += size
                lastProgress = MonotonicClock.now()
                lock.broadcast()
                let window = min(configuration.window, senderWindow ?? configuration.window)
                // A checkpoint costs an fdatasync of the output: fewer, larger ones.
                let every = checkpoint == nil ? min(UInt64(4 << 20), max(1, window / 8)) : min(UInt64(64 << 20), max(1, window / 4))
                let due = written - writtenWhenAcknowledged >= every
                let acknowledgement = due ? Acknowledgement(next: nextExpected, written: written, peers: Array(authenticated.values)) : nil
                return (acknowledgement, held.bytes)
            }
            // Only now may another connection reuse the buffer.
            if let chunk { pool(chunk.capacity).recycle(chunk) }
            if let due { acknowledge(due) }
            if let progress { progress(lock.withLock { var s = stats; s.bytes = written; s.streams = authenticated.count; return s }) }
        }
    }

    /// Puts a verified chunk where it goes: held for the writer, or written at its place in a
    /// positional output (then only its record is held). Returns false when the transfer failed
    /// (this connection ends); throws a failure that happened meanwhile.
    private func place(_ chunk: RawBuffer, _ m: MessageHeader, pool: BufferPool) throws -> Bool {
        let charge = UInt64(pool.bufferCapacity)
        enum Placement { case held, write(FileDescriptor, UInt64), unneeded, misplaced }
        let placement: Placement = try lock.withLock {
            // Wait for room only with a chunk we still need. A resent copy of a chunk already
            // held (its first copy arrived before the connection dropped) must never wait:
            // while this thread waits it reads nothing more, and the chunk the writer needs next
            // may be queued behind it on this very connection. An honest sender keeps distinct
            // unacknowledged chunks within the window, so with this rule a connection never
            // waits forever.
            while m.sequence > nextExpected && buffer[m.sequence] == nil
                    && bufferedBytes + charge > configuration.window && failure == nil && verdict == nil {
                lock.wait()
            }
            if let failure { throw failure }
            guard m.sequence >= nextExpected && buffer[m.sequence] == nil else { return .unneeded }
            var held = Held(bytes: chunk, checksum: m.checksum, offset: m.offset, length: chunk.count, charge: charge, written: true)
            var placement = Placement.held
            if let (output, start) = positional {
                guard keepsStreamOrder(m.sequence, offset: m.offset, length: chunk.count, start: start) else { return .misplaced }
                (held.bytes, held.written) = (nil, false)
                writesInFlight += 1
                placement = .write(output, start)
            }
            buffer[m.sequence] = held
            bufferedBytes += charge
            lastProgress = MonotonicClock.now()
            lock.broadcast()
            return placement
        }
        switch placement {
        case .held:
            return true
        case .unneeded:
            pool.recycle(chunk)
            return true
        case .misplaced:
            pool.recycle(chunk)
            fail(DWCPError(.network, "chunk \(m.sequence) at stream offset \(m.offset) does not fit between the chunks around it"))
            return false
        case .write(let output, let start):
            // At its place while the bytes are still in this core's cache.
            let result = writeTurn.withLock { Result { try output.writeAll(chunk.unsafeBase, count: chunk.count, at: start + m.offset) } }
            pool.recycle(chunk)
            lock.withLock {
                writesInFlight -= 1
                if case .success = result { buffer[m.sequence]?.written = true }
                lock.broadcast()
            }
            if case .failure(let error) = result {
                fail(error)
                return false
            }
            return true
        }
    }

    /// Whether a chunk at stream bytes `offset ..< offset + length` can be chunk `sequence` of a
    /// stream whose chunks tile it in sequence order, given what is written and held: past the
    /// bytes written in order, after every held chunk before it and before every held chunk after
    /// it, flush against those next to it, and ending where a file offset can (`start` + end
    /// fits in `off_t`). Checked before a positional write, so no chunk is ever written over
    /// another or over bytes already written in order. Lock held.
    private func keepsStreamOrder(_ sequence: UInt64, offset: UInt64, length: Int, start: UInt64) -> Bool {
        let (end, overflow) = offset.addingReportingOverflow(UInt64(length))
        if overflow || end > UInt64(Int64.max) - start || offset < written { return false }
        if sequence == nextExpected && offset != written { return false }
        for (s, held) in buffer {
            let heldEnd = held.offset + UInt64(held.length)
            let fits = s < sequence ? heldEnd <= offset && (sequence - s != 1 || heldEnd == offset)
                                    : end <= held.offset && (s - sequence != 1 || end == held.offset)
            if !fits { return false }
        }
        return true
    }

    /// Writes a header-only control message; a failure just drops it (the connection's reader
    /// will notice the broken socket).
    private func sendControl(_ socket: StreamSocket, _ kind: MessageHeader.Kind, _ value: UInt64) {
        var m = [UInt8](repeating: 0, count: Wire.messageHeaderLength)
        MessageHeader(kind: kind, length: 0, sequence: value, offset: 0, checksum: 0).store(to: &m)
        sendLock.withLock { try? socket.sendAll(m) }
    }

    private func connectionLoop(_ socket: StreamSocket, from listener: StreamListener) {
        OSThread.blockPipeSignal()
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
            socket.close()
        }
        // Handshake: nothing from this connection is used before it completes for our session.
        let hello: Hello
        var isProbe = false
        do {
            defer { listener.endHandshake() }
            if let tls = configuration.tls { try socket.startTLS(tls, host: nil, timeout: configuration.handshakeTimeout) }
            let result = try Handshake.serverAuthenticate(socket, auth: configuration.auth, timeout: configuration.handshakeTimeout)
            hello = result.hello
            isProbe = hello.flags & Hello.probeFlag != 0
            let (status, next, window): (Welcome.Status, UInt64, UInt64) = lock.withLock {
                if !result.authenticated { return (.authenticationFailed, 0, 0) }
                if isProbe { return (.ok, 0, 0) }
                if let s = session, s != hello.session {
                    if abandonsForNewSession() { failTransfer(Wire.transferAbandoned) }
                    return (.busy, 0, 0)
                }
                // Ended (verdict or failure): a sender still asking is for the next transfer.
                if verdict != nil || failure != nil { return (.busy, 0, 0) }
                // A late connection of a transfer this listener already ended starts nothing.
                if session == nil, listener.hasRetired(hello.session) { return (.busy, 0, 0) }
                session = hello.session
                if hello.window > 0 { senderWindow = hello.window }
                // One of this transfer's connections from here on: the teardown shuts it even
                // while its welcome is on the way.
                connections[ObjectIdentifier(socket)] = socket
                return (.ok, checkpoint != nil ? checkpointedChunks : nextExpected, configuration.window)
            }
            try Handshake.serverWelcome(socket, auth: configuration.auth, hello: hello, serverNonce: result.serverNonce,
                                        status: status, nextExpected: next, window: window)
            if status != .ok { return }
            if !isProbe {
                socket.setSendTimeout(30)
                lock.withLock {
                    stats.streams += 1
                    authenticated[ObjectIdentifier(socket)] = socket
                    connectionsGoneSince = nil
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
                        while verdict == nil && failure == nil { lock.wait() }
                        return verdict
                    }
                    guard let v else { return }
                    sendControl(socket, .ack, lock.withLock { nextExpected })
                    sendControl(socket, .fin, v)
                    lock.withLock {
                        verdictSent = true
                        lock.broadcast()
                        lock.wakeTimers()
                    }
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
