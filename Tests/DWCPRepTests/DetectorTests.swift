import DWCPCore
@testable import DWCPRep
import XCTest

final class DetectorTests: XCTestCase {
    static func pair(_ n: UInt8) -> Ed25519.KeyPair { try! Ed25519.keyPair(seed: [UInt8](repeating: n, count: 32)) }
    let a = DetectorTests.pair(1), b = DetectorTests.pair(2), c = DetectorTests.pair(3)

    func ring() -> KeyRing {
        let r = KeyRing()
        r.admit("a", key: a.publicKey)
        r.admit("b", key: b.publicKey)
        r.admit("c", key: c.publicKey)
        return r
    }

    func message(_ sender: String, _ keys: Ed25519.KeyPair, seq: UInt64, digest: UInt8 = 7, sent: Int64 = 0) -> SignedMessage {
        var m = SignedMessage(sender: sender, epoch: 1, seq: seq, digest: [UInt8](repeating: digest, count: 32), nonce: [1, 2, seq.lowByte], sentMs: sent)
        try! m.sign(with: keys)
        return m
    }

    func run(_ records: [EvidenceRecord], config: Detector.Config = .init()) -> (Detector, [Finding]) {
        let d = Detector(config: config)
        let p = EvidenceProcessor(keys: ring(), detector: d, workers: 2)
        let (findings, errors) = p.process(records.map { Substring($0.json) })
        XCTAssertTrue(errors.isEmpty)
        return (d, findings)
    }

    func testSignaturesVerifyAndAnyChangeBreaksThem() {
        let m = message("a", a, seq: 1)
        XCTAssertTrue(Ed25519.verify(signature: m.signature, message: m.signedBytes, publicKey: a.publicKey))
        for change in [{ (x: inout SignedMessage) in x.seq += 1 }, { $0.digest[0] ^= 1 }, { $0.sentMs += 1 }, { $0.sender = "b" }, { $0.nonce = [] }] {
            var x = m
            change(&x)
            XCTAssertFalse(Ed25519.verify(signature: x.signature, message: x.signedBytes, publicKey: a.publicKey))
        }
        XCTAssertFalse(Ed25519.verify(signature: m.signature, message: m.signedBytes, publicKey: b.publicKey))
    }

    func testForgeryBlamesTheLinkPeerNeverTheClaimedSender() {
        var forged = message("a", c, seq: 5)  // signed by c, claiming a
        forged.sender = "a"
        let (d, findings) = run([EvidenceRecord(observer: "b", peer: "c", recvMs: 10, message: forged)])
        XCTAssertEqual(findings.first?.kind, .invalidSignature)
        XCTAssertEqual(findings.first?.node, "c")
        XCTAssertEqual(d.book.standing("c").state, .quarantined)
        XCTAssertEqual(d.book.standing("a").state, .ok)
        XCTAssertFalse(findings.contains { $0.node == "a" })
    }

    func testEquivocationIsProvenWithATransferableProof() throws {
        let m1 = message("a", a, seq: 9, digest: 1), m2 = message("a", a, seq: 9, digest: 2)
        let (d, findings) = run([EvidenceRecord(observer: "b", peer: "a", recvMs: 10, message: m1),
                                 EvidenceRecord(observer: "c", peer: "a", recvMs: 12, message: m2)])
        let f = try XCTUnwrap(findings.first { $0.kind == .equivocation })
        XCTAssertEqual(f.node, "a")
        XCTAssertEqual(d.book.standing("a").state, .quarantined)
        let proof = try EquivocationProof.parse(try JSONValue.parse(f.json))
        XCTAssertNil(proof.problem())
        var forged = proof
        forged.b.digest[3] ^= 1
        XCTAssertNotNil(forged.problem())
        var same = proof
        same.b = same.a
        XCTAssertEqual(same.problem(), "the two messages carry the same content")
    }

    func testReplayAfterGraceBlamesTheDeliverer() {
        let m = message("a", a, seq: 3)
        let (d, findings) = run([EvidenceRecord(observer: "b", peer: "a", recvMs: 10, message: m),
                                 EvidenceRecord(observer: "b", peer: "a", recvMs: 500, message: m),  // retransmission
                                 EvidenceRecord(observer: "b", peer: "c", recvMs: 60_000, message: m)])
        XCTAssertEqual(findings.filter { $0.kind == .replay }.map(\.node), ["c"])
        XCTAssertEqual(d.book.standing("a").state, .ok)
        XCTAssertEqual(d.book.standing("c").state, .quarantined)
    }

    func testLateRelaysAreReplaysEvenWhereTheOriginalNeverArrived() {
        // Observer c never saw the message; a relay long after it went round is still a replay.
        let m = message("a", a, seq: 4, sent: 0)
        let unseen = message("a", a, seq: 5, sent: 0)
        let (d, findings) = run([EvidenceRecord(observer: "b", peer: "a", recvMs: 30, message: m),
                                 EvidenceRecord(observer: "c", peer: "b", recvMs: 300, message: m),  // prompt relay: fine
                                 EvidenceRecord(observer: "c", peer: "b", recvMs: 20_000, message: unseen)])
        XCTAssertEqual(findings.filter { $0.kind == .replay }.map(\.node), ["b"])
        XCTAssertEqual(d.book.standing("a").state, .ok)
        let (_, late) = run([EvidenceRecord(observer: "b", peer: "a", recvMs: 30, message: m),
                             EvidenceRecord(observer: "c", peer: "b", recvMs: 9000, message: m)])
        XCTAssertEqual(late.filter { $0.kind == .replay }.map(\.node), ["b"])
    }

    func testStaleMessagesBeyondTheWindowAreReplays() {
        var config = Detector.Config()
        config.window = 16
        var records = (0..<40).map { i in EvidenceRecord(observer: "b", peer: "a", recvMs: Int64(i) * 1000 + 20, message: message("a", a, seq: UInt64(i), sent: Int64(i) * 1000)) }
        records.append(EvidenceRecord(observer: "b", peer: "c", recvMs: 41_000, message: message("a", a, seq: 2, sent: 2000)))
        let (_, findings) = run(records, config: config)
        XCTAssertEqual(findings.filter { $0.kind == .replay }.map(\.node), ["c"])
    }

    func testASenderCannotGrowItsWindowWithoutBound() {
        var config = Detector.Config()
        config.window = 16
        var records = [EvidenceRecord(observer: "b", peer: "a", recvMs: 0, message: message("a", a, seq: 0))]
        var newer = message("a", a, seq: 0)
        newer.epoch = 5
        try! newer.sign(with: a)
        records.append(EvidenceRecord(observer: "b", peer: "a", recvMs: 1, message: newer))
        // Valid messages for the previous epoch at scattered sequence numbers.
        for i in 0..<200 {
            var m = message("a", a, seq: UInt64(i * 1000))
            m.epoch = 4
            try! m.sign(with: a)
            records.append(EvidenceRecord(observer: "b", peer: "a", recvMs: 2 + Int64(i), message: m))
        }
        let (d, _) = run(records, config: config)
        XCTAssertLessThanOrEqual(d.senders["a"]!.slots.count, 32)
    }

    func testOnOffAttackerIsQuarantinedWhereAnAverageAloneWouldNot() {
        // Late on every second message: the EWMA settles near 0.47, above the threshold.
        let records = (0..<400).map { i -> EvidenceRecord in
            let late: Int64 = i % 2 == 1 ? 2500 : 30
            return EvidenceRecord(observer: "b", peer: "a", recvMs: Int64(i) * 1000 + late, message: message("a", a, seq: UInt64(i), sent: Int64(i) * 1000))
        }
        let (d, findings) = run(records)
        XCTAssertEqual(d.book.standing("a").state, .quarantined)
        XCTAssertTrue(findings.contains { $0.kind == .timing && $0.node == "a" && !$0.certain })
        XCTAssertGreaterThan(d.book.standing("a").score, 0.3, "the score alone would not have caught it")
    }

    func testUnadmittedIdentitiesAreReportedOnce() {
        let stranger = Self.pair(9)
        var m = SignedMessage(sender: "s1", epoch: 0, seq: 0, digest: [UInt8](repeating: 1, count: 32), nonce: [], sentMs: 0)
        try! m.sign(with: stranger)
        let (d, findings) = run([EvidenceRecord(observer: "b", peer: "s1", recvMs: 5, message: m),
                                 EvidenceRecord(observer: "c", peer: "s1", recvMs: 6, message: m)])
        XCTAssertEqual(findings.filter { $0.kind == .unadmitted }.count, 1)
        XCTAssertEqual(d.book.standing("s1").state, .quarantined)
        // An admission certificate from the authority admits it.
        let ca = Self.pair(42)
        let ring = KeyRing(authority: ca.publicKey)
        let cert = try! Ed25519.sign(KeyRing.admissionBytes("s1", stranger.publicKey), with: ca)
        XCTAssertTrue(ring.admit("s1", key: stranger.publicKey, certificate: cert))
        XCTAssertFalse(ring.admit("s2", key: stranger.publicKey, certificate: cert), "a certificate names one id")
    }

    func testStateCarriesAcrossRunsExactly() throws {
        let sim = TraceSimulator(nodes: 20, byzantine: 0.3, rounds: 60, fanout: 3, seed: 5)
        let (_, keys, lines) = try simulated(sim)
        let whole = Detector(config: .init())
        let all = EvidenceProcessor(keys: keys, detector: whole).process(lines).findings.map(\.json)
        let half = lines.count / 2
        let first = Detector(config: .init())
        var split = EvidenceProcessor(keys: keys, detector: first).process(Array(lines[..<half])).findings.map(\.json)
        let second = Detector(config: .init())
        try StateFile.restore(StateFile.encode(first), into: second)
        split += EvidenceProcessor(keys: keys, detector: second).process(Array(lines[half...])).findings.map(\.json)
        XCTAssertEqual(all, split, "two runs with a state file find what one run finds")
        XCTAssertEqual(StateFile.encode(whole), StateFile.encode(second))
        XCTAssertThrowsError(try StateFile.restore("{\"dwcp_rep_state\":9}\n", into: Detector(config: .init())))
    }

    func testACutOrAlteredStateFileIsRefusedNeverReadAsLess() throws {
        let sim = TraceSimulator(nodes: 10, byzantine: 0.2, rounds: 30, fanout: 3, seed: 7)
        let (_, keys, lines) = try simulated(sim)
        let detector = Detector(config: .init())
        _ = EvidenceProcessor(keys: keys, detector: detector).process(lines)
        let text = StateFile.encode(detector)
        XCTAssertNoThrow(try StateFile.restore(text, into: Detector(config: .init())))
        let rows = text.split(separator: "\n", omittingEmptySubsequences: false)
        func refused(_ altered: String, _ message: String, file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertThrowsError(try StateFile.restore(altered, into: Detector(config: .init())), file: file, line: line) { e in
                XCTAssertTrue("\(e)".contains(message), "\(e) should say \(message)", file: file, line: line)
            }
        }
        // Cut at a line boundary: every line left parses, but the digest line is gone.
        refused(rows.prefix(rows.count / 2).joined(separator: "\n") + "\n", "truncated")
        // One digit changed: valid JSON, wrong digest.
        let i = text.range(of: "\"messages\":")!.upperBound
        var altered = text
        altered.replaceSubrange(i..<altered.index(after: i), with: text[i] == "9" ? "8" : "9")
        refused(altered, "corrupted")
        // A line dropped from the middle: the count disagrees.
        var dropped = rows
        dropped.remove(at: 2)
        refused(dropped.joined(separator: "\n"), "truncated")
        // A version 1 file (no digest line) with numbers no counter can hold: an error, not a trap.
        let v1 = "{\"dwcp_rep_state\":1,\"records\":1e300}\n"
        refused(v1, "records is not a whole number")
        let body = rows.dropLast(2).joined(separator: "\n").replacingOccurrences(of: "\"dwcp_rep_state\":2", with: "\"dwcp_rep_state\":1") + "\n"
        XCTAssertNoThrow(try StateFile.restore(body, into: Detector(config: .init())), "a version 1 file still loads")
        let hostile = body.replacingOccurrences(of: "\"population\":[0,", with: "\"population\":[-1,")
        refused(hostile, "population is not a whole number")
        refused("", "empty")
    }

    func testGroundTruthOnASimulatedNetwork() throws {
        let sim = TraceSimulator(nodes: 60, byzantine: 0.33, rounds: 300, fanout: 3, seed: 11)
        let (population, keys, lines) = try simulated(sim)
        let d = Detector(config: .init())
        let findings = EvidenceProcessor(keys: keys, detector: d).process(lines).findings
        for row in GroundTruth.score(population, findings: findings, book: d.book) {
            if row.label.isHonest {
                XCTAssertEqual(row.falsePositives, 0, "\(row.label) quarantined")
                XCTAssertEqual(row.framedBlamed, 0, "\(row.label) framed")
            } else {
                XCTAssertEqual(row.detected, row.nodes, "\(row.label) missed")
            }
            if row.label == .slow { XCTAssertEqual(row.detected, row.nodes, "slow nodes reported") }
        }
    }
}

private extension UInt64 {
    var lowByte: UInt8 { UInt8(truncatingIfNeeded: self) }
}

/// A simulated network's evidence: its population, the allow-list of its admitted nodes, and the
/// evidence lines it produced.
func simulated(_ sim: TraceSimulator) throws -> (population: [TraceSimulator.Node], keys: KeyRing, lines: [Substring]) {
    let population = try sim.population()
    let keys = KeyRing()
    for n in population where n.admitted { keys.admit(n.id, key: n.keys.publicKey) }
    var lines: [Substring] = []
    try sim.run(population) { lines.append(Substring($0.json)) }
    return (population, keys, lines)
}
