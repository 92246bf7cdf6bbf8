import Foundation
import XCTest

final class PredictCLITests: XCTestCase {
    func testOneForecastLinePerSampleAndNoNaN() throws {
        let t = TempDir()
        var lines = ""
        for i in 0..<60 { lines += #"{"t":\#(Double(i) * 0.7),"bps":\#(1e6 + Double(i % 7) * 2e5)}"# + "\n" }
        lines += "garbage\n" + #"{"t":100,"bps":0}"# + "\n"
        t.write("s.jsonl", Data(lines.utf8))
        let r = try CLI.run("dwcp-predict", ["--horizons", "1,5", t.path("s.jsonl")])
        XCTAssertEqual(r.status, 0, r.stderr)
        let out = String(decoding: r.stdout, as: UTF8.self).split(separator: "\n")
        XCTAssertEqual(out.count, 60)
        XCTAssertFalse(out.joined().contains("nan") || out.joined().contains("inf"))
        let last = try JSONSerialization.jsonObject(with: Data(out.last!.utf8)) as! [String: Any]
        let forecasts = last["forecast"] as! [[String: Any]]
        XCTAssertEqual(forecasts.map { $0["horizon_s"] as! Int }, [1, 5])
        for f in forecasts {
            let bps = f["bps"] as! Double, p10 = f["p10_bps"] as! Double, p90 = f["p90_bps"] as! Double
            XCTAssertTrue(p10 <= bps && bps <= p90 && bps > 5e5 && bps < 3e6, "\(f)")
        }
        XCTAssertTrue(r.stderr.contains("line 61: malformed JSON"), r.stderr)
        XCTAssertTrue(r.stderr.contains("line 62: rate 0.0 bit/s is not positive"), r.stderr)
        let strict = try CLI.run("dwcp-predict", ["--strict", t.path("s.jsonl")])
        XCTAssertEqual(strict.status, 3)
        XCTAssertTrue(strict.stderr.contains("line 61"), strict.stderr)
    }

    /// The pipelines the manuals show: dwcp-detect --watch into dwcp-predict (its nested
    /// `rtt_ms` made every line a bad one), and dwcp-send --json --interval, whose lines are
    /// samples (before, its one summary line had neither `t` nor `bps`).
    func testReadsWhatDetectAndSendPrint() throws {
        let port = freePort(), recvPort = freePort()
        let t = TempDir()
        let r = try CLI.shell("""
            dwcp-detect --serve 127.0.0.1:\(port) & dp=$!
            dwcp-recv --listen 127.0.0.1:\(recvPort) -o /dev/null & rp=$!
            sleep 0.3
            dwcp-detect --watch 0.1 --burst 0.05 --pings 3 127.0.0.1:\(port) | head -8 | dwcp-predict --horizons 1 > \(t.path("detect.out")) 2> \(t.path("detect.err"))
            echo "predict ${PIPESTATUS[2]}"
            head -c 6000000 /dev/urandom | dwcp-send --json --interval 0.1 --max-rate 48Mbit 127.0.0.1:\(recvPort) > \(t.path("send.json"))
            dwcp-predict --strict --horizons 1 \(t.path("send.json")) > \(t.path("send.out"))
            echo "send $?"
            kill $dp; wait $rp
            """)
        XCTAssertEqual(String(decoding: r.stdout, as: UTF8.self).split(separator: "\n"), ["predict 0", "send 0"], r.stderr)
        XCTAssertEqual(String(decoding: t.read("detect.err"), as: UTF8.self), "", "no line of dwcp-detect's is a bad one")
        let forecasts = String(decoding: t.read("detect.out"), as: UTF8.self).split(separator: "\n")
        XCTAssertEqual(forecasts.count, 8, "a forecast line per measurement")
        // About a second at 48 Mbit/s: ~9 progress samples of ~48 Mbit/s, and the summary.
        let samples = try jsonLines(t.read("send.json"))
        XCTAssertGreaterThanOrEqual(samples.count, 6, "\(samples)")
        XCTAssertEqual(samples.last?["verified"] as? Bool, true)
        XCTAssertEqual(String(decoding: t.read("send.out"), as: UTF8.self).split(separator: "\n").count, samples.count,
                       "every line dwcp-send prints is a sample")
        // An interval with nothing delivered is idle, not a rate of 0 that --strict refuses: a
        // progress line in the wait for the verdict failed this test now and then.
        for sample in samples where (sample["bps"] as? Double) == 0 { XCTAssertEqual(sample["state"] as? String, "I", "\(sample)") }
        let quiet = try CLI.shell("""
            dwcp-recv --listen 127.0.0.1:\(recvPort) -o /dev/null & rp=$!
            sleep 0.3
            (head -c 100000 /dev/urandom; sleep 0.8) | dwcp-send --json --interval 0.1 127.0.0.1:\(recvPort) > \(t.path("quiet.json"))
            dwcp-predict --strict --horizons 1 \(t.path("quiet.json")) > /dev/null; echo $?
            wait $rp
            """)
        XCTAssertEqual(quiet.printed, "0", quiet.stderr)
        XCTAssertGreaterThanOrEqual(try jsonLines(t.read("quiet.json")).filter { $0["state"] as? String == "I" }.count, 4, "the quiet input's intervals are idle")
        let rates = samples.dropFirst().dropLast().compactMap { $0["bps"] as? Double }
        let median = rates.sorted()[rates.count / 2]
        XCTAssertTrue((30e6...60e6).contains(median), "the samples follow --max-rate: \(rates)")
    }

    func testHostileTimesAndRatesNeitherHangNorCrash() throws {
        let t = TempDir()
        var lines = #"{"t":1,"bps":1e6}"# + "\n" + #"{"t":1e12,"bps":1e6}"# + "\n"
        lines += #"{"t":1000000000001,"bps":2e6}"# + "\n" + #"{"t":1000000000002,"bps":1e308}"# + "\n"
        lines += #"{"t":1e308,"bps":1.7e6}"# + "\n" + #"{"t":99999999999999999999999e300,"bps":1}"# + "\n"
        t.write("s.jsonl", Data(lines.utf8))
        let started = Date()
        let r = try CLI.run("dwcp-predict", ["--horizons", "1,5", t.path("s.jsonl")])
        XCTAssertLessThan(Date().timeIntervalSince(started), 10)
        XCTAssertEqual(r.status, 0, r.stderr)
        let out = String(decoding: r.stdout, as: UTF8.self).split(separator: "\n")
        // Line 4's rate is no link's, and line 6's t is not finite: both skipped, with a warning.
        XCTAssertEqual(out.count, 4, r.stderr)
        for line in out { XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(line.utf8)), String(line)) }
        XCTAssertTrue(r.stderr.contains("line 4: rate 1e+308 bit/s is not a link's"), r.stderr)
        XCTAssertTrue(r.stderr.contains("line 6"), r.stderr)
        XCTAssertEqual(try CLI.run("dwcp-predict", ["--max-gap", "3601", t.path("s.jsonl")]).status, 2)
        // A horizon given twice printed the same forecast twice.
        XCTAssertEqual(try CLI.run("dwcp-predict", ["--horizons", "1,5,1", t.path("s.jsonl")]).status, 2)
        // An endless line is refused once it passes 1 MiB, not read into memory to its end.
        t.write("long.jsonl", Data((#"{"t":1,"bps":1e6}"# + "\n" + String(repeating: "x", count: 2 << 20)).utf8))
        let long = try CLI.run("dwcp-predict", [], stdin: t.path("long.jsonl"))
        XCTAssertEqual(long.status, 3, long.stderr)
        XCTAssertTrue(long.stderr.contains("stdin:2: line longer than 1048576 bytes"), long.stderr)
    }

    func testEvalOnRealTracesFromShared() throws {
        let shared = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../../shared/data/bandwidth-traces/cork-5g-2020/jsonl").standardized.path
        guard FileManager.default.fileExists(atPath: shared) else {
            XCTFail("../shared/data/bandwidth-traces is missing: this test needs the shared trace data at \(shared)")
            return
        }
        let r = try CLI.run("dwcp-predict", ["eval", "--json", "--horizons", "1,10", shared])
        XCTAssertEqual(r.status, 0, r.stderr)
        let rows = try jsonLines(r.stdout)
        XCTAssertEqual(Set(rows.map { $0["model"] as! String }), ["last", "ma5", "ewma", "harmonic", "holt", "ar3", "auto"])
        for row in rows {
            let band: Set<String> = row["model"] as! String == "auto" ? ["band_coverage"] : []
            XCTAssertEqual(Set(row.keys), Set(["dataset", "model", "horizon_s", "w20", "medape", "n"]).union(band))
            XCTAssertGreaterThan(row["n"] as! Int, 1000)
        }
        let w20 = { (m: String, h: Int) in rows.first { $0["model"] as! String == m && $0["horizon_s"] as! Int == h }!["w20"] as! Double }
        // Last value is the model to beat one second ahead on 5G (see the issue); auto must be close.
        XCTAssertGreaterThan(w20("last", 1), w20("ewma", 1))
        XCTAssertGreaterThan(w20("auto", 1), w20("last", 1) - 0.02)
        // A directory without test traces, named after a good one, fails before any line: it
        // used to leave the good one's rows (or the table's header) and then exit 1.
        let t = TempDir()
        try FileManager.default.createDirectory(atPath: t.path("empty"), withIntermediateDirectories: true)
        for format in [["--json"], []] {
            let bad = try CLI.run("dwcp-predict", ["eval"] + format + ["--horizons", "1", shared, t.path("empty")])
            XCTAssertEqual(bad.status, 1, bad.stderr)
            XCTAssertEqual(bad.stdout, Data(), "\(format)")
            XCTAssertTrue(bad.stderr.contains("empty: no test traces"), bad.stderr)
        }
    }

    /// Two link classes, each trained on its own traces; with both model files, auto and gru
    /// follow the class a series resembles, and each file records its class's profile.
    func testOneModelPerLinkClassIsRoutedByProfile() throws {
        let t = TempDir()
        var rng = SystemRandomNumberGenerator()
        for (name, level, jump) in [("steady", 2e6, 0.02), ("jumpy", 2e8, 0.6)] {
            try FileManager.default.createDirectory(atPath: t.path(name), withIntermediateDirectories: true)
            for trace in 0..<12 {
                var lines = "", bps = level
                for i in 0..<200 {
                    bps = max(level / 20, min(level * 20, bps * exp(Double.random(in: -jump...jump, using: &rng))))
                    lines += #"{"t":\#(i),"bps":\#(Int(bps))}"# + "\n"
                }
                t.write("\(name)/trace-\(trace).jsonl", Data(lines.utf8))
            }
            let train = try CLI.run("dwcp-predict", ["train", "--epochs", "1", t.path(name), "-o", t.path("\(name).gru")])
            XCTAssertEqual(train.status, 0, train.stderr)
            let file = String(decoding: t.read("\(name).gru"), as: UTF8.self)
            XCTAssertTrue(file.contains("\nprofile "))
            XCTAssertTrue(file.contains("\nnetworks 4\n"), "the default ensemble is 4 networks")
        }
        let files = ["--model-file", t.path("steady.gru"), "--model-file", t.path("jumpy.gru")]
        let forecast = try CLI.run("dwcp-predict", ["--model", "auto"] + files + [t.path("jumpy/trace-0.jsonl")])
        XCTAssertEqual(forecast.status, 0, forecast.stderr)
        XCTAssertEqual(String(decoding: forecast.stdout, as: UTF8.self).split(separator: "\n").count, 200)
        let eval = try CLI.run("dwcp-predict", ["eval", "--json"] + files + [t.path("steady"), t.path("jumpy")])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        let models = Set(String(decoding: eval.stdout, as: UTF8.self).split(separator: "\n").map {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])??["model"] as? String ?? "?"
        })
        XCTAssertTrue(models.isSuperset(of: ["auto", "gru"]), "\(models)")
    }

    /// `train`'s new knobs: a bad ensemble size or loss is a usage error (exit 2) before any
    /// trace is read; `--ensemble 1 --loss squared` writes a one-network file (no `networks` line).
    func testTrainEnsembleAndLossOptions() throws {
        let t = TempDir()
        try FileManager.default.createDirectory(atPath: t.path("traces"), withIntermediateDirectories: true)
        for trace in 0..<6 {
            let lines = (0..<120).map { #"{"t":\#($0),"bps":\#(1_000_000 + ($0 % 7) * 100_000)}"# }.joined(separator: "\n")
            t.write("traces/trace-\(trace).jsonl", Data((lines + "\n").utf8))
        }
        for bad in [["--ensemble", "0"], ["--ensemble", "17"], ["--loss", "median"]] {
            let r = try CLI.run("dwcp-predict", ["train"] + bad + [t.path("traces")])
            XCTAssertEqual(r.status, 2, "\(bad): \(r.stderr)")
        }
        let r = try CLI.run("dwcp-predict", ["train", "--ensemble", "1", "--loss", "squared", "--epochs", "2", t.path("traces"), "-o", t.path("one.gru")])
        XCTAssertEqual(r.status, 0, r.stderr)
        let file = String(decoding: t.read("one.gru"), as: UTF8.self)
        XCTAssertTrue(file.hasPrefix("dwcp-gru 2\n"))
        XCTAssertFalse(file.contains("networks"))
        let forecast = try CLI.run("dwcp-predict", ["--model", "gru", "--model-file", t.path("one.gru"), t.path("traces/trace-0.jsonl")])
        XCTAssertEqual(forecast.status, 0, forecast.stderr)
    }
}
