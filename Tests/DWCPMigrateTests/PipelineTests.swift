import XCTest
import DWCPCodec
import DWCPCore
import DWCPSystem
import DWCPTransport
@testable import DWCPMigrate

/// The migration pipeline end to end on loopback: the destination tells a raw stream from an
/// encoded one by its first bytes, writes the raw one straight to its output (marker left
/// out) and decodes the other, and both arrive byte for byte.
final class PipelineTests: XCTestCase {
    private func roundTrip(_ bytes: [UInt8], format: SendPipeline.StreamFormat) throws -> (output: [UInt8], result: ReceivePipeline.Result) {
        let listener = try StreamListener(Endpoint(host: "127.0.0.1", port: 0))
        defer { listener.shutdown() }
        let output = try UnixSocket.pipe(name: "output")
        var collected: [UInt8] = []
        let reader = OSThread {
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            while let n = try? buffer.withUnsafeMutableBytes({ try output.read.readFully(into: $0.baseAddress!, count: $0.count) }), n > 0 {
                collected += buffer[..<n]
            }
            output.read.close()
        }
        var received: ReceivePipeline.Result?
        var receiveError: Error?
        let receiving = OSThread {
            do {
                received = try ReceivePipeline(receiver: ReceiverConfiguration()).run(listener: listener, output: output.write) { _ in }
            } catch { receiveError = error }
            output.write.close()
        }
        let input = try UnixSocket.pipe(name: "input")
        let feeder = OSThread {
            try? input.write.writeAll(bytes)
            input.write.close()
        }
        var sender = SenderConfiguration(endpoint: Endpoint(host: "127.0.0.1", port: listener.port))
        sender.streams = 2
        sender.chunkSize = 64 << 10
        let pipeline = SendPipeline(encoder: EncoderConfiguration(), sender: sender)
        pipeline.format = format
        let sent = Result { try pipeline.run(input: input.read) }
        input.read.close()
        feeder.join()
        receiving.join()
        reader.join()
        _ = try sent.get()
        if let receiveError { throw receiveError }
        return (collected, try XCTUnwrap(received))
    }

    private func sample() -> [UInt8] {
        var random = SplitMix(seed: 7)
        // Half random, half zero pages: something for the encoder to do.
        return (0..<(3 << 20)).map { i in (i >> 12) % 2 == 0 ? UInt8(truncatingIfNeeded: random.next()) : 0 }
    }

    func testRawStreamGoesStraightToTheOutput() throws {
        let bytes = sample()
        let (output, result) = try roundTrip(bytes, format: .raw)
        XCTAssertEqual(result.decode.format, "raw")
        XCTAssertEqual(result.transfer.bytes, UInt64(bytes.count + SendPipeline.rawMarker.count))
        XCTAssertEqual(result.decode.bytesOut, UInt64(bytes.count))
        XCTAssertTrue(output == bytes, "raw stream differs (\(output.count) bytes out of \(bytes.count))")
    }

    func testEncodedStreamIsDecoded() throws {
        let bytes = sample()
        for format in [SendPipeline.StreamFormat.frames, .zstdLong(level: 1, windowLog: 27, threads: 2)] {
            let (output, result) = try roundTrip(bytes, format: format)
            XCTAssertNotEqual(result.decode.format, "raw")
            XCTAssertLessThan(result.transfer.bytes, UInt64(bytes.count), "\(format) did not compress")
            XCTAssertTrue(output == bytes, "\(format): decoded stream differs")
        }
    }
}
