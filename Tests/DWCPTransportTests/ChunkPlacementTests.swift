import DWCPCore
import DWCPSystem
@testable import DWCPTransport
import Foundation
import XCTest

/// A receiver must only accept chunks that tile the stream in sequence order: a sender whose
/// offsets overlap or leave gaps fails the transfer. Into a file (chunks written at their places
/// as they arrive) no chunk may land on another's bytes, and the file is cut back to what was
/// written in order; into a pipe (chunks written in order) the wrong offset is caught as well.
final class ChunkPlacementTests: XCTestCase {
    /// A hand-driven sender: one connection, messages with whatever sequence and offset we like.
    struct RawSender {
        let socket: StreamSocket

        init(port: UInt16) throws {
            socket = try StreamSocket.connect(Endpoint(host: "127.0.0.1", port: port))
            _ = try Handshake.client(socket, auth: SessionAuth(secret: nil), session: SessionAuth.nonce(), stream: 0,
                                     chunkSize: 1 << 20, streams: 1)
        }

        func send(sequence: UInt64, offset: UInt64, bytes: [UInt8]) throws {
            var header = [UInt8](repeating: 0, count: Wire.messageHeaderLength)
            MessageHeader(kind: .data, length: UInt32(bytes.count), sequence: sequence, offset: offset,
                          checksum: Checksum.xxh3(bytes)).store(to: &header)
            try socket.sendAll(header)
            try socket.sendAll(bytes)
        }

        /// Waits for the acknowledgement that chunks before `next` are written.
        func awaitAck(next: UInt64) throws {
            socket.setReceiveTimeout(5)
            while true {
                let m = try socket.receive(Wire.messageHeaderLength).withUnsafeBytes { try MessageHeader.decode($0.baseAddress!) }
                if m.kind == .ack && m.sequence >= next { return }
            }
        }
    }

    /// Runs a receiver into `output` on a thread; returns its listener's port and a wait for
    /// its result.
    func startReceiver(to output: FileDescriptor) throws -> (port: UInt16, result: () -> Result<TransferStats, Error>) {
        var config = ReceiverConfiguration()
        config.idleTimeout = 10
        let receiver = try ReceiverOnAThread(to: output, configuration: config)
        return (receiver.port, { receiver.wait().result })
    }

    func assertNetworkFailure(_ result: Result<TransferStats, Error>, mentioning text: String, file: StaticString = #filePath, line: UInt = #line) {
        guard case .failure(let error) = result else { return XCTFail("a transfer with misplaced chunks succeeded", file: file, line: line) }
        XCTAssertEqual((error as? DWCPError)?.status, .network, "\(error)", file: file, line: line)
        XCTAssertTrue("\(error)".contains(text), "\(error)", file: file, line: line)
    }

    func testAChunkOverlappingItsNeighbourIsNeverWrittenAndTheFileIsCutBack() throws {
        let path = NSTemporaryDirectory() + "placement-\(getpid())"
        defer { unlink(path) }
        let output = try FileDescriptor.create(path, overwrite: true)
        defer { output.close() }
        XCTAssertEqual(output.positionalWriteStart(), 0)
        let (port, result) = try startReceiver(to: output)
        let sender = try RawSender(port: port)
        let first = [UInt8](repeating: 0x41, count: 100)
        try sender.send(sequence: 0, offset: 0, bytes: first)
        try sender.awaitAck(next: 1)
        // Chunk 2 at 150..<250 is written at its place, ahead of the writer; chunk 1 then claims
        // 100..<200, over chunk 2's bytes.
        try sender.send(sequence: 2, offset: 150, bytes: [UInt8](repeating: 0x43, count: 100))
        try sender.send(sequence: 1, offset: 100, bytes: [UInt8](repeating: 0x42, count: 100))
        assertNetworkFailure(result(), mentioning: "does not fit between the chunks around it")
        XCTAssertEqual(FileManager.default.contents(atPath: path), Data(first), "only the chunk written in order may remain")
    }

    /// Offsets and sequence numbers at the edge of 64 bits fail the transfer; nothing overflows.
    func testHostileOffsetsAndSequencesFailCleanly() throws {
        let path = NSTemporaryDirectory() + "placement-hostile-\(getpid())"
        defer { unlink(path) }
        for (sequence, offset) in [(UInt64(3), UInt64.max - 5), (1, UInt64(Int64.max) - 5), (UInt64.max, 0)] {
            let output = try FileDescriptor.create(path, overwrite: true)
            defer { output.close() }
            let (port, result) = try startReceiver(to: output)
            let sender = try RawSender(port: port)
            try sender.send(sequence: sequence, offset: offset, bytes: [UInt8](repeating: 7, count: 10))
            // Chunk 0 then either finds its place taken (the last case) or the transfer already failed.
            try? sender.send(sequence: 0, offset: 0, bytes: [UInt8](repeating: 1, count: 10))
            assertNetworkFailure(result(), mentioning: "does not fit between the chunks around it")
            XCTAssertEqual(FileManager.default.contents(atPath: path), Data(), "nothing was written in order")
        }
    }

    func testAPipeOutputRefusesAChunkAtTheWrongOffset() throws {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        let read = FileDescriptor(rawValue: fds[0], name: "pipe"), write = FileDescriptor(rawValue: fds[1], name: "pipe")
        defer { read.close() }
        XCTAssertNil(write.positionalWriteStart())
        let (port, result) = try startReceiver(to: write)
        let sender = try RawSender(port: port)
        try sender.send(sequence: 0, offset: 0, bytes: [UInt8](repeating: 1, count: 100))
        try sender.send(sequence: 1, offset: 60, bytes: [UInt8](repeating: 2, count: 100))
        assertNetworkFailure(result(), mentioning: "claims stream offset 60, but 100 bytes precede it")
        write.close()
    }
}
