import DWCPCodec
import DWCPCore
import DWCPSystem
import DWCPTransport

/// Source half of every migration: bytes from a descriptor (QEMU's migration socket, an image
/// file) through the DWCP encoder and onto the multi-stream transport, in-process.
///
/// The encoder and the sender run on their own threads joined by a pipe, so compression and
/// the network overlap. Before the sender declares the end of the stream it asks `endGate`,
/// which lets the caller refuse to finish (QEMU's migration failed or was cancelled: a
/// truncated VM stream must never look complete to the destination).
public final class SendPipeline {
    public let encoder: EncoderConfiguration
    public let sender: SenderConfiguration
    /// Called with the sender's progress (bytes on the wire so far).
    public var onWire: ((TransferStats) -> Void)?

    public init(encoder: EncoderConfiguration, sender: SenderConfiguration) {
        self.encoder = encoder
        self.sender = sender
    }

    public struct Result {
        public var encode: EncodeStats
        public var transfer: TransferStats
    }

    /// Encodes `input` to the end and sends it; returns after the receiver's verdict.
    public func run(input: FileDescriptor, endGate: (() throws -> Void)? = nil) throws -> Result {
        let pipe = try UnixSocket.pipe(name: "encoder pipe")
        let streamEncoder = StreamEncoder(configuration: encoder)
        var encodeResult: Result? = nil
        var encodeError: Error?
        var encoded = EncodeStats()
        let thread = OSThread {
            do { encoded = try streamEncoder.encode(InputChain([input]), to: pipe.write) } catch { encodeError = error }
            pipe.write.close()
        }
        let transport = TransportSender(configuration: sender)
        transport.progress = onWire
        var joined = false
        defer {
            if !joined { pipe.read.close(); thread.join() } else { pipe.read.close() }
        }
        let stats = try transport.send { p, n in
            let got = try pipe.read.readFully(into: p, count: n)
            if got < n && !joined {
                thread.join()
                joined = true
                if let encodeError { throw encodeError }
                try endGate?()
            }
            return got
        }
        if !joined { thread.join(); joined = true }
        if let encodeError { throw encodeError }
        encodeResult = Result(encode: encoded, transfer: stats)
        return encodeResult!
    }
}
