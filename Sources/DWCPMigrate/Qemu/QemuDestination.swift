import Glibc
import DWCPCLI
import DWCPCodec
import DWCPCore
import DWCPSystem
import DWCPTransport

/// Destination side of `dwcp-migrate receive --qmp`: feeds the decoded migration stream to a
/// QEMU started with `-incoming defer`, and confirms to the source only once that VM runs.
///
/// QEMU listens on a private unix socket (`migrate-incoming uri=unix:…`); the `ReceivePipeline`
/// decodes the transfer into it. The transfer's acceptance step waits for QEMU to report the VM
/// running: the source stops its copy for good only after that answer. If QEMU fails to load
/// the stream, the destination QEMU is told to quit (it holds no usable VM) and the source hears
/// "rejected", so it resumes its own VM.
public final class QemuDestination {
    public let qmpPath: String
    public let receiver: ReceiverConfiguration
    public var threads = OSThread.processorCount
    /// Pre-fault the guest's RAM in `prepare` (`RAMPrefault`).
    public var prefault = true
    /// Seconds to wait for the VM to start once the whole stream is in.
    public var startTimeout = 60.0
    /// Files a source may have compressed the VM's stream against (`dwcp-migrate qemu
    /// --reference`); it must name these very bytes.
    public var reference: ReferenceFiles?
    /// Send buffer of the socket into QEMU (`UnixSocket.setSendBuffer`): 4 MiB, about 10 ms of
    /// the stream at loopback speed, as TCP's own autotuned buffers give QEMU's `tcp:`.
    static let streamBuffer = 4 << 20

    /// What the destination's relay did, for `dwcp-migrate receive`'s final JSON line.
    public struct Outcome {
        public var bytesReceived: UInt64 = 0
        public var bytesDecoded: UInt64 = 0
        public var seconds = 0.0
        public var reconnects = 0
        /// Whether the source said it heard the confirmation (released a connection) within the
        /// idle timeout. If not, it left its VM paused (it never resumes a VM it sent whole).
        public var sourceHeardVerdict = true
    }

    public init(qmpPath: String, receiver: ReceiverConfiguration) {
        self.qmpPath = qmpPath
        self.receiver = receiver
    }

    /// The QMP connection and QEMU's incoming stream, once `prepare` ran.
    private var prepared: (qmp: QMPClient, connection: FileDescriptor)?

    /// What `prepare` pre-faulted (nil: nothing, or `prefault` was off).
    public private(set) var prefaulted: RAMPrefault.Result?

    /// Gets the destination QEMU ready for the stream: checks it waits for one, pre-faults its
    /// RAM (unless `prefault` is off) and starts its incoming migration on a private unix
    /// socket. `receive` runs this before it says it is listening, so the time it takes falls
    /// before a migration rather than in it; `run` calls it if nobody did.
    public func prepare() throws {
        guard prepared == nil else { return }
        let qmp = try QMPClient(path: qmpPath)
        let status = try qmp.query("query-status")["status"] as? String ?? "unknown"
        guard status == "inmigrate" else {
            throw DWCPError.failure("destination QEMU is '\(status)': start it with -incoming defer")
        }
        if prefault {
            let r = try RAMPrefault.run(qmp, threads: threads)
            if !r.backends.isEmpty {
                prefaulted = r
                Diagnostics.info("pre-faulted \(Units.formatBytes(r.bytes)) of guest RAM (\(r.backends.joined(separator: ", "))) in \(Units.format(r.seconds, 2)) s")
            }
        }
        try qmp.execute("migrate-set-capabilities", ["capabilities": [["capability": "events", "state": true]]])
        let directory = try TemporaryDirectory(prefix: "dwcp-migrate")
        defer { directory.remove() }
        let socketPath = directory.path + "/incoming.sock"
        try qmp.execute("migrate-incoming", ["uri": "unix:\(socketPath)"])
        // Named for diagnostics as what it is: a failed write says QEMU stopped reading.
        let connection = FileDescriptor(rawValue: try UnixSocket.connect(socketPath, retryFor: 10).rawValue,
                                        name: "the destination QEMU's migration stream")
        // Connected, the socket's name is no longer needed: gone now, it cannot be left behind
        // in the temporary directory by a receiver that is killed or interrupted.
        directory.remove()
        UnixSocket.setSendBuffer(connection, bytes: Self.streamBuffer)
        prepared = (qmp, connection)
    }

    public func run(listener: StreamListener) throws -> Outcome {
        let started = MonotonicClock.now()
        try prepare()
        let (qmp, connection) = prepared!
        defer { connection.close() }

        let pipeline = ReceivePipeline(receiver: receiver)
        pipeline.threads = threads
        pipeline.reference = reference
        let timeout = startTimeout
        do {
            let result = try pipeline.run(listener: listener, output: connection) { _ in
                Timeline.mark("stream decoded into QEMU")
                let deadline = MonotonicClock.now() + timeout
                while true {
                    let now = try qmp.query("query-status")["status"] as? String ?? ""
                    if now == "running" {
                        Timeline.mark("destination VM running")
                        return
                    }
                    let incoming = try qmp.query("query-migrate")
                    if let s = incoming["status"] as? String, s == "failed" {
                        throw DWCPError.failure("destination QEMU could not load the migration stream" + ((incoming["error-desc"] as? String).map { ": \($0)" } ?? ""))
                    }
                    if MonotonicClock.now() > deadline {
                        throw DWCPError.failure("destination VM not running \(Int(timeout)) s after the stream ended (status '\(now)')")
                    }
                    usleep(5_000)
                }
            }
            var outcome = Outcome()
            outcome.bytesReceived = result.transfer.bytes
            outcome.bytesDecoded = result.decode.bytesOut
            outcome.reconnects = result.transfer.reconnects
            outcome.seconds = MonotonicClock.now() - started
            // The confirmation can be lost with every connection: until the source says it heard
            // it, a source that comes back is told it again (else it gives up and is left paused).
            outcome.sourceHeardVerdict = TransportReceiver.waitUntilVerdictHeard(on: listener, configuration: receiver)
            return outcome
        } catch {
            // Whatever QEMU holds now is not a VM anyone should run.
            _ = try? qmp.execute("quit")
            throw error
        }
    }
}
