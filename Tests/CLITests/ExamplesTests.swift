import Foundation
import XCTest

/// Every script in examples/ runs to the end with the binaries under test: the examples are
/// documentation, and documentation that no longer runs misleads. (`rep-cron.sh` had stopped
/// half-way under `pipefail`, and `resume-transfer.sh` killed a subshell instead of its sender,
/// which then raced the restarted one; nothing noticed.)
final class ExamplesTests: XCTestCase {
    func testEveryExampleRuns() throws {
        let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../examples").standardized
        let t = TempDir()
        _ = try CLI.shell("head -c 6000000 /dev/urandom > \(t.path("image")); head -c 2000000 /dev/zero >> \(t.path("image")); head -c 64000000 /dev/urandom > \(t.path("big"))")
        let image = t.path("image")
        // Arguments per example; a new example needs a line here.
        let runs: [String: [String]] = [
            "auto-codec.sh": [image],
            "link-monitor.sh": [String(freePort()), "6"],
            "place-cluster.sh": [],
            "precopy-rounds.sh": [image],
            "predict-live.sh": [],
            "rep-cron.sh": [],
            "resume-transfer.sh": [t.path("big"), String(freePort())],
            "roundtrip.sh": [image],
            "sparse-image.sh": [String(freePort())],
            "tls-transfer.sh": [image, String(freePort())],
            "zstd-interop.sh": [image],
        ]
        let present = try FileManager.default.contentsOfDirectory(atPath: examples.path).filter { $0.hasSuffix(".sh") }
        XCTAssertEqual(Set(present), Set(runs.keys), "every example, and only those, has its arguments here")
        for name in present.sorted() {
            guard let args = runs[name] else { continue }
            let script = "cd \(t.url.path) && bash \(examples.appendingPathComponent(name).path) " + args.joined(separator: " ")
            let r = try CLI.shell(script)
            XCTAssertEqual(r.status, 0, "\(name): \(r.stderr.suffix(1500)) \(String(decoding: r.stdout, as: UTF8.self))")
            XCTAssertFalse(r.stdout.isEmpty, "\(name) printed nothing")
            if name == "resume-transfer.sh" {
                // Killed half-way, the restarted pair continues from the receiver's checkpoint.
                let out = String(decoding: r.stdout, as: UTF8.self)
                let resumed = out.split(separator: "\n").first { $0.hasPrefix("restarted: ") }.flatMap { Int($0.split(separator: " ")[1]) }
                XCTAssertGreaterThan(resumed ?? 0, 0, out)
            }
        }
    }
}
