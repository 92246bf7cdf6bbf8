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
    public var threads = OSThread.processorCount
    /// Info-frame JSON seen in the stream.
    public private(set) var info: [String] = []

    public init(receiver: ReceiverConfiguration) {
        self.receiver = receiver
    }

    public struct Result {
        public var decode: DecodeStats
        public var transfer: TransferStats
    }

    /// Receives one transfer on `listener` and decodes it into `output`. `accept` runs after the
    /// stream is verified and fully decoded; throwing from it rejects the transfer.
    public func run(listener: StreamListener, output: FileDescriptor, accept: @escaping (ReceivePipeline) throws -> Void) throws -> Result {
        let pipe = try UnixSocket.pipe(name: "decoder pipe")
        let decoder = StreamDecoder()
        decoder.threads = threads
        decoder.baselinePath = baselinePath
        var collected: [String] = []
        decoder.onInfo = { collected.append($0) }
        var decoded = DecodeStats()
        var decodeError: Error?
        let thread = OSThread {
            do { decoded = try Self.decodeOrCopy(pipe.read, decoder: decoder, to: output) } catch { decodeError = error }
            // Unblocks the transport's writer if decoding stopped early.
            pipe.read.close()
        }
        let lock = ConditionLock()
        var writeClosed = false
        func closeWrite() {
            lock.withLock {
                if !writeClosed { pipe.write.close(); writeClosed = true }
            }
        }
        let transport = TransportReceiver(configuration: receiver)
        transport.acceptance = { [unowned self] in
            // Every byte is in the pipe: let the decoder see the end and finish.
            Timeline.mark("transfer verified")
            closeWrite()
            thread.join()
            if let decodeError { throw decodeError }
            self.info = collected
            try accept(self)
        }
        defer {
            closeWrite()
            thread.join()
        }
        // On failure the transport's error is the cause (the decoder then only saw its input
        // end), so it is the one thrown.
        let stats = try transport.receive(on: listener, to: pipe.write)
        return Result(decode: decoded, transfer: stats)
    }

    /// A raw transfer (`SendPipeline.rawMarker` first) is copied through; anything else is a
    /// DWCP stream for the decoder.
    static func decodeOrCopy(_ input: FileDescriptor, decoder: StreamDecoder, to output: FileDescriptor) throws -> DecodeStats {
        var head = [UInt8](repeating: 0, count: 8)
        let n = try head.withUnsafeMutableBytes { try input.readFully(into: $0.baseAddress!, count: 8) }
        guard n == 8 && head == SendPipeline.rawMarker else {
            return try decoder.decode(input, prefix: Array(head[..<n]), to: output)
        }
        var stats = DecodeStats()
        stats.format = "raw"
        // The pipe's pages go straight to the output (QEMU's socket): two copies fewer.
        stats.bytesOut = try input.spliceAll(to: output)
        stats.bytesIn = stats.bytesOut + 8
        return stats
    }
}
