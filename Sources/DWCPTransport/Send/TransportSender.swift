import DWCPCore
import DWCPSystem
#if canImport(Glibc)
import Glibc
#endif

/// Sends a byte stream over many TCP connections (docs/TRANSPORT.md).
///
/// The calling thread reads the input into chunks (checksummed, digested) and queues them (from a
/// regular file it queues only their places: each connection thread reads and checksums the
/// chunks it sends, then `sendfile`s them); one
/// thread per connection takes the next queued chunk whenever its socket accepts more, so a slow
/// connection simply takes fewer chunks (work stealing, not round robin). Chunks are kept until
/// the receiver acknowledges having written them; when a connection drops, its thread reconnects
/// with backoff and its unacknowledged chunks go back to the front of the queue.
///
/// This file holds its state, the transfer and the connections' life; the rest is beside it:
/// `+SendLoop` (a connection's sending), `+Acknowledgements` (what the receiver says back),
/// `+Pacing` (stream growth, `--max-rate`, the watchdog) and `+Cancel` (ending early). Its state
/// is internal rather than private so those files share it; what the threads share is under `lock`.
public final class TransportSender {
    struct Chunk {
        let offset: UInt64
        let length: Int
        /// The bytes; nil when they stay in the input file (`send(file:)`), at `offset` from
        /// where the transfer started.
        let buffer: RawBuffer?
        /// Nil for a file chunk until the connection that first sends it has read it.
        var checksum: UInt64?
    }

    public let configuration: SenderConfiguration
    /// Called after each acknowledgement with the transfer so far (a progress line): `bytes`
    /// acknowledged in order, `streams` the connections open at that moment.
    public var progress: ((TransferStats) -> Void)?
    let lock = ConditionLock()
    let session: [UInt8]
    var retained: [UInt64: Chunk] = [:]
    var queue: [UInt64] = []
    var queueHead = 0
    /// Chunks a lost connection had in flight, to send again: highest first, so that `popLast`
    /// takes the lowest, the one the receiver needs next (it writes in order, and a pipe gets
    /// nothing past a gap). Taken last to first as they were appended, they went out highest
    /// first, so the chunk the receiver waited for came after all the others.
    var retransmit: [UInt64] = []
    var ackedThrough: UInt64 = 0
    var unackedBytes: UInt64 = 0
    var ackedBytes: UInt64 = 0
    /// Chunks a stream thread is writing right now: their buffers must not be reused when acked.
    var sending: Set<UInt64> = []
    /// Connections (by stream index) writing a chunk right now: busy for `pace` even while
    /// their socket has momentarily nothing left to send.
    var carrying = Set<Int>()
    var inputDone = false
    /// The end digest, fed in sequence order (`recordChecksum`); checksums that arrive ahead of
    /// their turn (file chunks are checksummed by whichever connection sends them) wait here.
    let digest = ChunkListDigest()
    var digested: UInt64 = 0
    var checksumsAhead: [UInt64: UInt64] = [:]
    var endSent = false
    /// The stream that sent the end message and waits for the verdict.
    var endOwner = -1
    var finStatus: UInt64?
    var failure: Error?
    /// This side's failure (the input, or what feeds it), while the connections tell the
    /// receiver (`cancel`); it becomes `failure` once one of them did, or when that cannot be.
    var cancelling: Error?
    /// The receiver answered a `cancel`.
    var cancelDelivered = false
    /// Connection threads running (`streamLoop`).
    var liveStreams = 0
    var stats = TransferStats()
    var sockets: [Int: StreamSocket] = [:]
    /// Connections dialled whose handshake is under way (not in `sockets` yet): a transfer that
    /// fails meanwhile shuts them down too (`abortSockets`), so their threads end at once instead
    /// of waiting out the handshake's timeout for a receiver that has moved on.
    var handshaking: [ObjectIdentifier: StreamSocket] = [:]
    /// Chunk buffers are reused once acknowledged: fresh megabyte allocations cost page faults.
    lazy var pool = BufferPool(bufferCapacity: configuration.chunkSize, maxFree: 256)
    /// The input of `send(file:)`, and the file offset of the stream's first byte.
    var file: FileDescriptor?
    var fileStart: UInt64 = 0

    /// What closed connections' TCP had delivered (`deliveredBytes` adds the open ones).
    var retiredDelivered: UInt64 = 0
    /// Closed connections' `PathCounters` (`pathCounters` adds the open ones'), so the sums
    /// never go back when a cut connection is replaced by a new one that counts from 0.
    var retiredPath = PathCounters()

    /// Senders whose transfer is under way.
    static let live = LiveObjects<TransportSender>()

    /// Whether this transfer's connections use RDMA; `auto` decides at the first connection that
    /// completes (connections dialled before that try RDMA first too; both kinds carry the same
    /// protocol, so a mix is harmless).
    var usesRDMA: Bool?

    var lastAck = 0.0
    /// `stats.reconnects` at `lastAck`: connections lost since, for the watchdog's message.
    var reconnectsAtLastAck = 0

    var streamCount = 0

    var addedThreads: [OSThread] = []

    /// The most the window may be (`adjust`), below what the handshake named.
    var windowLimit = UInt64.max

    /// The window the receiver's last welcome allowed (at least a chunk).
    var welcomedWindow = UInt64.max

    /// The bytes that may be unacknowledged: what the handshake named, within `adjust`'s limit
    /// and the receiver's welcome.
    var effectiveWindow: UInt64 { min(configuration.window, windowLimit, welcomedWindow) }

    /// The congestion control `setCongestionControl` chose for every connection, replacing
    /// the configuration's.
    var congestionOverride: String?

    /// Connections sending before their welcome arrived (kept ones, and ones dialled again
    /// without a secret: `handshake`): the hello's answers, which the connection's ack reader
    /// reads first, and `ackedThrough` when the hello went out.
    var earlyWelcomes: [ObjectIdentifier: (pending: Handshake.PendingWelcome, ackedBeforeHello: UInt64)] = [:]
    /// Dialled connections sending before their welcome, until it came (`readEarlyWelcome`): one
    /// still here when it ends was never welcomed, which counts as a failed dial (`streamLoop`).
    var awaitingWelcome = Set<ObjectIdentifier>()
    /// Some connection of this transfer was welcomed: the receiver has taken the session, so a
    /// connection dialled again may send before its own welcome (`sendsBeforeWelcome`).
    var welcomedOnce = false
    /// Why the last connection that sent before its welcome got none (for the error that ends
    /// the transfer if none comes until `resumeTimeout`).
    var earlyWelcomeError: Error?
    /// Kept connections whose welcome never came (the receiver did not keep them, or refused):
    /// replaced by a new connection without counting a reconnection, as before they sent.
    var keptButNotWelcomed = Set<ObjectIdentifier>()

    public init(configuration: SenderConfiguration) {
        self.configuration = configuration
        session = configuration.session ?? SessionAuth.nonce()
    }

    /// A session id that names sending `file` from `start` in chunks of `chunkSize`: the same as
    /// long as the file is the same one (device, inode), unchanged (size, modification time), and
    /// sent the same way, so running the same `dwcp-send --resume` again continues the transfer.
    /// A changed file is a new transfer (the receiver, holding the old one, answers busy).
    public static func resumeSession(for file: FileDescriptor, from start: UInt64, chunkSize: Int) throws -> [UInt8] {
        var st = stat()
        guard fstat(file.rawValue, &st) == 0, file.isRegularFileOfKnownLength else {
            throw DWCPError.usage("\(file.name): --resume needs a regular file as input (a pipe or a /proc or /sys file cannot be read again as it was)")
        }
        let fields: [UInt64] = [UInt64(st.st_dev), UInt64(st.st_ino), UInt64(st.st_size), UInt64(st.st_mtim.tv_sec),
                                UInt64(st.st_mtim.tv_nsec), start, UInt64(chunkSize)]
        var bytes = Array("dwcp-send resume v1".utf8)
        for f in fields { withUnsafeBytes(of: f.littleEndian) { bytes.append(contentsOf: $0) } }
        let d = bytes.withUnsafeBytes { Checksum.xxh3_128($0.baseAddress!, $0.count) }
        var id = [UInt8]()
        for v in [d.high, d.low] { withUnsafeBytes(of: v.littleEndian) { id.append(contentsOf: $0) } }
        return id
    }

    /// Sends everything `read` produces (it fills a buffer and returns the byte count, 0 at end).
    /// Returns when the receiver confirmed the digest; throws `.network` (4) or `.integrity` (3).
    public func send(read: (UnsafeMutableRawPointer, Int) throws -> Int) throws -> TransferStats {
        try transfer { offset in
            let buffer = pool.take()
            buffer.count = try read(buffer.unsafeBase, configuration.chunkSize)
            if buffer.count == 0 {
                pool.recycle(buffer)
                return nil
            }
            return Chunk(offset: offset, length: buffer.count, buffer: buffer, checksum: Checksum.xxh3(buffer.unsafeBase, buffer.count))
        }
    }

    /// Sends the regular file `file` from offset `start` to the size it has now (as GNU tar, a
    /// file that grows meanwhile is sent as it was when the transfer started).
    ///
    /// Over plain TCP the chunks are not copied through this process: the connection thread that
    /// sends a chunk reads it into its own buffer, which stays in cache, to compute its checksum,
    /// and then `sendfile(2)` hands the chunk's page-cache pages to the socket (no reader thread
    /// hands chunks over: on 2 cores a third busy thread cost a fifth of the throughput). Nothing
    /// is kept for resending: a resent chunk is read again, and must still match its checksum,
    /// otherwise the transfer fails (the file changed while it was being sent), as it does when
    /// the file ends early (it was truncated). With TLS or RDMA, which must see the bytes, this is
    /// `send(read:)`.
    public func send(file: FileDescriptor, from start: UInt64 = 0) throws -> TransferStats {
        let plainTCP = configuration.tls == nil
            && (configuration.transport == .tcp || configuration.transport == .auto && RDMA.devices().isEmpty)
        var position = start
        guard plainTCP else {
            return try send { p, n in
                let got = try file.readFully(into: p, count: n, at: position)
                position += UInt64(got)
                return got
            }
        }
        self.file = file
        fileStart = start
        let size = file.sizeIfSeekable() ?? 0
        return try transfer { offset in
            let n = Int(min(UInt64(configuration.chunkSize), size - min(size, start + offset)))
            return n == 0 ? nil : Chunk(offset: offset, length: n, buffer: nil, checksum: nil)
        }
    }

    /// Adds chunk `sequence`'s checksum to the end digest, in sequence order. Lock held.
    func recordChecksum(_ sequence: UInt64, _ checksum: UInt64) {
        checksumsAhead[sequence] = checksum
        while let next = checksumsAhead.removeValue(forKey: digested) {
            digest.add(next)
            digested += 1
        }
    }

    /// Runs a transfer of the chunks `next` makes (given the stream offset; nil at the end).
    func transfer(_ next: (UInt64) throws -> Chunk?) throws -> TransferStats {
        let c = configuration
        Self.live.add(self)
        defer { Self.live.remove(self) }
        // Every connection dials at once (on a long path each handshake costs three round trips,
        // so connecting one after the other would idle the link for as long). The first is
        // awaited here, so a refused or unauthenticated receiver fails fast with its reason.
        streamCount = max(1, c.streams)
        // Every connection counts as live from here (`streamLoop` takes it off as it ends): an
        // input that fails at once must find them to carry its cancel, not a count of 0 because
        // their threads have not started yet, which left the receiver waiting for a connection
        // that then closed without a word.
        lock.withLock { liveStreams += streamCount }
        var threads: [OSThread] = []
        for i in 1..<streamCount {
            threads.append(OSThread { [unowned self] in self.streamLoop(i, nil) })
        }
        let first: StreamSocket
        do {
            first = try connectWhenFree()
        } catch {
            lock.withLock { liveStreams -= 1 }   // stream 0's loop never starts
            fail(error)
            for t in threads { t.join() }
            throw error
        }
        lock.withLock { lastAck = MonotonicClock.now() }
        threads.append(OSThread { [unowned self] in self.streamLoop(0, first) })
        threads.append(OSThread { [unowned self] in self.watchdog() })
        if let rate = c.maxRate { threads.append(OSThread { [unowned self] in self.pace(rate) }) }
        if c.autoStreams { threads.append(OSThread { [unowned self] in self.growStreams() }) }
        var offset: UInt64 = 0
        var sequence: UInt64 = 0
        // The receiver's first answer may say it already has chunks (a resumed session): those
        // are read again only for their checksums, which the end digest covers.
        var prefix: RawBuffer?
        do {
            while let chunk = try next(offset) {
                if lock.withLock({ sequence < ackedThrough }) {
                    var checksum = chunk.checksum
                    if checksum == nil, let file {
                        if prefix == nil { prefix = RawBuffer(capacity: c.chunkSize) }
                        let prefix = prefix!
                        guard try file.readFully(into: prefix.unsafeBase, count: chunk.length, at: fileStart + chunk.offset) == chunk.length else {
                            throw DWCPError(.failure, "\(file.name): ended early (truncated while being sent)")
                        }
                        checksum = Checksum.xxh3(prefix.unsafeBase, chunk.length)
                    }
                    lock.withLock {
                        recordChecksum(sequence, checksum!)
                        stats.resumedBytes += UInt64(chunk.length)
                    }
                    if let buffer = chunk.buffer { pool.recycle(buffer) }
                    sequence += 1
                    offset += UInt64(chunk.length)
                    continue
                }
                try lock.withLock {
                    if let checksum = chunk.checksum { recordChecksum(sequence, checksum) }
                    // Bounded by the window (bytes not yet acknowledged) and by the read-ahead:
                    // reading far ahead of the sockets only cycles cold buffers through the cache.
                    while (unackedBytes + UInt64(chunk.length) > effectiveWindow && unackedBytes > 0
                           || queue.count - queueHead >= readAhead) && failure == nil && cancelling == nil { lock.wait() }
                    if let failure { throw failure }
                    if let cancelling { throw cancelling }
                    retained[sequence] = chunk
                    unackedBytes += UInt64(chunk.length)
                    queue.append(sequence)
                    lock.broadcast()
                }
                sequence += 1
                offset += UInt64(chunk.length)
            }
        } catch {
            cancel(because: error)
            fail(error)
            for t in threads { t.join() }
            // The first failure: the input's own, or the transport's that made it give up.
            throw lock.withLock { failure } ?? error
        }
        lock.withLock {
            inputDone = true
            stats.bytes = offset
            stats.chunks = sequence
            lock.broadcast()
        }
        for t in threads { t.join() }
        while let t = lock.withLock({ addedThreads.popLast() }) { t.join() }
        return try lock.withLock {
            if let failure { throw failure }
            if finStatus == Wire.verdictRejected { throw Wire.rejected }
            if finStatus != Wire.verdictOK { throw DWCPError.integrity("receiver reports the stream digest or length did not match: transfer corrupted") }
            var s = stats
            s.streams = streamCount
            s.rdma = usesRDMA == true
            s.tcp.sort { $0.stream < $1.stream }
            return s
        }
    }

    /// Bytes the receiver's TCP has acknowledged over every connection so far, chunk headers,
    /// resends and TLS records included (`tcpi_bytes_acked`): what the path carried, smoothly,
    /// where the transfer's own acknowledgements come a few MiB at a time. Readable while the
    /// transfer runs (`dwcp-send --json --interval`'s samples); nil over RDMA (no `TCP_INFO`).
    public var deliveredBytes: UInt64? {
        lock.withLock {
            if usesRDMA == true { return nil }
            return sockets.values.reduce(retiredDelivered) { $0 + ($1.bytesAcked() ?? 0) }
        }
    }

    /// What the path has carried so far, summed over every connection the transfer has had:
    /// for measuring its rate on the transfer itself (`TransferRateMeter`) and its loss.
    public struct PathCounters: Sendable {
        /// Bytes TCP saw delivered (`tcpi_delivered` × MSS).
        public var delivered: UInt64 = 0
        /// Some open connection had bytes waiting unsent: the path, not the sender, was the limit.
        public var backlogged = false
        public var retransmittedSegments: UInt64 = 0
        public var segmentsOut: UInt64 = 0
        /// Connections lost and dialled again so far: a measurement across one timed a new
        /// connection's slow start and the wait before it, not the path.
        public var reconnects = 0
    }

    /// `PathCounters` now; nil over RDMA (no `TCP_INFO`) and before the first connection.
    public var pathCounters: PathCounters? {
        lock.withLock {
            guard usesRDMA != true, !sockets.isEmpty else { return nil }
            var c = retiredPath
            c.reconnects = stats.reconnects
            for case let s? in sockets.values.map({ $0.pathState() }) {
                c.delivered += s.delivered
                c.backlogged = c.backlogged || s.unsent > 0
                c.retransmittedSegments += UInt64(s.retransmitted)
                c.segmentsOut += UInt64(s.segmentsOut)
            }
            return c
        }
    }

    /// The transfer's failure, once it has one: a reader waiting for a quiet input asks it
    /// (`FileDescriptor.readFully(into:count:checkingEvery:abandon:)`), since nothing else wakes
    /// a blocked read.
    public var failed: Error? { lock.withLock { failure } }

    /// Chunks read but not yet taken by a connection: enough that no connection waits for input.
    var readAhead: Int { max(4, 2 * streamCount) }

    /// After a transfer that ended with `fin` 0 and kept its connections: makes sure the
    /// receiver knows this sender heard the verdict, which a receiver after its last transfer
    /// waits for (`TransportReceiver.waitUntilVerdictHeard`). Normally a kept connection's
    /// `release` was answered already; if every one was cut first, a new connection of this
    /// transfer's session sends `release` (the receiver, which tells a returning sender its
    /// verdict again, answers it), for up to `resumeTimeout`. True once answered; false if not by
    /// then, or if the receiver is gone (a refused dial: it heard, or can no longer wait).
    public func confirmVerdictHeard() -> Bool {
        let c = configuration
        guard let pool = c.keptConnections, lock.withLock({ finStatus == Wire.verdictOK }) else { return true }
        let deadline = MonotonicClock.now() + c.resumeTimeout
        if pool.awaitAnyRelease(until: deadline) { return true }
        var backoff = Backoff(limit: 1)
        while MonotonicClock.now() < deadline {
            let socket: StreamSocket
            do { socket = try dial(timeout: min(10, max(0.1, deadline - MonotonicClock.now()))) } catch { return false }
            defer { socket.close() }
            do {
                _ = try Handshake.client(socket, auth: c.auth, session: session, stream: 0, chunkSize: c.chunkSize, streams: c.streams,
                                         window: c.window, timeout: 10, keep: true)
                try socket.sendAll(Wire.releaseMessage)
                socket.setReceiveTimeout(10)
                while true {
                    if try MessageHeader.decode(try socket.receive(Wire.messageHeaderLength)).kind == .release { return true }
                }
            } catch {
                backoff.pause()
            }
        }
        return false
    }

    /// The pause between tries to reach the receiver: 0.1 s, doubling up to `limit` (also
    /// `dwcp-migrate`'s between probes whose connection was cut).
    public struct Backoff {
        public let limit: Double
        public private(set) var next = 0.1

        public init(limit: Double) { self.limit = limit }

        public mutating func pause() {
            usleep(UInt32(next * 1e6))
            next = min(limit, next * 2)
        }

        mutating func reset() { next = 0.1 }
    }

    /// One connection's life: send chunks; on failure reconnect (bounded by the resume timeout).
    func streamLoop(_ index: Int, _ initial: StreamSocket?) {
        OSThread.blockPipeSignal()
        // Counted live by whoever started this loop, before its thread ran.
        defer {
            lock.withLock {
                liveStreams -= 1
                // Cancelling, and no connection is left to tell the receiver: the transfer fails.
                if liveStreams == 0, failure == nil, let cancelling {
                    failure = cancelling
                    lock.wakeTimers()
                }
                lock.broadcast()
            }
        }
        var socket = initial
        var cancelRedialled = false
        var failedSince: Double?
        var backoff = Backoff(limit: 2)
        var inFlight: [UInt64] = []
        /// The connection in use was dialled and sent before its welcome (`sendsBeforeWelcome`).
        var sentEarly = false
        /// After a dial that failed (`why`): false once `resumeTimeout` has passed since the
        /// first failure in a row (the transfer fails), else true after the backoff's pause.
        func pauseAfterFailedDial(_ why: @autoclosure () -> String) -> Bool {
            let now = MonotonicClock.now()
            if failedSince == nil { failedSince = now }
            if now - failedSince! > configuration.resumeTimeout {
                fail(DWCPError(.network, "\(configuration.endpoint): gave up reconnecting after \(Int(configuration.resumeTimeout)) s: \(why())"))
                return false
            }
            backoff.pause()
            return true
        }
        while true {
            if socket == nil {
                // Cancelling, and this connection is gone (cut, or left mid-message by the input's
                // failure, which can befall every connection at once): one fresh connection
                // carries the cancel unless another did.
                let dial: (cancelling: Bool, redial: Bool) = lock.withLock {
                    (cancelling != nil, cancelling != nil && failure == nil && !cancelRedialled)
                }
                if dial.cancelling {
                    guard dial.redial else { return }
                    cancelRedialled = true
                    sentEarly = false
                    guard let redialled = try? connect(stream: index, timeout: Wire.cancelDeliverySeconds) else { return }
                    socket = redialled
                } else {
                    if lock.withLock({ failure != nil || finStatus != nil || (inputDone && ackedThrough == stats.chunks && endSent) }) { return }
                    do {
                        socket = try connect(stream: index)
                        sentEarly = lock.withLock {
                            if failedSince != nil { stats.reconnects += 1 }
                            return awaitingWelcome.contains(ObjectIdentifier(socket!))
                        }
                        // One that sends before its welcome has not been welcomed yet: it
                        // counts as through once it is (below, when it ends).
                        if !sentEarly {
                            failedSince = nil
                            backoff.reset()
                        }
                    } catch let e as DWCPError where e.status == .usage || e == Wire.receiverRestarted {
                        // Retrying cannot help: a usage error stays one, and a new receiver process
                        // will never have the chunks this transfer forgot.
                        fail(e)
                        return
                    } catch {
                        guard pauseAfterFailedDial("\(error)") else { return }
                        continue
                    }
                }
            }
            let s = socket!
            let reader = ConnectionPool.ReaderState()
            // Holds this sender: a kept connection's reader outlives the transfer (`keep`).
            let ackThread = OSThread { [self] in reader.finish(released: self.ackLoop(s)) }
            let ok = sendLoop(index, s, &inFlight)
            if ok, let pool = configuration.keptConnections, keep(s) {
                let cc = lock.withLock { congestionOverride ?? stats.congestionControl }
                pool.put(ConnectionPool.Kept(socket: s, endpoint: configuration.endpoint, congestionControl: cc, reader: ackThread, state: reader))
                return
            }
            s.shutdownBoth()
            ackThread.join()
            let (neverWelcomed, earlyNeverWelcomed) = lock.withLock {
                retire(s)
                return (keptButNotWelcomed.remove(ObjectIdentifier(s)) != nil, awaitingWelcome.remove(ObjectIdentifier(s)) != nil)
            }
            s.close()
            socket = nil
            if ok { return }
            // Connection lost: its unacknowledged chunks go back first.
            lock.withLock {
                let lost = inFlight.filter { $0 >= ackedThrough && retained[$0] != nil }
                retransmit.append(contentsOf: lost)
                retransmit.sort(by: >)
                stats.resentChunks += lost.count
                if endSent && finStatus == nil && endOwner == index { endSent = false }
                lock.broadcast()
            }
            inFlight = []
            if earlyNeverWelcomed && lock.withLock({ failure == nil && cancelling == nil }) {
                // Dialled, sent before its welcome, and no welcome came (cut first, or refused):
                // a failed dial, paused after and bounded by the resume timeout as one.
                guard pauseAfterFailedDial(lock.withLock { earlyWelcomeError.map { "\($0)" } } ?? "no welcome") else { return }
                continue
            }
            if sentEarly {
                // Welcomed after it had started sending: through, as a dial is once welcomed.
                failedSince = nil
                backoff.reset()
            }
            // A kept connection the receiver did not welcome is replaced, not reconnected.
            if failedSince == nil && !neverWelcomed { failedSince = MonotonicClock.now() }
        }
    }
}
