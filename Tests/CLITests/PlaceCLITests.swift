import Foundation
import XCTest

final class PlaceCLITests: XCTestCase {
    static let nodes = """
        {"node":"a","cpu":16,"memory":64,"gpu":0,"zone":"z1","domain":"d1"}
        {"node":"b","cpu":16,"memory":64,"gpu":2,"gpu_model":"T4","zone":"z2","domain":"d2"}
        {"node":"c","cpu":32,"memory":128,"gpu":0,"zone":"z3","domain":"d3"}

        """

    func lines(_ r: CLI.Result) throws -> [[String: Any]] {
        try jsonLines(r.stdout)
    }

    func testBatchReportsBadLinesPlacesTheRestAndExitsOne() throws {
        let t = TempDir()
        t.write("nodes.jsonl", Data(Self.nodes.utf8))
        let requests = """
            {"vm":"r1","cpu":8,"memory":16,"group":"g","anti_affinity":true}
            {"vm":"r2","cpu":8,"memory":16,"group":"g","anti_affinity":true}
            {"vm":"gpu","cpu":4,"memory":8,"gpu":0.5,"gpu_models":["T4"]}
            {"vm":"huge","cpu":64}
            {"vm":"neg","cpu":-2}
            {"vm":"r1","cpu":1}
            not json

            """
        t.write("req.jsonl", Data(requests.utf8))
        let r = try CLI.run("dwcp-place", ["--nodes", t.path("nodes.jsonl")], stdin: t.path("req.jsonl"))
        XCTAssertEqual(r.status, 1, r.stderr)
        let out = try lines(r)
        XCTAssertEqual(out.map { $0["vm"] as! String }, ["r1", "r2", "gpu", "huge"])
        XCTAssertNotEqual(out[0]["node"] as? String, out[1]["node"] as? String, "anti-affinity")
        XCTAssertEqual(out[2]["node"] as? String, "b")
        XCTAssertTrue(out[3]["node"] is NSNull)
        XCTAssertEqual(out[3]["reason"] as? String, "larger than every node: cpu 64 > 32")
        for needle in ["stdin:5: negative demand cpu -2", "stdin:6: duplicate VM id 'r1'", "stdin:7: column 1", "4 bad requests"] {
            XCTAssertTrue(r.stderr.contains(needle), "stderr lacks \(needle): \(r.stderr)")
        }
    }

    func testFollowDecidesAsLinesArriveAndHonoursQuarantine() throws {
        let t = TempDir()
        t.write("nodes.jsonl", Data(Self.nodes.utf8))
        t.write("q.txt", Data("c  # flagged by dwcp-rep\n".utf8))
        let requests = """
            {"vm":"x","cpu":12,"memory":8}
            {"vm":"y","cpu":12,"memory":8}
            {"vm":"z","cpu":12,"memory":8}
            {"release":"x"}
            {"vm":"z2","cpu":12,"memory":8}
            {"release":"nope"}

            """
        t.write("req.jsonl", Data(requests.utf8))
        // Standard input: a file argument would be followed as it grows, like tail -f.
        let r = try CLI.run("dwcp-place", ["--nodes", t.path("nodes.jsonl"), "--follow", "--exclude", t.path("q.txt")], stdin: t.path("req.jsonl"))
        XCTAssertEqual(r.status, 1, r.stderr)
        let out = try lines(r)
        XCTAssertEqual(out.count, 5)
        XCTAssertFalse(out.contains { $0["node"] as? String == "c" }, "quarantined node used")
        XCTAssertTrue(out[2]["node"] is NSNull)
        XCTAssertEqual(out[3]["release"] as? String, "x")
        XCTAssertEqual(out[4]["node"] as? String, out[0]["node"] as? String)
        XCTAssertTrue(r.stderr.contains("release of 'nope', which is not placed"), r.stderr)
    }

    func testUsageAndFatalInputErrors() throws {
        let t = TempDir()
        t.write("dup.jsonl", Data("{\"node\":\"a\",\"cpu\":1}\n{\"node\":\"a\",\"cpu\":1}\n".utf8))
        let dup = try CLI.run("dwcp-place", ["--nodes", t.path("dup.jsonl")])
        XCTAssertEqual(dup.status, 1)
        XCTAssertTrue(dup.stderr.contains("dwcp-place: error: \(t.path("dup.jsonl")):2: duplicate node id 'a'"), dup.stderr)
        let usage = try CLI.run("dwcp-place", ["--nodes", t.path("dup.jsonl"), "--objective", "fast"])
        XCTAssertEqual(usage.status, 2)
        let policy = try CLI.run("dwcp-place", ["--nodes", t.path("dup.jsonl"), "--policy", "l2"])
        XCTAssertEqual(policy.status, 2, "--policy without --follow")
        // A directory without instances is an error, not an empty evaluation that exits 0.
        let instance = t.write("one.vbp", Data("2\n10 10\n1\n5 5 1\n".utf8))
        try FileManager.default.createDirectory(atPath: t.path("empty"), withIntermediateDirectories: true)
        let empty = try CLI.run("dwcp-place", ["eval", "--json", instance, t.path("empty")])
        XCTAssertEqual(empty.status, 1, empty.stderr)
        XCTAssertTrue(empty.stderr.contains("empty: no .vbp instance files"), empty.stderr)
        XCTAssertEqual(empty.stdout, Data())
    }

    /// `-o` used to truncate whatever it named, the node list or the requests being read included.
    func testOutputThatIsAnInputIsRefused() throws {
        let t = TempDir()
        t.write("nodes.jsonl", Data(Self.nodes.utf8))
        t.write("req.jsonl", Data("{\"vm\":\"v\",\"cpu\":1}\n".utf8))
        for target in ["nodes.jsonl", "req.jsonl"] {
            let r = try CLI.run("dwcp-place", ["--nodes", t.path("nodes.jsonl"), "-o", t.path(target), t.path("req.jsonl")])
            XCTAssertEqual(r.status, 2, r.stderr)
            XCTAssertTrue(r.stderr.contains("is also an input; refusing to overwrite it"), r.stderr)
        }
        XCTAssertEqual(t.read("nodes.jsonl"), Data(Self.nodes.utf8))
        let placed = try CLI.run("dwcp-place", ["--nodes", t.path("nodes.jsonl"), "-o", t.path("out.jsonl"), t.path("req.jsonl")])
        XCTAssertEqual(placed.status, 0, placed.stderr)
        XCTAssertEqual(try jsonLines(t.read("out.jsonl")).count, 1)
    }

    func testEvalOnSharedInstancesBeatsTheGreedyPackersAndAuditsEverything() throws {
        let shared = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../../shared/data/placement/vbp-panigrahy").standardized.path
        guard FileManager.default.fileExists(atPath: shared) else {
            XCTFail("../shared/data/placement is missing: this test needs it at \(shared)")
            return
        }
        // The 60-item instances of classes 6 to 8 (90): big enough to separate the algorithms,
        // small enough for a debug build.
        let files = try (6...8).flatMap { k in
            try FileManager.default.contentsOfDirectory(atPath: shared + "/instances/class\(k)")
                .filter { $0.contains("_60_") }.map { shared + "/instances/class\(k)/" + $0 }
        }
        XCTAssertEqual(files.count, 90)
        let r = try CLI.run("dwcp-place", ["eval", "--json", "--bounds", shared + "/Panigrahy_summary_known.tsv",
                                           "--algorithms", "ffd-l2,bc-dot-product,dwcp-ls"] + files)
        XCTAssertEqual(r.status, 0, r.stderr)
        let rows = try lines(r)
        XCTAssertEqual(rows.count, 90 * 3)
        var total: [String: Int] = [:]
        for row in rows {
            total[row["algorithm"] as! String, default: 0] += row["bins"] as! Int
            XCTAssertGreaterThanOrEqual(row["bins"] as! Int, row["lower_bound"] as! Int)
            XCTAssertNotNil(row["best_published"] as? Int)
        }
        XCTAssertLessThan(total["dwcp-ls"]!, total["bc-dot-product"]!)
        XCTAssertLessThan(total["bc-dot-product"]!, total["ffd-l2"]!)
    }
}
