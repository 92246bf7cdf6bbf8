import DWCPCore
import DWCPSystem
@testable import DWCPTransport
import Foundation
import XCTest

/// What of the RDMA path runs without an RDMA device: discovery, the clear error when there is
/// none, and `auto` falling back to TCP. (Transfers over RDMA need a device; see the issue note.)
final class RDMATests: XCTestCase {
    var sysfsDevices: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/sys/class/infiniband")) ?? []).sorted()
    }

    func testDeviceDiscoveryAgreesWithTheKernel() {
        XCTAssertEqual(RDMA.devices(), sysfsDevices)
        XCTAssertEqual(RDMA.unavailableReason() == nil, !sysfsDevices.isEmpty)
    }

    func testWithoutADeviceRDMAIsAClearErrorAndAutoIsTCP() throws {
        try XCTSkipUnless(RDMA.devices().isEmpty, "this host has an RDMA device")
        XCTAssertThrowsError(try StreamListener(Endpoint(host: "127.0.0.1", port: 0), transport: .rdma)) { e in
            XCTAssertEqual((e as? DWCPError)?.status, .failure)
            XCTAssertTrue("\(e)".contains("no RDMA device"), "\(e)")
        }
        let listener = try StreamListener(Endpoint(host: "127.0.0.1", port: 0), transport: .auto)
        XCTAssertFalse(listener.acceptsRDMA)
        XCTAssertNil(listener.rdmaProblem)
        XCTAssertThrowsError(try StreamSocket.connect(Endpoint(host: "127.0.0.1", port: listener.port), rdma: true)) { e in
            XCTAssertTrue("\(e)".contains("no RDMA device"), "\(e)")
        }
        // auto: the transfer runs, over TCP.
        let payload = (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 7) }
        var config = SenderConfiguration(endpoint: Endpoint(host: "127.0.0.1", port: listener.port))
        config.transport = .auto
        config.streams = 2
        config.chunkSize = 256 << 10
        let path = NSTemporaryDirectory() + "rdma-auto-\(getpid())"
        defer { unlink(path) }
        let output = try FileDescriptor.create(path, overwrite: true)
        let receiver = try ReceiverOnAThread(listener: listener, to: output)
        var offset = 0
        let stats = try TransportSender(configuration: config).send { p, n in
            let k = min(n, payload.count - offset)
            payload.withUnsafeBytes { p.copyMemory(from: $0.baseAddress! + offset, byteCount: k) }
            offset += k
            return k
        }
        let received = receiver.wait().result
        output.close()
        XCTAssertFalse(stats.rdma)
        XCTAssertEqual(try received.get().bytes, 3_000_000)
        XCTAssertEqual(FileManager.default.contents(atPath: path), Data(payload))
    }
}
