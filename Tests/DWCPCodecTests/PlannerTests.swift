import DWCPCodec
import XCTest

final class CodecPlannerTests: XCTestCase {
    func testSlowLinksGetStrongCompressionAndFastLinksFastCodecs() {
        let slow = CodecPlanner(linkBitsPerSecond: 10e6, threads: 2)
        let fast = CodecPlanner(linkBitsPerSecond: 100e9, threads: 2)
        let slowChoice = slow.choose(literalBytes: 1 << 20)
        let fastChoice = fast.choose(literalBytes: 1 << 20)
        XCTAssertEqual(slowChoice.codec, .zstd)
        XCTAssertGreaterThanOrEqual(slowChoice.level, 9)
        XCTAssertEqual(fastChoice, CodecSetting.none, "at 100 Gbit/s no codec keeps up with the link")
    }

    func testMeasurementsMoveTheChoice() {
        let p = CodecPlanner(linkBitsPerSecond: 1e9, threads: 2)
        let before = p.choose(literalBytes: 1 << 20)
        // Pretend the data is incompressible: every codec measures ratio 1.
        for e in p.snapshot() {
            for _ in 0..<20 { p.record(e.setting, input: 1 << 20, output: 1 << 20, seconds: 0.01) }
        }
        XCTAssertNotEqual(before, CodecSetting.none)
        XCTAssertEqual(p.snapshot().first?.setting, CodecSetting.none, "incompressible data over a fast link should not be compressed")
    }

    /// A link rate measured after the stream began: the next choices follow it, and what the
    /// frames so far taught stays (a codec measured slower than its prior keeps that speed).
    func testALinkMeasuredLaterMovesTheNextChoices() {
        let p = CodecPlanner(linkBitsPerSecond: 1.6e9, threads: 2)
        XCTAssertEqual(p.choose(literalBytes: 1 << 20), CodecSetting(codec: .zstd, level: 1))
        let nine = CodecSetting(codec: .zstd, level: 9)
        p.record(nine, input: 1 << 20, output: 1 << 18, seconds: 1.0 / 30)   // 30 MB/s, ratio 4
        p.setLink(bitsPerSecond: 10e6)
        XCTAssertGreaterThanOrEqual(p.choose(literalBytes: 1 << 20).level, 9, "a 10 Mbit/s link wants the strongest")
        XCTAssertEqual(p.snapshot().first { $0.setting == nine }?.speed ?? 0, 30 * 1_048_576, accuracy: 1, "the measurement stays")
        CodecPlanner(fixed: nine).setLink(bitsPerSecond: 1)   // a fixed planner has no link
    }

    func testFixedPlannerIgnoresFeedback() {
        let s = CodecSetting(codec: .lz4, level: 9)
        let p = CodecPlanner(fixed: s)
        p.record(s, input: 1 << 20, output: 1 << 20, seconds: 100)
        XCTAssertEqual(p.choose(literalBytes: 1), s)
    }
}
