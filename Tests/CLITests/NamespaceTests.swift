import Foundation
import XCTest

/// The transport across two network namespaces joined by a veth pair with `tc tbf` rate limits
/// (built by ../shared/tools/wan/wan-setup.sh without delay or loss: iproute2 only). Needs root.
final class NamespaceTests: XCTestCase {
    func testRateLimitedLinkAcrossNamespaces() throws {
        let wan = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../../shared/tools/wan/wan-setup.sh").standardized.path
        guard FileManager.default.fileExists(atPath: wan) else {
            XCTFail("\(wan) is missing: this test needs ../shared/tools/wan")
            return
        }
        guard getuid() == 0 else {
            XCTFail("network namespaces need root")
            return
        }
        let t = TempDir()
        _ = try CLI.shell("head -c 25000000 /dev/urandom > \(t.path("in"))")
        let script = [
            "export NB_PREFIX=dwcpt WAN_STATE=\(t.path("wan"))",
            "trap 'bash \(wan) down >/dev/null 2>&1' EXIT",
            "bash \(wan) up --rate 200mbit >/dev/null || exit 90",
            "A='ip netns exec dwcpt-a'; B='ip netns exec dwcpt-b'",
            "$B $(which dwcp-recv) --listen 10.200.0.2:7000 -o \(t.path("out")) & rp=$!",
            "sleep 0.5",
            "$A $(which dwcp-detect) --burst 1 10.200.0.2:7000 > \(t.path("detect.json")) || exit 91",
            "$A $(which dwcp-send) --streams 4 --json 10.200.0.2:7000 < \(t.path("in")) > \(t.path("send.json")) & sp=$!",
            "sleep 0.5; $A ss -K -tn state established '( dport = :7000 )' >/dev/null",
            "wait $sp; s=$?; wait $rp; echo \"$s $?\"",
        ].joined(separator: "\n")
        let r = try CLI.shell(script)
        XCTAssertEqual(String(decoding: r.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines), "0 0", r.stderr)
        XCTAssertEqual(t.read("out"), t.read("in"), "byte-identical across the namespaces after killed connections")
        let detect = try JSONSerialization.jsonObject(with: t.read("detect.json")) as! [String: Any]
        let bps = detect["bps"] as! Double
        XCTAssertTrue((120e6...230e6).contains(bps), "a 200 Mbit tbf link measured as \(bps) bit/s")
        XCTAssertEqual(detect["mode"] as? String, "datacenter")
        let send = try JSONSerialization.jsonObject(with: t.read("send.json")) as! [String: Any]
        XCTAssertGreaterThanOrEqual(send["reconnects"] as! Int, 1)
        let rate = (send["gbit_per_s"] as! Double) * 1e9
        XCTAssertLessThan(rate, 230e6, "the tbf limit holds")
    }
}
