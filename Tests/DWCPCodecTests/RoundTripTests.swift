import DWCPCodec
import DWCPCore
import DWCPSystem
import XCTest

final class RoundTripTests: XCTestCase {
    func testEveryCodecAndLevelRoundTrips() throws {
        let scratch = Scratch()
        var gen = TestData(seed: 1)
        let input = gen.memoryImage(pages: 300) + gen.bytes(1234)  // odd tail: not a whole page
        let settings: [CodecSetting] = [
            .none, CodecSetting(codec: .zstd, level: -5), CodecSetting(codec: .zstd, level: 1), CodecSetting(codec: .zstd, level: 19),
            CodecSetting(codec: .lz4, level: -3), CodecSetting(codec: .lz4, level: 1), CodecSetting(codec: .lz4, level: 9),
            CodecSetting(codec: .brotli, level: 0), CodecSetting(codec: .brotli, level: 5),
        ]
        for s in settings {
            let (stream, stats) = try Codec.encode(input, scratch: scratch) {
                $0.planner = CodecPlanner(fixed: s)
                $0.blockSize = 64 << 10
            }
            XCTAssertEqual(stats.bytesIn, UInt64(input.count))
            let (output, error) = Codec.decode(stream, scratch: scratch)
            XCTAssertNil(error, "\(s)")
            XCTAssertEqual(output, input, "\(s)")
            if s.codec != .none { XCTAssertLessThan(stream.count, input.count * 3 / 4, "\(s) should compress") }
        }
    }

    /// Seeded random full rounds under random settings: pages of 512 B to 64 KiB, frames of one to
    /// eight pages' multiples, windows down to a few pages (duplicates near its edge), any codec,
    /// literal history on or off, one to three threads. Input: runs of random and text bytes,
    /// zero runs, repeated bytes, regions copied from anywhere earlier, and whole pages copied
    /// from an earlier page (runs of duplicates, some across frame starts). Every stream decodes
    /// to its input exactly.
    func testRandomRoundsUnderRandomSettingsRoundTrip() throws {
        let scratch = Scratch()
        let codecs = ["zstd:-3", "zstd:1", "zstd:6", "lz4:1", "lz4:9", "brotli:1", "none"]
        for seed in UInt64(1)...30 {
            var gen = TestData(seed: 5_000 + seed)
            let pageSize = 512 << Int(gen.next() % 8)
            var input: [UInt8] = []
            let size = 20_000 + Int(gen.next() % 300_000)
            while input.count < size {
                switch gen.next() % 7 {
                case 6:   // whole pages copied from an earlier page: runs of duplicate pages
                    input += gen.bytes((pageSize - input.count % pageSize) % pageSize)
                    let pages = input.count / pageSize
                    guard pages > 0 else { continue }
                    let from = Int(gen.next() % UInt64(pages)) * pageSize
                    input += Array(input[from..<min(input.count, from + pageSize * (1 + Int(gen.next() % 12)))])
                case 0: input += gen.bytes(Int(gen.next() % 6_000))
                case 1: input += gen.text(Int(gen.next() % 9_000))
                case 2: input += [UInt8](repeating: 0, count: Int(gen.next() % 20_000))
                case 3: input += [UInt8](repeating: UInt8(truncatingIfNeeded: gen.next()), count: Int(gen.next() % 5_000))
                default:   // a region copied from earlier, at any distance
                    guard !input.isEmpty else { continue }
                    let from = Int(gen.next() % UInt64(input.count))
                    input += Array(input[from..<min(input.count, from + Int(gen.next() % 40_000))])
                }
            }
            let blockSize = pageSize * (1 + Int(gen.next() % 8)) * max(1, 16_384 / pageSize)
            let window = UInt64(pageSize) * UInt64(2 + gen.next() % 64)
            let codec = codecs[Int(gen.next() % UInt64(codecs.count))]
            let history = codec.hasPrefix("zstd") && gen.next() % 2 == 0 ? 32_768 : 0
            let threads = 1 + Int(gen.next() % 3)
            let label = "seed \(seed): page \(pageSize), block \(blockSize), window \(window), \(codec), history \(history), \(threads) threads"
            let (stream, stats) = try Codec.encode(input, scratch: scratch) {
                $0.pageSize = pageSize
                $0.blockSize = blockSize
                $0.window = window
                $0.planner = CodecPlanner(fixed: CodecSetting.parse(codec)!)
                $0.history = history
                $0.threads = threads
            }
            XCTAssertEqual(stats.bytesIn, UInt64(input.count), label)
            let (output, error) = Codec.decode(stream, scratch: scratch, threads: threads)
            XCTAssertNil(error, label)
            XCTAssertEqual(output == input, true, "\(label): \(output.count) bytes decoded of \(input.count)")
        }
    }

    func testEmptyInput() throws {
        let scratch = Scratch()
        let (stream, _) = try Codec.encode([], scratch: scratch)
        let (output, error) = Codec.decode(stream, scratch: scratch)
        XCTAssertNil(error)
        XCTAssertEqual(output, [])
    }

    func testZeroAndDuplicatePagesCostAFewBytes() throws {
        let scratch = Scratch()
        var gen = TestData(seed: 2)
        let page = gen.bytes(4096)
        let input = [UInt8](repeating: 0, count: 4096 * 200) + (0..<200).flatMap { _ in page }
        let (stream, stats) = try Codec.encode(input, scratch: scratch) { $0.planner = CodecPlanner(fixed: .none) }
        XCTAssertEqual(stats.zeroBytes, 4096 * 200)
        XCTAssertEqual(stats.duplicateBytes, 4096 * 199)
        // One literal page plus headers; zero and duplicate pages are a few bytes each.
        XCTAssertLessThan(stream.count, 4096 + 2000)
        XCTAssertEqual(Codec.decode(stream, scratch: scratch).output, input)
    }

    func testDuplicatesBeyondTheWindowAreNotReferenced() throws {
        let scratch = Scratch()
        var gen = TestData(seed: 3)
        let page = gen.bytes(4096)
        let filler = gen.bytes(4096 * 40)
        let input = page + filler + page
        let (near, nearStats) = try Codec.encode(input, scratch: scratch) { $0.window = 1 << 20; $0.blockSize = 16384 }
        XCTAssertEqual(nearStats.duplicateBytes, 4096)
        XCTAssertEqual(Codec.decode(near, scratch: scratch).output, input)
        let (far, farStats) = try Codec.encode(input, scratch: scratch) { $0.window = 4096 * 8; $0.blockSize = 16384 }
        XCTAssertEqual(farStats.duplicateBytes, 0)
        XCTAssertEqual(Codec.decode(far, scratch: scratch).output, input)
    }

    func testOrderIsPreservedAcrossManyFramesAndThreads() throws {
        let scratch = Scratch()
        var gen = TestData(seed: 4)
        let input = gen.memoryImage(pages: 2000)
        for threads in [1, 2, 5] {
            let (stream, stats) = try Codec.encode(input, scratch: scratch) { $0.threads = threads; $0.blockSize = 8192 }
            XCTAssertEqual(stats.frames, 1000)
            XCTAssertEqual(Codec.decode(stream, scratch: scratch, threads: threads).output, input)
        }
    }

    func testStreamsDecodedOneAfterAnotherReuseTheirBuffers() throws {
        let scratch = Scratch()
        var gen = TestData(seed: 9)
        let input = gen.memoryImage(pages: 2048)
        let block = 256 << 10
        let (stream, _) = try Codec.encode(input, scratch: scratch) { $0.blockSize = block }
        let buffers = BufferPools()
        XCTAssertEqual(Codec.decode(stream, scratch: scratch, buffers: buffers).output, input)
        // The window of back-references (128 MiB) held every one of the 32 frames to the end.
        let outputs = buffers.pool(bufferCapacity: block)
        XCTAssertEqual(outputs.allocated, 32)
        for _ in 0..<3 {
            XCTAssertEqual(Codec.decode(stream, scratch: scratch, buffers: buffers).output, input)
        }
        XCTAssertEqual(outputs.allocated, 32, "later decodes take the buffers the first one left")
    }

    func testLiteralHistoryRoundTripsAndHelpsRepetitiveData() throws {
        let scratch = Scratch()
        var gen = TestData(seed: 6)
        // Text pages that repeat with small changes a few frames apart: history can see them.
        let phrase = gen.text(3000)
        var input: [UInt8] = []
        for i in 0..<400 { input += Array(phrase.prefix(2900)) + Array("page \(i)".utf8) + [UInt8](repeating: UInt8(i % 251), count: 4096 - 2900 - "page \(i)".utf8.count) }
        let (plain, _) = try Codec.encode(input, scratch: scratch, name: "a") { $0.blockSize = 16384; $0.window = 0 }
        for threads in [1, 3] {
            let (stream, _) = try Codec.encode(input, scratch: scratch, name: "b") {
                $0.blockSize = 16384; $0.window = 0; $0.history = 65536; $0.threads = threads
            }
            XCTAssertLessThan(stream.count, plain.count, "history should help repeated content")
            let (output, error) = Codec.decode(stream, scratch: scratch, threads: threads)
            XCTAssertNil(error)
            XCTAssertEqual(output, input)
        }
    }

    func testAutoCodecRoundTrips() throws {
        let scratch = Scratch()
        var gen = TestData(seed: 5)
        let input = gen.memoryImage(pages: 600)
        let (stream, stats) = try Codec.encode(input, scratch: scratch) {
            $0.planner = CodecPlanner(linkBitsPerSecond: 100e6, threads: 2)
            $0.blockSize = 65536
        }
        XCTAssertFalse(stats.codecMix.isEmpty)
        XCTAssertEqual(Codec.decode(stream, scratch: scratch).output, input)
    }
}
