import DWCPCLI
import DWCPCore
import DWCPSystem

/// Pre-faults a destination QEMU's guest RAM before a migration comes in, through QMP: each
/// memory backend under `/objects` (the machine's implicit `pc.ram` included) has its `prealloc`
/// property set, which makes QEMU touch every page of it at once, on `threads` threads.
///
/// Why: an incoming QEMU otherwise takes a page fault on the first write to each guest page, and
/// the kernel zeroes the page before QEMU copies the stream's bytes over it. That zeroing runs
/// in QEMU's main thread, the one thread that loads the stream, and on a fast link it paces the
/// whole migration: on loopback, the 512 MiB test guest's `tcp:` migration took 1.26–1.85 s
/// into a fresh QEMU and 0.48–0.60 s into one started with `-mem-prealloc` (docs/MIGRATE.md).
/// Done while the receiver waits, the same work costs the migration nothing.
///
/// The cost: the guest's whole RAM is resident at the destination from then on, pages the guest
/// never touched included, and the receiver is ready only once it is done (0.9 s for 512 MiB on
/// this machine's two cores).
public enum RAMPrefault {
    /// What was pre-faulted: backends and bytes, and how long it took.
    public struct Result: Sendable {
        public var backends: [String] = []
        public var bytes: UInt64 = 0
        public var seconds = 0.0
    }

    /// Pre-faults every memory backend of the QEMU behind `qmp` that is not already.
    /// Throws when QEMU refuses (a backend with `reserve=off`, or no memory to give).
    public static func run(_ qmp: QMPClient, threads: Int) throws -> Result {
        let started = MonotonicClock.now()
        var result = Result()
        for path in try backendPaths(qmp) {
            if (try? qmp.execute("qom-get", ["path": path, "property": "prealloc"])) as? Bool == true { continue }
            let size = (try? qmp.execute("qom-get", ["path": path, "property": "size"])) as? Int ?? 0
            // Older QEMUs lack the thread count; prealloc then runs on one thread.
            _ = try? qmp.execute("qom-set", ["path": path, "property": "prealloc-threads", "value": max(1, threads)])
            // Touching every page takes a while (about 0.6 GB/s on two cores here); QEMU answers
            // only once it is done.
            let timeout = qmp.commandTimeout
            qmp.commandTimeout = max(timeout, 30 + Double(size) / 50e6)
            defer { qmp.commandTimeout = timeout }
            do {
                _ = try qmp.execute("qom-set", ["path": path, "property": "prealloc", "value": true])
            } catch let e as DWCPError {
                throw DWCPError.failure("destination QEMU could not pre-fault \(path) (\(Units.formatBytes(UInt64(size)))): \(e.message) (receive --no-prefault leaves it alone)")
            }
            result.backends.append(path)
            result.bytes += UInt64(max(0, size))
        }
        result.seconds = MonotonicClock.now() - started
        return result
    }

    /// The QOM paths of the memory backends under `/objects`.
    static func backendPaths(_ qmp: QMPClient) throws -> [String] {
        let children = try qmp.execute("qom-list", ["path": "/objects"]) as? [[String: Any]] ?? []
        return children.compactMap { child in
            guard let name = child["name"] as? String, let type = child["type"] as? String,
                  type.hasPrefix("child<memory-backend") else { return nil }
            return "/objects/" + name
        }
    }
}
