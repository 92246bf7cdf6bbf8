import Foundation
import XCTest

/// `dwcp-send` and `dwcp-recv` over real sockets on loopback.
final class TransportCLITests: XCTestCase {
    func randomFile(_ t: TempDir, _ name: String, megabytes: Int) -> String {
        let path = t.path(name)
        _ = try? CLI.shell("head -c \(megabytes * 1_000_000) /dev/urandom > \(path)")
        return path
    }

    func testTransferIsByteIdenticalAndReportsJSON() throws {
        let t = TempDir()
        let input = randomFile(t, "in", megabytes: 40)
        let port = freePort()
        let r = try CLI.shell("""
            dwcp-recv --listen 127.0.0.1:\(port) -o \(t.path("out")) --json > \(t.path("recv.json")) & rp=$!
            sleep 0.3
            dwcp-send --streams 6 --chunk-size 256KiB --json 127.0.0.1:\(port) < \(input) > \(t.path("send.json"))
            s=$?; wait $rp; r=$?; echo "$s $r"
            """)
        XCTAssertEqual(r.printed, "0 0", r.stderr)
        XCTAssertEqual(t.read("out"), t.read("in"))
        let send = try JSONSerialization.jsonObject(with: t.read("send.json")) as! [String: Any]
        XCTAssertEqual(send["bytes"] as? Int, 40_000_000)
        // --cc auto on loopback, a short path: cubic (where the kernel has it).
        if (try? String(contentsOfFile: "/proc/sys/net/ipv4/tcp_available_congestion_control", encoding: .utf8))?.contains("cubic") == true {
            XCTAssertEqual(send["congestion_control"] as? String, "cubic", "\(send)")
        }
        // One TCP_INFO entry per connection that carried the transfer (late ones may find it done).
        XCTAssertTrue((1...6).contains((send["tcp"] as? [Any])?.count ?? 0), "\(send)")
        let recv = try JSONSerialization.jsonObject(with: t.read("recv.json")) as! [String: Any]
        XCTAssertEqual(recv["verified"] as? Bool, true)
        XCTAssertEqual(recv["sender_heard_verdict"] as? Bool, true, "\(recv)")
        // The receiver's seconds are the transfer's (its first connection to its verdict, within
        // the sender's run), not its wait for the sender: it listened 0.3 s before.
        let recvSeconds = try XCTUnwrap(recv["seconds"] as? Double), sendSeconds = try XCTUnwrap(send["seconds"] as? Double)
        XCTAssertLessThanOrEqual(recvSeconds, sendSeconds + 0.02, "\(recv) \(send)")
        XCTAssertGreaterThan(recvSeconds, 0)
    }

    /// `--max-rate` is the transfer's rate whatever the streams: with 8 connections the last
    /// chunks sit in a few sockets, and `--streams auto` adds connections as it goes. A fixed
    /// share of rate ÷ streams per socket moved 20 MB over 8 streams at half the rate, and let
    /// auto's added streams exceed it by a third.
    func testMaxRateHoldsForEveryStreamCount() throws {
        let t = TempDir()
        let input = randomFile(t, "in", megabytes: 16)
        for streams in ["1", "8", "auto"] {
            let port = freePort()
            let r = try CLI.shell("""
                dwcp-recv --listen 127.0.0.1:\(port) -o /dev/null & rp=$!
                sleep 0.3
                dwcp-send --streams \(streams) --max-rate 48Mbit --json 127.0.0.1:\(port) < \(input) > \(t.path("send.json")); s=$?
                wait $rp; echo "$s $?"
                """)
            XCTAssertEqual(r.printed, "0 0", r.stderr)
            let send = try JSONSerialization.jsonObject(with: t.read("send.json")) as! [String: Any]
            let mbit = Double(send["bytes"] as! Int) * 8 / (send["seconds"] as! Double) / 1e6
            // Loopback's segments are 64 KiB and the kernel paces packets of at least two
            // (net.ipv4.tcp_min_tso_segs): each connection's first 128 KiB goes out before its
            // pacing starts, 1 MiB of the 16 MB with 8 streams (the first 0.25 s ran at 124
            // Mbit/s), and busy cores add to it. With 8 streams the debug builds of December
            // 2026 measured 49.1-54.4 Mbit/s in 18 runs here and 54.8 once in CI (1.14x), which
            // a 1.1x bound failed. 1.2x still fails the faults this test was written for (auto's
            // added streams a third over).
            XCTAssertGreaterThan(mbit, 48 * 0.85, "--streams \(streams): \(send)")
            XCTAssertLessThan(mbit, 48 * 1.2, "--streams \(streams): \(send)")
        }
    }

    func testKilledConnectionsResumeWithoutGapOrDuplicate() throws {
        let t = TempDir()
        let input = randomFile(t, "in", megabytes: 50)
        let port = freePort()
        // Paced so the transfer lasts ~2 s; every connection is killed twice (RST via ss -K).
        let r = try CLI.shell("""
            dwcp-recv --listen 127.0.0.1:\(port) -o \(t.path("out")) & rp=$!
            sleep 0.3
            dwcp-send --streams 4 --max-rate 200Mbit --json 127.0.0.1:\(port) < \(input) > \(t.path("send.json")) & sp=$!
            sleep 0.7; ss -K -tn state established '( dport = :\(port) )' >/dev/null
            sleep 0.5; ss -K -tn state established '( sport = :\(port) )' >/dev/null
            wait $sp; s=$?; wait $rp; r=$?; echo "$s $r"
            """)
        XCTAssertEqual(r.printed, "0 0", r.stderr)
        XCTAssertEqual(t.read("out"), t.read("in"), "output must have no gap and no duplicate")
        let send = try JSONSerialization.jsonObject(with: t.read("send.json")) as! [String: Any]
        XCTAssertGreaterThanOrEqual(send["reconnects"] as! Int, 4, "connections were not actually killed")
    }

    /// A small window and a slow consumer keep every connection idle-waiting for the window to
    /// open when the connections are killed. The lost chunks must still be resent. (Before the
    /// fix this stalled on every run: idle stream threads never noticed their connection died.)
    func testKilledConnectionsResumeWhenTheWindowIsFull() throws {
        let t = TempDir()
        let input = randomFile(t, "in", megabytes: 20)
        let port = freePort()
        try """
            import os, sys, time
            out = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            while True:
                d = os.read(0, 65536)
                if not d: break
                os.write(out, d)
                time.sleep(0.004)
            """.write(toFile: t.path("slow.py"), atomically: true, encoding: .utf8)
        let r = try CLI.shell("""
            dwcp-recv --listen 127.0.0.1:\(port) --window 1MiB --idle-timeout 15 | python3 \(t.path("slow.py")) \(t.path("out")) & rp=$!
            sleep 0.3
            dwcp-send --streams 4 --window 1MiB --chunk-size 64KiB --resume-timeout 10 --json 127.0.0.1:\(port) < \(input) > \(t.path("send.json")) & sp=$!
            for i in 1 2 3 4; do sleep 0.4; ss -K -tn state established '( dport = :\(port) )' >/dev/null; done
            wait $sp; s=$?; wait $rp; echo "$s $?"
            """)
        XCTAssertEqual(r.printed, "0 0", r.stderr)
        XCTAssertEqual(t.read("out"), t.read("in"), "output must have no gap and no duplicate")
        let send = try JSONSerialization.jsonObject(with: t.read("send.json")) as! [String: Any]
        XCTAssertGreaterThanOrEqual(send["reconnects"] as! Int, 4, "connections were not actually killed")
    }

    func testWrongSecretIsRefusedAndHostileClientsDoNotDisturbATransfer() throws {
        let t = TempDir()
        let input = randomFile(t, "in", megabytes: 20)
        try "0123456789abcdef0123456789abcdef\n".write(toFile: t.path("key"), atomically: true, encoding: .utf8)
        try "fedcba9876543210fedcba9876543210\n".write(toFile: t.path("wrong"), atomically: true, encoding: .utf8)
        let port = freePort()
        let r = try CLI.shell("""
            dwcp-recv --listen 127.0.0.1:\(port) --secret-file \(t.path("key")) -o \(t.path("out")) & rp=$!
            sleep 0.3
            # strangers: garbage, a silent connection, a valid-looking hello without the secret, a huge length
            (head -c 100000 /dev/urandom > /dev/tcp/127.0.0.1/\(port)) 2>/dev/null &
            exec 7<>/dev/tcp/127.0.0.1/\(port)
            dwcp-send --secret-file \(t.path("wrong")) --resume-timeout 1 127.0.0.1:\(port) < \(input); w=$?
            dwcp-send 127.0.0.1:\(port) < \(input); n=$?
            dwcp-send --secret-file \(t.path("key")) 127.0.0.1:\(port) < \(input); s=$?
            exec 7>&-
            wait $rp; echo "$w $n $s $?"
            """)
        XCTAssertEqual(r.printed, "4 4 0 0", r.stderr)
        XCTAssertTrue(r.stderr.contains("authentication failed"), r.stderr)
        XCTAssertEqual(t.read("out"), t.read("in"))
    }

    /// A sender killed with -9 mid-transfer and another, with the shared secret, started in its
    /// place: `dwcp-recv --keep` gives the dead sender's transfer up (its output removed) once
    /// the new sender proves the secret, and serves it under the same number; the new sender,
    /// told "busy" at first, asks again and gets through.
    func testKeepGivesADeadSendersTransferUpForAnAuthenticatedNewOne() throws {
        let t = TempDir()
        let a = randomFile(t, "a", megabytes: 40), b = randomFile(t, "b", megabytes: 5)
        try "0123456789abcdef0123456789abcdef\n".write(toFile: t.path("key"), atomically: true, encoding: .utf8)
        let port = freePort()
        let r = try CLI.shell("""
            dwcp-recv --listen 127.0.0.1:\(port) --keep --secret-file \(t.path("key")) -o \(t.path("out-%n")) & rp=$!
            sleep 0.3
            dwcp-send --secret-file \(t.path("key")) --max-rate 80Mbit 127.0.0.1:\(port) < \(a) & sp=$!
            sleep 1; kill -9 $sp; wait $sp 2>/dev/null
            dwcp-send --secret-file \(t.path("key")) --resume-timeout 10 127.0.0.1:\(port) < \(b); s=$?
            kill $rp; wait $rp; echo "$s"
            """)
        XCTAssertEqual(r.printed, "0", r.stderr)
        XCTAssertTrue(r.stderr.contains("given up"), r.stderr)
        XCTAssertEqual(t.read("out-1"), t.read("b"), "the new sender's transfer, under the dead one's number")
        XCTAssertFalse(FileManager.default.fileExists(atPath: t.path("out-2")))
    }

    /// Shell lines that start `receiver` in the background ($rp), then a dwcp-send to it fed
    /// through a FIFO ($sp) that gets 4 MB and then stays open and quiet (fd 3 holds it, until
    /// `exec 3>&-`), and wait a second: a transfer under way whose producer went quiet.
    func quietPipeTransfer(_ t: TempDir, receiver: String, sender: String) -> String {
        let input = randomFile(t, "quiet-input", megabytes: 4)
        return """
            \(receiver) & rp=$!
            sleep 0.3
            mkfifo \(t.path("fifo"))
            \(sender) < \(t.path("fifo")) & sp=$!
            exec 3>\(t.path("fifo"))
            cat \(input) >&3
            sleep 1

            """
    }

    /// An interrupted sender cancels its transfer: the receiver ends it at once (before, it
    /// waited for the sender up to its idle timeout, and a new sender was told "busy"), and
    /// with --keep removes its output and serves the next sender under the same number.
    func testInterruptedSenderCancelsItsTransferAndKeepServesTheNext() throws {
        let t = TempDir()
        let b = randomFile(t, "b", megabytes: 3)
        let port = freePort()
        let r = try CLI.shell(quietPipeTransfer(t, receiver: "dwcp-recv --listen 127.0.0.1:\(port) --keep -o \(t.path("out-%n"))",
                                                sender: "dwcp-send 127.0.0.1:\(port)") + """
            kill -INT $sp; wait $sp; i=$?
            exec 3>&-
            dwcp-send --resume-timeout 5 127.0.0.1:\(port) < \(b); s=$?
            kill $rp; wait $rp; echo "$i $s"
            """)
        XCTAssertEqual(r.printed, "130 0", r.stderr)
        XCTAssertTrue(r.stderr.contains("transfer 1: the sender cancelled the transfer: dwcp-send was interrupted (SIGINT)"), r.stderr)
        XCTAssertEqual(t.read("out-1"), t.read("b"), "the next sender's transfer, under the cancelled one's number")
        XCTAssertFalse(FileManager.default.fileExists(atPath: t.path("out-2")))
    }

    /// An interrupted receiver tells its sender, which fails at once (exit 4) instead of
    /// reconnecting until its --resume-timeout; and it does so although its input, a pipe, has
    /// gone quiet (a blocked read used to keep it waiting for the producer forever).
    func testInterruptedReceiverEndsItsSenderAtOnce() throws {
        let t = TempDir()
        let port = freePort()
        let r = try CLI.shell(quietPipeTransfer(t, receiver: "dwcp-recv --listen 127.0.0.1:\(port) -o \(t.path("out"))",
                                                sender: "timeout 60 dwcp-send --resume-timeout 30 127.0.0.1:\(port)") + """
            kill -INT $rp; wait $rp; r=$?
            t0=$(date +%s%N); wait $sp; s=$?; waited=$((($(date +%s%N) - t0) / 1000000))
            exec 3>&-
            echo "$r $s $waited"
            """)
        let out = r.printedWords
        XCTAssertEqual(out.prefix(2), ["130", "4"], r.stderr)
        XCTAssertLessThan(Int(out.last ?? "") ?? 99_999, 3000, "ms the sender outlived its receiver")
        XCTAssertTrue(r.stderr.contains("the receiver was interrupted and ended the transfer"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: t.path("out")), "the interrupted receiver's partial output is removed")
    }

    /// A receiver whose own side fails (here its output, /dev/full, takes nothing) tells its
    /// sender why, and the sender fails at once with that reason (exit 4). It used to find the
    /// receiver gone and reconnect until its --resume-timeout: 30 s and "Connection refused".
    func testReceiverThatFailsTellsItsSenderWhy() throws {
        let t = TempDir()
        let input = randomFile(t, "in", megabytes: 8)
        let port = freePort()
        let r = try CLI.shell("""
            dwcp-recv --listen 127.0.0.1:\(port) -o /dev/full & rp=$!
            sleep 0.3
            t0=$(date +%s%N); dwcp-send 127.0.0.1:\(port) < \(input); s=$?; waited=$((($(date +%s%N) - t0) / 1000000))
            wait $rp; echo "$? $s $waited"
            """)
        let out = r.printedWords
        XCTAssertEqual(out.prefix(2), ["1", "4"], r.stderr)
        XCTAssertLessThan(Int(out.last ?? "") ?? 99_999, 3000, "ms the sender took to fail")
        XCTAssertTrue(r.stderr.contains("dwcp-send: error: 127.0.0.1:\(port): the receiver failed and ended the transfer: /dev/full: write: No space left on device"), r.stderr)
    }

    /// `dwcp-recv -f -o FILE` over an existing FILE: an interrupted transfer leaves the old FILE
    /// as it was (it used to be truncated at the start and deleted at the interrupt), and a
    /// complete one replaces it.
    func testForcedOutputReplacesTheOldFileOnlyWhenComplete() throws {
        let t = TempDir()
        let old = Data("the previous copy".utf8)
        t.write("out", old)
        let port = freePort()
        let r = try CLI.shell(quietPipeTransfer(t, receiver: "dwcp-recv --listen 127.0.0.1:\(port) -f -o \(t.path("out"))",
                                                sender: "timeout 60 dwcp-send 127.0.0.1:\(port)") + """
            kill -INT $rp; wait $rp; r=$?
            wait $sp; exec 3>&-
            echo "$r"
            """)
        XCTAssertEqual(r.printed, "130", r.stderr)
        XCTAssertEqual(t.read("out"), old)
        let input = randomFile(t, "new", megabytes: 3)
        let port2 = freePort()
        let done = try CLI.shell("""
            dwcp-recv --listen 127.0.0.1:\(port2) -f -o \(t.path("out")) & rp=$!
            sleep 0.3
            dwcp-send 127.0.0.1:\(port2) < \(input); s=$?
            wait $rp; echo "$s $?"
            """)
        XCTAssertEqual(done.printed, "0 0", done.stderr)
        XCTAssertEqual(t.read("out"), t.read("new"))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: t.url.path).filter { $0.contains(".tmp-") }, [])
    }

    func testIPv6AndKeepServeSeveralTransfers() throws {
        let t = TempDir()
        let a = randomFile(t, "a", megabytes: 3), b = randomFile(t, "b", megabytes: 5)
        let port = freePort()
        let r = try CLI.shell("""
            dwcp-recv --listen [::]:\(port) --keep -o \(t.path("got-%n")) & rp=$!
            sleep 0.3
            dwcp-send [::1]:\(port) < \(a) && dwcp-send 127.0.0.1:\(port) < \(b); s=$?
            kill -TERM $rp; wait $rp; echo "$s $?"
            """)
        XCTAssertEqual(r.printed, "0 143", r.stderr)
        XCTAssertEqual(t.read("got-1"), t.read("a"))
        XCTAssertEqual(t.read("got-2"), t.read("b"))
    }

    /// A file on standard input is sent from its current offset (as `read(2)` would), through
    /// `sendfile`; a pipe goes through the reading path. Both arrive byte-identical.
    func testFileFromItsCurrentOffsetAndAPipe() throws {
        let t = TempDir()
        let a = randomFile(t, "a", megabytes: 9)
        let port = freePort()
        let r = try CLI.shell("""
            dwcp-recv --listen 127.0.0.1:\(port) --keep -o \(t.path("got-%n")) & rp=$!
            sleep 0.3
            { dd bs=1000000 count=1 of=/dev/null status=none; dwcp-send --streams 3 127.0.0.1:\(port); } < \(a); s1=$?
            cat \(a) | dwcp-send --streams 3 127.0.0.1:\(port); s2=$?
            kill -TERM $rp; wait $rp; echo "$s1 $s2 $?"
            """)
        XCTAssertEqual(r.printed, "0 0 143", r.stderr)
        XCTAssertEqual(t.read("got-1"), t.read("a").dropFirst(1_000_000))
        XCTAssertEqual(t.read("got-2"), t.read("a"))
    }

    /// A file on standard output is written at each chunk's place, counted from where the file
    /// stood, and left positioned after the stream for whatever writes next; an appending one
    /// (`>>`) is written in order. Six streams of small chunks, so chunks arrive out of order.
    func testFileOutputFromItsCurrentOffsetAndAppending() throws {
        let t = TempDir()
        let input = randomFile(t, "in", megabytes: 20)
        let port = freePort()
        let r = try CLI.shell("""
            { printf head; dwcp-recv --listen 127.0.0.1:\(port); r=$?; printf tail; exit $r; } > \(t.path("placed")) & rp=$!
            sleep 0.3
            dwcp-send --streams 6 --chunk-size 64KiB 127.0.0.1:\(port) < \(input); s1=$?
            wait $rp; r1=$?
            printf head > \(t.path("appended"))
            dwcp-recv --listen 127.0.0.1:\(port) >> \(t.path("appended")) & rp=$!
            sleep 0.3
            dwcp-send --streams 6 --chunk-size 64KiB 127.0.0.1:\(port) < \(input); s2=$?
            wait $rp; echo "$s1 $r1 $s2 $?"
            """)
        XCTAssertEqual(r.printed, "0 0 0 0", r.stderr)
        XCTAssertEqual(t.read("placed"), Data("head".utf8) + t.read("in") + Data("tail".utf8))
        XCTAssertEqual(t.read("appended"), Data("head".utf8) + t.read("in"))
    }

    /// A sender killed mid-transfer into a file on standard output: the receiver gives up (exit
    /// 4) and leaves exactly the chunks written in order, whatever was written past them.
    func testKilledSenderLeavesTheInOrderPrefixInAFile() throws {
        let t = TempDir()
        let input = randomFile(t, "in", megabytes: 50)
        let port = freePort()
        let r = try CLI.shell("""
            dwcp-recv --listen 127.0.0.1:\(port) --idle-timeout 1 > \(t.path("out")) & rp=$!
            sleep 0.3
            dwcp-send --streams 6 --chunk-size 256KiB --max-rate 400Mbit 127.0.0.1:\(port) < \(input) & sp=$!
            sleep 0.6; kill -9 $sp
            wait $rp; echo $?
            """)
        XCTAssertEqual(r.printed, "4", r.stderr)
        XCTAssertTrue(r.stderr.contains("no data for 1 s: sender gone"), r.stderr)
        // No sender at all is told apart: it used to be "sender gone" too.
        let none = try CLI.run("dwcp-recv", ["--listen", "127.0.0.1:\(freePort())", "--idle-timeout", "0.5", "-o", "/dev/null"])
        XCTAssertEqual(none.status, 4, none.stderr)
        XCTAssertTrue(none.stderr.contains("no sender came within 0.5 s (--idle-timeout)"), none.stderr)
        let out = t.read("out"), all = t.read("in")
        XCTAssertGreaterThan(out.count, 0, "the sender ran for 0.6 s")
        XCTAssertLessThan(out.count, all.count)
        XCTAssertEqual(out.count % (256 << 10), 0, "whole chunks only")
        XCTAssertEqual(out, all.prefix(out.count))
    }

    /// `dwcp-recv --resume` killed with -9 twice mid-transfer and started again each time: the
    /// sender (from a file, then from a pipe) resends what the checkpoints lack and both end
    /// verified, the output byte-identical, the checkpoint file gone.
    func testKilledResumableReceiverContinuesTheTransfer() throws {
        let t = TempDir()
        let input = randomFile(t, "in", megabytes: 60)
        for (feed, name) in [("< \(input)", "file"), ("cat \(input) |", "pipe")] {
            let port = freePort(), out = t.path("out-\(name)")
            let producer = feed.hasPrefix("<") ? "dwcp-send --streams 4 --chunk-size 512KiB --max-rate 200Mbit --resume-timeout 20 127.0.0.1:\(port) \(feed)"
                                               : "\(feed) dwcp-send --streams 4 --chunk-size 512KiB --max-rate 200Mbit --resume-timeout 20 127.0.0.1:\(port)"
            let r = try CLI.shell("""
                dwcp-recv --listen 127.0.0.1:\(port) --resume -o \(out) 2>/dev/null & rp=$!
                sleep 0.3
                \(producer) & sp=$!
                sleep 0.8; kill -9 $rp; wait $rp 2>/dev/null
                [ -s \(out).dwcp-recv ] || echo "no checkpoint"
                dwcp-recv --listen 127.0.0.1:\(port) --resume -o \(out) 2>/dev/null & rp=$!
                sleep 0.8; kill -9 $rp; wait $rp 2>/dev/null
                dwcp-recv --listen 127.0.0.1:\(port) --resume -o \(out) --json > \(t.path("recv.json")); r=$?
                wait $sp; echo "$? $r"
                """)
            XCTAssertEqual(r.printed, "0 0", "\(name): " + r.stderr)
            XCTAssertEqual(t.read("out-\(name)"), t.read("in"), name)
            XCTAssertFalse(FileManager.default.fileExists(atPath: out + ".dwcp-recv"), "\(name): the checkpoint goes once the transfer is verified")
            let summary = try JSONSerialization.jsonObject(with: t.read("recv.json")) as! [String: Any]
            XCTAssertGreaterThan(summary["resumed_bytes"] as! Int, 0, "\(name): the last receiver continued what the others wrote")
        }
        XCTAssertEqual(try CLI.run("dwcp-recv", ["--listen", "127.0.0.1:0", "--resume"]).status, 2, "--resume needs -o FILE")
        XCTAssertEqual(try CLI.run("dwcp-recv", ["--listen", "127.0.0.1:0", "--resume", "--keep", "-o", t.path("x-%n")]).status, 2)
        // A checkpoint file that is not one is left alone and refused.
        t.write("junk", Data("x".utf8))
        t.write("junk.dwcp-recv", Data(repeating: 7, count: 100))
        let junk = try CLI.run("dwcp-recv", ["--listen", "127.0.0.1:0", "--resume", "-o", t.path("junk")])
        XCTAssertEqual(junk.status, 3, junk.stderr)
        XCTAssertEqual(t.read("junk.dwcp-recv"), Data(repeating: 7, count: 100))
        // A checkpoint whose file is gone: nothing to continue, said so.
        t.write("gone.dwcp-recv", Data())
        let gone = try CLI.run("dwcp-recv", ["--listen", "127.0.0.1:0", "--resume", "-o", t.path("gone")])
        XCTAssertEqual(gone.status, 3, gone.stderr)
        XCTAssertTrue(gone.stderr.contains("start over"), gone.stderr)
    }

    /// A raw disk image stays sparse at the receiver: whole zero pages are left as holes, the
    /// file still gets its length when it ends in zeros, and a resumable receiver killed twice
    /// finds the length its checkpoint promises (a skipped tail is extended before each
    /// checkpoint). `--no-sparse` writes every byte. Before, every zero was written.
    func testZeroPagesAreHolesInAFileOutputAlsoWhenResumed() throws {
        let t = TempDir()
        let input = t.path("in")
        _ = try CLI.shell("for i in $(seq 12); do head -c 1048576 /dev/urandom >> \(input); truncate -s +4M \(input); done")
        let image = t.read("in")
        XCTAssertEqual(image.count, 60 << 20)
        let port = freePort()
        let send = "dwcp-send --streams 4 --chunk-size 512KiB --max-rate 200Mbit --resume-timeout 20 127.0.0.1:\(port) \(input)"
        let r = try CLI.shell("""
            dwcp-recv --listen 127.0.0.1:\(port) --resume -o \(t.path("resumed")) 2>/dev/null & rp=$!
            sleep 0.3
            \(send) & sp=$!
            sleep 0.8; kill -9 $rp; wait $rp 2>/dev/null
            dwcp-recv --listen 127.0.0.1:\(port) --resume -o \(t.path("resumed")) 2>/dev/null & rp=$!
            sleep 0.8; kill -9 $rp; wait $rp 2>/dev/null
            dwcp-recv --listen 127.0.0.1:\(port) --resume -o \(t.path("resumed")); r=$?
            wait $sp; s=$?
            dwcp-recv --listen 127.0.0.1:\(port) --no-sparse -o \(t.path("dense")) & rp=$!
            sleep 0.3; dwcp-send 127.0.0.1:\(port) < \(input); d=$?; wait $rp; echo "$s $r $d $?"
            """)
        XCTAssertEqual(r.printed, "0 0 0 0", r.stderr)
        for name in ["resumed", "dense"] { XCTAssertEqual(t.read(name), image, name) }
        func allocated(_ name: String) -> Int {
            var st = stat()
            XCTAssertEqual(stat(t.path(name), &st), 0)
            return Int(st.st_blocks) * 512
        }
        XCTAssertLessThan(allocated("resumed"), 16 << 20, "12 MiB of data in a 60 MiB image")
        XCTAssertGreaterThanOrEqual(allocated("dense"), image.count)
    }

    /// `dwcp-recv --resume` killed after the verdict went out, before it deleted its checkpoint
    /// (strace kills it at that `unlink`): the checkpoint covers the whole stream (the sender
    /// sends its end only once every chunk is acknowledged, and with --resume acknowledged means
    /// checkpointed), so a restart keeps the whole file instead of cutting it back.
    func testReceiverKilledAfterTheVerdictKeepsTheWholeStream() throws {
        try CLI.requireStrace()
        let t = TempDir()
        let input = randomFile(t, "in", megabytes: 20)
        let port = freePort(), out = t.path("out")
        let r = try CLI.shell("""
            strace -f -qq -o /dev/null -e trace=unlink -e inject=unlink:signal=SIGKILL \
              dwcp-recv --listen 127.0.0.1:\(port) --resume -o \(out) 2>/dev/null & rp=$!
            sleep 0.5
            dwcp-send --streams 2 --chunk-size 256KiB 127.0.0.1:\(port) \(input); s=$?
            wait $rp; k=$?
            dwcp-recv --listen 127.0.0.1:\(port) --resume -o \(out) --idle-timeout 1 2>/dev/null; echo "$s $k $?"
            """)
        XCTAssertEqual(r.printed, "0 137 4",
                       "sent and verified; the receiver killed at the unlink; the restart waits in vain: " + r.stderr)
        XCTAssertEqual(t.read("out"), t.read("in"), "the whole stream survives")
    }

    /// A reconnection to `dwcp-recv --resume` is told only what a checkpoint made durable: the
    /// receiver's fdatasync is held back 1.5 s (strace), the connections are killed meanwhile
    /// (the sender reconnects while chunks are written but not yet checkpointed), then the
    /// receiver is killed and started again. Told the written count, the sender freed chunks the
    /// restarted receiver lacked and failed ("the receiver lost chunks it had acknowledged");
    /// told the checkpointed one, it resends them and the output is whole.
    func testReconnectionIsToldOnlyWhatACheckpointMadeDurable() throws {
        try CLI.requireStrace()
        let t = TempDir()
        let input = randomFile(t, "in", megabytes: 40)
        let port = freePort(), out = t.path("out")
        let r = try CLI.shell("""
            strace -f -qq -o /dev/null -e trace=fdatasync -e inject=fdatasync:delay_enter=1500000 \
              dwcp-recv --resume --listen 127.0.0.1:\(port) -o \(out) 2>/dev/null & tp=$!
            sleep 0.5
            dwcp-send --max-rate 100Mbit --resume-timeout 20 127.0.0.1:\(port) < \(input) 2>\(t.path("send.err")) & sp=$!
            sleep 0.8; ss -K -tn state established '( dport = :\(port) )' >/dev/null
            sleep 0.4; kill -9 $(pgrep -P $tp); wait $tp 2>/dev/null
            dwcp-recv --resume --listen 127.0.0.1:\(port) -o \(out) --idle-timeout 10 2>/dev/null; r=$?
            wait $sp; echo "$? $r"
            """)
        XCTAssertEqual(r.printed, "0 0",
                       String(decoding: t.read("send.err"), as: UTF8.self))
        XCTAssertEqual(t.read("out"), t.read("in"))
    }

    /// `dwcp-send --resume` killed with -9 (once alone, once with its `dwcp-recv --resume`) and
    /// run again: it continues the transfer where the receiver stands, sending only the rest;
    /// a changed file is another transfer (the receiver answers busy); a pipe cannot resume.
    func testRestartedResumableSenderContinuesTheTransfer() throws {
        let t = TempDir()
        let input = randomFile(t, "in", megabytes: 60)
        let port = freePort(), out = t.path("out")
        let send = "dwcp-send --resume --streams 3 --chunk-size 512KiB --max-rate 200Mbit --resume-timeout 5 127.0.0.1:\(port) \(input)"
        let r = try CLI.shell("""
            dwcp-recv --listen 127.0.0.1:\(port) --resume -o \(out) 2>/dev/null & rp=$!
            sleep 0.3
            \(send) 2>/dev/null & sp=$!
            sleep 0.8; kill -9 $sp; wait $sp 2>/dev/null
            \(send) 2>/dev/null & sp=$!
            sleep 0.8; kill -9 $sp $rp; wait $sp $rp 2>/dev/null
            dwcp-recv --listen 127.0.0.1:\(port) --resume -o \(out) 2>/dev/null & rp=$!
            sleep 0.3
            \(send) --json > \(t.path("send.json")); s=$?
            wait $rp; echo "$s $?"
            """)
        XCTAssertEqual(r.printed, "0 0", r.stderr)
        XCTAssertEqual(t.read("out"), t.read("in"))
        let summary = try JSONSerialization.jsonObject(with: t.read("send.json")) as! [String: Any]
        let resumed = summary["resumed_bytes"] as! Int
        XCTAssertGreaterThan(resumed, 0, "the last run sent only what the receiver lacked")
        XCTAssertEqual(resumed % (512 << 10), 0, "whole chunks")
        // Its rate is of what it sent: at --max-rate 200Mbit, not the whole file over its time.
        let moved = Double(summary["bytes"] as! Int - resumed), seconds = summary["seconds"] as! Double
        XCTAssertEqual(summary["gbit_per_s"] as! Double, moved * 8 / seconds / 1e9, accuracy: 0.002, "\(summary)")
        XCTAssertLessThan(summary["gbit_per_s"] as! Double, 0.25, "\(summary)")

        let busy = try CLI.shell("""
            dwcp-recv --listen 127.0.0.1:\(port) --idle-timeout 3 -o \(t.path("out2")) 2>/dev/null & rp=$!
            sleep 0.3
            \(send) 2>/dev/null & sp=$!
            sleep 0.5; kill -9 $sp; wait $sp 2>/dev/null
            touch \(input)
            \(send); echo "$?"; wait $rp
            """)
        XCTAssertEqual(busy.printed, "4", busy.stderr)
        XCTAssertTrue(busy.stderr.contains("busy"), busy.stderr)
        let pipe = try CLI.shell("cat \(input) | dwcp-send --resume 127.0.0.1:\(port)")
        XCTAssertEqual(pipe.status, 2, pipe.stderr)
    }

    /// Runs a paced transfer of a 50 MB file and, 0.7 s in, the shell command `meddle` (given
    /// the file's path and the receiver's port): the sender must stop with exit 1 and a message
    /// containing `reason`, and the receiver must not verify the partial stream: told by the
    /// sender, it fails at once with exit 1 and the same reason (not at its idle timeout, exit 4).
    func assertSenderStops(when meddle: (String, Int) -> String, reason: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let t = TempDir()
        let input = randomFile(t, "in", megabytes: 50)
        let port = freePort()
        let r = try CLI.shell("""
            dwcp-recv --listen 127.0.0.1:\(port) --idle-timeout 3 -o \(t.path("out")) 2>\(t.path("recv.err")) & rp=$!
            sleep 0.3
            dwcp-send --streams 4 --max-rate 200Mbit 127.0.0.1:\(port) < \(input) & sp=$!
            sleep 0.7
            \(meddle(input, port))
            wait $sp; s=$?; wait $rp; echo "$s $?"
            """)
        let statuses = r.printed
        XCTAssertEqual(statuses.split(separator: " ").first, "1", r.stderr, file: file, line: line)
        XCTAssertEqual(statuses.split(separator: " ").last, "1", "the receiver must not verify a partial stream, and is told it is cancelled", file: file, line: line)
        XCTAssertTrue(r.stderr.contains(reason), r.stderr, file: file, line: line)
        let receiverSaid = String(decoding: t.read("recv.err"), as: UTF8.self)
        XCTAssertTrue(receiverSaid.contains("the sender cancelled the transfer: ") && receiverSaid.contains(reason), receiverSaid, file: file, line: line)
    }

    /// A file rewritten while it is sent: chunks lost with a killed connection are read again
    /// to be resent, no longer match the checksums they were sent with, and the sender fails
    /// (exit 1) naming the change rather than sending a mix of old and new bytes as if whole.
    func testFileChangedWhileBeingSentFails() throws {
        try assertSenderStops(when: { input, port in """
            head -c 50000000 /dev/urandom | dd of=\(input) conv=notrunc status=none
            ss -K -tn state established '( dport = :\(port) )' >/dev/null
            """ }, reason: "changed while being sent")
    }

    /// A file truncated while it is sent: the sender stops with exit 1 and says so, instead
    /// of ending the stream early as if the file had been that short.
    func testFileTruncatedWhileBeingSentFails() throws {
        try assertSenderStops(when: { input, _ in "truncate -s 10000000 \(input)" }, reason: "shrank")
    }

    /// A file that grows while it is sent: the transfer is the file as it was when it started,
    /// and the sender now says so. It used to exit 0 without a word, the appended bytes missing.
    func testFileThatGrowsWhileBeingSentIsNamedInAWarning() throws {
        let t = TempDir()
        let input = randomFile(t, "in", megabytes: 20)
        let port = freePort()
        let r = try CLI.shell("""
            dwcp-recv --listen 127.0.0.1:\(port) -o \(t.path("out")) & rp=$!
            sleep 0.3
            dwcp-send --max-rate 40Mbit 127.0.0.1:\(port) \(input) & sp=$!
            sleep 1.5; head -c 1000000 /dev/urandom >> \(input)
            wait $sp; s=$?; wait $rp; echo "$s $?"
            """)
        XCTAssertEqual(r.printed, "0 0", r.stderr)
        XCTAssertTrue(r.stderr.contains("dwcp-send: warning: \(input): grew by 1000000 bytes while being sent; sent the 20000000 it held when the transfer started"), r.stderr)
        XCTAssertEqual(t.read("out"), t.read("in").prefix(20_000_000))
    }

    /// Files of /proc and /sys are regular files whose size is not their length (0 for
    /// /proc/version, a page for a sysfs attribute). They were sent by their size: /proc's as
    /// nothing at all with exit 0, sysfs's as a failure saying the file shrank.
    func testProcAndSysFilesAreSentToTheirEnd() throws {
        let t = TempDir()
        for (index, file) in ["/proc/version", "/sys/devices/system/cpu/online"].enumerated() {
            let port = freePort()
            let r = try CLI.shell("""
                dwcp-recv --listen 127.0.0.1:\(port) -o \(t.path("out\(index)")) & rp=$!
                sleep 0.3
                dwcp-send 127.0.0.1:\(port) \(file); s=$?; wait $rp; echo "$s $?"
                """)
            XCTAssertEqual(r.printed, "0 0", "\(file): \(r.stderr)")
            let expected = try Data(contentsOf: URL(fileURLWithPath: file))
            XCTAssertFalse(expected.isEmpty)
            XCTAssertEqual(t.read("out\(index)"), expected, file)
        }
        let resume = try CLI.run("dwcp-send", ["--resume", "127.0.0.1:1", "/proc/version"])
        XCTAssertEqual(resume.status, 2, "such a file cannot be read again as it was: \(resume.stderr)")
    }

    func testAutoStreamsStartsFromTheRTTAndReports() throws {
        let t = TempDir()
        let input = randomFile(t, "in", megabytes: 30)
        let port = freePort()
        let script = [
            "dwcp-recv --listen 127.0.0.1:\(port) -o \(t.path("out")) & rp=$!",
            "sleep 0.3",
            "dwcp-send --streams auto --json 127.0.0.1:\(port) < \(input) > \(t.path("send.json")); s=$?",
            "wait $rp; echo \"$s $?\"",
        ].joined(separator: "\n")
        let r = try CLI.shell(script)
        XCTAssertEqual(r.printed, "0 0", r.stderr)
        XCTAssertEqual(t.read("out"), t.read("in"))
        let send = try JSONSerialization.jsonObject(with: t.read("send.json")) as! [String: Any]
        XCTAssertGreaterThanOrEqual(send["streams"] as! Int, 4, "loopback starts at 4 streams")
    }

    func testDetectAgainstAReceiverAndAProbeServer() throws {
        let port = freePort(), probePort = freePort()
        let script = [
            "dwcp-recv --listen 127.0.0.1:\(port) > /dev/null & rp=$!",
            "dwcp-detect --serve 127.0.0.1:\(probePort) & dp=$!",
            "sleep 0.3",
            // Loopback on 2 busy cores can show a few retransmits and ms of jitter (a QEMU
            // guest from an earlier test may still be exiting): thresholds for a shared box.
            "dwcp-detect --burst 0.2 --datacenter-loss 5 --datacenter-jitter 5 127.0.0.1:\(port)",
            "dwcp-detect --print mode --burst 0 --datacenter-jitter 5 127.0.0.1:\(probePort)",
            "dwcp-detect --watch 0.2 --burst 0 --pings 5 127.0.0.1:\(probePort) | head -3 | wc -l",
            "kill $rp $dp",
        ].joined(separator: "\n")
        let r = try CLI.shell(script)
        let lines = String(decoding: r.stdout, as: UTF8.self).split(separator: "\n")
        XCTAssertEqual(lines.count, 3, r.stderr)
        let json = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! [String: Any]
        XCTAssertEqual(json["mode"] as? String, "datacenter", "loopback is a datacenter link: \(json)")
        XCTAssertLessThan(json["rtt_ms_median"] as! Double, 2)
        XCTAssertGreaterThan(json["bps"] as! Double, 1e8)
        XCTAssertNotNil(json["rdma_devices"] as? [String])
        XCTAssertEqual(lines[1], "datacenter")
        XCTAssertEqual(lines[2].trimmingCharacters(in: .whitespaces), "3", "--watch prints a line per interval")
        XCTAssertFalse(r.stderr.contains("error"), r.stderr)
    }

    /// `--watch` keeps its probe connection between measurements, and outlives its peer: while
    /// the probe server is down it says so and tries again each interval; once the server is
    /// back, on a new connection, the lines resume. One measurement on its own still exits 4.
    func testWatchRidesOutARestartedPeer() throws {
        let port = freePort()
        let t = TempDir()
        let script = [
            "dwcp-detect --serve 127.0.0.1:\(port) & dp=$!",
            "sleep 0.3",
            "dwcp-detect --watch 0.2 --burst 0 --pings 3 127.0.0.1:\(port) > \(t.path("watch.json")) 2> \(t.path("watch.err")) & wp=$!",
            "sleep 1",
            // One probe connection for the whole watch so far.
            "ss -tn state established \"( dport = :\(port) )\" | tail -n +2 | wc -l",
            "kill $dp; wait $dp",
            "sleep 1; wc -l < \(t.path("watch.json"))",
            "dwcp-detect --serve 127.0.0.1:\(port) & dp=$!",
            "sleep 1.5",
            "kill $wp $dp",
            "wc -l < \(t.path("watch.json"))",
            "dwcp-detect --burst 0 127.0.0.1:\(port); echo \"single $?\"",
        ].joined(separator: "\n")
        let r = try CLI.shell(script)
        let out = String(decoding: r.stdout, as: UTF8.self).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        XCTAssertEqual(out.count, 4, r.stderr)
        guard out.count == 4 else { return }
        XCTAssertEqual(out[0], "1", "the watch keeps one connection")
        let (down, after) = (Int(out[1]) ?? 0, Int(out[2]) ?? 0)
        XCTAssertGreaterThanOrEqual(down, 3)
        XCTAssertGreaterThanOrEqual(after - down, 3, "measurements resume once the peer is back")
        XCTAssertEqual(out[3], "single 4")
        let err = String(decoding: t.read("watch.err"), as: UTF8.self)
        XCTAssertTrue(err.contains("dwcp-detect: warning: measurement failed:"), err)
        XCTAssertFalse(err.contains("error:"), err)
    }

    func testNoReceiverIsANetworkError() throws {
        let r = try CLI.run("dwcp-send", ["--resume-timeout", "0", "127.0.0.1:\(freePort())"], stdin: "/etc/hostname")
        XCTAssertEqual(r.status, 4, r.stderr)
        XCTAssertTrue(r.stderr.hasPrefix("dwcp-send: error: "), r.stderr)
        let usage = try CLI.run("dwcp-send", ["nonsense"])
        XCTAssertEqual(usage.status, 2)
    }

    /// --transport: rdma without a device is a clear error (exit 1), auto runs over TCP, and
    /// --tls with rdma is a usage error.
    func testTransportRDMAWithoutADeviceAndAutoFallsBackToTCP() throws {
        let hasDevice = !((try? FileManager.default.contentsOfDirectory(atPath: "/sys/class/infiniband")) ?? []).isEmpty
        try XCTSkipIf(hasDevice, "this host has an RDMA device")
        let port = freePort()
        let send = try CLI.run("dwcp-send", ["--transport", "rdma", "127.0.0.1:\(port)"], stdin: "/etc/hostname")
        XCTAssertEqual(send.status, 1, send.stderr)
        XCTAssertTrue(send.stderr.hasPrefix("dwcp-send: error: RDMA: no RDMA device"), send.stderr)
        let recv = try CLI.run("dwcp-recv", ["--transport", "rdma", "--listen", "127.0.0.1:\(port)"])
        XCTAssertEqual(recv.status, 1, recv.stderr)
        XCTAssertTrue(recv.stderr.contains("no RDMA device"), recv.stderr)
        XCTAssertEqual(try CLI.run("dwcp-send", ["--transport", "rdma", "--tls", "127.0.0.1:1"]).status, 2)
        XCTAssertEqual(try CLI.run("dwcp-send", ["--transport", "ib", "127.0.0.1:1"]).status, 2)
        let t = TempDir()
        let input = randomFile(t, "in", megabytes: 5)
        let r = try CLI.shell("""
            dwcp-recv --transport auto --listen 127.0.0.1:\(port) -o \(t.path("out")) & rp=$!
            sleep 0.3
            dwcp-send --transport auto --json 127.0.0.1:\(port) < \(input) > \(t.path("send.json")); s=$?
            wait $rp; echo "$s $?"
            """)
        XCTAssertEqual(r.printed, "0 0", r.stderr)
        XCTAssertEqual(t.read("out"), t.read("in"))
        let json = try JSONSerialization.jsonObject(with: t.read("send.json")) as! [String: Any]
        XCTAssertEqual(json["transport"] as? String, "tcp")
    }
}
