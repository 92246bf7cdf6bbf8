import Foundation
import XCTest

final class RepCLITests: XCTestCase {
    /// A usage error in a subcommand points to that subcommand's help, whether the parser
    /// found it (a missing option) or the command did (a value it refuses).
    func testUsageErrorsPointToTheSubcommandsHelp() throws {
        let t = TempDir()
        for (args, hint) in [(["keygen", "-o", t.path("k")], "dwcp-rep keygen --help"),
                             (["keygen", "--id", "a b", "-o", t.path("k")], "dwcp-rep keygen --help"),
                             (["--no-such-flag"], "dwcp-rep detect --help")] {
            let r = try CLI.run("dwcp-rep", args)
            XCTAssertEqual(r.status, 2, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.hasPrefix("dwcp-rep: error: "), r.stderr)
            XCTAssertTrue(r.stderr.contains("Try '\(hint)' for more information."), "\(args): \(r.stderr)")
        }
    }

    /// simulate → detect with a state file, in two cron-like runs → the quarantine list →
    /// dwcp-place --exclude never uses a quarantined node.
    func testDetectIncrementallyAndFeedTheQuarantineToPlacement() throws {
        let t = TempDir()
        let sim = try CLI.run("dwcp-rep", ["simulate", "--nodes", "30", "--byzantine", "0.33", "--rounds", "80", "--fanout", "3",
                                           "--keys-out", t.path("keys"), "--labels-out", t.path("labels")])
        XCTAssertEqual(sim.status, 0, sim.stderr)
        let lines = String(decoding: sim.stdout, as: UTF8.self).split(separator: "\n")
        XCTAssertGreaterThan(lines.count, 1000)
        t.write("part1.jsonl", Data((lines[..<(lines.count / 2)].joined(separator: "\n") + "\n").utf8))
        t.write("part2.jsonl", Data((lines[(lines.count / 2)...].joined(separator: "\n") + "\n").utf8))
        var findings = ""
        for part in ["part1.jsonl", "part2.jsonl"] {
            let r = try CLI.run("dwcp-rep", ["--keys", t.path("keys"), "--state", t.path("state"), "--quarantine-out", t.path("q.txt"), t.path(part)])
            XCTAssertEqual(r.status, 0, r.stderr)
            findings += String(decoding: r.stdout, as: UTF8.self)
        }
        let labels = Dictionary(uniqueKeysWithValues: String(decoding: t.read("labels"), as: UTF8.self).split(separator: "\n").map {
            let w = $0.split(separator: " ")
            return (String(w[0]), String(w[1]))
        })
        let quarantined = String(decoding: t.read("q.txt"), as: UTF8.self).split(separator: "\n").map { String($0.split(separator: " ")[0]) }
        XCTAssertFalse(quarantined.isEmpty)
        for id in quarantined { XCTAssertFalse(["honest", "slow", "partitioned"].contains(labels[id]!), "\(id) (\(labels[id]!)) quarantined") }
        for (id, label) in labels where ["equivocator", "forger", "replayer", "tamperer", "skewer", "sybil"].contains(label) {
            XCTAssertTrue(quarantined.contains(id), "\(id) (\(label)) not quarantined")
        }
        // An equivocation finding is a proof anyone can check.
        let proofLine = try XCTUnwrap(findings.split(separator: "\n").first { $0.contains("\"equivocation\"") })
        t.write("proof.json", Data(proofLine.utf8))
        XCTAssertEqual(try CLI.run("dwcp-rep", ["verify-proof", t.path("proof.json")]).status, 0)
        t.write("bad-proof.json", Data(proofLine.replacingOccurrences(of: "\"seq\":", with: "\"seq\":1").utf8))
        XCTAssertEqual(try CLI.run("dwcp-rep", ["verify-proof", t.path("bad-proof.json")]).status, 3)

        // dwcp-place reads the list: no VM on a quarantined node.
        let nodes = labels.keys.sorted().map { "{\"node\":\"\($0)\",\"cpu\":4}" }.joined(separator: "\n") + "\n"
        t.write("nodes.jsonl", Data(nodes.utf8))
        let vms = (0..<60).map { "{\"vm\":\"v\($0)\",\"cpu\":1}" }.joined(separator: "\n") + "\n"
        t.write("vms.jsonl", Data(vms.utf8))
        let place = try CLI.run("dwcp-place", ["--nodes", t.path("nodes.jsonl"), "--objective", "spread", "--exclude", t.path("q.txt"), t.path("vms.jsonl")])
        XCTAssertEqual(place.status, 0, place.stderr)
        for line in String(decoding: place.stdout, as: UTF8.self).split(separator: "\n") {
            let d = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            XCTAssertFalse(quarantined.contains(d["node"] as! String))
        }
    }

    func testKeygenAdmitAndCertificates() throws {
        let t = TempDir()
        let ca = try CLI.run("dwcp-rep", ["keygen", "--id", "ca", "-o", t.path("ca.key")])
        XCTAssertEqual(ca.status, 0, ca.stderr)
        let caPub = String(String(decoding: ca.stdout, as: UTF8.self).split(separator: " ")[1].dropLast())
        XCTAssertEqual(try CLI.run("dwcp-rep", ["keygen", "--id", "ca", "-o", t.path("ca.key")]).status, 1, "never overwrites a key")
        let node = try CLI.run("dwcp-rep", ["keygen", "--id", "n1", "-o", t.path("n1.key")])
        let nodePub = String(String(decoding: node.stdout, as: UTF8.self).split(separator: " ")[1].dropLast())
        let cert = try CLI.run("dwcp-rep", ["admit", "--ca", t.path("ca.key"), "n1", nodePub])
        XCTAssertEqual(cert.status, 0, cert.stderr)
        t.write("certs", cert.stdout)
        t.write("empty.jsonl", Data())
        let ok = try CLI.run("dwcp-rep", ["--admission-ca", caPub, "--certificates", t.path("certs"), t.path("empty.jsonl")])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertTrue(ok.stderr.isEmpty, ok.stderr)
        let wrongCA = try CLI.run("dwcp-rep", ["--admission-ca", nodePub, "--certificates", t.path("certs"), t.path("empty.jsonl")])
        XCTAssertTrue(wrongCA.stderr.contains("does not verify"), wrongCA.stderr)
        XCTAssertEqual(try CLI.run("dwcp-rep", [t.path("empty.jsonl")]).status, 2, "no keys: usage error")
    }

    func testMalformedEvidenceIsReportedPerLineAndExitsOne() throws {
        let t = TempDir()
        t.write("keys", Data("a 0000000000000000000000000000000000000000000000000000000000000000\n".utf8))
        let bad = """
            {"observer":"b","peer":"a","recv_ms":1,"msg":{"sender":"a","epoch":0,"seq":1,"digest":"00","nonce":"","sent_ms":0,"sig":""}}
            {"observer":"b"}
            not json

            """
        t.write("e.jsonl", Data(bad.utf8))
        let r = try CLI.run("dwcp-rep", ["--keys", t.path("keys"), t.path("e.jsonl")])
        XCTAssertEqual(r.status, 1)
        for needle in ["e.jsonl:1: \"digest\" must be hex", "e.jsonl:2: \"peer\" must be a node id", "e.jsonl:3: column 1", "3 malformed evidence lines"] {
            XCTAssertTrue(r.stderr.contains(needle), "stderr lacks \(needle): \(r.stderr)")
        }
    }

    /// `-o` used to truncate whatever it named before reading, the evidence or the allow-list too.
    func testOutputThatIsAnInputIsRefused() throws {
        let t = TempDir()
        let sim = try CLI.run("dwcp-rep", ["simulate", "--nodes", "10", "--rounds", "10", "--keys-out", t.path("keys")])
        XCTAssertEqual(sim.status, 0, sim.stderr)
        t.write("e.jsonl", sim.stdout)
        for target in ["e.jsonl", "keys"] {
            let r = try CLI.run("dwcp-rep", ["--keys", t.path("keys"), "-o", t.path(target), t.path("e.jsonl")])
            XCTAssertEqual(r.status, 2, r.stderr)
            XCTAssertTrue(r.stderr.contains("is also an input; refusing to overwrite it"), r.stderr)
        }
        XCTAssertEqual(t.read("e.jsonl"), sim.stdout)
        let fine = try CLI.run("dwcp-rep", ["--keys", t.path("keys"), "-o", t.path("findings"), t.path("e.jsonl")])
        XCTAssertEqual(fine.status, 0, fine.stderr)
    }
}
