import Glibc
import DWCPCore
import DWCPSystem
import DWCPTransport

/// Destination side of `dwcp-migrate file`: applies pre-copy rounds to an image atomically.
///
/// Each round is decoded (against the current image as its baseline) into a temporary file next
/// to it, fsynced, and renamed over the image before the source hears that the round arrived.
/// A crash at any point leaves either the previous round's image or the new one, never a mix.
/// An `abort` stream from the source deletes the image: a half-migrated copy must not be
/// mistaken for a usable one.
public final class ImageDestination {
    public let path: String
    public let receiver: ReceiverConfiguration
    public var threads = OSThread.processorCount
    public var onRound: ((RoundLabel, ReceivePipeline.Result) -> Void)?

    public struct Outcome {
        public var rounds = 0
        public var bytesReceived: UInt64 = 0
        public var imageBytes: UInt64 = 0
        public var aborted = false
    }

    public init(path: String, receiver: ReceiverConfiguration) {
        self.path = path
        self.receiver = receiver
    }

    public func run(listener: StreamListener) throws -> Outcome {
        var outcome = Outcome()
        let partial = path + ".dwcp-partial"
        var expected = 0
        while true {
            let output = try FileDescriptor.create(partial, overwrite: true, mode: 0o600)
            SignalCleanup.removeOnInterrupt(partial)
            let pipeline = ReceivePipeline(receiver: receiver)
            pipeline.threads = threads
            pipeline.baselinePath = expected > 0 ? path : nil
            var label: RoundLabel? = nil
            let result: ReceivePipeline.Result
            do {
                defer { output.close() }
                result = try pipeline.run(listener: listener, output: output) { [path] p in
                    guard let l = RoundLabel.parse(p.info) else {
                        throw DWCPError.integrity("stream is not a dwcp-migrate round (no round label)")
                    }
                    guard l.round == expected || (l.kind == .abort && l.round >= expected) else {
                        throw DWCPError.integrity("got round \(l.round), expected round \(expected)")
                    }
                    label = l
                    if l.kind == .abort { return }
                    // The commit point: durable new image, then the atomic switch.
                    try output.sync()
                    try renameDurably(partial, path)
                }
            } catch {
                unlink(partial)
                SignalCleanup.removeOnInterrupt(nil)
                throw error
            }
            SignalCleanup.removeOnInterrupt(nil)
            let l = label!
            outcome.bytesReceived += result.transfer.bytes
            onRound?(l, result)
            if l.kind == .abort {
                unlink(partial)
                if expected > 0 { unlink(path) }
                outcome.aborted = true
                return outcome
            }
            outcome.rounds += 1
            outcome.imageBytes = result.decode.bytesOut
            if l.kind == .final { return outcome }
            expected += 1
        }
    }
}
