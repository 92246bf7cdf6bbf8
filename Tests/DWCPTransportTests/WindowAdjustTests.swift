import DWCPCore
import DWCPSystem
@testable import DWCPTransport
import Foundation
import XCTest

/// A transfer re-tuned while it runs (`adjust`, a migration that measured its link's rate on
/// its own bytes): its window narrows and widens again, never past what the handshake named,
/// and every byte still arrives.
final class WindowAdjustTests: XCTestCase {
    func testTheWindowNarrowsAndWidensWithinTheHandshakes() throws {
        let path = NSTemporaryDirectory() + "window-adjust-\(getpid())"
        defer { unlink(path) }
        let output = try FileDescriptor.create(path, overwrite: true)
        let receiver = try ReceiverOnAThread(to: output)
        let transport = receiver.sender(streams: 2, chunkSize: 64 << 10, window: 4 << 20)
        var sent = 0
        var seen: [UInt64] = []
        _ = try transport.send { p, n in
            guard sent < 16 << 20 else { return 0 }
            // Once under way: narrow, then widen past the handshake's.
            if sent == 4 << 20 {
                transport.adjust(window: 512 << 10, streams: 2)
                seen.append(transport.lock.withLock { transport.effectiveWindow })
            } else if sent == 8 << 20 {
                transport.adjust(window: 64 << 20, streams: 3)
                seen.append(transport.lock.withLock { transport.effectiveWindow })
            }
            let count = min(n, (16 << 20) - sent, 1 << 20)
            memset(p, Int32(sent >> 20), count)
            sent += count
            return count
        }
        let stats = try receiver.wait().result.get()
        output.close()
        XCTAssertEqual(seen, [512 << 10, 4 << 20], "narrowed, then widened to the handshake's and no further")
        XCTAssertEqual(stats.bytes, 16 << 20)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)).count, 16 << 20)
    }
}
