import DWCPCodec
import DWCPCore
import DWCPSystem
import DWCPTransport

/// Destination half of every migration: one transfer from the transport, through the decoder,
/// into a descriptor (QEMU's incoming socket, a temporary image), in-process.
///
/// The sender hears success only after `accept` returns: the caller commits there (renames the
/// new image into place, or waits for the VM to run), so "sent" always means "applied".
public final class ReceivePipeline {
    public let receiver: ReceiverConfiguration
    public var baselinePath: String?
    /// `StreamDecoder.baselineIdentity`.
    public var baselineIdentity: BaselineIdentity?
    /// `StreamDecoder.baselineLength`.
    public var baselineLength: UInt64?
    /// `StreamDecoder.resolveBaseline`.
    public var resolveBaseline: ((BaselineIdentity) throws -> (identity: BaselineIdentity?, length: UInt64?))?
    /// `StreamDecoder.trustedBaselineDigests`.
    public var trustedBaselineDigests: (identity: BaselineIdentity, digests: PageDigests)?
    /// `StreamDecoder.collectPageDigests`.
    public var collectPageDigests = false
    public var threads = OSThread.processorCount
    /// Files this end holds that a source may have compressed its zstd stream against
    /// (`SendPipeline.reference`). A stream that names other files, or names files when this
    /// is nil, is refused before a byte of it is decoded.
    public var reference: ReferenceFiles?
    /// The transport's and the decoder's buffers: `ImageDestination` gives every round the same,
    /// so a round reuses the buffers the rounds before it faulted in.
    public var buffers = BufferPools()
    /// Info-frame JSON seen in the stream.
    public private(set) var info: [String] = []
    /// Called with each info frame's JSON as the decoder reads it, on its thread, before any
    /// data after that frame reaches the output (a round's label, which opens the stream, can
    /// shape how its data is taken). Not verified yet: the stream's end decides.
    public var onInfo: ((String) -> Void)?
    /// What the decoder produced, once the stream is verified (set before `accept` runs; nil for
    /// a raw transfer).
    public private(set) var decoded: DecodeStats?

    public init(receiver: ReceiverConfiguration) {
        self.receiver = receiver
    }

    /// What one received transfer took: the decoder's figures and the transport's.
    public struct Result {
        public var decode: DecodeStats
        public var transfer: TransferStats
    }

    /// Receives one transfer on `listener` and decodes it into `output`. `accept` runs after the
    /// stream is verified and fully decoded; throwing from it rejects the transfer.
    ///
    /// The transfer's first bytes decide the path (`TransportReceiver.redirect`): a raw stream
    /// (`SendPipeline.rawMarker` first) is written by the transport straight into `output`; a
    /// DWCP or zstd stream goes through a pipe to the decoder's thread (a zstd stream compressed
    /// against reference files, `ReferenceFiles.marker` first, once they are found to be
    /// `reference`). (Through a pipe and a splice thread, a raw VM stream took 50 ms longer on
    /// loopback: 5 interleaved pairs.)
    public func run(listener: StreamListener, output: FileDescriptor, accept: @escaping (ReceivePipeline) throws -> Void) throws -> Result {
        try run(listener: listener, into: .descriptor(output), accept: accept)
    }

    /// As `run(listener:output:accept:)`, with the decoded bytes going to `output`: a descriptor,
    /// or a sink that sees them frame by frame (an image round applied in place). A sink takes
    /// only DWCP frame streams; a raw transfer is refused.
    public func run(listener: StreamListener, into output: DecodedOutput, accept: @escaping (ReceivePipeline) throws -> Void) throws -> Result {
        let pipe = try UnixSocket.pipe(name: "decoder pipe")
        let decoder = StreamDecoder()
        decoder.threads = threads
        decoder.buffers = buffers
        decoder.baselinePath = baselinePath
        decoder.baselineIdentity = baselineIdentity
        decoder.baselineLength = baselineLength
        decoder.resolveBaseline = resolveBaseline
        decoder.trustedBaselineDigests = trustedBaselineDigests
        decoder.collectPageDigests = collectPageDigests
        var collected: [String] = []
        decoder.onInfo = { [onInfo] in
            collected.append($0)
            onInfo?($0)
        }
        var decoded = DecodeStats()
        var decodeError: Error?
        var raw = false
        // The decoder's thread, started once the stream shows it is not raw (or at its end, so
        // an empty stream meets the decoder's verdict too). Started and joined on the
        // transport's writer thread, and joined again here once the transport returns.
        var thread: OSThread?
        let transport = TransportReceiver(configuration: receiver)
        func startDecoder() {
            guard thread == nil else { return }
            thread = OSThread {
                do { decoded = try decoder.decode(pipe.read, prefix: [], into: output) } catch {
                    decodeError = error
                    // Its output failed (a full disk) or the stream did not decode: that is why
                    // the transfer fails, before the transport's writer finds the pipe closed.
                    transport.abort(because: error)
                }
                // Unblocks the transport's writer if decoding stopped early.
                pipe.read.close()
            }
        }
        let lock = ConditionLock()
        var writeClosed = false
        func closeWrite() {
            lock.withLock {
                if !writeClosed { pipe.write.close(); writeClosed = true }
            }
        }
        transport.buffers = buffers
        let reference = self.reference
        transport.redirect = { first in
            if first.starts(with: SendPipeline.rawMarker) {
                guard case .descriptor(let fd) = output else {
                    throw DWCPError.integrity("a raw transfer where a DWCP frame stream was expected")
                }
                raw = true
                return (fd, SendPipeline.rawMarker.count)
            }
            if let named = try ReferenceFiles.parseHeader(first) {
                try ReferenceFiles.check(length: named.length, digest: named.digest, against: reference)
                decoder.zstdReference = reference
                startDecoder()
                return (pipe.write, ReferenceFiles.headerBytes)
            }
            startDecoder()
            return (pipe.write, 0)
        }
        transport.acceptance = { [unowned self] in
            // Every byte is written: let the decoder see the end and finish.
            Timeline.mark("transfer verified")
            if !raw { startDecoder() }
            closeWrite()
            thread?.join()
            if let decodeError { throw decodeError }
            self.info = collected
            if !raw { self.decoded = decoded }
            try accept(self)
        }
        defer {
            closeWrite()
            thread?.join()
        }
        // On failure the transport's error is the cause (the decoder then only saw its input
        // end), so it is the one thrown; a decoder that failed first made it the transport's.
        let stats = try transport.receive(on: listener, to: pipe.write)
        if raw {
            decoded.format = "raw"
            decoded.bytesIn = stats.bytes
            decoded.bytesOut = stats.bytes - UInt64(SendPipeline.rawMarker.count)
        }
        return Result(decode: decoded, transfer: stats)
    }
}
