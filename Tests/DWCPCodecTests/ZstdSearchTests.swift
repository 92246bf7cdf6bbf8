import DWCPCodec
import DWCPCore
import XCTest

final class ZstdSearchTests: XCTestCase {
    private func entropy(_ bytes: [UInt8]) -> Double {
        bytes.withUnsafeBytes { ByteEntropy.sampled($0) }
    }

    func testEntropyOfKnownDistributions() {
        XCTAssertEqual(entropy([UInt8](repeating: 7, count: 100_000)), 0, accuracy: 1e-12)
        XCTAssertEqual(entropy((0..<65536).map { UInt8(truncatingIfNeeded: $0) }), 8, accuracy: 1e-12)
        XCTAssertEqual(entropy((0..<1000).map { UInt8($0 % 2) }), 1, accuracy: 1e-12)   // small: all of it is counted
        XCTAssertEqual(entropy([]), 0)
    }

    func testEntropySamplesTheWholeBufferNotItsStart() {
        var gen = TestData(seed: 11)
        // Random start, constant rest: three of the four slices see one byte value.
        let mixed = gen.bytes(16384) + [UInt8](repeating: 0x41, count: 1 << 20)
        XCTAssertLessThan(entropy(mixed), 3)
        // Constant start, random rest: three slices are random.
        let reversed = [UInt8](repeating: 0x41, count: 8192) + gen.bytes(1 << 20)
        XCTAssertGreaterThan(entropy(reversed), 5.5)
    }

    func testTheAdaptiveSettingSearchesRandomAndStructuredBytesDifferently() {
        var gen = TestData(seed: 12)
        let random = gen.bytes(1 << 20)
        let text = gen.text(1 << 20)
        func search(_ s: CodecSetting, _ b: [UInt8]) -> ZstdSearch { b.withUnsafeBytes { ZstdSearch.choose(s, section: $0) } }
        XCTAssertEqual(search(.adaptiveZstd, random), .nearlyRandom)
        XCTAssertEqual(search(.adaptiveZstd, text), .nearRepeats)
        // Against a prefix, random-looking bytes may be the prefix's: the wide tables.
        XCTAssertEqual(random.withUnsafeBytes { ZstdSearch.choose(.adaptiveZstd, section: $0, hasPrefix: true) }, .farRepeats)
        XCTAssertEqual(search(CodecSetting(codec: .zstd, level: 3), random), .level(3))
        XCTAssertEqual(search(CodecSetting(codec: .zstd, level: 3), text), .level(3))
    }

    private func farFraction(_ bytes: [UInt8]) -> Double {
        bytes.withUnsafeBytes { MatchReach.farRepeatFraction($0) }
    }

    /// Repeats count as far only from `farDistance` back, wherever they lie in their words'
    /// alignment, and nothing else does.
    func testFarRepeatFractionMeasuresHowFarBackRepeatsLie() {
        var gen = TestData(seed: 15)
        let random = gen.bytes(4 << 20)
        XCTAssertEqual(farFraction(random), 0, accuracy: 0.001)  // no repeats at all
        XCTAssertEqual(farFraction([]), 0)
        XCTAssertEqual(farFraction([UInt8](repeating: 0, count: 1 << 20)), 0)  // zero words are not sampled
        // 64 KiB of random bytes, over and over: every repeat is 64 KiB back, near.
        let near = [[UInt8]](repeating: Array(random[0..<(64 << 10)]), count: 32).flatMap { $0 }
        XCTAssertEqual(farFraction(near), 0)
        // 1 MiB of random bytes twice, 1 MiB apart: a third of the samples repeat 2 MiB back,
        // less the few whose slot in the last-seen table a later sample took meanwhile.
        let block = Array(random[0..<(1 << 20)])
        let far = farFraction(block + random[(1 << 20)..<(2 << 20)] + block)
        XCTAssertGreaterThan(far, 0.25)
        XCTAssertLessThanOrEqual(far, 1.0 / 3 + 0.01)
        // Exactly at the far distance counts; just under does not.
        let span = Array(random[0..<MatchReach.farDistance])
        XCTAssertEqual(farFraction(span + span), 0.5, accuracy: 0.05)
        let short = Array(random[0..<(MatchReach.farDistance - 8)])
        XCTAssertEqual(farFraction(short + short), 0)
    }

    /// Heaps whose repeats lie close get the narrow tables, those whose repeats lie far the wide
    /// ones, and a section too short to hold a far repeat is not scanned.
    func testRepeatsDecideBetweenTheNarrowAndTheWideTables() {
        var gen = TestData(seed: 16)
        // Random over 16 byte values: 4 bits a byte, structured as far as entropy tells.
        func structured(_ n: Int) -> [UInt8] { gen.bytes(n).map { $0 & 0x0F | 0x40 } }
        func search(_ b: [UInt8]) -> ZstdSearch { b.withUnsafeBytes { ZstdSearch.choose(.adaptiveZstd, section: $0) } }
        XCTAssertEqual(search([[UInt8]](repeating: structured(64 << 10), count: 48).flatMap { $0 }), .nearRepeats)
        let a = structured(1 << 20)
        XCTAssertEqual(search(a + structured(1 << 20) + a), .farRepeats)
        XCTAssertEqual(search(Array(a[0..<MatchReach.farDistance])), .nearRepeats)
    }

    func testDefaultsAndNames() {
        XCTAssertEqual(CodecSetting.parse("zstd"), .adaptiveZstd)
        XCTAssertEqual(CodecSetting.parse("zstd:3"), CodecSetting(codec: .zstd, level: 3))
        XCTAssertNotEqual(CodecSetting.parse("zstd:3"), .adaptiveZstd)
        XCTAssertEqual(CodecSetting.standard(for: .lz4), CodecSetting(codec: .lz4, level: 1))
        XCTAssertEqual(CodecSetting.adaptiveZstd.description, "zstd-adaptive")
    }

    /// A default-encoded stream of nearly random and text frames: each frame's literal bytes are
    /// counted under the search it got, and the whole round-trips.
    func testStatsNameTheSearchEachFrameGot() throws {
        let scratch = Scratch()
        var gen = TestData(seed: 13)
        // A fifth of the bytes from 8 letters, the rest random: 7.6 bits a byte, and zstd still
        // saves ~4 % (so the section is stored compressed and counted under its search).
        func nearlyRandom(_ n: Int) -> [UInt8] {
            (0..<n).map { _ in
                let r = gen.next()
                return r % 5 == 0 ? UInt8(97 + (r >> 8) % 8) : UInt8(truncatingIfNeeded: r >> 16)
            }
        }
        let input = nearlyRandom(1 << 20) + gen.text(1 << 20) + nearlyRandom(1 << 20)
        let (stream, stats) = try Codec.encode(input, scratch: scratch) { $0.blockSize = 1 << 20 }
        XCTAssertEqual(stats.codecMix["zstd-fast"], 2 << 20)
        XCTAssertEqual(stats.codecMix["zstd-dfast-near"], 1 << 20)
        XCTAssertEqual(Codec.decode(stream, scratch: scratch).output, input)
        let (_, fixed) = try Codec.encode(input, scratch: scratch) {
            $0.blockSize = 1 << 20
            $0.planner = CodecPlanner(fixed: CodecSetting(codec: .zstd, level: 3))
        }
        XCTAssertEqual(fixed.codecMix, ["zstd-3": 3 << 20])
    }

    /// The structured search's window reaches across the whole frame: a 1 MiB image-like run
    /// repeated 2.5 MiB later (duplicate pages off, so zstd must find it) costs little the second
    /// time, where level 3's 2 MiB window cannot reach it and level 1's 512 KiB one even less.
    func testStructuredSearchReachesAcrossTheFrame() throws {
        let scratch = Scratch()
        var gen = TestData(seed: 14)
        let run = gen.memoryImage(pages: 256)
        let input = run + gen.text(3 << 19) + run
        func size(_ s: CodecSetting) throws -> Int {
            try Codec.encode(input, scratch: scratch) { $0.blockSize = 4 << 20; $0.planner = CodecPlanner(fixed: s); $0.window = 0 }.stream.count
        }
        let adaptive = try size(.adaptiveZstd)
        let level3 = try size(CodecSetting(codec: .zstd, level: 3))
        let level1 = try size(CodecSetting(codec: .zstd, level: 1))
        XCTAssertLessThan(adaptive, level3 * 3 / 4)
        XCTAssertLessThan(level3, level1)
    }
}
