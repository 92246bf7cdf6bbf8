import DWCPCodec
import DWCPCore
import XCTest

/// Corrupted, truncated and garbage streams: always an integrity error, never wrong bytes out.
final class HostileInputTests: XCTestCase {
    func sample(pageList: Bool = false) throws -> (Scratch, [UInt8], [UInt8]) {
        let scratch = Scratch()
        var gen = TestData(seed: 21)
        let input = gen.memoryImage(pages: 64)
        let (stream, _) = try Codec.encode(input, scratch: scratch) { $0.blockSize = 16384; $0.threads = 1; $0.pageListChecksums = pageList }
        return (scratch, input, stream)
    }

    /// Whatever a failed decode wrote must be a prefix of the original made of whole verified frames.
    func assertVerifiedPrefix(_ output: [UInt8], of input: [UInt8], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertLessThanOrEqual(output.count, input.count, file: file, line: line)
        XCTAssertEqual(output, Array(input.prefix(output.count)), "unverified bytes were written", file: file, line: line)
    }

    func testEveryCorruptedByteIsCaught() throws {
        try assertEveryCorruptedByteIsCaught(pageList: false)
    }

    /// The same with checksums over page digests (format 1.2, `PageListTests`).
    func testEveryCorruptedByteOfAPageListStreamIsCaught() throws {
        try assertEveryCorruptedByteIsCaught(pageList: true)
    }

    func assertEveryCorruptedByteIsCaught(pageList: Bool) throws {
        let (scratch, input, stream) = try sample(pageList: pageList)
        var gen = TestData(seed: 22)
        // Every byte of the headers, then a sample of payload bytes.
        var positions = Array(0..<min(stream.count, 400))
        for _ in 0..<300 { positions.append(Int(gen.next() % UInt64(stream.count))) }
        for p in positions {
            var bad = stream
            bad[p] ^= UInt8(1 << (p % 8))
            let (output, error) = Codec.decode(bad, scratch: scratch, threads: 1)
            XCTAssertEqual((error as? DWCPError)?.status, .integrity, "flip at \(p) not detected")
            assertVerifiedPrefix(output, of: input)
        }
    }

    func testEveryTruncationIsCaught() throws {
        let (scratch, input, stream) = try sample()
        for cut in Array(0..<200) + Array(stride(from: 200, to: stream.count, by: 97)) + [stream.count - 1] {
            let (output, error) = Codec.decode(Array(stream.prefix(cut)), scratch: scratch)
            XCTAssertEqual((error as? DWCPError)?.status, .integrity, "cut at \(cut) not detected")
            XCTAssertTrue("\(error!)".contains("truncated") || "\(error!)".contains("empty"), "\(error!)")
            assertVerifiedPrefix(output, of: input)
        }
    }

    func testCorruptHistoryStreamFailsWithoutHanging() throws {
        let scratch = Scratch()
        var gen = TestData(seed: 24)
        let input = gen.memoryImage(pages: 96)
        let (stream, _) = try Codec.encode(input, scratch: scratch) { $0.blockSize = 16384; $0.history = 32768; $0.threads = 3 }
        var gen2 = TestData(seed: 25)
        for _ in 0..<40 {
            var bad = stream
            let p = StreamHeader.encodedLength + Int(gen2.next() % UInt64(stream.count - StreamHeader.encodedLength))
            bad[p] ^= 0x08
            let (output, error) = Codec.decode(bad, scratch: scratch, threads: 3)
            XCTAssertEqual((error as? DWCPError)?.status, .integrity, "flip at \(p)")
            assertVerifiedPrefix(output, of: input)
        }
    }

    func testTrailingGarbageAndGarbageStreams() throws {
        let (scratch, _, stream) = try sample()
        let trailing = Codec.decode(stream + [0x42], scratch: scratch)
        XCTAssertTrue("\(trailing.error!)".contains("trailing data"), "\(trailing.error!)")
        var gen = TestData(seed: 23)
        for n in [1, 7, 8, 100, 100_000] {
            let (output, error) = Codec.decode(gen.bytes(n), scratch: scratch)
            XCTAssertEqual((error as? DWCPError)?.status, .integrity)
            XCTAssertEqual(output, [])
        }
    }

    /// Concatenated streams decode one after another when the caller accepts them (dwcp-encode
    /// -d), each verified on its own: a flaw in the second is still an integrity error, after
    /// the first stream's bytes. A caller that takes one stream (dwcp-migrate) refuses the second.
    func testConcatenatedStreamsDecodeInTurnOnlyWhenAccepted() throws {
        let (scratch, input, stream) = try sample()
        let one = Codec.decode(stream + stream, scratch: scratch)
        XCTAssertTrue("\(one.error!)".contains("trailing data after the end frame at stream offset \(stream.count)"), "\(one.error!)")
        let both = Codec.decode(stream + stream + stream, scratch: scratch, concatenated: true)
        XCTAssertNil(both.error)
        XCTAssertEqual(both.output, input + input + input)
        var flipped = stream + stream
        flipped[stream.count + stream.count / 2] ^= 0x10
        let bad = Codec.decode(flipped, scratch: scratch, concatenated: true)
        XCTAssertEqual((bad.error as? DWCPError)?.status, .integrity)
        XCTAssertEqual(Array(bad.output.prefix(input.count)), input)
        for tail: [UInt8] in [[0x42], Array("DWC".utf8), Array("DWCP".utf8)] {
            let r = Codec.decode(stream + tail, scratch: scratch, concatenated: true)
            XCTAssertEqual((r.error as? DWCPError)?.status, .integrity, "\(tail)")
        }
    }

    func testDroppedDuplicatedAndReorderedFramesAreCaught() throws {
        let (scratch, _, stream) = try sample()
        // Split into header + frames, using the frame lengths.
        var frames: [[UInt8]] = []
        var at = StreamHeader.encodedLength
        while at < stream.count {
            let header = try stream.withUnsafeBytes { try FrameHeader.decode($0.baseAddress! + at, streamOffset: 0) }
            let end = at + FrameHeader.encodedLength + Int(header.payloadLength)
            frames.append(Array(stream[at..<end]))
            at = end
        }
        let head = Array(stream.prefix(StreamHeader.encodedLength))
        XCTAssertGreaterThan(frames.count, 4)
        var dropped = frames; dropped.remove(at: 2)
        var duplicated = frames; duplicated.insert(frames[2], at: 3)
        var swapped = frames; swapped.swapAt(2, 3)
        for variant in [dropped, duplicated, swapped] {
            let (_, error) = Codec.decode(head + variant.flatMap { $0 }, scratch: scratch)
            XCTAssertTrue("\(error!)".contains("sequence number"), "\(error!)")
        }
    }

    /// A back-reference may pass every check of its own (at least its length back, within the
    /// window) and still reach before the stream's first byte. Checksums are no defence: XXH3 is
    /// no MAC, so a crafted stream carries valid ones. `DecodeFuzzer` found this one: the decoder
    /// trapped on the subtraction instead of refusing the frame.
    func testBackReferenceBeforeTheStreamStartIsRefused() {
        let scratch = Scratch()
        for (position, distance) in [(0, UInt64(8192)), (4096, UInt64(8192)), (4096, StreamHeader.maxWindow)] {
            let ops: [BlockOp] = (position > 0 ? [.zero(length: position)] : []) + [.copyBack(length: 4096, distance: distance)]
            // An end frame, so the decoder reaches the data frame's back-references rather than
            // stopping at a truncated stream.
            let stream = StreamHeader(pageSize: 4096, maxBlock: 1 << 20, window: StreamHeader.maxWindow, baseline: nil, streamID: 1).encoded()
                + CraftedFrame.data(sequence: 0, offset: 0, ops: ops, decodedLength: position + 4096, decodedChecksum: 0)
                + CraftedFrame.end(sequence: 1, totalLength: UInt64(position + 4096), digest: Digest128(high: 0, low: 0))
            let (output, error) = Codec.decode(stream, scratch: scratch)
            XCTAssertEqual((error as? DWCPError)?.status, .integrity, "\(position), \(distance): \(String(describing: error))")
            XCTAssertTrue("\(error.map { "\($0)" } ?? "")".contains("before the stream's start"), "\(String(describing: error))")
            XCTAssertEqual(output, [])
        }
    }
}
