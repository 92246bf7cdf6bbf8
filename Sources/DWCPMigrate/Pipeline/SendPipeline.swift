import DWCPCodec
import DWCPCore
import DWCPSystem
import DWCPTransport
import Synchronization

/// Source half of every migration: bytes from a descriptor (QEMU's migration socket, an image
/// file) through the DWCP encoder and onto the multi-stream transport, in-process.
///
/// The encoder and the sender run on their own threads joined by a `ByteQueue`, so compression and
/// the network overlap. Before the sender declares the end of the stream it asks `endGate`,
/// which lets the caller refuse to finish (QEMU's migration failed or was cancelled: a
/// truncated VM stream must never look complete to the destination).
public final class SendPipeline {
    /// What travels over the transport.
    public enum StreamFormat: Equatable, Sendable {
        /// The DWCP frame stream (page-aware, baseline deltas): image rounds.
        case frames
        /// The input unchanged after `rawMarker`: links faster than compression.
        case raw
        /// One zstd stream compressed by `threads` threads: VM streams. With `windowLog`, with
        /// long-distance matching over 2^windowLog bytes, since a VM's re-sent pages match
        /// their earlier versions far back in the stream; nil where the CPU, not the link, is
        /// short (`MigrationPlan.vmStreamFormat`).
        case zstd(level: Int, windowLog: Int?, threads: Int)
    }

    /// Bytes into and out of the encoder so far, readable while the pipeline runs: the
    /// switchover rule takes the stream's current compression ratio and the pipeline's backlog
    /// from them. A raw stream has no encoder (and no use for the rule) and leaves them at 0.
    public final class Counters: @unchecked Sendable {
        private let lock = ConditionLock()
        private var consumed: UInt64 = 0
        private var produced: UInt64 = 0

        func update(_ stats: EncodeStats) { lock.withLock { consumed = stats.bytesIn; produced = stats.bytesOut } }

        /// Stream bytes the encoder has taken in, and encoded bytes it has put out.
        public var snapshot: (input: UInt64, output: UInt64) { lock.withLock { (consumed, produced) } }
    }

    public let encoder: EncoderConfiguration
    public let counters = Counters()
    public var format = StreamFormat.frames
    public let sender: SenderConfiguration
    /// Called with the sender's progress (bytes on the wire so far).
    public var onWire: ((TransferStats) -> Void)?
    /// Sees every input byte, in order, as it is read (`InputChain.tap`).
    public var inputTap: ((UnsafeRawPointer, Int) throws -> Void)?
    /// Files the destination holds too: a zstd stream is compressed against them (and starts
    /// with their `ReferenceFiles.header`). Other formats do not use them.
    public var reference: ReferenceFiles?

    /// Encoded bytes waiting for the sender. Its limit starts at `encodedQueueBytes(window:)`;
    /// a caller may raise it (up to the `encodedBacklog` it was made with) while the source is
    /// far from its switchover, and must lower it again before: everything queued here drains
    /// inside the downtime.
    public let encodedQueue: ByteQueue
    private let sourceStopped = Atomic<Bool>(false)

    /// Called once the source VM has stopped: a VM stream's encoder then flushes whenever
    /// QEMU's stream runs dry, so the switchover's last bytes need not wait for a full read or
    /// for QEMU to close the stream (43 ms after its last write, on the test guest).
    public func flushWhenIdle() { sourceStopped.store(true, ordering: .releasing) }

    /// Guards `running` and `nextSettings`, which `replan` sets while the pipeline runs.
    private let replanLock = ConditionLock()
    private var running: TransportSender?
    private var nextSettings: ZstdStream.Settings?

    /// The transport while `run` sends through it (nil before).
    public var transport: TransportSender? { replanLock.withLock { running } }

    /// Applies a plan made while the pipeline runs (a migration that measured its link's rate on
    /// its own first round trips): the rest of a zstd stream goes into a new frame compressed as
    /// `format` says, if that differs from the frame under way (other formats cannot change
    /// mid-stream and keep theirs; DWCP frames with an adaptive codec choose their next codecs
    /// for `linkBitsPerSecond`), and the transport sets its window to `window` (within the
    /// handshake's) and opens connections up to `streams`.
    public func replan(format: StreamFormat, window: UInt64, streams: Int, linkBitsPerSecond: Double? = nil) {
        replanLock.withLock {
            if case .zstd(let level, let windowLog, let threads) = format {
                nextSettings = ZstdStream.Settings(level: level, threads: threads, longWindowLog: windowLog)
            }
            if let linkBitsPerSecond { encoder.planner.setLink(bitsPerSecond: linkBitsPerSecond) }
            running?.adjust(window: window, streams: streams)
        }
    }

    /// Job size of a multithreaded zstd stream: small, so little waits inside the compressor.
    private static let zstdJobSize = 1 << 20

    /// The most encoded bytes the queue to the sender may be given to hold.
    public static let maxEncodedBacklog = 16 << 20

    /// `encodedBacklog`: the most the caller will let the encoded queue hold (clamped to
    /// `encodedQueueBytes(window:)`…`maxEncodedBacklog`). The queue is a ring of that size, so
    /// a pipeline that never raises its limit keeps a small one, which stays in cache.
    public init(encoder: EncoderConfiguration, sender: SenderConfiguration, encodedBacklog: Int = 0) {
        self.encoder = encoder
        self.sender = sender
        let base = Self.encodedQueueBytes(window: sender.window)
        encodedQueue = ByteQueue(name: "encoder queue", capacity: min(max(base, encodedBacklog), max(base, Self.maxEncodedBacklog)),
                                 limit: base)
    }

    /// What one sent transfer took: the encoder's figures and the transport's.
    public struct Result {
        public var encode: EncodeStats
        public var transfer: TransferStats
        /// `MonotonicClock` time the transfer's first connection had opened.
        public var connectedAt: Double?
    }

    /// Normal limit of the queue between the encoder and the sender for a transfer window of
    /// `window` bytes: an eighth of it, 64 KiB to 1 MiB. What sits in it at the switchover
    /// drains inside the downtime: a fixed megabyte was 84 ms of a 100 Mbit link, while on fast
    /// links a megabyte spares the two threads a wake-up every 64 KiB.
    public static func encodedQueueBytes(window: UInt64) -> Int {
        let eighth = Int(min(max(window / 8, 64 << 10), 1 << 20))
        return 1 << (Int.bitWidth - 1 - eighth.leadingZeroBitCount)
    }

    /// First bytes of a transfer that carries the input as is, not a DWCP stream: chosen when
    /// the link outruns compression (a datacenter link and a busy CPU), where encoding would only
    /// slow the copy down. The transport's chunk checksums and end-to-end digest still guard it.
    public static let rawMarker = Array("DWCPRAW1".utf8)

    /// Sends `input` as is (after `rawMarker`), or what `open` gives once connected; returns
    /// after the receiver's verdict.
    private func runRaw(input: FileDescriptor?, open: (() throws -> Start)?, endGate: (() throws -> Void)?,
                        connection: FirstConnection) throws -> Result {
        let transport = TransportSender(configuration: sender)
        transport.progress = onWire
        var input = input
        var markerSent = false
        var ended = false
        var bytesIn: UInt64 = 0
        var connected = false
        let stats = try transport.send { p, n in
            var done = 0
            if !connected {
                connected = true
                connection.opened()
            }
            if input == nil, let open {
                let start = try open()
                try start.checkEncoder(for: .raw)
                input = start.input
            }
            guard let input else { return 0 }
            if !markerSent {
                Self.rawMarker.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: 8) }
                markerSent = true
                done = 8
            }
            let got = try input.readFully(into: p + done, count: n - done)
            if got > 0 { try inputTap?(p + done, got) }
            bytesIn += UInt64(got)
            if done + got < n && !ended {
                ended = true
                try endGate?()
            }
            return done + got
        }
        var encode = EncodeStats()
        encode.bytesIn = bytesIn
        encode.bytesOut = bytesIn + 8
        encode.literalBytes = bytesIn
        return Result(encode: encode, transfer: stats, connectedAt: connection.at)
    }

    /// What `run(afterConnecting:)` sends, decided once the transfer's first connection is open.
    public struct Start {
        /// The bytes to send; the pipeline closes it when the run ends.
        public var input: FileDescriptor
        /// Frames labelled and encoded this way instead of as the pipeline's `encoder` says
        /// (a final round that turned into an abort). Only DWCP frames carry a label: a raw or
        /// zstd pipeline given one fails the transfer rather than send the stream unlabelled.
        public var encoder: EncoderConfiguration?

        public init(input: FileDescriptor, encoder: EncoderConfiguration? = nil) {
            self.input = input
            self.encoder = encoder
        }

        /// Throws when `encoder` is set for a format that has no frames to carry it.
        func checkEncoder(for format: StreamFormat) throws {
            guard encoder != nil, format != .frames else { return }
            throw DWCPError.failure("internal: a \(format) stream cannot carry another encoder's frames (an abort's label)")
        }
    }

    /// Encodes `input` to the end and sends it; returns after the receiver's verdict.
    public func run(input: FileDescriptor, endGate: (() throws -> Void)? = nil) throws -> Result {
        try run(input: input, open: nil, endGate: endGate)
    }

    /// Opens the transfer's first connection, then asks `open` what to send (on the encoder's
    /// thread), encodes it to the end and sends it; returns after the receiver's verdict.
    ///
    /// On a long path a connection's opening takes two or three round trips (TCP's, then the
    /// handshake's one, or two with a shared secret; docs/TRANSPORT.md): a
    /// final image round connects this way before it freezes the source, so the opening is not
    /// part of the downtime. An error `open` throws fails the transfer as an input error does
    /// (the receiver is told the stream was cancelled).
    public func run(afterConnecting open: @escaping () throws -> Start, endGate: (() throws -> Void)? = nil) throws -> Result {
        try run(input: nil, open: open, endGate: endGate)
    }

    private func run(input: FileDescriptor?, open: (() throws -> Start)?, endGate: (() throws -> Void)?) throws -> Result {
        let connection = FirstConnection()
        // What `open` gave, closed here whatever happens to the transfer.
        var opened: FileDescriptor?
        defer { opened?.close() }
        let open = open.map { open in { () throws -> Start in
            let start = try open()
            opened = start.input
            return start
        } }
        if format == .raw { return try runRaw(input: input, open: open, endGate: endGate, connection: connection) }
        let queue = encodedQueue
        var encodeError: Error?
        var encoded = EncodeStats()
        let format = self.format
        let counters = self.counters
        let inputTap = self.inputTap
        let reference = self.reference
        let thread = OSThread {
            do {
                var encoder = self.encoder
                var source = input
                if let open {
                    // Nothing is read before the connection is open, and nothing at all when
                    // the transfer failed first (whose error is the one `run` throws).
                    guard connection.waitUntilOpened() else {
                        throw DWCPError.failure("the transfer ended before its first connection opened")
                    }
                    let start = try open()
                    try start.checkEncoder(for: format)
                    source = start.input
                    if let e = start.encoder { encoder = e }
                }
                let chain = InputChain([source!])
                chain.tap = inputTap
                switch format {
                case .zstd(let level, let windowLog, let threads):
                    if let reference { try reference.header.withUnsafeBytes { try queue.writeAll($0.baseAddress!, count: $0.count) } }
                    encoded = try ZstdStream.compress(chain, to: queue, level: level, threads: threads,
                                                      longWindowLog: windowLog, jobSize: Self.zstdJobSize, startBeforeInput: true,
                                                      prefix: reference?.bytes,
                                                      flushWhenIdle: { self.sourceStopped.load(ordering: .acquiring) },
                                                      retune: { self.replanLock.withLock { defer { self.nextSettings = nil }; return self.nextSettings } },
                                                      progress: counters.update)
                default:
                    let streamEncoder = StreamEncoder(configuration: encoder)
                    streamEncoder.progress = counters.update
                    encoded = try streamEncoder.encode(chain, to: queue)
                }
            } catch { encodeError = error }
            queue.closeWriting()
        }
        let transport = TransportSender(configuration: sender)
        transport.progress = onWire
        replanLock.withLock { running = transport }
        // Closing the reading side first unblocks an encoder still writing when the send failed;
        // an encoder still waiting for the first connection gives up.
        defer {
            connection.abandon()
            queue.closeReading()
            thread.join()
        }
        var connected = false
        let stats = try transport.send { p, n in
            // The transport asks for its first bytes once its first connection is open (told
            // once: not a lock taken for every chunk).
            if !connected {
                connected = true
                connection.opened()
            }
            let got = queue.read(into: p, count: n)
            if got == 0 {
                // The end: the stream is complete only if the encoder and the gate say so.
                thread.join()
                if let encodeError { throw encodeError }
                try endGate?()
            }
            return got
        }
        thread.join()
        if let encodeError { throw encodeError }
        return Result(encode: encoded, transfer: stats, connectedAt: connection.at)
    }

    /// When the transfer's first connection opened (its handshake done), for the encoder of
    /// `run(afterConnecting:)` to wait on.
    final class FirstConnection: @unchecked Sendable {
        private let lock = ConditionLock()
        private var openedAt: Double?
        private var abandoned = false

        /// `MonotonicClock` time the first connection opened; nil if none did.
        var at: Double? { lock.withLock { openedAt } }

        func opened() {
            lock.withLock {
                guard openedAt == nil else { return }
                openedAt = MonotonicClock.now()
                lock.broadcast()
            }
        }

        func abandon() { lock.withLock { abandoned = true; lock.broadcast() } }

        /// True once the connection opened; false if the transfer ended without it.
        func waitUntilOpened() -> Bool {
            lock.withLock {
                while openedAt == nil && !abandoned { lock.wait() }
                return openedAt != nil
            }
        }
    }
}
