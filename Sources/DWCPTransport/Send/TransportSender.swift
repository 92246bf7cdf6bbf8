import DWCPCore
import DWCPSystem
#if canImport(Glibc)
import Glibc
#endif

/// Settings of one `dwcp-send` transfer.
public struct SenderConfiguration {
    public var endpoint: Endpoint
    public var streams = 8
    public var chunkSize = 1 << 20
    /// Most bytes sent and not yet acknowledged (also capped by the receiver's window).
    public var window: UInt64 = 256 << 20
    public var auth = SessionAuth(secret: nil)
    /// TLS 1.3 on every connection (`--tls`); nil sends in the clear.
    public var tls: TLSContext?
    /// TCP, RDMA, or RDMA when this host has a device and the receiver answers on it.
    public var transport = TransportKind.tcp
    /// `--cc`: a kernel name (bbr, cubic, reno), `auto` (chosen per connection from its
    /// handshake's round trip, `CongestionControl.resolve`), or nil for the system default.
    public var congestionControl: String?
    /// Total pacing rate in bytes per second, split over the streams; nil = unpaced.
    public var maxRate: UInt64?
    /// How long to keep reconnecting after a connection drops before giving up.
    public var resumeTimeout: Double = 30
    /// The transfer's session id (16 bytes); nil: a random one. A sender that derives it from
    /// its input (`dwcp-send --resume`, `resumeSession(for:)`) continues, when run again, the
    /// transfer an earlier run left at the receiver: the receiver answers with the chunk it needs
    /// next, and the chunks before it are only read again for the end digest, never sent.
    public var session: [UInt8]?
    /// `--streams auto`: start with `streams` and add connections while throughput grows.
    public var autoStreams = false
    public var maxStreams = 64

    public init(endpoint: Endpoint) {
        self.endpoint = endpoint
    }
}

/// What a transfer did, for `--json` and the progress line.
public struct TransferStats: Sendable {
    public var bytes: UInt64 = 0
    public var chunks: UInt64 = 0
    public var reconnects = 0
    public var resentChunks = 0
    /// Stream bytes an earlier run had delivered, which this one continued from: on the
    /// receiver, what a killed receiver had made durable; on the sender, what the receiver
    /// already had when it answered (never sent again).
    public var resumedBytes: UInt64 = 0
    public var streams = 0
    /// The connections ran over RDMA (rsockets), not TCP.
    public var rdma = false
    /// The congestion control the connections use (nil: the system default).
    public var congestionControl: String?
    /// Per stream: smoothed RTT (µs) and retransmitted segments, from TCP_INFO.
    public var tcp: [(stream: Int, rttMicroseconds: UInt32, retransmits: UInt32)] = []
    public init() {}
}

/// Sends a byte stream over many TCP connections (docs/TRANSPORT.md).
///
/// The calling thread reads the input into chunks (checksummed, digested) and queues them (from a
/// regular file it queues only their places: each connection thread reads and checksums the
/// chunks it sends, then `sendfile`s them); one
/// thread per connection takes the next queued chunk whenever its socket accepts more, so a slow
/// connection simply takes fewer chunks (work stealing, not round robin). Chunks are kept until
/// the receiver acknowledges having written them; when a connection drops, its thread reconnects
/// with backoff and its unacknowledged chunks go back to the front of the queue.
public final class TransportSender {
    private struct Chunk {
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
    private let lock = ConditionLock()
    private let session: [UInt8]
    private var retained: [UInt64: Chunk] = [:]
    private var queue: [UInt64] = []
    private var queueHead = 0
    private var retransmit: [UInt64] = []
    private var ackedThrough: UInt64 = 0
    private var unackedBytes: UInt64 = 0
    private var ackedBytes: UInt64 = 0
    /// Chunks a stream thread is writing right now: their buffers must not be reused when acked.
    private var sending: Set<UInt64> = []
    /// Connections (by stream index) writing a chunk right now: busy for `pace` even while
    /// their socket has momentarily nothing left to send.
    private var carrying = Set<Int>()
    private var effectiveWindow: UInt64
    private var inputDone = false
    /// The end digest, fed in sequence order (`recordChecksum`); checksums that arrive ahead of
    /// their turn (file chunks are checksummed by whichever connection sends them) wait here.
    private let digest = ChunkListDigest()
    private var digested: UInt64 = 0
    private var checksumsAhead: [UInt64: UInt64] = [:]
    private var endSent = false
    /// The stream that sent the end message and waits for the verdict.
    private var endOwner = -1
    private var finStatus: UInt64?
    private var failure: Error?
    /// This side's failure (the input, or what feeds it), while the connections tell the
    /// receiver (`cancel`); it becomes `failure` once one of them did, or when that cannot be.
    private var cancelling: Error?
    /// The receiver answered a `cancel`.
    private var cancelDelivered = false
    /// Connection threads running (`streamLoop`).
    private var liveStreams = 0
    private var stats = TransferStats()
    private var sockets: [Int: StreamSocket] = [:]
    /// Chunk buffers are reused once acknowledged: fresh megabyte allocations cost page faults.
    private lazy var pool = BufferPool(bufferCapacity: configuration.chunkSize, maxFree: 256)
    /// The input of `send(file:)`, and the file offset of the stream's first byte.
    private var file: FileDescriptor?
    private var fileStart: UInt64 = 0

    public init(configuration: SenderConfiguration) {
        self.configuration = configuration
        effectiveWindow = configuration.window
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
    private func recordChecksum(_ sequence: UInt64, _ checksum: UInt64) {
        checksumsAhead[sequence] = checksum
        while let next = checksumsAhead.removeValue(forKey: digested) {
            digest.add(next)
            digested += 1
        }
    }

    /// Runs a transfer of the chunks `next` makes (given the stream offset; nil at the end).
    private func transfer(_ next: (UInt64) throws -> Chunk?) throws -> TransferStats {
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
    private var retiredDelivered: UInt64 = 0

    /// The transfer's failure, once it has one: a reader waiting for a quiet input asks it
    /// (`FileDescriptor.readFully(into:count:checkingEvery:abandon:)`), since nothing else wakes
    /// a blocked read.
    public var failed: Error? { lock.withLock { failure } }

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

    /// Senders whose transfer is under way.
    private static let live = LiveObjects<TransportSender>()

    /// This side failed (the input, or the application feeding it, threw), so the transfer can
    /// never complete: every connection sends `cancel` instead of its next chunk, and the
    /// receiver ends the transfer at once instead of waiting for this sender up to its idle
    /// timeout (a migration that gave up left its destination waiting two minutes). Returns
    /// once a connection delivered it, or none is left to, or after `Wire.cancelDeliverySeconds`
    /// and a little more; the caller then fails the transfer. Nothing is sent when the transport
    /// itself failed (there is nobody to tell) or the verdict is in.
    private func cancel(because error: Error) {
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
    private func startCancelling(_ error: Error) -> Bool {
        guard failure == nil, finStatus == nil else { return false }
        if cancelling == nil { cancelling = error }
        lock.broadcast()
        return true
    }

    private func abortSockets() {
        lock.withLock { for s in sockets.values { s.shutdownBoth() } }
    }

    /// Chunks read but not yet taken by a connection: enough that no connection waits for input.
    private var readAhead: Int { max(4, 2 * streamCount) }

    /// Whether this transfer's connections use RDMA; `auto` decides at the first connection that
    /// completes (connections dialled before that try RDMA first too; both kinds carry the same
    /// protocol, so a mix is harmless).
    private var usesRDMA: Bool?

    /// The first connection. A receiver busy with another transfer is asked again, with backoff,
    /// until `resumeTimeout`: it may be about to finish that transfer, or to give it up for this
    /// one (`Wire.transferAbandoned`). Any other refusal fails at once, with its reason.
    private func connectWhenFree() throws -> StreamSocket {
        let start = MonotonicClock.now()
        var backoff = 0.1
        var wasBusy = false
        while true {
            do {
                return try connect(stream: 0)
            } catch let e as DWCPError where e == Wire.receiverBusy {
                let waited = MonotonicClock.now() - start
                guard waited + backoff <= configuration.resumeTimeout else {
                    // Named like the handshake's other refusals, which carry the peer.
                    throw DWCPError(e.status, "\(configuration.endpoint): \(e.message) (asked again for up to \(Int(configuration.resumeTimeout)) s)")
                }
                wasBusy = true
                usleep(UInt32(backoff * 1e6))
                backoff = min(1, backoff * 2)
            } catch let e as DWCPError where wasBusy {
                // The receiver went away meanwhile (its other transfer ended it): both are news.
                throw DWCPError(e.status, "\(e.message) (before that, the receiver was busy with another transfer)")
            }
        }
    }

    /// Dials connection `stream` of this transfer and runs its handshake, each step within
    /// `timeout` seconds; registers it in `sockets`.
    private func connect(stream: Int, timeout: Double = 10) throws -> StreamSocket {
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
        if let option = c.congestionControl, !socket.rdma {
            // The handshake's round trip is already measured (TCP_INFO) when connect returns.
            let rtt = Double(socket.tcpInfo()?.rttMicroseconds ?? 0) / 1e6
            if let cc = CongestionControl.resolve(option, roundTripSeconds: rtt) {
                try socket.setCongestionControl(cc)
                lock.withLock { stats.congestionControl = cc }
            }
        }
        if let rate = c.maxRate { socket.setMaxPacingRate(max(1, rate / UInt64(max(1, lock.withLock { streamCount })))) }
        if let tls = c.tls { try socket.startTLS(tls, host: c.endpoint.host, timeout: timeout) }
        // Read before the hello goes out: every acknowledgement processed by then was sent before
        // the receiver saw the hello, so a receiver that kept its state answers with at least this.
        // (An acknowledgement arriving on another connection while the welcome is on its way may
        // be newer than the welcome, and says nothing about a restart.)
        let ackedBeforeHello = lock.withLock { ackedThrough }
        let welcome = try Handshake.client(socket, auth: c.auth, session: session, stream: UInt16(stream),
                                           chunkSize: c.chunkSize, streams: c.streams, window: c.window, timeout: timeout)
        try lock.withLock {
            if welcome.nextExpected < ackedBeforeHello {
                throw Wire.receiverRestarted
            }
            acknowledge(welcome.nextExpected)
            effectiveWindow = min(configuration.window, max(welcome.window, UInt64(configuration.chunkSize)))
            sockets[stream] = socket
        }
        return socket
    }

    /// Frees chunks the receiver has written. Lock held.
    private func acknowledge(_ next: UInt64) {
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

    private var lastAck = 0.0
    private var streamCount = 0
    private var addedThreads: [OSThread] = []

    /// `--streams auto`: every second, compare the acknowledged rate with the best so far; while
    /// adding connections keeps raising it by 10% or more, add a quarter more (at least 2), up to
    /// `maxStreams`. One step without gain ends the search (more streams on a saturated link only
    /// add queueing).
    private func growStreams() {
        var best = 0.0
        var lastBytes: UInt64 = 0
        var lastTime = MonotonicClock.now()
        pauseUnlessFinished(1)
        while true {
            let (bytes, done): (UInt64, Bool) = lock.withLock { (ackedBytes, failure != nil || finStatus != nil || inputDone) }
            if done { return }
            let now = MonotonicClock.now()
            let rate = Double(bytes - lastBytes) / max(now - lastTime, 1e-3)
            lastBytes = bytes
            lastTime = now
            if rate < best * 1.10 { return }
            best = rate
            let added: Bool = lock.withLock {
                guard streamCount < configuration.maxStreams else { return false }
                let more = min(configuration.maxStreams - streamCount, max(2, streamCount / 4))
                for _ in 0..<more {
                    let index = streamCount
                    streamCount += 1
                    liveStreams += 1
                    addedThreads.append(OSThread { [unowned self] in self.streamLoop(index, nil) })
                }
                return true
            }
            if !added { return }
            pauseUnlessFinished(1)
        }
    }

    /// Sleeps `seconds`, waking early when the transfer ends or fails.
    private func pauseUnlessFinished(_ seconds: Double) {
        let deadline = MonotonicClock.now() + seconds
        lock.withLock {
            while failure == nil && finStatus == nil && MonotonicClock.now() < deadline { lock.waitForTimer(seconds: deadline - MonotonicClock.now()) }
        }
    }

    /// `--max-rate` over the live connections, re-set every 20 ms: while chunks remain to be
    /// taken each connection is paced at the rate ÷ their number; at the end, only those with
    /// bytes left (unsent in their socket, or a chunk being written) share the rate, and the
    /// others keep rate ÷ all. A fixed share of rate ÷ streams missed the rate both ways: the
    /// last chunks of a transfer sit in a few sockets, each held to its share (8 streams moved
    /// 20 MB at half of `--max-rate 40mbit`), and `--streams auto` added connections, each with
    /// a share of the starting count (6 streams exceeded the same rate by 37 %).
    private func pace(_ rate: UInt64) {
        var applied: [Int: (socket: StreamSocket, rate: UInt64)] = [:]
        while true {
            let finished: Bool = lock.withLock {
                if failure == nil && finStatus == nil { lock.waitForTimer(seconds: 0.02) }
                if failure != nil || finStatus != nil { return true }
                // Under the lock: a connection closes its socket only after leaving `sockets`.
                // Until every chunk has been taken, every connection will have bytes again at once
                // (work stealing keeps them busy): an equal share each. Then only those with
                // bytes left share the rate.
                let tail = inputDone && queueHead >= queue.count && retransmit.isEmpty
                var waiting: [Int: Bool] = [:]
                for (index, socket) in sockets { waiting[index] = !tail || carrying.contains(index) || (socket.unsentBytes() ?? 0) > 0 }
                let busy = UInt64(max(1, waiting.values.filter { $0 }.count))
                let idle = UInt64(max(1, streamCount, sockets.count))
                var next: [Int: (socket: StreamSocket, rate: UInt64)] = [:]
                for (index, socket) in sockets {
                    let share = max(1, rate / (waiting[index]! ? busy : idle))
                    if applied[index]?.socket !== socket || applied[index]?.rate != share { socket.setMaxPacingRate(share) }
                    next[index] = (socket, share)
                }
                applied = next
                return false
            }
            if finished { return }
        }
    }

    /// Fails the transfer when the receiver has acknowledged nothing for longer than the resume
    /// timeout (plus a grace period) while data is outstanding: no progress is possible.
    private func watchdog() {
        while true {
            let stalled: Bool = lock.withLock {
                // Wakes early when the transfer ends, so joining this thread costs nothing.
                if failure == nil && finStatus == nil { lock.waitForTimer(seconds: 0.2) }
                if failure != nil || finStatus != nil { return false }
                let waiting = unackedBytes > 0 || (inputDone && endSent)
                return waiting && MonotonicClock.now() - lastAck > configuration.resumeTimeout + 10
            }
            if stalled {
                fail(DWCPError(.network, "\(configuration.endpoint): no acknowledgement for \(Int(configuration.resumeTimeout + 10)) s; giving up"))
            }
            if lock.withLock({ failure != nil || finStatus != nil }) { return }
        }
    }

    /// One connection's life: send chunks; on failure reconnect (bounded by the resume timeout).
    private func streamLoop(_ index: Int, _ initial: StreamSocket?) {
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
        var backoff = 0.1
        var inFlight: [UInt64] = []
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
                    guard let redialled = try? connect(stream: index, timeout: Wire.cancelDeliverySeconds) else { return }
                    socket = redialled
                } else {
                    if lock.withLock({ failure != nil || finStatus != nil || (inputDone && ackedThrough == stats.chunks && endSent) }) { return }
                    do {
                        socket = try connect(stream: index)
                        if failedSince != nil { lock.withLock { stats.reconnects += 1 } }
                        failedSince = nil
                        backoff = 0.1
                    } catch let e as DWCPError where e.status == .usage || e == Wire.receiverRestarted {
                        // Retrying cannot help: a usage error stays one, and a new receiver process
                        // will never have the chunks this transfer forgot.
                        fail(e)
                        return
                    } catch {
                        let now = MonotonicClock.now()
                        if failedSince == nil { failedSince = now }
                        if now - failedSince! > configuration.resumeTimeout {
                            fail(DWCPError(.network, "\(configuration.endpoint): gave up reconnecting after \(Int(configuration.resumeTimeout)) s: \(error)"))
                            return
                        }
                        usleep(UInt32(backoff * 1e6))
                        backoff = min(2, backoff * 2)
                        continue
                    }
                }
            }
            let s = socket!
            let ackThread = OSThread { [unowned self] in self.ackLoop(s) }
            let ok = sendLoop(index, s, &inFlight)
            s.shutdownBoth()
            ackThread.join()
            lock.withLock { retire(s) }
            s.close()
            socket = nil
            if ok { return }
            // Connection lost: its unacknowledged chunks go back first.
            lock.withLock {
                let lost = inFlight.filter { $0 >= ackedThrough && retained[$0] != nil }
                retransmit.append(contentsOf: lost)
                stats.resentChunks += lost.count
                if endSent && finStatus == nil && endOwner == index { endSent = false }
                lock.broadcast()
            }
            inFlight = []
            if failedSince == nil { failedSince = MonotonicClock.now() }
        }
    }

    /// Sends until the transfer is complete (true) or the connection fails (false).
    private func sendLoop(_ index: Int, _ socket: StreamSocket, _ inFlight: inout [UInt64]) -> Bool {
        var header = [UInt8](repeating: 0, count: Wire.messageHeaderLength)
        // `send(file:)`: this connection reads the file chunks it sends first, to checksum them.
        let own = file.map { _ in RawBuffer(capacity: configuration.chunkSize) }
        // Whether the message being sent has begun to leave: after a failure of the input
        // mid-message the connection can carry nothing more.
        var begun = false
        while true {
            enum Next { case chunk(UInt64, Chunk), end([UInt8]), cancel(Error), done, lost }
            let next: Next = lock.withLock {
                while true {
                    if failure != nil || finStatus != nil { return .done }
                    if let cancelling { return .cancel(cancelling) }
                    // The ack reader saw this connection die. Leave now even with nothing to
                    // send: its unacknowledged chunks are requeued only once this loop returns,
                    // and with a full window nothing else would ever wake it (a stall that hit
                    // migrations after connection drops).
                    if sockets[index] !== socket { return .lost }
                    if let s = retransmit.popLast() {
                        if s >= ackedThrough, let c = retained[s] {
                            sending.insert(s)
                            carrying.insert(index)
                            return .chunk(s, c)
                        }
                        continue
                    }
                    if queueHead < queue.count {
                        let s = queue[queueHead]
                        queueHead += 1
                        // The reader waits while the read-ahead is full; it is woken once half
                        // of it drained, and refills it in one go (a wake-up per chunk cost more
                        // than the reading at gigabytes per second).
                        if queue.count - queueHead == readAhead / 2 { lock.broadcast() }
                        if queueHead > 4096 { queue.removeFirst(queueHead); queueHead = 0 }
                        if let c = retained[s] {
                            sending.insert(s)
                            carrying.insert(index)
                            return .chunk(s, c)
                        }
                        continue
                    }
                    if inputDone && !endSent && ackedThrough == stats.chunks {
                        endSent = true
                        endOwner = index
                        return .end(endPayload())
                    }
                    if inputDone && endSent && endOwner != index && ackedThrough == stats.chunks { return .done }
                    lock.wait()
                }
            }
            do {
                switch next {
                case .done:
                    return lock.withLock { finStatus != nil || failure != nil || (endSent && endOwner != index) }
                case .lost:
                    return false
                case .cancel(let error):
                    try socket.sendAll(Wire.cancelMessage(reason: "\(error)"))
                    // The receiver answers `fin` "cancelled" (the ack reader records it). A
                    // connection it dropped first never carried the cancel (a chunk ahead of it
                    // failed its checksum: the file changed under `sendfile`), and is dialled
                    // again, with nothing ahead of the cancel this time.
                    let delivered: Bool = lock.withLock {
                        let deadline = MonotonicClock.now() + Wire.cancelDeliverySeconds
                        while !cancelDelivered && sockets[index] === socket && failure == nil && MonotonicClock.now() < deadline {
                            lock.wait(seconds: deadline - MonotonicClock.now())
                        }
                        return cancelDelivered
                    }
                    if delivered { fail(error) }
                    return delivered
                case .chunk(let seq, let chunk):
                    defer { lock.withLock { _ = sending.remove(seq); _ = carrying.remove(index) } }
                    // In flight from the first byte: if the send fails half-way it must be resent.
                    inFlight.append(seq)
                    begun = false
                    try sendChunk(seq, chunk, on: socket, header: &header, own: own, begun: &begun)
                    if inFlight.count > 1024 {
                        let acked = lock.withLock { ackedThrough }
                        inFlight.removeAll { $0 < acked }
                    }
                case .end(let payload):
                    MessageHeader(kind: .end, length: UInt32(payload.count), sequence: 0, offset: 0,
                                  checksum: Checksum.xxh3(payload)).store(to: &header)
                    try socket.sendAll(header)
                    try socket.sendAll(payload)
                    // Wait for the verdict (the ack loop records it) or a failure of this socket.
                    let verdict: Bool = lock.withLock {
                        while finStatus == nil && failure == nil && sockets[index] === socket && endSent && endOwner == index { lock.wait() }
                        return finStatus != nil
                    }
                    if verdict { return true }
                    if lock.withLock({ failure != nil }) { return true }
                    return false
                }
            } catch let e as DWCPError where e.status != .network {
                // Not the connection: the input (a file that changed or shrank while being sent).
                // Usually found before the chunk's header went out (it is read first), and then
                // this connection, between two messages, can still carry the `cancel`.
                _ = lock.withLock { startCancelling(e) }
                if begun { return false }
                continue
            } catch {
                return false
            }
        }
    }

    /// Writes chunk `seq`, header then bytes, to `socket`. A chunk in memory goes from its buffer.
    /// A file chunk's first send reads it into `own` for its checksum, recorded before any byte
    /// leaves (so a resend after this connection fails can check its re-read), then `sendfile`s
    /// it; a resend reads it again and checks it against that checksum.
    private func sendChunk(_ seq: UInt64, _ chunk: Chunk, on socket: StreamSocket, header: inout [UInt8], own: RawBuffer?, begun: inout Bool) throws {
        func sendHeader(_ checksum: UInt64, more: Bool = false) throws {
            begun = true
            MessageHeader(kind: .data, length: UInt32(chunk.length), sequence: seq, offset: chunk.offset,
                          checksum: checksum).store(to: &header)
            try socket.sendAll(header, more: more)
        }
        if let buffer = chunk.buffer {
            try sendHeader(chunk.checksum!)
            try socket.sendAll(buffer.unsafeBase, buffer.count)
        } else if let checksum = chunk.checksum {
            let copy = try reread(chunk)
            defer { pool.recycle(copy) }
            try sendHeader(checksum)
            try socket.sendAll(copy.unsafeBase, copy.count)
        } else {
            let own = own!
            let checksum = try readAndChecksum(chunk, into: own)
            lock.withLock {
                retained[seq]?.checksum = checksum
                recordChecksum(seq, checksum)
            }
            if socket.canSendFile {
                try sendHeader(checksum, more: true)
                try socket.sendFile(file!.rawValue, offset: fileStart + chunk.offset, count: chunk.length)
            } else {
                try sendHeader(checksum)
                try socket.sendAll(own.unsafeBase, chunk.length)
            }
        }
    }

    /// The `end` message's payload: length, chunk count, digest. Lock held, and only once every
    /// chunk was acknowledged, so every checksum is in the digest.
    private func endPayload() -> [UInt8] {
        precondition(digested == stats.chunks)
        let d = digest.finalize()
        var end = [UInt8](repeating: 0, count: 32)
        end.withUnsafeMutableBytes { raw in
            LittleEndian.store(stats.bytes, raw.baseAddress!, 0)
            LittleEndian.store(stats.chunks, raw.baseAddress!, 8)
            LittleEndian.store(d.high, raw.baseAddress!, 16)
            LittleEndian.store(d.low, raw.baseAddress!, 24)
        }
        return end
    }

    /// Reads a file chunk again to resend it, and checks that it still has the checksum it was
    /// first sent with.
    private func reread(_ chunk: Chunk) throws -> RawBuffer {
        let copy = pool.take()
        do {
            guard try readAndChecksum(chunk, into: copy) == chunk.checksum else {
                throw DWCPError.failure("\(file!.name): bytes \(chunk.offset)..<\(chunk.offset + UInt64(chunk.length)) changed while being sent")
            }
        } catch {
            pool.recycle(copy)
            throw error
        }
        return copy
    }

    /// Reads a file chunk into `buffer` and returns its checksum; throws `.failure` if the file
    /// now ends before the chunk does (it was truncated while being sent).
    private func readAndChecksum(_ chunk: Chunk, into buffer: RawBuffer) throws -> UInt64 {
        let file = file!
        buffer.count = try file.readFully(into: buffer.unsafeBase, count: chunk.length, at: fileStart + chunk.offset)
        guard buffer.count == chunk.length else {
            throw DWCPError.failure("\(file.name): ends at byte \(fileStart + chunk.offset + UInt64(buffer.count)), short of the size it had when the transfer started: it shrank while being sent")
        }
        return Checksum.xxh3(buffer.unsafeBase, buffer.count)
    }

    /// Reads acks and the final verdict from one connection.
    private func ackLoop(_ socket: StreamSocket) {
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
    private func retire(_ socket: StreamSocket) {
        guard let i = sockets.first(where: { $0.value === socket })?.key else { return }
        retiredDelivered += socket.bytesAcked() ?? 0
        sockets[i] = nil
    }

    private func recordTCP(_ socket: StreamSocket, _ info: (rttMicroseconds: UInt32, retransmits: UInt32)) {
        guard let i = sockets.first(where: { $0.value === socket })?.key else { return }
        stats.tcp.removeAll { $0.stream == i }
        stats.tcp.append((i, info.rttMicroseconds, info.retransmits))
    }

    private func fail(_ error: Error) {
        lock.withLock {
            if failure == nil { failure = error }
            lock.broadcast()
            lock.wakeTimers()
        }
        abortSockets()
    }
}
