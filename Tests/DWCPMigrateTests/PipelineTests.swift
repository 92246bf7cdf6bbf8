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
    /// Sends `bytes` through a pipeline (whose encoded queue may grow to `encodedBacklog`) and
    /// returns what the destination wrote. `beforeEnd` runs after the last byte went into the
    /// pipeline's input and before the input closes, with a way to read how many bytes the
    /// destination has written so far.
    private func roundTrip(_ bytes: [UInt8], format: SendPipeline.StreamFormat, encodedBacklog: Int = 0,
                           setUp: ((SendPipeline) -> Void)? = nil, receiverSetUp: ((ReceivePipeline) -> Void)? = nil,
                           midway: ((SendPipeline) -> Void)? = nil,
                           beforeEnd: ((_ delivered: () -> Int) -> Void)? = nil) throws -> (output: [UInt8], result: ReceivePipeline.Result, sent: SendPipeline.Result) {
        let listener = try StreamListener(Endpoint(host: "127.0.0.1", port: 0))
        defer { listener.shutdown() }
        let output = try UnixSocket.pipe(name: "output")
        var collected: [UInt8] = []
        let collectedLock = ConditionLock()
        let reader = OSThread {
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            while let n = try? buffer.withUnsafeMutableBytes({ try output.read.readSome(into: $0.baseAddress!, count: $0.count) }), n > 0 {
                collectedLock.withLock { collected += buffer[..<n] }
            }
            output.read.close()
        }
        var received: ReceivePipeline.Result?
        var receiveError: Error?
        let receiving = OSThread {
            do {
                let pipeline = ReceivePipeline(receiver: ReceiverConfiguration())
                receiverSetUp?(pipeline)
                received = try pipeline.run(listener: listener, output: output.write) { _ in }
            } catch { receiveError = error }
            output.write.close()
        }
        let input = try UnixSocket.pipe(name: "input")
        var sender = SenderConfiguration(endpoint: Endpoint(host: "127.0.0.1", port: listener.port))
        sender.streams = 2
        sender.chunkSize = 64 << 10
        let pipeline = SendPipeline(encoder: EncoderConfiguration(), sender: sender, encodedBacklog: encodedBacklog)
        pipeline.format = format
        setUp?(pipeline)
        let feeder = OSThread {
            if let midway {
                try? input.write.writeAll(Array(bytes[..<(bytes.count / 2)]))
                midway(pipeline)
                try? input.write.writeAll(Array(bytes[(bytes.count / 2)...]))
            } else {
                try? input.write.writeAll(bytes)
            }
            beforeEnd?({ collectedLock.withLock { collected.count } })
            input.write.close()
        }
        let sent = Result { try pipeline.run(input: input.read) }
        input.read.close()
        feeder.join()
        receiving.join()
        reader.join()
        let result = try sent.get()
        if let receiveError { throw receiveError }
        return (collected, try XCTUnwrap(received), result)
    }

    private func sample() -> [UInt8] {
        var random = SplitMix(seed: 7)
        // Half random, half zero pages: something for the encoder to do.
        return (0..<(3 << 20)).map { i in (i >> 12) % 2 == 0 ? UInt8(truncatingIfNeeded: random.next()) : 0 }
    }

    func testRawStreamGoesStraightToTheOutput() throws {
        let bytes = sample()
        let (output, result, _) = try roundTrip(bytes, format: .raw)
        XCTAssertEqual(result.decode.format, "raw")
        XCTAssertEqual(result.transfer.bytes, UInt64(bytes.count + SendPipeline.rawMarker.count))
        XCTAssertEqual(result.decode.bytesOut, UInt64(bytes.count))
        XCTAssertTrue(output == bytes, "raw stream differs (\(output.count) bytes out of \(bytes.count))")
    }

    func testEncodedStreamIsDecoded() throws {
        let bytes = sample()
        for format in [SendPipeline.StreamFormat.frames, .zstd(level: 1, windowLog: 27, threads: 2), .zstd(level: 1, windowLog: nil, threads: 2)] {
            let (output, result, _) = try roundTrip(bytes, format: format)
            XCTAssertNotEqual(result.decode.format, "raw")
            XCTAssertLessThan(result.transfer.bytes, UInt64(bytes.count), "\(format) did not compress")
            XCTAssertTrue(output == bytes, "\(format): decoded stream differs")
        }
    }

    /// Once the source VM has stopped, the encoder flushes whenever QEMU's stream runs dry: the
    /// destination has every byte written so far while the input is still open. Before, the
    /// last partial read waited for the input to close (QEMU closes its stream tens of
    /// milliseconds after its last write, all of it inside the downtime).
    func testAStoppedSourceFlushesItsStreamWithoutWaitingForItsEnd() throws {
        let bytes = Array(sample()[..<((3 << 20) - 12_345)])
        var deliveredBeforeEnd = 0
        let (output, _, _) = try roundTrip(bytes, format: .zstd(level: 3, windowLog: 27, threads: 1),
                                        setUp: { $0.flushWhenIdle() }) { delivered in
            let deadline = MonotonicClock.now() + 10
            while delivered() < bytes.count && MonotonicClock.now() < deadline { usleep(2_000) }
            deliveredBeforeEnd = delivered()
        }
        XCTAssertEqual(deliveredBeforeEnd, bytes.count, "the stream's last bytes waited for its end")
        XCTAssertTrue(output == bytes, "decoded stream differs")
    }

    /// A plan applied mid-stream (`dwcp-migrate qemu` once it has measured its link's rate on
    /// the transfer): the rest of the zstd stream goes into a new frame at the new settings, the
    /// transport opens more connections, and the destination decodes the frames as one stream.
    func testAReplanMidStreamStartsANewFrameAndMoreConnections() throws {
        let bytes = sample()
        let (output, _, sent) = try roundTrip(bytes, format: .zstd(level: 1, windowLog: nil, threads: 2), midway: { pipeline in
            let deadline = MonotonicClock.now() + 10
            while pipeline.transport == nil && MonotonicClock.now() < deadline { usleep(1_000) }
            pipeline.replan(format: .zstd(level: 6, windowLog: 27, threads: 1), window: 1 << 20, streams: 4)
        })
        XCTAssertTrue(output == bytes, "decoded stream differs")
        XCTAssertEqual(Set(sent.encode.codecMix.keys), ["zstd-1", "zstd-6"], "\(sent.encode.codecMix)")
        XCTAssertEqual(sent.encode.codecMix.values.reduce(0, +), UInt64(bytes.count))
        // The encoder asks for new settings before each read of up to 512 KiB; a read under
        // way when the plan changed (blocked on the pipe while the first half was taken) still
        // goes at the old level, so the new one takes at least the second half less one read.
        XCTAssertGreaterThanOrEqual(sent.encode.codecMix["zstd-6"] ?? 0, UInt64(bytes.count / 2 - (512 << 10)),
                                    "the second half went at the new level")
        XCTAssertEqual(sent.transfer.streams, 4)
    }

    /// Reference files (`dwcp-migrate qemu --reference`): a stream holding copies of them costs
    /// little against them, in every frame of a stream that changes its settings midway (each
    /// frame references them anew, at both ends); a receiver with other files, or none, refuses
    /// the stream, and one with files takes a stream compressed without them.
    func testAStreamCompressedAgainstReferenceFilesDecodesOnlyAgainstTheSameFiles() throws {
        let directory = try TemporaryDirectory(prefix: "dwcp-reference")
        defer { directory.remove() }
        var random = SplitMix(seed: 11)
        func randomBytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8(truncatingIfNeeded: random.next()) } }
        func file(_ name: String, _ bytes: [UInt8]) throws -> String {
            let fd = try FileDescriptor.create(directory.path + "/" + name, overwrite: true)
            defer { fd.close() }
            try fd.writeAll(bytes)
            return directory.path + "/" + name
        }
        let kernel = randomBytes(1 << 20), initrd = randomBytes(1 << 20)
        let paths = [try file("kernel", kernel), try file("initrd", initrd)]
        let reference = try ReferenceFiles(paths: paths)
        XCTAssertEqual(reference.count, 2 << 20)
        XCTAssertEqual(Array(reference.bytes), kernel + initrd)
        // Guest RAM holding the files' 64 KiB blocks out of order, in both halves of the stream
        // (each half goes into its own frame), among 1 MiB of bytes found nowhere else.
        let blocks = (0..<32).map { i in Array((kernel + initrd)[(i * 65_536)..<((i + 1) * 65_536)]) }
        let fresh = randomBytes(1 << 20)
        let bytes = blocks[16...].reversed().joined() + fresh + blocks[..<16].reversed().joined()
        let format = SendPipeline.StreamFormat.zstd(level: 1, windowLog: 27, threads: 1)
        let replan: (SendPipeline) -> Void = { pipeline in
            let deadline = MonotonicClock.now() + 10
            while pipeline.transport == nil && MonotonicClock.now() < deadline { usleep(1_000) }
            pipeline.replan(format: .zstd(level: 6, windowLog: 27, threads: 1), window: 1 << 20, streams: 2)
        }
        let (output, result, sent) = try roundTrip(bytes, format: format, setUp: { $0.reference = reference },
                                                   receiverSetUp: { $0.reference = reference }, midway: replan)
        XCTAssertTrue(output == bytes, "decoded stream differs")
        XCTAssertEqual(Set(sent.encode.codecMix.keys), ["zstd-1", "zstd-6"], "one frame only: \(sent.encode.codecMix)")
        // The fresh megabyte, and little for the 2 MiB of copies.
        XCTAssertLessThan(result.transfer.bytes, UInt64((1 << 20) + (100 << 10)), "the copies of the files were not matched")
        // A stream that begins without the long window (a fast link's plan, at first): that
        // frame does not reference the files, the decoder references them for every frame all
        // the same, and the frame after it, with the window, matches them.
        let (mixedOutput, mixed, _) = try roundTrip(bytes, format: .zstd(level: 1, windowLog: nil, threads: 1),
                                                    setUp: { $0.reference = reference }, receiverSetUp: { $0.reference = reference },
                                                    midway: replan)
        XCTAssertTrue(mixedOutput == bytes, "a frame without the long window decoded against the files differs")
        XCTAssertLessThan(mixed.transfer.bytes, UInt64(2 << 20) + (200 << 10), "the second frame did not match the files")
        // Without them at both ends, the copies cost what they are.
        let (plainOutput, plain, _) = try roundTrip(bytes, format: format, receiverSetUp: { $0.reference = reference })
        XCTAssertTrue(plainOutput == bytes, "a stream without reference files differs at a receiver with some")
        XCTAssertGreaterThan(plain.transfer.bytes, UInt64(3 << 20))

        // A receiver without the files, or with others (the same bytes in another order): the
        // stream is refused with a usage error, before anything is decoded.
        let swapped = try ReferenceFiles(paths: paths.reversed())
        for (receiverFiles, says) in [(nil as ReferenceFiles?, "give this receiver the same files"), (swapped, "are not this receiver's")] {
            XCTAssertThrowsError(try roundTrip(bytes, format: format, setUp: { $0.reference = reference },
                                               receiverSetUp: { $0.reference = receiverFiles })) { error in
                XCTAssertTrue("\(error)".contains(says), "\(error)")
            }
        }
    }

    /// `run(afterConnecting:)` (a final image round, which freezes its source only once
    /// connected): the input is asked for once the first connection is open, and what it gives,
    /// encoded with the settings it gives (an abort's label), is what arrives. An input that
    /// cannot be given (a failed freeze) fails the transfer at both ends.
    func testARunAfterConnectingAsksForItsInputOnceConnected() throws {
        let bytes = sample()
        let path = NSTemporaryDirectory() + "after-connecting-\(getpid())"
        defer { unlink(path); unlink(path + ".in") }
        let input = try FileDescriptor.create(path + ".in", overwrite: true)
        try input.writeAll(bytes)
        input.close()
        for fails in [false, true] {
            let listener = try StreamListener(Endpoint(host: "127.0.0.1", port: 0))
            defer { listener.shutdown() }
            let output = try FileDescriptor.create(path, overwrite: true)
            var info: [String] = []
            var receiveError: Error?
            let receiving = OSThread {
                do {
                    _ = try ReceivePipeline(receiver: ReceiverConfiguration()).run(listener: listener, output: output) { info = $0.info }
                } catch { receiveError = error }
            }
            var sender = SenderConfiguration(endpoint: Endpoint(host: "127.0.0.1", port: listener.port))
            sender.streams = 2
            let pipeline = SendPipeline(encoder: EncoderConfiguration(), sender: sender)
            var labelled = EncoderConfiguration()
            labelled.infoJSON = #"{"dwcp_migrate":"abort","round":3}"#
            var connectedWhenAsked = false
            let sent = Result {
                try pipeline.run(afterConnecting: {
                    connectedWhenAsked = pipeline.transport?.pathCounters != nil
                    if fails { throw DWCPError.failure("--freeze command exited with status 3") }
                    return SendPipeline.Start(input: try FileDescriptor.openForReading(path + ".in"), encoder: labelled)
                })
            }
            receiving.join()
            output.close()
            XCTAssertTrue(connectedWhenAsked, "asked before a connection was open")
            if fails {
                XCTAssertThrowsError(try sent.get())
                XCTAssertTrue("\(receiveError.map { "\($0)" } ?? "")".contains("status 3"), "\(String(describing: receiveError))")
            } else {
                XCTAssertNil(receiveError)
                XCTAssertNotNil(try sent.get().connectedAt)
                XCTAssertEqual(info, [labelled.infoJSON!])
                XCTAssertTrue([UInt8](FileManager.default.contents(atPath: path) ?? Data()) == bytes, "the stream differs")
            }
        }
    }

    /// Only DWCP frames carry a label: a raw or zstd pipeline asked to send its input under
    /// another encoder's (an abort's) fails the transfer, at both ends, instead of sending the
    /// stream as if nothing had been asked.
    func testALabelAStreamWithoutFramesCannotCarryFailsTheTransfer() throws {
        let path = NSTemporaryDirectory() + "unlabelled-\(getpid())"
        defer { unlink(path) }
        let input = try FileDescriptor.create(path, overwrite: true)
        try input.writeAll(sample())
        input.close()
        for format in [SendPipeline.StreamFormat.raw, .zstd(level: 1, windowLog: nil, threads: 1)] {
            let listener = try StreamListener(Endpoint(host: "127.0.0.1", port: 0))
            defer { listener.shutdown() }
            let sink = try FileDescriptor.openForWriting("/dev/null")
            defer { sink.close() }
            var receiveError: Error?
            let receiving = OSThread {
                do { _ = try ReceivePipeline(receiver: ReceiverConfiguration()).run(listener: listener, output: sink) { _ in } } catch { receiveError = error }
            }
            let pipeline = SendPipeline(encoder: EncoderConfiguration(),
                                        sender: SenderConfiguration(endpoint: Endpoint(host: "127.0.0.1", port: listener.port)))
            pipeline.format = format
            var labelled = EncoderConfiguration()
            labelled.infoJSON = #"{"dwcp_migrate":"abort","round":3}"#
            XCTAssertThrowsError(try pipeline.run(afterConnecting: {
                SendPipeline.Start(input: try FileDescriptor.openForReading(path), encoder: labelled)
            }), "\(format)") { XCTAssertTrue("\($0)".contains("cannot carry"), "\($0)") }
            receiving.join()
            XCTAssertNotNil(receiveError, "the destination took a \(format) stream whose label was dropped")
        }
    }

    /// The encoded queue may be raised far past its normal size and lowered again mid-stream
    /// (as `dwcp-migrate qemu` does across QEMU's first pass): the stream arrives whole.
    func testTheEncodedQueueCanGrowAndShrinkMidStream() throws {
        let bytes = sample()
        var changer: OSThread?
        let (output, _, _) = try roundTrip(bytes, format: .zstd(level: 1, windowLog: 27, threads: 1), encodedBacklog: 8 << 20,
                                        setUp: { pipeline in
            pipeline.encodedQueue.limit = 8 << 20
            XCTAssertEqual(pipeline.encodedQueue.limit, 8 << 20, "the queue was not made large enough to grow")
            changer = OSThread { usleep(20_000); pipeline.encodedQueue.limit = 64 << 10 }
        })
        changer?.join()
        XCTAssertTrue(output == bytes, "decoded stream differs")
    }
}
