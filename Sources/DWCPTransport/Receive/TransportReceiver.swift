import DWCPCore
import DWCPSystem
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

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
///
/// This file holds its state, the transfer's life and its sessions; the rest is beside it:
/// `+Connections` (one connection's handshake and messages), `+Writing` (chunks to the output,
/// in order or at their places) and `+Cancel` (ending a transfer, and telling the senders why).
/// Its state is internal rather than private so those files share it.
public final class TransportReceiver {
    public let configuration: ReceiverConfiguration
    /// Called as chunks are written (a progress line): `bytes` written in order, `streams` the
    /// authenticated connections open at that moment, `seconds` since the first was welcomed.
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
    public internal(set) var rejection: Error?
    /// A resumable transfer's checkpoint file (`resume(_:restored:)`): acknowledgements wait for
    /// the output and the checkpoint to be durable.
    var checkpoint: ReceiveCheckpoint?
    /// What a killed receiver had made durable, continued from.
    var restored: ReceiveCheckpoint.Restored?
    let lock = ConditionLock()
    var session: [UInt8]?
    /// A chunk received ahead of the writer. `bytes` is nil once it is at its place in a
    /// positional output (`written` says when that write finished).
    struct Held {
        var bytes: RawBuffer?
        let checksum: UInt64
        let offset: UInt64
        let length: Int
        /// What it counts against the window (`bufferedBytes`).
        let charge: UInt64
        var written: Bool
    }
    /// Chunks received ahead of the writer, by sequence.
    var buffer: [UInt64: Held] = [:]
    /// What the held chunks count against the window: a chunk buffer's full capacity each, even
    /// for a short chunk, so a sender of tiny chunks cannot make us hold window ÷ size buffers.
    var bufferedBytes: UInt64 = 0
    /// The output and its offset of the stream's first byte, when chunks are written at their
    /// places (`FileDescriptor.positionalWriteStart`).
    var positional: (output: FileDescriptor, start: UInt64)?
    /// Positional writes skip whole zero pages (`configuration.sparse`, and the output ends
    /// where the stream's unwritten bytes begin); set before any thread starts.
    var sparseWrites = false
    /// Positional writes under way (a failed transfer's output is cut only after they end).
    var writesInFlight = 0
    /// Positional writes take turns. A file system serialises writes to one file anyway
    /// (ext4: the inode's lock), and the kernel's waiters spin on it: with 8 connections into a
    /// file that was 28 % of the receiver's CPU. Waiting here sleeps instead.
    let writeTurn = ConditionLock()
    var nextExpected: UInt64 = 0
    /// Resumable: the chunks the last checkpoint made durable. A reconnecting sender is told
    /// this, not `nextExpected`, since it frees every chunk below what it is told, and a
    /// restarted receiver has only what a checkpoint covers. Written only by the writer thread
    /// (under the lock), which also reads it without.
    var checkpointedChunks: UInt64 = 0
    var written: UInt64 = 0
    /// The sender's window from HELLO (nil: not told), which bounds how long acknowledgements
    /// may be held back.
    var senderWindow: UInt64?
    var end: (length: UInt64, chunks: UInt64, digest: Digest128)?
    var verdict: UInt64?
    /// The verdict went out on the connection that carried the end message.
    var verdictSent = false
    var failure: Error?
    /// The senders know how the transfer ended without being told why: they cancelled it, or
    /// were sent `fin` 4 (interrupted).
    var sendersKnowTheEnd = false
    /// Connections told why the transfer failed: `cancel` sent (true) or being sent by
    /// `tellSendersWhyItFailed` (false). They linger before closing (`connectionLoop`), once the
    /// message is out, so a reset does not drop it.
    var toldWhy: [ObjectIdentifier: Bool] = [:]
    /// The connections this transfer said yes to (from that decision, before their welcome is
    /// out): the ones its end shuts down.
    var connections: [ObjectIdentifier: StreamSocket] = [:]
    /// Connections whose sender asked to keep them for its next transfer (`Hello.keepFlag`):
    /// after a verdict of 0 they stay open until the sender's `release` (then `released`, and
    /// handed to the listener's next transfer) or for at most the handshake timeout (then
    /// `reaped`: shut, as every connection is after any other verdict).
    var keepable: Set<ObjectIdentifier> = []
    var released: Set<ObjectIdentifier> = []
    /// Connections that carried `fin` 0 to a sender that did not ask to keep them: they stay
    /// open until the sender closes its side, which tells it heard the verdict
    /// (`StreamListener.noteVerdictHeard`), instead of being shut with the others.
    var closingWhenHeard: Set<ObjectIdentifier> = []
    /// Connections this transfer's end shut down: one whose `fin` went out just before is not
    /// waited on for its sender's close (its read would see our own shutdown).
    var shutAtEnd: Set<ObjectIdentifier> = []
    /// An RDMA connection took part: its sender cannot tell it heard the verdict by a close.
    var overRDMA = false
    /// Answers only reconnections of ended transfers (`waitUntilVerdictHeard`): set on a
    /// receiver that runs no transfer of its own.
    var servesEndedTransfersOnly = false
    var reaped: Set<ObjectIdentifier> = []
    /// Connections past the handshake: acknowledgements go to them in turn.
    var authenticated: [ObjectIdentifier: StreamSocket] = [:]
    /// When the last of them closed, while none is open (for `Wire.transferAbandoned`).
    var connectionsGoneSince: Double?
    /// Serialises control messages (acks, verdicts) written by different threads to one socket.
    let sendLock = ConditionLock()
    var lastProgress = MonotonicClock.now()
    /// When the transfer's first connection was welcomed: its time (`TransferStats.seconds`,
    /// set at the verdict) runs from here, without the wait for its sender.
    var startedAt: Double?
    var stats = TransferStats()
    /// Where chunk buffers come from, by size, reused after writing (fresh megabyte allocations
    /// cost page faults). A process receiving one transfer after another gives each the same.
    public var buffers = BufferPools()

    /// Receivers whose transfer is under way.
    static let live = LiveObjects<TransportReceiver>()

    func pool(_ size: Int) -> BufferPool {
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
        if configuration.sparse, let (out, start) = positional {
            sparseWrites = SparseFileWriter.skipsSafely(out, from: start + written)
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
        let waitingForRelease: [ObjectIdentifier: StreamSocket] = lock.withLock {
            let kept = verdict == Wire.verdictOK ? connections.filter { keepable.contains($0.key) } : [:]
            for (id, s) in connections where kept[id] == nil && !closingWhenHeard.contains(id) {
                shutAtEnd.insert(id)
                s.shutdownBoth()
            }
            lock.broadcast()
            return kept
        }
        if !waitingForRelease.isEmpty {
            // A sender that asked to keep its connections but never releases them (it died with
            // the host, or it is not a DWCP sender) must not hold them, and their threads, forever.
            let deadline = MonotonicClock.now() + configuration.handshakeTimeout
            _ = OSThread { [self] in
                lock.withLock {
                    while MonotonicClock.now() < deadline
                            && waitingForRelease.keys.contains(where: { !released.contains($0) && connections[$0] != nil }) {
                        lock.wait(seconds: min(0.5, max(0.01, deadline - MonotonicClock.now())))
                    }
                    // Only those whose thread still has them: one that ended has closed its socket.
                    for (id, s) in waitingForRelease where !released.contains(id) && connections[id] != nil {
                        reaped.insert(id)
                        s.shutdownBoth()
                    }
                }
            }
        }
        writer.join()
        acceptor.join()
        // Whatever its end, this session's transfer is over on this listener.
        if let (s, finished) = lock.withLock({ session.map { s in
            (s, verdict.map { StreamListener.FinishedTransfer(verdict: $0, chunks: nextExpected, senderConfirms: !keepable.isEmpty || !overRDMA) })
        } }) {
            listener.retire(s, finished: finished)
        }
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

    /// After the last transfer a listener serves (`dwcp-recv` without `--keep`, `dwcp-migrate
    /// receive`'s final round): waits until that transfer's sender has heard its verdict, which
    /// it tells after `fin` 0 by releasing a connection it asked to keep, or else by closing
    /// the connection the verdict reached it on; meanwhile tells the verdict again to a sender
    /// that lost it with every connection and comes back (`tellVerdictAgain`); any other sender
    /// is answered "busy". Returns true at once for a transfer whose sender cannot tell (over
    /// RDMA) or whose verdict was not 0, and false when the configuration's `idleTimeout`
    /// passes first (docs/TRANSPORT.md, "A verdict told again").
    public static func waitUntilVerdictHeard(on listener: StreamListener, configuration: ReceiverConfiguration) -> Bool {
        let deadline = MonotonicClock.now() + configuration.idleTimeout
        guard let (session, finished) = listener.lastRetired, let finished,
              finished.senderConfirms, finished.verdict == Wire.verdictOK else { return true }
        let receiver = TransportReceiver(configuration: configuration)
        receiver.servesEndedTransfersOnly = true
        let heard = Atomic<Bool>(false)
        let acceptor = OSThread {
            while !heard.load(ordering: .acquiring) {
                switch listener.accept(timeout: 0.1) {
                case .timeout: continue
                case .closed: return
                case .connection(let socket):
                    guard listener.beginHandshake(limit: configuration.maxPendingHandshakes) else { socket.close(); continue }
                    _ = OSThread { receiver.connectionLoop(socket, from: listener) }
                }
            }
        }
        let told = listener.waitUntilVerdictHeard(by: session, until: deadline)
        heard.store(true, ordering: .releasing)
        acceptor.join()
        return told
    }

    /// Whether a sender's new session ends this transfer (`Wire.transferAbandoned`): before the
    /// verdict, once every connection of this transfer has been gone for `Wire.abandonAfter`, and
    /// only for a sender that proved the shared secret (a stranger cannot end a transfer whose
    /// connections are briefly down), or, with `abandonsUndeliveredSessions`, when nothing of
    /// this transfer was delivered yet. Called with the lock held.
    func abandonsForNewSession() -> Bool {
        guard verdict == nil, authenticated.isEmpty, let gone = connectionsGoneSince else { return false }
        let undelivered = configuration.abandonsUndeliveredSessions && nextExpected == 0 && checkpointedChunks == 0
        guard configuration.auth.required || undelivered else { return false }
        return MonotonicClock.now() - gone >= Wire.abandonAfter
    }
}
