import Foundation
import XCTest

/// `--tls` on `dwcp-send`, `dwcp-recv` and `dwcp-detect`, with certificates from
/// `scripts/make-test-certs.sh` (a throwaway CA, a server and a client certificate, a stranger).
final class TLSCLITests: XCTestCase {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized.path

    func makeCertificates(_ t: TempDir) throws -> String {
        let dir = t.path("certs")
        let r = try CLI.shell("bash \(Self.repo)/scripts/make-test-certs.sh \(dir)")
        XCTAssertEqual(r.status, 0, r.stderr)
        return dir
    }

    func lastLine(_ r: CLI.Result) -> String {
        String(decoding: r.stdout, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
    }

    /// Both ends killed mid-transfer over mutual TLS and run again with --resume: the sender
    /// (whose TLS path reads the file rather than sendfile-ing it) skips what the receiver's
    /// checkpoint holds, and the output is byte-identical.
    func testResumedTransferOverTLS() throws {
        let t = TempDir()
        let c = try makeCertificates(t)
        _ = try CLI.shell("head -c 60000000 /dev/urandom > \(t.path("in"))")
        let port = freePort()
        let recv = "dwcp-recv --listen 127.0.0.1:\(port) --tls --cert \(c)/server.pem --key \(c)/server.key --ca \(c)/ca.pem --resume -o \(t.path("out"))"
        let send = "dwcp-send --tls --cert \(c)/client.pem --key \(c)/client.key --ca \(c)/ca.pem --resume --max-rate 200Mbit --streams 3 --json localhost:\(port) \(t.path("in"))"
        let r = try CLI.shell("""
            \(recv) 2>/dev/null & rp=$!
            sleep 0.3
            \(send) > /dev/null 2>&1 & sp=$!
            sleep 1; kill -9 $sp $rp; wait $sp $rp 2>/dev/null
            \(recv) 2>/dev/null & rp=$!
            sleep 0.3
            \(send); s=$?
            wait $rp; echo "$s $?"
            """)
        XCTAssertEqual(lastLine(r), "0 0", r.stderr)
        let summary = String(decoding: r.stdout, as: UTF8.self).split(separator: "\n").first.map(String.init) ?? ""
        let line = try JSONSerialization.jsonObject(with: Data(summary.utf8)) as! [String: Any]
        XCTAssertGreaterThan(line["resumed_bytes"] as! Int, 0)
        XCTAssertEqual(t.read("out"), t.read("in"))
    }

    /// Mutual TLS end to end, while a man in the middle flips one byte of the encrypted stream
    /// and every connection is later killed: the record layer rejects the tampered record, the
    /// connection drops, its chunks are resent, and the output is still byte-identical.
    func testMutualTLSTransferSurvivesTamperingAndKilledConnections() throws {
        let t = TempDir()
        let c = try makeCertificates(t)
        _ = try CLI.shell("head -c 40000000 /dev/urandom > \(t.path("in"))")
        let port = freePort(), proxyPort = freePort()
        // Forwards sender→receiver; on the first connection it flips one byte 3 MB in (well past
        // the TLS and DWCP handshakes, inside an encrypted chunk).
        try """
            import socket, sys, threading
            listen, target = int(sys.argv[1]), int(sys.argv[2])
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", listen)); s.listen(64)
            first = [True]
            def pump(a, b, flip_at):
                seen = 0
                try:
                    while True:
                        d = a.recv(65536)
                        if not d: break
                        if flip_at is not None and seen <= flip_at < seen + len(d):
                            i = flip_at - seen
                            d = d[:i] + bytes([d[i] ^ 0x40]) + d[i + 1:]
                        seen += len(d)
                        b.sendall(d)
                except OSError:
                    pass
                for x in (a, b):
                    try: x.shutdown(socket.SHUT_RDWR)
                    except OSError: pass
            while True:
                c, _ = s.accept()
                u = socket.create_connection(("127.0.0.1", target))
                flip = 3_000_000 if first[0] else None
                first[0] = False
                threading.Thread(target=pump, args=(c, u, flip), daemon=True).start()
                threading.Thread(target=pump, args=(u, c, None), daemon=True).start()
            """.write(toFile: t.path("mitm.py"), atomically: true, encoding: .utf8)
        let r = try CLI.shell("""
            python3 \(t.path("mitm.py")) \(proxyPort) \(port) & mp=$!
            dwcp-recv --listen 127.0.0.1:\(port) --tls --cert \(c)/server.pem --key \(c)/server.key --ca \(c)/ca.pem -o \(t.path("out")) & rp=$!
            sleep 0.5
            dwcp-send --tls --cert \(c)/client.pem --key \(c)/client.key --ca \(c)/ca.pem --streams 1 --chunk-size 256KiB \\
                --max-rate 300Mbit --json 127.0.0.1:\(proxyPort) < \(t.path("in")) > \(t.path("send.json")) & sp=$!
            sleep 0.6; ss -K -tn state established '( dport = :\(port) )' >/dev/null
            wait $sp; s=$?; wait $rp; r=$?; kill $mp; echo "$s $r"
            """)
        XCTAssertEqual(lastLine(r), "0 0", r.stderr)
        XCTAssertEqual(t.read("out"), t.read("in"), "output must be byte-identical")
        let send = try JSONSerialization.jsonObject(with: t.read("send.json")) as! [String: Any]
        XCTAssertGreaterThanOrEqual(send["reconnects"] as! Int, 2, "the tampered connection and the killed one both reconnect")
        XCTAssertGreaterThan(send["resent_chunks"] as! Int, 0)
    }

    /// Every wrong peer is refused with exit 4 and a reason, and none disturbs the receiver: the
    /// right client's transfer afterwards succeeds. dwcp-detect probes over TLS too.
    func testWrongPeersAreRefusedAndTheRightOneGetsThrough() throws {
        let t = TempDir()
        let c = try makeCertificates(t)
        _ = try CLI.shell("head -c 3000000 /dev/urandom > \(t.path("in"))")
        let port = freePort(), probePort = freePort()
        let server = "--tls --cert \(c)/server.pem --key \(c)/server.key --ca \(c)/ca.pem"
        let client = "--tls --cert \(c)/client.pem --key \(c)/client.key --ca \(c)/ca.pem"
        let r = try CLI.shell("""
            dwcp-recv --listen 127.0.0.1:\(port) \(server) -o \(t.path("out")) & rp=$!
            dwcp-detect --serve 127.0.0.1:\(probePort) \(server) & dp=$!
            sleep 0.4
            send() { dwcp-send --resume-timeout 0 "$@" < \(t.path("in")); echo -n "$? "; }
            send --tls --ca \(c)/ca.pem 127.0.0.1:\(port)                                        # no client certificate
            send --tls --cert \(c)/stranger.pem --key \(c)/stranger.key --ca \(c)/ca.pem 127.0.0.1:\(port)  # client not signed by the CA
            send --tls --cert \(c)/client.pem --key \(c)/client.key --ca \(c)/stranger.pem 127.0.0.1:\(port) # receiver not trusted
            send \(client) --tls-name other.example 127.0.0.1:\(port)                              # receiver's certificate names another host
            send 127.0.0.1:\(port)                                                                 # no TLS at all
            send \(client) localhost:\(port)                                                       # the right one
            wait $rp; echo -n "$? "
            # (thresholds for a busy shared box: this checks the probe over TLS, not the classifier)
            dwcp-detect \(client) --burst 0.1 --datacenter-rtt 50 --datacenter-jitter 50 --datacenter-loss 50 --print mode 127.0.0.1:\(probePort); echo -n "$? "
            dwcp-detect --tls --ca \(c)/ca.pem --burst 0 127.0.0.1:\(probePort) >/dev/null; echo "$?"
            kill $dp
            """)
        XCTAssertEqual(String(decoding: r.stdout, as: UTF8.self), "4 4 4 4 4 0 0 datacenter\n0 4\n", r.stderr)
        XCTAssertEqual(t.read("out"), t.read("in"))
        // The sender's own verdicts on the receiver's certificate are always named.
        for reason in ["certificate rejected", "hostname mismatch"] {
            XCTAssertTrue(r.stderr.contains(reason), "missing '\(reason)' in: \(r.stderr)")
        }
        // The receiver's refusals of a client certificate arrive as TLS 1.3 alerts after the
        // client's handshake is done, often together with a reset of the client's first write.
        // The client reads the alert from its receive queue then, but a reset can discard it
        // (about 1 run in 17 here): then the error is the reset, still exit 4 (checked above).
        XCTAssertTrue(r.stderr.contains("certificate required") || r.stderr.contains("unknown ca"), r.stderr)
        // Said as what it means for the sender, not as the receive that found it.
        XCTAssertTrue(r.stderr.contains("the peer refused the TLS session") && r.stderr.contains("it wants a certificate from this side that it trusts"), r.stderr)
        XCTAssertFalse(r.stderr.contains("recv: tlsv1 alert"), r.stderr)
        let usage = try CLI.run("dwcp-recv", ["--listen", ":0", "--tls"])
        XCTAssertEqual(usage.status, 2)
        XCTAssertTrue(usage.stderr.contains("needs --cert and --key"), usage.stderr)
        let missing = try CLI.run("dwcp-send", ["--tls", "--ca", t.path("nope.pem"), "127.0.0.1:1"])
        XCTAssertEqual(missing.status, 2, missing.stderr)
        XCTAssertEqual(try CLI.run("dwcp-send", ["--ca", "x", "127.0.0.1:1"]).status, 2)
    }

    /// dwcp-migrate's image mode over mutual TLS: the probe and every round travel encrypted,
    /// the rounds after the first on the connections (and TLS sessions) the first left open.
    func testFileMigrationOverTLS() throws {
        let t = TempDir()
        let c = try makeCertificates(t)
        let port = freePort()
        let src = t.path("src.img"), dst = t.path("dst.img")
        let r = try CLI.shell("""
            head -c 8388608 /dev/urandom > \(src)
            dwcp-migrate receive --listen 127.0.0.1:\(port) -o \(dst) --tls --cert \(c)/server.pem --key \(c)/server.key --ca \(c)/ca.pem & rp=$!
            sleep 0.4
            dwcp-migrate file \(src) --to 127.0.0.1:\(port) --max-downtime 3s --json --tls --cert \(c)/client.pem --key \(c)/client.key --ca \(c)/ca.pem > \(t.path("rounds.json")); s=$?
            wait $rp; echo "$s $?"
            """)
        XCTAssertEqual(lastLine(r), "0 0", r.stderr)
        let rounds = String(decoding: t.read("rounds.json"), as: UTF8.self).split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }.filter { $0["event"] as? String == "round" || $0["event"] as? String == "final" }
        XCTAssertGreaterThanOrEqual(rounds.count, 2, "\(rounds)")
        for round in rounds.dropFirst() {
            XCTAssertGreaterThan(round["kept_streams"] as? Int ?? 0, 0, "a round after the first dialled anew: \(round)")
        }
        XCTAssertEqual(t.read("dst.img"), t.read("src.img"))
    }
}
