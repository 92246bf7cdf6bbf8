@testable import DWCPCodec
import DWCPCore
import XCTest

/// Copy-back ops whose source begins in an earlier frame and runs on into the current one.
/// `dwcp-encode` wrote such runs (a region of duplicate pages copied from just before a frame
/// started) and `dwcp-encode -d` refused them as "outside the window": seeded random rounds at
/// `--page-size 1024` found it.
final class CopyBackTests: XCTestCase {
    /// docs/FORMAT.md allows it, so the decoder follows the source from the window into the
    /// frame's own earlier bytes.
    func testACopyBackFromTheLastFrameIntoThisOneDecodes() throws {
        var gen = TestData(seed: 31)
        let a = gen.bytes(8192), b = gen.bytes(4096)
        // Frame 1: 4096 literal bytes, then 8192 bytes copied from 8192 back: the second half of
        // frame 0 and then frame 1's own first 4096 bytes.
        let expected = a + b + Array(a[4096...]) + b
        var stream = StreamHeader(pageSize: 4096, maxBlock: 1 << 20, window: 1 << 20, baseline: nil, streamID: 7).encoded()
        stream += CraftedFrame.data(sequence: 0, offset: 0, ops: [.literal(length: 8192)], literal: a,
                                    decodedLength: a.count, decodedChecksum: Checksum.xxh3(a))
        let second = Array(expected[8192...])
        stream += CraftedFrame.data(sequence: 1, offset: 8192, ops: [.literal(length: 4096), .copyBack(length: 8192, distance: 8192)],
                                    literal: b, decodedLength: second.count, decodedChecksum: Checksum.xxh3(second))
        let digest = StreamDigest()
        expected.withUnsafeBytes { digest.update($0.baseAddress!, $0.count) }
        stream += CraftedFrame.end(sequence: 2, totalLength: UInt64(expected.count), digest: digest.finalize())
        let scratch = Scratch()
        let (output, error) = Codec.decode(stream, scratch: scratch)
        XCTAssertNil(error)
        XCTAssertEqual(output, expected)
    }

    /// And the encoder no longer writes them, so older decoders read what it writes: a run of
    /// duplicates whose source starts in the previous block is cut where its source enters
    /// this block.
    func testTheEncoderCutsARunWhereItsSourceEntersTheBlock() {
        let page = 1024
        var gen = TestData(seed: 32)
        let previous = gen.bytes(4 * page)                       // block 0: pages w x y z
        let q = gen.bytes(page), r = gen.bytes(page), s = gen.bytes(page)
        // Block 1: q r s z q r: pages 3...5 repeat block 1's stream 4 pages back (z q r), a
        // source that starts in block 0.
        let block = q + r + s + Array(previous[(3 * page)...]) + q + r
        let planner = BlockPlanner(pageSize: page, duplicates: DuplicateIndex(window: 1 << 20, pageSize: page))
        _ = previous.withUnsafeBytes { planner.plan($0.baseAddress!, count: $0.count, offset: 0) }
        let segments = block.withUnsafeBytes { planner.plan($0.baseAddress!, count: $0.count, offset: UInt64(4 * page)) }
        XCTAssertEqual(segments, [.open(start: 0, length: 3 * page),
                                  .back(start: 3 * page, length: page, distance: UInt64(4 * page)),
                                  .back(start: 4 * page, length: 2 * page, distance: UInt64(4 * page))])
        for case let .back(start, length, distance) in segments {
            let sourceStart = start - Int(distance)
            XCTAssertTrue(sourceStart + length <= 0 || sourceStart >= 0, "a source on one side of the block start")
        }
    }
}
