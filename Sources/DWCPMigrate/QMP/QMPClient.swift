import Foundation
import DWCPCore
import DWCPSystem

/// A QEMU Machine Protocol client: JSON commands over QEMU's unix socket.
///
/// dwcp-migrate drives QEMU itself rather than through libvirt, so it needs exactly this: the
/// greeting and capability negotiation, synchronous commands with a deadline (a wedged QEMU must
/// not hang a migration forever), and the asynchronous events (STOP, RESUME, MIGRATION) kept
/// with QEMU's own timestamps so downtime can be measured from them.
public final class QMPClient {
    /// One asynchronous event: its name, QEMU's wall-clock timestamp and its data.
    public struct Event {
        public var name: String
        public var time: Double
        public var data: [String: Any]
    }

    private let socket: FileDescriptor
    private var pending: [UInt8] = []
    public private(set) var events: [Event] = []
    public let path: String
    /// Seconds any one command may take.
    public var commandTimeout: Double = 30

    /// Connects (waiting up to `timeout` for the socket to appear) and negotiates capabilities.
    public init(path: String, timeout: Double = 10) throws {
        self.path = path
        do {
            socket = try UnixSocket.connect(path, retryFor: timeout)
        } catch let e as SystemError where e.errno == ENOENT || e.errno == ECONNREFUSED {
            // Waited for a QEMU that may have been starting: say so, and what is expected there.
            let what = e.errno == ENOENT ? "no socket there" : "nothing accepts on it"
            throw DWCPError.failure("QMP socket \(path): \(what) after \(Int(timeout)) s (is QEMU running with -qmp unix:\(path),server=on,wait=off?)")
        } catch {
            throw DWCPError.failure("QMP socket \(path): \(error)")
        }
        let greeting = try readMessage(deadline: MonotonicClock.now() + timeout)
        guard greeting["QMP"] != nil else { throw DWCPError.failure("\(path): not a QMP socket (no greeting)") }
        _ = try execute("qmp_capabilities")
    }

    deinit { socket.close() }

    /// Runs `command` and returns its `return` value; a QMP error becomes a `DWCPError`.
    /// `passing` attaches a descriptor to the command (SCM_RIGHTS), as `getfd` expects.
    @discardableResult
    public func execute(_ command: String, _ arguments: [String: Any]? = nil, passing descriptor: FileDescriptor? = nil) throws -> Any {
        var message: [String: Any] = ["execute": command]
        if let arguments { message["arguments"] = arguments }
        let bytes = Array(try JSONSerialization.data(withJSONObject: message)) + [0x0a]
        do {
            try UnixSocket.send(bytes, passing: descriptor, over: socket)
        } catch let e as SystemError {
            // Writes with MSG_NOSIGNAL: a QEMU that exited is an error to report, not a SIGPIPE.
            throw DWCPError.failure(descriptor == nil ? "\(path): QEMU closed the QMP connection (\(String(cString: strerror(e.errno))))"
                                                      : "\(path): cannot pass a descriptor to QEMU (\(e))")
        }
        let deadline = MonotonicClock.now() + commandTimeout
        while true {
            let reply = try readMessage(deadline: deadline)
            if let value = reply["return"] { return value }
            if let error = reply["error"] as? [String: Any] {
                let text = error["desc"] as? String ?? "unknown error"
                throw DWCPError.failure("QEMU refused \(command): \(text)")
            }
        }
    }

    /// Convenience: a command whose result is an object.
    public func query(_ command: String) throws -> [String: Any] {
        try execute(command) as? [String: Any] ?? [:]
    }

    /// Reads whatever events arrived without sending anything.
    public func pollEvents() throws {
        while let message = try readMessage(deadline: MonotonicClock.now(), blocking: false) { _ = message }
    }

    /// Returns once an event is queued (at once if one already is) or after `timeout` seconds,
    /// reading without sending anything. A status loop waits here instead of sleeping, so it
    /// sees QEMU's MIGRATION and STOP events the moment they come (QEMU sends them with the
    /// `events` migration capability on).
    public func waitForEvent(timeout: Double) throws {
        let deadline = MonotonicClock.now() + timeout
        while events.isEmpty {
            try pollEvents()
            let left = deadline - MonotonicClock.now()
            if !events.isEmpty || left <= 0 { return }
            var p = pollfd(fd: socket.rawValue, events: Int16(POLLIN), revents: 0)
            let rc = poll(&p, 1, Int32((left * 1000).rounded(.up)))
            if rc < 0 && errno != EINTR { throw DWCPError.failure("\(path): poll: \(String(cString: strerror(errno)))") }
            if rc == 0 { return }
        }
    }

    /// Removes and returns the events seen so far.
    public func takeEvents() -> [Event] {
        defer { events.removeAll() }
        return events
    }

    private func readMessage(deadline: Double) throws -> [String: Any] {
        while true {
            if let m = try readMessage(deadline: deadline, blocking: true) { return m }
        }
    }

    /// The next non-event message; events are queued. Non-blocking mode returns nil when no full
    /// message is buffered or readable.
    private func readMessage(deadline: Double, blocking: Bool) throws -> [String: Any]? {
        while true {
            while let newline = pending.firstIndex(of: 0x0a) {
                let line = Array(pending[..<newline])
                pending.removeSubrange(...newline)
                guard !line.allSatisfy({ $0 == 0x0d || $0 == 0x20 }) else { continue }
                guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else {
                    throw DWCPError.failure("\(path): malformed QMP message")
                }
                if let name = object["event"] as? String {
                    let stamp = object["timestamp"] as? [String: Any]
                    let time = Double(stamp?["seconds"] as? Int ?? 0) + Double(stamp?["microseconds"] as? Int ?? 0) / 1e6
                    events.append(Event(name: name, time: time, data: object["data"] as? [String: Any] ?? [:]))
                    continue
                }
                return object
            }
            let wait = blocking ? max(0, deadline - MonotonicClock.now()) : 0
            var p = pollfd(fd: socket.rawValue, events: Int16(POLLIN), revents: 0)
            let rc = poll(&p, 1, Int32(wait * 1000))
            if rc == 0 {
                if !blocking { return nil }
                throw DWCPError.failure("\(path): QEMU did not answer within \(Int(commandTimeout)) s")
            }
            if rc < 0 { if errno == EINTR { continue }; throw DWCPError.failure("\(path): poll: \(String(cString: strerror(errno)))") }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { read(socket.rawValue, $0.baseAddress, 65536) }
            if n < 0 { if errno == EINTR { continue }; throw DWCPError.failure("\(path): read: \(String(cString: strerror(errno)))") }
            if n == 0 { throw DWCPError.failure("\(path): QEMU closed the QMP connection (it exited)") }
            pending += chunk[..<n]
            guard pending.count < 16 << 20 else { throw DWCPError.failure("\(path): QMP message too large") }
        }
    }
}
