import DWCPSystem
@testable import DWCPTransport
import Foundation

/// One `TransportReceiver.receive` run on its own thread, so a test can drive the sending side
/// (a real `TransportSender`, or hand-made messages) and then collect what the receiver made of it.
final class ReceiverOnAThread: @unchecked Sendable {
    let listener: StreamListener
    var port: UInt16 { listener.port }
    private let done = DispatchSemaphore(value: 0)
    // Written by the thread before `done` is signalled, read after the wait.
    private var outcome: Result<TransferStats, Error>?
    private var ended = 0.0

    /// Starts receiving one transfer on `listener` (a new one on a free loopback port if nil)
    /// into `output`.
    init(listener: StreamListener? = nil, to output: FileDescriptor, configuration: ReceiverConfiguration = ReceiverConfiguration()) throws {
        self.listener = try listener ?? StreamListener(Endpoint(host: "127.0.0.1", port: 0))
        let receiver = TransportReceiver(configuration: configuration)
        let on = self.listener
        Thread { [self] in
            outcome = Result { try receiver.receive(on: on, to: output) }
            ended = MonotonicClock.now()
            done.signal()
        }.start()
    }

    /// Waits for the transfer's end; its result, and when it ended (`MonotonicClock`).
    func wait() -> (result: Result<TransferStats, Error>, endedAt: Double) {
        wait(timeout: .infinity)!
    }

    /// The same, or nil if the transfer has not ended within `timeout` seconds.
    func wait(timeout: Double) -> (result: Result<TransferStats, Error>, endedAt: Double)? {
        guard done.wait(timeout: timeout.isFinite ? .now() + timeout : .distantFuture) == .success else { return nil }
        done.signal()  // a second wait returns at once
        return (outcome!, ended)
    }
}

extension ReceiverOnAThread {
    /// A sender to this receiver with `streams` connections, `chunkSize` chunks and `window`.
    func sender(streams: Int, chunkSize: Int, window: UInt64) -> TransportSender {
        var config = SenderConfiguration(endpoint: Endpoint(host: "127.0.0.1", port: port))
        config.streams = streams
        config.chunkSize = chunkSize
        config.window = window
        return TransportSender(configuration: config)
    }

    /// Receives one transfer on `listener` into a temporary file, on a thread; returns a wait for
    /// its result and the file's bytes (the file is removed then).
    static func intoTemporaryFile(on listener: StreamListener, configuration: ReceiverConfiguration) throws
        -> () -> (Result<TransferStats, Error>, Data?) {
        let path = NSTemporaryDirectory() + "received-\(UUID().uuidString)"
        let output = try FileDescriptor.create(path, overwrite: true)
        let receiver = try ReceiverOnAThread(listener: listener, to: output, configuration: configuration)
        return {
            let result = receiver.wait().result
            output.close()
            defer { unlink(path) }
            return (result, FileManager.default.contents(atPath: path))
        }
    }
}
