import DWCPCore
import DWCPSystem
@testable import DWCPTransport
import Foundation
import XCTest

/// `pathCounters` is what a migration measures its link's rate and loss on: its sums must never
/// go back when a cut connection is replaced by one that counts from 0 (they did, and under
/// cuts a 100 Mbit/s path once measured 0.4 Mbit/s), and it says how many connections were
/// dialled again so a measurement across one can be thrown away.
final class PathCountersTests: XCTestCase {
    func testCountersNeverGoBackWhenAConnectionIsReplaced() throws {
        let path = NSTemporaryDirectory() + "path-counters-\(getpid())"
        defer { unlink(path) }
        let output = try FileDescriptor.create(path, overwrite: true)
        let receiver = try ReceiverOnAThread(to: output)
        let transport = receiver.sender(streams: 2, chunkSize: 64 << 10, window: 2 << 20)
        let total = 48 << 20
        var sent = 0
        var samples: [TransportSender.PathCounters] = []
        var cuts = 0
        _ = try transport.send { p, n in
            guard sent < total else { return 0 }
            if let c = transport.pathCounters { samples.append(c) }
            if sent == 16 << 20 || sent == 32 << 20 {
                // Cut one open connection, as a path that drops it would.
                if let socket = transport.lock.withLock({ transport.sockets.values.first }) {
                    socket.shutdownBoth()
                    cuts += 1
                }
                usleep(50_000)
            }
            let count = min(n, total - sent, 1 << 20)
            memset(p, Int32(truncatingIfNeeded: sent >> 16), count)
            sent += count
            return count
        }
        let stats = try receiver.wait().result.get()
        output.close()
        XCTAssertEqual(stats.bytes, UInt64(total))
        XCTAssertEqual(cuts, 2)
        if let c = transport.pathCounters { samples.append(c) }
        XCTAssertGreaterThan(samples.count, 10)
        for (a, b) in zip(samples, samples.dropFirst()) {
            XCTAssertGreaterThanOrEqual(b.delivered, a.delivered, "delivered went back: \(a) then \(b)")
            XCTAssertGreaterThanOrEqual(b.segmentsOut, a.segmentsOut, "segments went back: \(a) then \(b)")
            XCTAssertGreaterThanOrEqual(b.reconnects, a.reconnects)
        }
        XCTAssertGreaterThanOrEqual(samples.last?.reconnects ?? 0, 1, "no connection was dialled again: \(samples.last.map { "\($0)" } ?? "-")")
    }
}
