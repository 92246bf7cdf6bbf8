import DWCPSystem
import Glibc
import XCTest

final class UnixSocketBufferTests: XCTestCase {
    /// With its send buffer enlarged, a unix stream socket takes megabytes before its writer
    /// blocks (the default takes a few hundred KiB): the room the migration stream into QEMU
    /// needs so a reader scheduled late does not stall the writer.
    func testEnlargedSendBufferHoldsMegabytesForASlowReader() throws {
        func queuedBeforeBlocking(enlarge: Bool) throws -> Int {
            var fds: [Int32] = [0, 0]
            XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds), 0)
            let writer = FileDescriptor(rawValue: fds[0], name: "writer")
            defer { close(fds[0]); close(fds[1]) }
            if enlarge { XCTAssertGreaterThanOrEqual(UnixSocket.setSendBuffer(writer, bytes: 4 << 20), 4 << 20) }
            _ = fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK)
            let block = [UInt8](repeating: 7, count: 64 << 10)
            var queued = 0
            while queued < 64 << 20 {
                let n = block.withUnsafeBytes { write(fds[0], $0.baseAddress!, $0.count) }
                if n < 0 { break }
                queued += n
            }
            return queued
        }
        try XCTSkipUnless(geteuid() == 0, "SO_SNDBUFFORCE needs CAP_NET_ADMIN; without it net.core.wmem_max caps the size")
        let normal = try queuedBeforeBlocking(enlarge: false)
        let enlarged = try queuedBeforeBlocking(enlarge: true)
        XCTAssertLessThan(normal, 1 << 20)
        XCTAssertGreaterThanOrEqual(enlarged, 2 << 20, "default \(normal) bytes")
    }
}
