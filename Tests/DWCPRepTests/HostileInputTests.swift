import DWCPCore
@testable import DWCPRep
import XCTest

/// Corrupted evidence must give per-line errors, never a crash or a wrong verdict.
final class HostileInputTests: XCTestCase {
    func testMutatedRecordsAreErrorsOrChecked() throws {
        let sim = TraceSimulator(nodes: 8, byzantine: 0, rounds: 20, fanout: 2, seed: 3)
        let population = try sim.population()
        let keys = KeyRing()
        for n in population { keys.admit(n.id, key: n.keys.publicKey) }
        var lines: [String] = []
        try sim.run(population) { lines.append($0.json) }
        var rng = SplitMix(seed: 99)
        var mutated: [Substring] = []
        for _ in 0..<3000 {
            var bytes = Array(lines[rng.below(lines.count)].utf8)
            switch rng.below(4) {
            case 0: bytes[rng.below(bytes.count)] = UInt8(truncatingIfNeeded: rng.next())
            case 1: bytes = Array(bytes.prefix(rng.below(bytes.count)))
            case 2: bytes.insert(UInt8(ascii: "\""), at: rng.below(bytes.count))
            default: bytes = (0..<rng.below(300)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            }
            mutated.append(Substring(String(decoding: bytes, as: UTF8.self)))
        }
        let detector = Detector(config: .init())
        let processor = EvidenceProcessor(keys: keys, detector: detector)
        let (findings, errors) = processor.process(mutated)
        XCTAssertGreaterThan(errors.count, 1000)
        // A mutated record that still parses either verifies (the change missed signed fields,
        // e.g. observer or recv_ms) or is blamed on its peer; a valid signature over changed
        // content is impossible.
        for f in findings where f.kind == .equivocation { XCTAssertNil(f.proof?.problem(), "a proof that does not hold") }
    }

    func testJSONParserSurvivesRandomBytes() {
        var rng = SplitMix(seed: 7)
        for _ in 0..<20_000 {
            let bytes = (0..<rng.below(80)).map { _ in [UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: "\""),
                                                         UInt8(ascii: ":"), UInt8(ascii: ","), UInt8(ascii: "1"), UInt8(ascii: "e"), UInt8(ascii: "\\"),
                                                         UInt8(ascii: "u"), UInt8(ascii: "-")][rng.below(12)] }
            _ = try? JSONValue.parse(String(decoding: bytes, as: UTF8.self))
        }
    }
}
