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

    func testFixedPlannerIgnoresFeedback() {
        let s = CodecSetting(codec: .lz4, level: 9)
        let p = CodecPlanner(fixed: s)
        p.record(s, input: 1 << 20, output: 1 << 20, seconds: 100)
        XCTAssertEqual(p.choose(literalBytes: 1), s)
    }
}
