import Foundation
import XCTest

/// `dwcp-migrate` end to end: real QEMU guests (built from Debian packages by
/// guest/build-guest.sh), real sockets, real files, killed processes.
final class MigrateCLITests: XCTestCase {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized.path

    /// Builds the guest once per test run (the kernel .deb is cached in .build/guest; the
    /// initramfs is rebuilt, so a changed guest/dirtier.c is always the one tested).
    static func guest() throws -> String {
        try builtGuest.get()
    }

    private static let builtGuest = Result<String, Error> {
        let dir = repo + "/.build/guest"
        let r = try CLI.shell("\(repo)/guest/build-guest.sh \(dir) >/dev/null")
        guard r.status == 0 else { throw XCTSkip("cannot build the test guest: \(r.stderr)") }
        return dir
    }

    /// Runs guest/trial.py and returns its JSON verdict. The guest checks its 64 MiB region once
    /// a second (the benchmarks' 2.5 s sweep costs a test seconds before and after each
    /// migration: the source is ready after one sweep, the destination proven after two) and
    /// dirties it for 1 s before the migration unless `extra` names another `--warmup`.
    func trial(_ method: String, _ extra: [String] = [], dwcp: [String] = []) throws -> [String: Any] {
        let guest = try Self.guest()
        let args = ["--method", method, "--guest", guest, "--bin", CLI.binDir.path, "--port", String(7600 + Int.random(in: 0..<300)),
                    "--sweep-s", "1", "--warmup", "1"] + extra
            + (dwcp.isEmpty ? [] : ["--"] + dwcp)
        let r = try CLI.shell("python3 \(Self.repo)/guest/trial.py " + args.map { "'\($0)'" }.joined(separator: " "))
        let text = String(decoding: r.stdout, as: UTF8.self)
        guard let line = text.split(separator: "\n").last, let json = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            XCTFail("trial printed no verdict: \(text) \(r.stderr)")
            return [:]
        }
        return json
    }

    /// The guest's kernel is also kept unpacked for a PVH boot (trial.py boots it when it is
    /// there); the unpacker writes nothing for a bzImage it cannot read to the end, so a cut
    /// download falls back to the bzImage instead of booting half a kernel.
    func testTheGuestKernelIsUnpackedWholeOrNotAtAll() throws {
        let guest = try Self.guest()
        let elf = FileManager.default.contents(atPath: guest + "/vmlinux") ?? Data()
        XCTAssertEqual(Array(elf.prefix(4)), [0x7f, 0x45, 0x4c, 0x46], "an ELF kernel beside the bzImage")
        let t = TempDir()
        let r = try CLI.shell("""
            head -c 1000000 \(guest)/vmlinuz > \(t.path("cut"))
            python3 \(Self.repo)/guest/pvh-kernel.py \(t.path("cut")) \(t.path("out")); echo "$? $([ -e \(t.path("out")) ] && echo written || echo none)"
            """)
        XCTAssertEqual(r.printed, "1 none", r.stderr)
        XCTAssertTrue(r.stderr.contains("cut short"), r.stderr)
    }

    /// The issue's acceptance test: QEMU's own tcp: migration of the same guest as a control
    /// (so a QEMU fault is told apart from a DWCP fault), then the same through dwcp-migrate. Both
    /// must resume the guest with its heartbeat continuing and zero mismatched pages in the
    /// guest's own memory check over two full sweeps after the switchover.
    func testQemuGuestMigratesIntact() throws {
        let control = try trial("qemu-tcp")
        XCTAssertEqual(control["ok"] as? Bool, true, "control (QEMU tcp:) failed, so QEMU itself is broken here: \(control)")
        let result = try trial("dwcp")
        XCTAssertEqual(result["ok"] as? Bool, true, "dwcp-migrate: \(result)")
        XCTAssertEqual(result["mismatches"] as? Int, 0)
        XCTAssertEqual(result["boot_same"] as? Bool, true)
        let gap = (result["dst_first"] as? Int ?? 0) - (result["src_last"] as? Int ?? 0)
        XCTAssertTrue((1...2).contains(gap), "heartbeat continues where the source stopped: \(result)")
        XCTAssertGreaterThan(result["tool_wire_bytes"] as? Int ?? 0, 10 << 20)
        let ready = result["receiver_ready_lines"] as? [String] ?? []
        XCTAssertTrue(ready.contains { $0.contains("pre-faulted") }, "the receiver pre-faults its VM's RAM before it listens: \(ready)")
    }

    /// A source started before the receiver says it is listening (still pre-faulting its VM's
    /// RAM) waits in the receiver's backlog rather than being refused, and migrates as usual.
    func testSourceThatComesWhileTheDestinationPrefaultsWaitsAndMigrates() throws {
        let result = try trial("dwcp", ["--inject", "early-source", "--warmup", "1"])
        XCTAssertEqual(result["ok"] as? Bool, true, "dwcp-migrate: \(result)")
        XCTAssertEqual(result["mismatches"] as? Int, 0)
        XCTAssertEqual(result["exit"] as? Int, 0)
    }

    /// `--rate-probe transfer` (the default on paths of 8 ms round trip and more): the probe
    /// times round trips only, the migration starts at once at zstd level 1, measures the link's
    /// rate on its own first round trips and then applies its plan, printed again; the guest
    /// arrives intact.
    func testAMigrationThatMeasuresItsRateOnTheTransferArrivesIntact() throws {
        let result = try trial("dwcp", ["--warmup", "1"], dwcp: ["--rate-probe", "transfer"])
        XCTAssertEqual(result["ok"] as? Bool, true, "dwcp-migrate: \(result)")
        XCTAssertEqual(result["mismatches"] as? Int, 0)
        let plan = result["plan"] as? [String: Any] ?? [:]
        XCTAssertEqual(plan["link_rate"] as? String, "measured on the transfer", "the last plan line: \(result)")
        XCTAssertGreaterThan(plan["link_mbit_per_s"] as? Double ?? 0, 100, "loopback moves more than 100 Mbit/s: \(plan)")
    }

    /// `--reference` with the files both QEMUs boot from (its kernel and initrd), over a link
    /// planned as 100 Mbit so the stream is zstd with a long window: the guest arrives intact,
    /// its stream compressed against them. A receiver given other files refuses the stream
    /// before decoding a byte (exit 2) and quits its QEMU; the source VM keeps running (exit 4).
    func testAGuestCompressedAgainstItsBootFilesArrivesIntactAndOtherFilesAreRefused() throws {
        let slow = ["--link-rate", "100Mbit", "--rtt", "1"]
        let result = try trial("dwcp-reference", dwcp: slow)
        XCTAssertEqual(result["ok"] as? Bool, true, "dwcp-migrate: \(result)")
        XCTAssertEqual(result["mismatches"] as? Int, 0)
        let guest = try Self.guest()
        let kernel = FileManager.default.fileExists(atPath: guest + "/vmlinux") ? guest + "/vmlinux" : guest + "/vmlinuz"
        let size = { (path: String) in (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil }
        XCTAssertEqual(result["reference_bytes"] as? Int, (size(kernel) ?? 0) + (size(guest + "/initrd.img") ?? 0),
                       "the stream was not compressed against the kernel and initrd: \(result)")
        let refused = try trial("dwcp", ["--inject", "wrong-reference"], dwcp: slow)
        XCTAssertEqual(refused["ok"] as? Bool, true, "\(refused)")
    }

    /// The destination host dies mid-copy: the source VM must keep running, intact, and the
    /// command must say it was the network (exit 4).
    func testSourceKeepsRunningWhenTheDestinationDies() throws {
        let result = try trial("dwcp", ["--inject", "kill-receiver", "--kill-after", "2"], dwcp: ["--codec", "zstd:19", "--resume-timeout", "2"])
        XCTAssertEqual(result["ok"] as? Bool, true, "\(result)")
        XCTAssertEqual(result["exit"] as? Int, 4)
        XCTAssertEqual(result["source_status"] as? String, "running")
    }

    /// The destination QEMU dies mid-copy: its receiver reports the closed stream and tells the
    /// source, which cancels the migration and keeps the VM running (exit 4). The receiver used to
    /// die of SIGPIPE without a word, and the source reconnect to nobody for its resume timeout.
    func testDestinationQemuThatDiesEndsTheMigrationAtOnce() throws {
        let result = try trial("dwcp", ["--inject", "kill-destination-qemu", "--kill-after", "1.5"], dwcp: ["--codec", "zstd:19", "--resume-timeout", "30"])
        XCTAssertEqual(result["ok"] as? Bool, true, "\(result)")
        XCTAssertLessThan(result["total_s"] as? Double ?? 99, 10, "\(result)")
        XCTAssertTrue((result["receiver_stderr"] as? String ?? "").contains("the destination QEMU's migration stream: write:"), "\(result)")
    }

    /// The source QEMU dies mid-copy (the VM is lost with it): `dwcp-migrate qemu` exits 1 and
    /// cancels its transfer, and the destination quits its QEMU at once. It used to exit without
    /// a word to the destination, which waited out its 120 s idle timeout.
    func testSourceQemuThatDiesEndsTheDestinationAtOnce() throws {
        let result = try trial("dwcp", ["--inject", "kill-source-qemu", "--kill-after", "1.5"], dwcp: ["--codec", "zstd:19"])
        XCTAssertEqual(result["ok"] as? Bool, true, "\(result)")
        XCTAssertTrue((result["receiver_stderr"] as? String ?? "").contains("the source QEMU failed"), "\(result)")
    }

    /// Nothing listens at the destination: the probe fails after QEMU's migration has begun
    /// (the probe overlaps QEMU's setup), so that migration must be cancelled, the command exit
    /// 4, and the source VM go on running intact.
    func testUnreachableDestinationCancelsAndKeepsTheSource() throws {
        let result = try trial("dwcp", ["--inject", "no-receiver", "--warmup", "1"])
        XCTAssertEqual(result["ok"] as? Bool, true, "\(result)")
        XCTAssertEqual(result["exit"] as? Int, 4)
        XCTAssertEqual(result["source_migration"] as? String, "cancelled")
        XCTAssertEqual(result["source_status"] as? String, "running")
    }

    /// Runs a trial whose source gives up (`inject`) and checks what every such end must give:
    /// the source's exit status `exit`, its VM running intact, and the receiver, told by the
    /// sender (the transport's `cancel`), gone with exit 1 within 3 s and its QEMU quit; before,
    /// it waited for the vanished source up to its idle timeout, two minutes.
    func assertSourceGivesUp(_ inject: String, exit: Int, _ extra: [String] = [], file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        let result = try trial("dwcp", ["--inject", inject, "--warmup", "1"] + extra)
        XCTAssertEqual(result["ok"] as? Bool, true, "\(result)", file: file, line: line)
        XCTAssertEqual(result["exit"] as? Int, exit, file: file, line: line)
        XCTAssertEqual(result["source_status"] as? String, "running", file: file, line: line)
        XCTAssertEqual(result["receiver_exit"] as? Int, 1, file: file, line: line)
        XCTAssertLessThan(result["receiver_lag_s"] as? Double ?? 99, 3, file: file, line: line)
        XCTAssertEqual(result["destination_qemu_quit"] as? Bool, true, file: file, line: line)
        return result
    }

    /// A migration that cannot converge (1 ms of downtime asked, one pass allowed) is given up:
    /// exit 1, QEMU's migration cancelled.
    func testNonConvergingGuestGivesUpAndTheDestinationQuitsAtOnce() throws {
        let result = try assertSourceGivesUp("not-converging", exit: 1)
        XCTAssertEqual(result["source_migration"] as? String, "cancelled")
    }

    /// Ctrl-C on the source mid-copy: exit 130 (QEMU fails its migration when the stream's
    /// socket closes, and keeps the VM running).
    func testInterruptedSourceKeepsTheVMAndTheDestinationQuitsAtOnce() throws {
        _ = try assertSourceGivesUp("interrupt-source", exit: 130, ["--kill-after", "1.5"])
    }

    /// The whole VM went over, but the destination's confirmation never came: its QEMU (started
    /// with -S) holds the loaded VM paused and its receiver is killed while waiting for it to
    /// run. The source must not resume (the destination may be running the VM by then), so it
    /// stays paused, exits 4 and says so; neither copy runs.
    func testLostConfirmationLeavesTheSourcePaused() throws {
        let result = try trial("dwcp", ["--inject", "kill-receiver-after-switchover"], dwcp: ["--resume-timeout", "2"])
        XCTAssertEqual(result["ok"] as? Bool, true, "\(result)")
        XCTAssertEqual(result["exit"] as? Int, 4)
        XCTAssertEqual(result["source_status"] as? String, "postmigrate")
        XCTAssertEqual(result["destination_status"] as? String, "paused")
    }

    /// Every migration connection is killed twice mid-copy (ss -K): the transport reconnects,
    /// resends what was unacknowledged, and the guest arrives intact. (With the migration's
    /// small window this once stalled for good: idle stream threads never noticed that their
    /// connection had died, so its chunks were never resent.)
    func testDroppedConnectionsResumeDuringAMigration() throws {
        // zstd level 15 makes the copy last several seconds on loopback (7.7 s here; 24 s at 19),
        // so both cuts, 1 and 2 s in, land inside it.
        let result = try trial("dwcp", ["--inject", "drop-connections", "--kill-after", "1"], dwcp: ["--codec", "zstd:15"])
        XCTAssertEqual(result["ok"] as? Bool, true, "\(result)")
        XCTAssertEqual(result["mismatches"] as? Int, 0)
        XCTAssertGreaterThanOrEqual(result["reconnects"] as? Int ?? 0, 2, "connections were not actually dropped: \(result)")
    }

    /// A file that keeps changing: pre-copy rounds, then --freeze and the final round; the
    /// destination ends byte-identical to the frozen source.
    ///
    /// The freeze stops the writer between two writes and waits until it has: a `kill -STOP` of
    /// the loop stopped the shell but not a `dd` it had already started, which could write after
    /// the final round had read the file (CI failed that way once). The thaw runs only when the
    /// final round fails, so here it must not run at all.
    func testChangingFileMigrates() throws {
        let t = TempDir()
        let src = t.path("src.img"), dst = t.path("dst.img")
        let freeze = t.path("freeze"), frozen = t.path("frozen"), thawed = t.path("thawed")
        let script = """
            head -c 16777216 /dev/urandom > \(src)
            dwcp-migrate receive --listen 127.0.0.1:7591 -o \(dst) --json > \(t.path("recv.json")) & rp=$!
            sleep 0.5
            ( while [ ! -e \(freeze) ]; do dd if=/dev/urandom of=\(src) bs=4096 count=8 seek=$((RANDOM % 4000)) conv=notrunc status=none; sleep 0.05; done; touch \(frozen) ) & w=$!
            dwcp-migrate file \(src) --to 127.0.0.1:7591 --max-downtime 3s --json --progress \
              --freeze "touch \(freeze); while [ ! -e \(frozen) ]; do sleep 0.01; done" --thaw "touch \(thawed)" > \(t.path("send.json")) 2> \(t.path("progress")); s=$?
            wait $rp; r=$?; touch \(freeze); wait $w; echo "$s $r"
            """
        let r = try CLI.shell(script)
        XCTAssertEqual(r.printed, "0 0", r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: thawed), "the thaw ran after a successful final round")
        let progress = String(decoding: t.read("progress"), as: UTF8.self)
        XCTAssertTrue(progress.contains("dwcp-migrate: round 0, read ") && progress.contains(" of 16.0 MiB"), progress)
        XCTAssertEqual(t.read("dst.img"), t.read("src.img"), "destination equals the frozen source")
        let lines = String(decoding: t.read("send.json"), as: UTF8.self).split(separator: "\n")
        let done = try JSONSerialization.jsonObject(with: Data(lines.last!.utf8)) as! [String: Any]
        XCTAssertEqual(done["event"] as? String, "done")
        XCTAssertGreaterThanOrEqual(done["rounds"] as! Int, 2, "a full round, then at least the final delta round")
        let perRound = done["per_round"] as! [[String: Any]]
        XCTAssertLessThan(perRound.last!["wire_bytes"] as! Int, 4 << 20, "the final round is a delta, not the whole image")
        // The receiver writes the whole image in round 0 and only changed pages after it.
        let received = String(decoding: t.read("recv.json"), as: UTF8.self).split(separator: "\n")
            .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .filter { $0["event"] as? String == "round" || $0["event"] as? String == "final" }
        XCTAssertEqual(received.first?["written_bytes"] as? Int, 16 << 20)
        XCTAssertGreaterThanOrEqual(received.count, 2)
        for r in received.dropFirst() { XCTAssertLessThan(r["written_bytes"] as! Int, 4 << 20, "\(r)") }
        for leftover in [".dwcp-partial", ".dwcp-journal", ".dwcp-applying"] {
            XCTAssertFalse(FileManager.default.fileExists(atPath: dst + leftover), leftover)
        }
    }

    /// An image migration that measures its link's rate on round 0's own transfer
    /// (`--rate-probe transfer`, what a path of 8 ms or more gets): the plan is printed before
    /// the rate and then with it (again if the rate was a floor, measured again, or completed
    /// with the path's loss), and the image arrives whole.
    func testAnImageMigrationThatMeasuresItsRateOnTheTransferArrivesIntact() throws {
        let t = TempDir()
        let src = t.path("src.img"), dst = t.path("dst.img")
        // 160 MiB: random pages and text, so round 0 outlasts the measurement on loopback.
        let script = """
            for i in $(seq 40); do head -c 2097152 /dev/urandom; seq 1 300000 | head -c 2097152; done > \(src)
            dwcp-migrate receive --listen 127.0.0.1:7597 -o \(dst) > /dev/null & rp=$!
            sleep 0.5
            dwcp-migrate file \(src) --to 127.0.0.1:7597 --rate-probe transfer --json > \(t.path("send.json")); s=$?
            wait $rp; echo "$s $?"
            """
        let r = try CLI.shell(script)
        XCTAssertEqual(r.printed, "0 0", r.stderr)
        XCTAssertEqual(t.read("dst.img"), t.read("src.img"), "destination equals the source")
        let lines = String(decoding: t.read("send.json"), as: UTF8.self).split(separator: "\n")
            .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let plans = lines.filter { $0["event"] as? String == "plan" }
        XCTAssertGreaterThanOrEqual(plans.count, 2, "the plan before the rate and the measured one: \(lines)")
        XCTAssertEqual(plans.first?["link_rate"] as? String, "to be measured on the transfer")
        XCTAssertEqual(Set(plans.dropFirst().map { $0["link_rate"] as? String }), ["measured on the transfer"], "\(plans)")
        XCTAssertGreaterThan(plans.last?["link_mbit_per_s"] as? Double ?? 0, 100, "loopback moves more than 100 Mbit/s: \(plans)")
        XCTAssertEqual(lines.last?["event"] as? String, "done")
    }

    /// A sparse disk image (mostly never written) stays sparse at the destination: round 0's
    /// zero pages are holes in the new file, which still has the image's whole length when it
    /// ends in zeros. It used to be written out in full, 72 MiB of disk for 5 MiB of data.
    func testSparseImageStaysSparseAtTheDestination() throws {
        let t = TempDir()
        let src = t.path("src.img"), dst = t.path("dst.img")
        let r = try CLI.shell("""
            head -c 4194304 /dev/urandom > \(src) && truncate -s 64M \(src) &&
            head -c 1048576 /dev/urandom >> \(src) && truncate -s 72M \(src) || exit 9
            dwcp-migrate receive --listen 127.0.0.1:7596 -o \(dst) & rp=$!
            sleep 0.5
            dwcp-migrate file \(src) --to 127.0.0.1:7596; s=$?
            wait $rp; echo "$s $?"
            """)
        XCTAssertEqual(r.printed, "0 0", r.stderr)
        XCTAssertEqual(t.read("dst.img"), t.read("src.img"))
        var st = stat()
        XCTAssertEqual(stat(dst, &st), 0)
        XCTAssertEqual(st.st_size, 72 << 20)
        XCTAssertLessThan(Int(st.st_blocks) * 512, 8 << 20, "the holes stay holes")
    }

    /// kill -9 of the destination while it writes a committed round into the image (the image
    /// moved aside, the journal beside it): `recover` completes the round, and the image equals
    /// the frozen source. The apply of 128 MiB lasts a fraction of a second; if three tries all
    /// miss it the test is skipped, never passed without the kill.
    func testKilledApplyIsCompletedByRecover() throws {
        for attempt in 1...3 {
            let t = TempDir()
            let v1 = t.path("v1.img"), v2 = t.path("v2.img"), src = t.path("src.img"), dst = t.path("dst.img")
            let script = """
                head -c 134217728 /dev/urandom > \(v1); head -c 134217728 /dev/urandom > \(v2); cp \(v1) \(src)
                dwcp-migrate receive --listen 127.0.0.1:759\(5 + attempt) -o \(dst) 2>/dev/null & rp=$!
                sleep 0.5
                # Nothing changes during round 0; the freeze then replaces the whole image, so the
                # final round's journal holds all of it.
                dwcp-migrate file \(src) --to 127.0.0.1:759\(5 + attempt) --resume-timeout 1 --freeze "cp \(v2) \(src)" 2>/dev/null & sp=$!
                # The apply of the round that replaces the image: its journal holds over 64 MiB
                # (a round before it, when the planner takes one, journals nothing and is
                # applied too).
                applying() { [ -e \(dst).dwcp-applying ] && [ "$(stat -c %s \(dst).dwcp-journal 2>/dev/null || echo 0)" -gt 67108864 ]; }
                for i in $(seq 20000); do applying && break; sleep 0.001; done
                applying || { wait $sp; wait $rp; echo missed; exit 0; }
                kill -9 $rp; wait $sp; echo $?
                """
            let r = try CLI.shell(script)
            let out = r.printed
            if out == "missed" { continue }
            XCTAssertEqual(out, "4", "the source never heard the verdict: " + r.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: dst), "mid-apply the image is moved aside, never torn in place")
            let recovered = try CLI.run("dwcp-migrate", ["recover", dst, "--json"])
            XCTAssertEqual(recovered.status, 0, recovered.stderr)
            let line = try JSONSerialization.jsonObject(with: recovered.stdout) as! [String: Any]
            XCTAssertEqual(line["action"] as? String, "replayed")
            XCTAssertEqual(t.read("dst.img"), t.read("v2.img"), "the committed final round, completed")
            XCTAssertFalse(FileManager.default.fileExists(atPath: dst + ".dwcp-journal"))
            XCTAssertFalse(FileManager.default.fileExists(atPath: dst + ".dwcp-applying"))
            return
        }
        throw XCTSkip("the apply finished before the kill in three tries")
    }

    /// A block device as the source (a loop device over a file, changing while it is copied):
    /// read through the device, rounds as for a file, the copy equal to the frozen device.
    func testChangingBlockDeviceMigrates() throws {
        let t = TempDir()
        let backing = t.path("backing.img"), dst = t.path("dst.img")
        let setup = try CLI.shell("truncate -s 32M \(backing) && losetup -f --show \(backing)")
        let device = setup.printed
        guard setup.status == 0, device.hasPrefix("/dev/loop") else { throw XCTSkip("no loop device here (needs root): \(setup.stderr)") }
        defer { _ = try? CLI.shell("losetup -d \(device)") }
        let freeze = t.path("freeze"), frozen = t.path("frozen")
        let script = """
            head -c 33554432 /dev/urandom | dd of=\(device) bs=1M conv=fsync status=none
            dwcp-migrate receive --listen 127.0.0.1:7595 -o \(dst) 2>/dev/null & rp=$!
            sleep 0.5
            ( while [ ! -e \(freeze) ]; do dd if=/dev/urandom of=\(device) bs=4096 count=4 seek=$((RANDOM % 8000)) conv=notrunc status=none; sleep 0.02; done; touch \(frozen) ) & w=$!
            dwcp-migrate file \(device) --to 127.0.0.1:7595 --json \
              --freeze "touch \(freeze); while [ ! -e \(frozen) ]; do sleep 0.01; done" > \(t.path("send.json")); s=$?
            wait $rp; r=$?; touch \(freeze); wait $w
            cmp -s \(device) \(dst); echo "$s $r $?"
            """
        let r = try CLI.shell(script)
        XCTAssertEqual(r.printed, "0 0 0", r.stderr)
        let lines = String(decoding: t.read("send.json"), as: UTF8.self).split(separator: "\n")
        let done = try JSONSerialization.jsonObject(with: Data(lines.last!.utf8)) as! [String: Any]
        XCTAssertGreaterThanOrEqual(done["rounds"] as! Int, 2)
    }

    /// A loop device over a file, for the tests that need a block device; skips without root.
    private func loopDevice(_ t: TempDir, size: String) throws -> String {
        let backing = t.path("device-\(size).img")
        let setup = try CLI.shell("truncate -s \(size) \(backing) && losetup -f --show \(backing)")
        let device = setup.printed
        guard setup.status == 0, device.hasPrefix("/dev/loop") else { throw XCTSkip("no loop device here (needs root): \(setup.stderr)") }
        return device
    }

    /// A block device as the destination: rounds written into it in place, the image its first
    /// bytes and the rest untouched; the journal and marker in --journal-dir; a round 0 cut
    /// short leaves the device marked incomplete (recover exits 3) until a migration completes.
    func testBlockDeviceDestinationAppliesRoundsInPlace() throws {
        let t = TempDir()
        let device = try loopDevice(t, size: "48M")
        defer { _ = try? CLI.shell("losetup -d \(device)") }
        let state = t.path("state"), src = t.path("src.img"), freeze = t.path("freeze"), frozen = t.path("frozen")
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        let name = (device as NSString).lastPathComponent
        let noDirectory = try CLI.run("dwcp-migrate", ["receive", "--listen", "127.0.0.1:0", "-o", device])
        XCTAssertEqual(noDirectory.status, 2, noDirectory.stderr)
        XCTAssertTrue(noDirectory.stderr.contains("--journal-dir"), noDirectory.stderr)
        XCTAssertTrue(noDirectory.stderr.contains("error: -o \(device) is a block device"), noDirectory.stderr)

        // Killed in round 0: the device is marked, recover says so, a new receive starts over.
        let killed = """
            head -c 33554432 /dev/urandom > \(src)
            dwcp-migrate receive --listen 127.0.0.1:7610 -o \(device) --journal-dir \(state) 2>/dev/null & rp=$!
            sleep 0.5
            dwcp-migrate file \(src) --to 127.0.0.1:7610 --codec zstd:19 --link-rate 1Gbit --resume-timeout 1 2>/dev/null & sp=$!
            for i in $(seq 2000); do [ -e \(state)/\(name).dwcp-incomplete ] && break; sleep 0.005; done
            kill -9 $rp; wait $sp; echo $?
            """
        let k = try CLI.shell(killed)
        XCTAssertEqual(k.printed, "4", k.stderr)
        let marked = try CLI.run("dwcp-migrate", ["recover", device, "--journal-dir", state, "--json"])
        XCTAssertEqual(marked.status, 3, marked.stderr)
        let line = try JSONSerialization.jsonObject(with: marked.stdout) as! [String: Any]
        XCTAssertEqual(line["action"] as? String, "incomplete")

        let script = """
            dwcp-migrate receive --listen 127.0.0.1:7611 -o \(device) --journal-dir \(state) --json > \(t.path("recv.json")) 2>/dev/null & rp=$!
            sleep 0.5
            ( while [ ! -e \(freeze) ]; do dd if=/dev/urandom of=\(src) bs=4096 count=4 seek=$((RANDOM % 8000)) conv=notrunc status=none; sleep 0.02; done; touch \(frozen) ) & w=$!
            dwcp-migrate file \(src) --to 127.0.0.1:7611 \
              --freeze "touch \(freeze); while [ ! -e \(frozen) ]; do sleep 0.01; done" 2>/dev/null; s=$?
            wait $rp; r=$?; touch \(freeze); wait $w
            cmp -s -n 33554432 \(src) \(device); c=$?
            cmp -s -i 33554432 -n 16777216 \(device) /dev/zero; z=$?
            echo "$s $r $c $z"
            """
        let r = try CLI.shell(script)
        XCTAssertEqual(r.printed, "0 0 0 0", r.stderr)
        let rounds = String(decoding: t.read("recv.json"), as: UTF8.self).split(separator: "\n")
        XCTAssertGreaterThanOrEqual(rounds.count, 3, "round 0, at least one delta round, the summary")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: state), [], "no journal or marker once it is done")
        let clean = try CLI.run("dwcp-migrate", ["recover", device, "--journal-dir", state])
        XCTAssertEqual(clean.status, 0, clean.stderr)
    }

    /// The destination killed with -9 in the middle of the final round, after it had
    /// acknowledged part of it, and started again: it holds the round before (its journal is
    /// discarded, its round record names that round), the source is told its receiver was
    /// restarted and sends the round again, and the migration completes byte-identical.
    func testRestartedDestinationTakesTheRoundAgain() throws {
        let t = TempDir()
        let v1 = t.path("v1.img"), v2 = t.path("v2.img"), src = t.path("src.img"), dst = t.path("dst.img"), bad = t.path("bad.img")
        let script = """
            head -c 33554432 /dev/urandom > \(v1); head -c 33554432 /dev/urandom > \(v2); cp \(v1) \(src)
            dwcp-migrate receive --listen 127.0.0.1:7616 -o \(dst) 2>/dev/null & rp=$!
            sleep 0.5
            # Nothing changes during round 0; the freeze replaces the whole image, so the final
            # round is long (and slow, at zstd level 19) and the kill lands inside it.
            dwcp-migrate file \(src) --to 127.0.0.1:7616 --codec zstd:19 --link-rate 1Gbit --resume-timeout 20 --json \
              --freeze "cp \(v2) \(src)" > \(t.path("send.json")) 2>/dev/null & sp=$!
            for i in $(seq 6000); do [ "$(stat -c %s \(dst).dwcp-journal 2>/dev/null || echo 0)" -gt 8000000 ] && break; sleep 0.005; done
            [ "$(stat -c %s \(dst).dwcp-journal 2>/dev/null || echo 0)" -gt 8000000 ] || exit 93
            kill -9 $rp; wait $rp 2>/dev/null
            [ -e \(dst).dwcp-round ] || echo "no round record"
            # What recover makes of it is the round before exactly, by its bytes; a copy is kept to damage.
            dwcp-migrate recover --verify --json \(dst) > \(t.path("verify.json")) || echo "verify failed"
            cp \(dst) \(bad); cp \(dst).dwcp-round \(bad).dwcp-round
            dwcp-migrate receive --listen 127.0.0.1:7616 -o \(dst) 2>/dev/null; r=$?
            wait $sp; echo "$? $r"
            """
        let r = try CLI.shell(script)
        XCTAssertEqual(r.printed, "0 0", r.stderr)
        XCTAssertEqual(t.read("dst.img"), t.read("v2.img"), "the final round, sent again and applied")
        let lines = String(decoding: t.read("send.json"), as: UTF8.self).split(separator: "\n")
        let done = try JSONSerialization.jsonObject(with: Data(lines.last!.utf8)) as! [String: Any]
        XCTAssertEqual(done["receiver_restarts"] as? Int, 1)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dst + ".dwcp-round"), "no round record once the migration is done")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dst + ".dwcp-journal"))
        // recover --verify after the kill: the journal discarded, the image proved to be round 0.
        let verified = try JSONSerialization.jsonObject(with: t.read("verify.json")) as! [String: Any]
        XCTAssertEqual(verified["action"] as? String, "discarded", "\(verified)")
        XCTAssertEqual(verified["verify"] as? String, "verified", "\(verified)")
        // Round 0, or the delta round after it that found nothing changed.
        let held = verified["verified_round"] as? Int ?? -1
        XCTAssertTrue(held == 0 || held == 1, "\(verified)")
        XCTAssertEqual(t.read("bad.img"), t.read("v1.img"))
        // One byte of it changed is not that round any more; nor is it one byte longer.
        var damaged = [UInt8](t.read("bad.img"))
        damaged[12_345] ^= 0x40
        try Data(damaged).write(to: URL(fileURLWithPath: bad))
        let refused = try CLI.run("dwcp-migrate", ["recover", "--verify", bad])
        XCTAssertEqual(refused.status, 3, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("does not have round \(held)'s digest: it is not round \(held)"), refused.stderr)
        damaged[12_345] ^= 0x40
        try Data(damaged + [0]).write(to: URL(fileURLWithPath: bad))
        let longer = try CLI.run("dwcp-migrate", ["recover", "--verify", "--json", bad])
        XCTAssertEqual(longer.status, 3, longer.stderr)
        XCTAssertTrue(String(decoding: longer.stdout, as: UTF8.self).contains("\"verify\":\"mismatch\""), longer.stderr)
        try Data(damaged).write(to: URL(fileURLWithPath: bad))
        XCTAssertEqual(try CLI.run("dwcp-migrate", ["recover", "--verify", bad]).status, 0, "that round again")
        // The finished image keeps no record: nothing to check it against, said, and no failure.
        let finished = try CLI.run("dwcp-migrate", ["recover", "--verify", dst])
        XCTAssertEqual(finished.status, 0, finished.stderr)
        XCTAssertTrue(String(decoding: finished.stdout, as: UTF8.self).contains("nothing to verify against"))
    }

    /// The source killed with -9 in the middle of a round and another started in its place,
    /// the receiver left running: with a shared secret the receiver gives the dead source's
    /// round up for the new source, which finishes the migration. Without one it keeps waiting
    /// for the source it has (a stranger must not end a transfer), and the new source, told
    /// "busy" until its --resume-timeout, exits 4.
    func testReplacedSourceTakesOverWhenItProvesTheSecret() throws {
        let t = TempDir()
        try "0123456789abcdef0123456789abcdef\n".write(toFile: t.path("key"), atomically: true, encoding: .utf8)
        func run(secret: Bool, port: Int) throws -> (String, CLI.Result) {
            let v1 = t.path("v1.img"), v2 = t.path("v2.img"), src = t.path("src.img"), dst = t.path("dst.img")
            let auth = secret ? "--secret-file \(t.path("key"))" : ""
            let r = try CLI.shell("""
                rm -f \(dst)*
                mkdir -p \(t.path("work"))  # the killed source's snapshot stays there, not in /tmp
                head -c 33554432 /dev/urandom > \(v1); head -c 33554432 /dev/urandom > \(v2); cp \(v1) \(src)
                dwcp-migrate receive --listen 127.0.0.1:\(port) -o \(dst) \(auth) --idle-timeout 30 --json > \(t.path("recv.json")) 2>/dev/null & rp=$!
                sleep 0.5
                # The freeze replaces the whole image: the final round is long (zstd level 19).
                dwcp-migrate file \(src) --to 127.0.0.1:\(port) \(auth) --codec zstd:19 --link-rate 1Gbit \
                  --work-dir \(t.path("work")) --freeze "cp \(v2) \(src)" 2>/dev/null & sp=$!
                for i in $(seq 6000); do [ "$(stat -c %s \(dst).dwcp-journal 2>/dev/null || echo 0)" -gt 8000000 ] && break; sleep 0.005; done
                [ "$(stat -c %s \(dst).dwcp-journal 2>/dev/null || echo 0)" -gt 8000000 ] || exit 93
                kill -9 $sp; wait $sp 2>/dev/null
                dwcp-migrate file \(src) --to 127.0.0.1:\(port) \(auth) --work-dir \(t.path("work")) --resume-timeout 4; s=$?
                [ $s = 0 ] || kill $rp
                wait $rp; echo "$s $?"
                """)
            return (r.printed, r)
        }
        let (withSecret, r1) = try run(secret: true, port: 7631)
        XCTAssertEqual(withSecret, "0 0", r1.stderr)
        XCTAssertEqual(t.read("dst.img"), t.read("v2.img"), "the new source's migration, complete")
        let done = try JSONSerialization.jsonObject(with: Data(String(decoding: t.read("recv.json"), as: UTF8.self)
            .split(separator: "\n").last!.utf8)) as! [String: Any]
        XCTAssertEqual(done["sources_replaced"] as? Int, 1)
        XCTAssertFalse(FileManager.default.fileExists(atPath: t.path("dst.img") + ".dwcp-journal"))

        let (withoutSecret, r2) = try run(secret: false, port: 7632)
        XCTAssertTrue(withoutSecret.hasPrefix("4 "), withoutSecret + " " + r2.stderr)
        XCTAssertTrue(r2.stderr.contains("busy"), r2.stderr)
    }

    /// Both ends killed with -9 in the middle of a round, then both started again, the source
    /// with --resume: it continues after the last round the destination confirmed (its kept
    /// snapshot and record in --work-dir), not with the whole image, and ends byte-identical
    /// with nothing left in --work-dir. Without --resume nothing is kept.
    func testResumedMigrationContinuesAfterTheConfirmedRound() throws {
        let t = TempDir()
        let v1 = t.path("v1.img"), v2 = t.path("v2.img"), src = t.path("src.img"), dst = t.path("dst.img"), work = t.path("work")
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let script = """
            head -c 67108864 /dev/urandom > \(v1); head -c 67108864 /dev/urandom > \(v2); cp \(v1) \(src)
            dwcp-migrate receive --listen 127.0.0.1:7617 -o \(dst) 2>/dev/null & rp=$!
            sleep 0.5
            dwcp-migrate file \(src) --to 127.0.0.1:7617 --resume --work-dir \(work) --codec zstd:19 --link-rate 1Gbit \
              --freeze "cp \(v2) \(src)" 2>/dev/null & sp=$!
            for i in $(seq 6000); do [ "$(stat -c %s \(dst).dwcp-journal 2>/dev/null || echo 0)" -gt 8000000 ] && break; sleep 0.005; done
            [ "$(stat -c %s \(dst).dwcp-journal 2>/dev/null || echo 0)" -gt 8000000 ] || exit 93
            kill -9 $sp $rp; wait $sp $rp 2>/dev/null
            ls \(work) | grep -c '\\.round$'
            dwcp-migrate receive --listen 127.0.0.1:7617 -o \(dst) 2>/dev/null & rp=$!
            sleep 0.5
            dwcp-migrate file \(src) --to 127.0.0.1:7617 --resume --work-dir \(work) --json \
              --freeze "cp \(v2) \(src)" > \(t.path("send.json")) 2>/dev/null; s=$?
            wait $rp; echo "$s $?"
            """
        let r = try CLI.shell(script)
        XCTAssertEqual(r.printed, "1\n0 0", r.stderr)
        XCTAssertEqual(t.read("dst.img"), t.read("v2.img"))
        let lines = String(decoding: t.read("send.json"), as: UTF8.self).split(separator: "\n")
        let done = try JSONSerialization.jsonObject(with: Data(lines.last!.utf8)) as! [String: Any]
        let after = try XCTUnwrap(done["resumed_after_round"] as? Int)
        let rounds = done["per_round"] as! [[String: Any]]
        XCTAssertEqual(rounds.first?["round"] as? Int, after + 1, "no new round 0")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: work), [], "nothing kept after a migration that completed")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dst + ".dwcp-round"))
    }

    /// The destination killed in round 0 while a writer changes the image, and started again at
    /// once: the source's first reconnection reaches the new receiver, which takes its session
    /// and refuses it (it holds none of its chunks), and the source sends round 0 again, reading
    /// the image as it is now. Each attempt is a session of its own: when the second attempt
    /// shared the first's session, chunks that first reconnection had sent behind its hello (of
    /// the first encoding) were spliced into the second one's stream, and the round failed its
    /// frame checksums (exit 3 at the destination, 4 at the source). `soak-image-crash.sh` found it.
    func testDestinationKilledInRoundZeroOfAChangingImageTakesItAgain() throws {
        let t = TempDir()
        let src = t.path("src.img"), dst = t.path("dst.img"), stop = t.path("stop"), stopped = t.path("stopped")
        let writer = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../scripts/image-writer.py").standardized.path
        let script = """
            head -c 33554432 /dev/urandom > \(src)
            python3 \(writer) \(src) 4 \(stop) \(stopped) 7 & wp=$!
            dwcp-migrate receive --listen 127.0.0.1:7633 -o \(dst) 2>/dev/null & rp=$!
            sleep 0.5
            dwcp-migrate file \(src) --to 127.0.0.1:7633 --codec zstd:19 --link-rate 1Gbit --resume-timeout 20 --max-downtime 5s --json \
              --freeze "touch \(stop); while [ ! -e \(stopped) ]; do sleep 0.005; done" > \(t.path("send.json")) 2>\(t.path("send.err")) & sp=$!
            for i in $(seq 6000); do [ "$(stat -c %s \(dst).dwcp-partial 2>/dev/null || echo 0)" -gt 8000000 ] && break; sleep 0.005; done
            [ "$(stat -c %s \(dst).dwcp-partial 2>/dev/null || echo 0)" -gt 8000000 ] || exit 93
            kill -9 $rp; wait $rp 2>/dev/null
            dwcp-migrate receive --listen 127.0.0.1:7633 -o \(dst) 2>\(t.path("receive.err")); r=$?
            wait $sp; s=$?; touch \(stop); wait $wp
            echo "$s $r"
            """
        let r = try CLI.shell(script)
        XCTAssertEqual(r.printed, "0 0", "\(r.stderr) \(String(decoding: t.read("send.err"), as: UTF8.self)) \(String(decoding: t.read("receive.err"), as: UTF8.self))")
        XCTAssertEqual(t.read("dst.img"), t.read("src.img"))
        let lines = String(decoding: t.read("send.json"), as: UTF8.self).split(separator: "\n")
        let done = try JSONSerialization.jsonObject(with: Data(lines.last!.utf8)) as! [String: Any]
        XCTAssertGreaterThanOrEqual(done["receiver_restarts"] as? Int ?? 0, 1, "\(done)")
    }

    /// The destination killed after it committed (and wrote in) the final round, before its
    /// verdict left: started again, it holds the final round, and keeps its undo until its
    /// source says it heard the verdict, so the source, which never heard it and sends the final
    /// round again, has the image taken back a round and the round taken again. When the final
    /// round kept no record, the new receiver took that round for a new migration's first
    /// stream and refused it as a delta ("give it with --baseline", exit 2), and the source gave
    /// up (exit 4) with the destination's copy complete. `soak-image-crash.sh` found it.
    func testDestinationKilledBeforeTheFinalVerdictTakesTheFinalRoundAgain() throws {
        let t = TempDir()
        let v1 = t.path("v1.img"), v2 = t.path("v2.img"), src = t.path("src.img"), dst = t.path("dst.img")
        let script = """
            head -c 16777216 /dev/urandom > \(v1); cp \(v1) \(v2)
            dd if=/dev/urandom of=\(v2) bs=1M count=2 seek=5 conv=notrunc status=none; cp \(v1) \(src)
            DWCP_CRASH_AT=destination-before-verdict-2 dwcp-migrate receive --listen 127.0.0.1:7634 -o \(dst) 2>/dev/null & rp=$!
            sleep 0.5
            dwcp-migrate file \(src) --to 127.0.0.1:7634 --link-rate 1Gbit --resume-timeout 20 --json \
              --freeze "cp \(v2) \(src)" > \(t.path("send.json")) 2>\(t.path("send.err")) & sp=$!
            wait $rp 2>/dev/null
            od -An -tu8 -j8 -N8 \(dst).dwcp-round | tr -d ' '
            dwcp-migrate receive -v --json --listen 127.0.0.1:7634 -o \(dst) 2>\(t.path("receive.err")) > \(t.path("receive.json")); r=$?
            wait $sp; echo "$? $r"
            """
        let r = try CLI.shell(script)
        XCTAssertEqual(r.printed, "2\n0 0", "the killed receiver held the final round (2, after an unchanged round 1), then both ended well. \(r.stderr) \(String(decoding: t.read("send.err"), as: UTF8.self)) \(String(decoding: t.read("receive.err"), as: UTF8.self))")
        XCTAssertEqual(t.read("dst.img"), t.read("v2.img"))
        XCTAssertTrue(String(decoding: t.read("receive.err"), as: UTF8.self).contains("taking \(dst) back to round 1"),
                      String(decoding: t.read("receive.err"), as: UTF8.self))
        let received = try XCTUnwrap(String(decoding: t.read("receive.json"), as: UTF8.self).split(separator: "\n").last)
        XCTAssertEqual((try JSONSerialization.jsonObject(with: Data(received.utf8)) as? [String: Any])?["rounds_taken_again"] as? Int, 1)
        for leftover in [".dwcp-round", ".dwcp-undo", ".dwcp-journal", ".dwcp-lock"] {
            XCTAssertFalse(FileManager.default.fileExists(atPath: dst + leftover), "\(leftover) once the source heard the verdict")
        }
    }

    /// The race a confirmation can lose: the destination commits round 1 and is killed before
    /// its verdict reaches the source (`DWCP_CRASH_AT`, at the step after the round is durable
    /// and before the verdict goes), which gives up with round 0 as the last round it heard
    /// confirmed. Run again, the source offers round 1 again as a delta against round 0; the
    /// restarted destination, holding round 1, takes its image back to round 0 with the undo it
    /// kept and takes the round. Before the undo the destination refused it (exit 3) and only a
    /// run without --resume could finish.
    func testSourceThatNeverHeardTheConfirmationIsTakenBackARound() throws {
        let t = TempDir()
        let src = t.path("src.img"), dst = t.path("dst.img"), work = t.path("work")
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let script = """
            head -c 67108864 /dev/urandom > \(src)
            DWCP_CRASH_AT=destination-before-verdict-1 dwcp-migrate receive --listen 127.0.0.1:7619 -o \(dst) 2>/dev/null & rp=$!
            sleep 0.5
            # Writers that keep round 1 from being the last.
            (while :; do dd if=/dev/urandom of=\(src) bs=1M count=8 seek=$((RANDOM % 56)) conv=notrunc status=none; done) & wp=$!
            dwcp-migrate file \(src) --to 127.0.0.1:7619 --resume --work-dir \(work) --link-rate 1Gbit --resume-timeout 2 2>/dev/null; s=$?
            kill $wp; wait $wp $rp 2>/dev/null
            round() { od -An -tu8 -j8 -N8 "$1" | tr -d ' '; }
            echo "$s $(round \(dst).dwcp-round) $(round \(work)/*.round)"
            dwcp-migrate receive -v --json --listen 127.0.0.1:7619 -o \(dst) 2>\(t.path("receive.log")) >\(t.path("receive.json")) & rp=$!
            sleep 0.5
            dwcp-migrate file \(src) --to 127.0.0.1:7619 --resume --work-dir \(work) --link-rate 1Gbit --json > \(t.path("send.json")) 2>/dev/null; s=$?
            wait $rp; echo "$s $?"
            """
        let r = try CLI.shell(script)
        XCTAssertEqual(r.printed,
                       "4 1 0\n0 0", "first line: the source gave up (exit 4) with the destination at round 1 and itself at round 0. \(r.stderr)")
        XCTAssertEqual(t.read("dst.img"), t.read("src.img"))
        XCTAssertTrue(String(decoding: t.read("receive.log"), as: UTF8.self).contains("taking \(dst) back to round 0"))
        let received = try XCTUnwrap(String(decoding: t.read("receive.json"), as: UTF8.self).split(separator: "\n").last)
        XCTAssertEqual((try JSONSerialization.jsonObject(with: Data(received.utf8)) as? [String: Any])?["rounds_taken_again"] as? Int, 1)
        let last = try XCTUnwrap(String(decoding: t.read("send.json"), as: UTF8.self).split(separator: "\n").last)
        let done = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any])
        XCTAssertEqual(done["resumed_after_round"] as? Int, 0)
        XCTAssertEqual((done["per_round"] as? [[String: Any]])?.first?["round"] as? Int, 1, "round 1 again, not a new round 0")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: work), [])
        for leftover in [".dwcp-round", ".dwcp-undo", ".dwcp-journal"] {
            XCTAssertFalse(FileManager.default.fileExists(atPath: dst + leftover), leftover)
        }
    }

    /// A round before the final one is confirmed once its journal is durable, and written into
    /// the image after its verdict has left, while the verdict and the next round's opening
    /// cross the path (on a long path that is ~30 ms a round off the source's wait). strace
    /// holds round 1's apply for 3 s: the source hears round 1 at once, and the final round,
    /// which only then finds the destination ready, still makes the copy whole. The final
    /// round is written in before its verdict (`testKilledApplyIsCompletedByRecover`).
    func testARoundBeforeTheFinalIsConfirmedBeforeItIsWrittenIntoTheImage() throws {
        try CLI.requireStrace()
        let t = TempDir()
        let src = t.path("src.img"), dst = t.path("dst.img"), written = t.path("written")
        let script = """
            head -c 67108864 /dev/urandom > \(src)
            strace -f -qq -o /dev/null -P \(dst).dwcp-applying -e trace=rename,renameat,renameat2 \
              -e inject=rename,renameat,renameat2:delay_enter=3s:when=1 dwcp-migrate receive --listen 127.0.0.1:7621 -o \(dst) 2>/dev/null & rp=$!
            sleep 0.5
            # Writes during round 0, so that round 1 is not the last; the freeze waits for them.
            ( for i in $(seq 20); do dd if=/dev/urandom of=\(src) bs=1M count=1 seek=$((RANDOM % 64)) conv=notrunc status=none; sleep 0.05; done; touch \(written) ) &
            dwcp-migrate file \(src) --to 127.0.0.1:7621 --link-rate 1Gbit --json \
              --freeze "while [ ! -e \(written) ]; do sleep 0.01; done" > \(t.path("send.json")) 2>\(t.path("send.err")); s=$?
            wait $rp; echo "$s $?"
            """
        let r = try CLI.shell(script)
        XCTAssertEqual(r.printed, "0 0", r.stderr + String(decoding: t.read("send.err"), as: UTF8.self))
        XCTAssertEqual(t.read("dst.img"), t.read("src.img"))
        let lines = String(decoding: t.read("send.json"), as: UTF8.self).split(separator: "\n")
        let done = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(lines.last!.utf8)) as? [String: Any])
        let rounds = try XCTUnwrap(done["per_round"] as? [[String: Any]])
        XCTAssertGreaterThanOrEqual(rounds.count, 3, "round 0, round 1 and the final round: \(rounds)")
        let round1 = try XCTUnwrap(rounds.first { $0["round"] as? Int == 1 })
        XCTAssertLessThan(try XCTUnwrap(round1["seconds"] as? Double), 2.0, "round 1's verdict waited for its apply: \(round1)")
    }

    /// A regular file whose journal lives in --journal-dir: a delta round killed mid-way leaves
    /// its journal there (not beside the file), `recover --journal-dir` discards it and the file
    /// is the previous round; a complete migration leaves the directory empty.
    func testJournalDirectoryForAFile() throws {
        let t = TempDir()
        let state = t.path("state"), src = t.path("src.img"), v1 = t.path("v1.img"), dst = t.path("dst.img")
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        let script = """
            head -c 33554432 /dev/urandom > \(v1); cp \(v1) \(src)
            dwcp-migrate receive --listen 127.0.0.1:7615 -o \(dst) --journal-dir \(state) 2>/dev/null & rp=$!
            sleep 0.5
            dwcp-migrate file \(src) --to 127.0.0.1:7615 --codec zstd:19 --link-rate 1Gbit --resume-timeout 1 \
              --freeze "head -c 33554432 /dev/urandom > \(src)" 2>/dev/null & sp=$!
            for i in $(seq 2000); do [ -e \(state)/dst.img.dwcp-journal ] && break; sleep 0.005; done
            [ -e \(state)/dst.img.dwcp-journal ] || exit 92
            kill -9 $rp; wait $sp; echo $?
            """
        let r = try CLI.shell(script)
        XCTAssertEqual(r.printed, "4", r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dst + ".dwcp-journal"), "the journal is in --journal-dir")
        XCTAssertEqual(t.read("dst.img"), t.read("v1.img"), "the previous round survives")
        let recovered = try CLI.run("dwcp-migrate", ["recover", dst, "--journal-dir", state, "--json"])
        XCTAssertEqual(recovered.status, 0, recovered.stderr)
        let line = try JSONSerialization.jsonObject(with: recovered.stdout) as! [String: Any]
        XCTAssertEqual(line["action"] as? String, "discarded")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: state), ["dst.img.dwcp-round"],
                       "the journal is gone; the record says which round the image holds")

        let again = try CLI.shell("""
            dwcp-migrate receive --listen 127.0.0.1:7615 -o \(dst) --journal-dir \(state) 2>/dev/null & rp=$!
            sleep 0.5
            dwcp-migrate file \(src) --to 127.0.0.1:7615 2>/dev/null; s=$?
            wait $rp; echo "$s $?"
            """)
        XCTAssertEqual(again.printed, "0 0", again.stderr)
        XCTAssertEqual(t.read("dst.img"), t.read("src.img"))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: state), [])
        // While a receiver is at work on the image, recover changes nothing and says who is;
        // killed with -9, the receiver holds nothing.
        let locked = try CLI.shell("""
            dwcp-migrate receive --listen 127.0.0.1:0 -o \(dst) 2>/dev/null & rp=$!
            for i in $(seq 200); do [ -e \(dst).dwcp-lock ] && break; sleep 0.01; done; sleep 0.2
            dwcp-migrate recover \(dst); echo "busy $?"
            kill -9 $rp; wait $rp 2>/dev/null
            dwcp-migrate recover \(dst) > /dev/null; echo "free $?"
            """)
        XCTAssertEqual(locked.printed.split(whereSeparator: \.isWhitespace), ["busy", "1", "free", "0"], locked.stderr)
        XCTAssertTrue(locked.stderr.contains("dwcp-migrate: error: \(dst) is in use by another dwcp-migrate receive or recover (pid "), locked.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dst + ".dwcp-lock"))
        let notDirectory = try CLI.run("dwcp-migrate", ["receive", "--listen", "127.0.0.1:0", "-o", dst, "--journal-dir", src])
        XCTAssertEqual(notDirectory.status, 2, "--journal-dir must be a directory")
        XCTAssertTrue(notDirectory.stderr.contains("error: --journal-dir \(src) is not a directory"), notDirectory.stderr)
    }

    /// A block device killed after a round's journal is committed: recover writes the journal
    /// into the device in place, and refuses a journal written for another device.
    func testKilledDeviceApplyIsCompletedByRecover() throws {
        let t = TempDir()
        let device = try loopDevice(t, size: "128M"), other = try loopDevice(t, size: "4M")
        defer { _ = try? CLI.shell("losetup -d \(device); losetup -d \(other)") }
        let state = t.path("state"), v1 = t.path("v1.img"), v2 = t.path("v2.img"), src = t.path("src.img")
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        let name = (device as NSString).lastPathComponent, journal = "\(state)/\(name).dwcp-journal"
        for attempt in 0..<3 {
            let script = """
                head -c 100663296 /dev/urandom > \(v1); head -c 100663296 /dev/urandom > \(v2); cp \(v1) \(src)
                dwcp-migrate receive --listen 127.0.0.1:761\(2 + attempt) -o \(device) --journal-dir \(state) 2>/dev/null & rp=$!
                sleep 0.5
                dwcp-migrate file \(src) --to 127.0.0.1:761\(2 + attempt) --resume-timeout 1 --freeze "cp \(v2) \(src)" 2>/dev/null & sp=$!
                # The commit point of the round that replaces the image: a journal of over
                # 64 MiB whose trailer is on disk (an earlier round journals next to nothing).
                committed() { [ "$(stat -c %s \(journal) 2>/dev/null || echo 0)" -gt 67108864 ] && [ "$(tail -c 48 \(journal) 2>/dev/null | head -c 8)" = DWCPJEND ]; }
                for i in $(seq 20000); do committed && break; done
                committed || { wait $sp; wait $rp; echo missed; exit 0; }
                kill -9 $rp; wait $sp; echo $?
                """
            let r = try CLI.shell(script)
            let out = r.printed
            if out == "missed" || !FileManager.default.fileExists(atPath: journal) { continue }
            XCTAssertEqual(out, "4", "the source never heard the verdict: " + r.stderr)
            // The journal names its device: another device with the same state directory is refused.
            let otherJournal = "\(state)/\((other as NSString).lastPathComponent).dwcp-journal"
            XCTAssertEqual(link(journal, otherJournal), 0)
            let refused = try CLI.run("dwcp-migrate", ["recover", other, "--journal-dir", state])
            XCTAssertEqual(refused.status, 3, refused.stderr)
            XCTAssertTrue(refused.stderr.contains("was written for device"), refused.stderr)
            unlink(otherJournal)
            let recovered = try CLI.run("dwcp-migrate", ["recover", device, "--journal-dir", state, "--json"])
            XCTAssertEqual(recovered.status, 0, recovered.stderr)
            let line = try JSONSerialization.jsonObject(with: recovered.stdout) as! [String: Any]
            XCTAssertEqual(line["action"] as? String, "replayed")
            let same = try CLI.shell("cmp -n 100663296 \(v2) \(device)")
            XCTAssertEqual(same.status, 0, "the committed final round, completed: " + String(decoding: same.stdout, as: UTF8.self))
            XCTAssertFalse(FileManager.default.fileExists(atPath: journal))
            return
        }
        throw XCTSkip("the apply finished before the kill in three tries")
    }

    /// Ctrl-C on the destination mid-round: it tells the source (`fin` 4), which gives up at
    /// once with exit 4 instead of reconnecting until its --resume-timeout (30 s here), and no
    /// half-written image is left.
    func testInterruptedDestinationEndsTheSourceAtOnce() throws {
        let t = TempDir()
        let src = t.path("src.img"), dst = t.path("dst.img")
        let port = freePort()
        let r = try CLI.shell("""
            head -c 64000000 /dev/urandom > \(src)
            dwcp-migrate receive --listen 127.0.0.1:\(port) -o \(dst) & rp=$!
            sleep 0.3
            dwcp-migrate file \(src) --to 127.0.0.1:\(port) --codec zstd:19 --resume-timeout 30 2>\(t.path("err")) & sp=$!
            sleep 1.5; kill -INT $rp; wait $rp; r=$?
            t0=$(date +%s%N); wait $sp; s=$?; waited=$((($(date +%s%N) - t0) / 1000000))
            echo "$r $s $waited"
            """)
        let out = r.printedWords
        XCTAssertEqual(out.prefix(2), ["130", "4"], r.stderr)
        XCTAssertLessThan(Int(out.last ?? "") ?? 99_999, 3000, "ms the source outlived its destination")
        XCTAssertTrue(String(decoding: t.read("err"), as: UTF8.self).contains("the receiver was interrupted and ended the transfer"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dst), "no half-written image")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dst + ".dwcp-partial"), "no half-written image")
    }

    /// A destination whose disk fills: it reports the write that failed (it used to die of
    /// SIGPIPE, exit 141 and no message, when its decoder stopped and the transport then wrote
    /// into the decoder's closed pipe), and its source hears why at once (it used to reconnect
    /// to nobody for 30 s).
    func testDestinationWithAFullDiskTellsTheSourceWhy() throws {
        let t = TempDir()
        let mount = t.path("small")
        try FileManager.default.createDirectory(atPath: mount, withIntermediateDirectories: true)
        guard try CLI.shell("mount -t tmpfs -o size=8m tmpfs \(mount)").status == 0 else { throw XCTSkip("cannot mount a tmpfs here (needs root)") }
        defer { _ = try? CLI.shell("umount \(mount)") }
        let src = t.path("src.img"), dst = mount + "/dst.img"
        let port = freePort()
        let r = try CLI.shell("""
            head -c 30000000 /dev/urandom > \(src)
            dwcp-migrate receive --listen 127.0.0.1:\(port) -o \(dst) 2>\(t.path("dst-err")) & rp=$!
            sleep 0.3
            t0=$(date +%s%N); dwcp-migrate file \(src) --to 127.0.0.1:\(port) --resume-timeout 30; s=$?; waited=$((($(date +%s%N) - t0) / 1000000))
            wait $rp; echo "$? $s $waited"
            """)
        let out = r.printedWords
        XCTAssertEqual(out.prefix(2), ["1", "4"], r.stderr)
        XCTAssertLessThan(Int(out.last ?? "") ?? 99_999, 3000, "ms the source took to fail")
        let full = "\(dst).dwcp-partial: write: No space left on device"
        XCTAssertTrue(String(decoding: t.read("dst-err"), as: UTF8.self).contains("dwcp-migrate: error: \(full)"), String(decoding: t.read("dst-err"), as: UTF8.self))
        XCTAssertTrue(r.stderr.contains("the receiver failed and ended the transfer: \(full)"), r.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: mount), [], "nothing half-written is left")
    }

    /// A --freeze command that fails: the writers are let go again (--thaw), the source exits 1
    /// naming the command's exit status, and the destination discards its copy at once. It used
    /// to wait out its 120 s idle timeout, and the message gave the raw wait status ("768").
    func testFailedFreezeThawsAndTheDestinationDiscardsAtOnce() throws {
        let t = TempDir()
        let src = t.path("src.img"), dst = t.path("dst.img")
        let port = freePort()
        let r = try CLI.shell("""
            head -c 8388608 /dev/urandom > \(src)
            dwcp-migrate receive --listen 127.0.0.1:\(port) -o \(dst) 2>\(t.path("dst-err")) & rp=$!
            sleep 0.3
            dwcp-migrate file \(src) --to 127.0.0.1:\(port) --freeze 'exit 3' --thaw 'touch \(t.path("thawed"))' 2>\(t.path("err")); s=$?
            t0=$(date +%s%N); wait $rp; r=$?; waited=$((($(date +%s%N) - t0) / 1000000))
            echo "$s $r $waited"
            """)
        let out = r.printedWords
        XCTAssertEqual(out.prefix(2), ["1", "1"], r.stderr)
        XCTAssertLessThan(Int(out.last ?? "") ?? 99_999, 3000, "ms the destination outlived its source")
        XCTAssertTrue(String(decoding: t.read("err"), as: UTF8.self).contains("--freeze command exited with status 3: exit 3"), String(decoding: t.read("err"), as: UTF8.self))
        XCTAssertTrue(FileManager.default.fileExists(atPath: t.path("thawed")), "--thaw ran")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dst), "the half-migrated image is deleted")
    }

    /// Writers faster than the rounds can follow: it gives up, the destination deletes its copy.
    func testNonConvergingFileGivesUpAndDiscards() throws {
        let t = TempDir()
        let src = t.path("src.img"), dst = t.path("dst.img")
        let script = """
            head -c 8388608 /dev/urandom > \(src)
            dwcp-migrate receive --listen 127.0.0.1:7592 -o \(dst) 2>/dev/null & rp=$!
            sleep 0.5
            ( while true; do dd if=/dev/urandom of=\(src) bs=65536 count=16 seek=$((RANDOM % 112)) conv=notrunc status=none; done ) & w=$!
            dwcp-migrate file \(src) --to 127.0.0.1:7592 --max-downtime 1ms --max-rounds 3 2>\(t.path("err")); s=$?
            wait $rp; r=$?; kill -9 $w; echo "$s $r"
            """
        let r = try CLI.shell(script)
        XCTAssertEqual(r.printed, "1 1", r.stderr)
        XCTAssertTrue(String(decoding: t.read("err"), as: UTF8.self).contains("gave up"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dst), "a half-migrated image is deleted")
    }

    /// kill -9 of the destination in the middle of a round: the image on disk is still the
    /// previous complete one, never a torn mix.
    func testKilledDestinationKeepsThePreviousCompleteImage() throws {
        let t = TempDir()
        let v1 = t.path("v1.img"), v2 = t.path("v2.img"), dst = t.path("dst.img")
        let script = """
            head -c 4194304 /dev/urandom > \(v1); head -c 33554432 /dev/urandom > \(v2)
            dwcp-migrate receive --listen 127.0.0.1:7593 -o \(dst) 2>/dev/null & rp=$!
            sleep 0.5
            dwcp-migrate file \(v1) --to 127.0.0.1:7593 2>/dev/null || exit 90
            wait $rp || exit 91
            dwcp-migrate receive --listen 127.0.0.1:7593 -o \(dst) 2>/dev/null & rp=$!
            sleep 0.5
            dwcp-migrate file \(v2) --to 127.0.0.1:7593 --codec zstd:19 --link-rate 1Gbit --resume-timeout 1 2>/dev/null & sp=$!
            # Kill once the first round of v2 has started writing (its partial file has bytes),
            # not after a fixed time: a fast machine finishes that round within a second.
            for i in $(seq 1000); do [ -s \(dst).dwcp-partial ] && break; sleep 0.005; done
            kill -9 $rp; wait $sp; echo $?
            """
        let r = try CLI.shell(script)
        XCTAssertEqual(r.printed, "4", r.stderr)
        XCTAssertEqual(t.read("dst.img"), t.read("v1.img"), "the previous complete image survives a killed round")
        // The killed first round's partial file is what recover deletes; the image stays.
        XCTAssertTrue(FileManager.default.fileExists(atPath: dst + ".dwcp-partial"))
        let recovered = try CLI.run("dwcp-migrate", ["recover", dst, "--json"])
        XCTAssertEqual(recovered.status, 0, recovered.stderr)
        XCTAssertEqual((try JSONSerialization.jsonObject(with: recovered.stdout) as? [String: Any])?["action"] as? String, "discarded")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dst + ".dwcp-partial"))
        XCTAssertEqual(t.read("dst.img"), t.read("v1.img"))
    }

    /// kill -9 of the destination in the middle of a delta round (applied through a journal):
    /// the image is still the previous round, and `recover` (which `receive` also runs first)
    /// deletes the uncommitted journal. An image moved aside without a journal is exit 3.
    func testKilledDeltaRoundLeavesThePreviousRoundAndRecoverCleansUp() throws {
        let t = TempDir()
        let src = t.path("src.img"), v1 = t.path("v1.img"), dst = t.path("dst.img")
        let script = """
            head -c 33554432 /dev/urandom > \(v1); cp \(v1) \(src)
            dwcp-migrate receive --listen 127.0.0.1:7594 -o \(dst) 2>/dev/null & rp=$!
            sleep 0.5
            # Nothing changes during round 0, so the next round is the final one; the freeze
            # rewrites the whole image first, which makes that round long.
            dwcp-migrate file \(src) --to 127.0.0.1:7594 --codec zstd:19 --link-rate 1Gbit --resume-timeout 1 \
              --freeze "head -c 33554432 /dev/urandom > \(src)" 2>/dev/null & sp=$!
            for i in $(seq 2000); do [ -e \(dst).dwcp-journal ] && break; sleep 0.005; done
            [ -e \(dst).dwcp-journal ] || exit 92
            kill -9 $rp; wait $sp; echo $?
            """
        let r = try CLI.shell(script)
        XCTAssertEqual(r.printed, "4", r.stderr)
        XCTAssertEqual(t.read("dst.img"), t.read("v1.img"), "the previous round survives a killed delta round")
        let recovered = try CLI.run("dwcp-migrate", ["recover", dst, "--json"])
        XCTAssertEqual(recovered.status, 0, recovered.stderr)
        let line = try JSONSerialization.jsonObject(with: recovered.stdout) as! [String: Any]
        XCTAssertEqual(line["action"] as? String, "discarded")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dst + ".dwcp-journal"))
        XCTAssertEqual(t.read("dst.img"), t.read("v1.img"))
        let again = try CLI.run("dwcp-migrate", ["recover", dst])
        XCTAssertEqual(again.status, 0)
        XCTAssertTrue(String(decoding: again.stdout, as: UTF8.self).contains("nothing to recover"))

        XCTAssertEqual(rename(dst, dst + ".dwcp-applying"), 0)
        let stranded = try CLI.run("dwcp-migrate", ["recover", dst])
        XCTAssertEqual(stranded.status, 3, stranded.stderr)
        XCTAssertTrue(stranded.stderr.hasPrefix("dwcp-migrate: error: "), stranded.stderr)
        let refused = try CLI.run("dwcp-migrate", ["receive", "--listen", "127.0.0.1:0", "-o", dst])
        XCTAssertEqual(refused.status, 3, "receive will not build over a state it cannot recover")
        let device = try CLI.run("dwcp-migrate", ["receive", "--listen", "127.0.0.1:0", "-o", "/dev/null"])
        XCTAssertEqual(device.status, 2, "a character device cannot hold an image: " + device.stderr)
    }

    /// A probe whose connection is cut is run again for as long as the transfer would reconnect
    /// (`--resume-timeout`). It used to give up after three tries, and on a path that cut
    /// connections every few tenths of a second the migration ended before it began (exit 4)
    /// while its transfer would have ridden out a hundred cuts. A front that resets the first
    /// five connections it accepts, then forwards to the receiver: the probe gets through;
    /// with --resume-timeout 1 and a front that resets them all, it gives up and says why.
    func testAProbeWhoseConnectionsAreCutIsRunAgainUntilTheResumeTimeout() throws {
        let t = TempDir()
        let image = t.write("image", Data(count: 1 << 20))
        let front = t.write("front.py", Data("""
            import socket, struct, sys, threading
            port, target, resets = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
            ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            ls.bind(("127.0.0.1", port)); ls.listen(16)
            print("ready", flush=True)
            def pipe(a, b):
                try:
                    while (d := a.recv(1 << 16)):
                        b.sendall(d)
                except OSError:
                    pass
                for s in (a, b):
                    try: s.shutdown(socket.SHUT_RDWR)
                    except OSError: pass
            n = 0
            while True:
                c, _ = ls.accept()
                n += 1
                if n <= resets:  # a cut: reset at once
                    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)); c.close(); continue
                u = socket.create_connection(("127.0.0.1", target))
                threading.Thread(target=pipe, args=(c, u), daemon=True).start()
                threading.Thread(target=pipe, args=(u, c), daemon=True).start()
            """.utf8))
        let receiverPort = freePort(), frontPort = freePort(), deadPort = freePort()
        let r = try CLI.shell("""
            dwcp-migrate receive --listen 127.0.0.1:\(receiverPort) -o \(t.path("dst")) 2>/dev/null & rp=$!
            python3 \(front) \(frontPort) \(receiverPort) 5 > \(t.path("front.out")) & fp=$!
            python3 \(front) \(deadPort) \(receiverPort) 1000000 > \(t.path("dead.out")) & dp=$!
            for i in $(seq 50); do [ -s \(t.path("front.out")) ] && [ -s \(t.path("dead.out")) ] && break; sleep 0.1; done
            sleep 0.3
            dwcp-migrate file \(image) --to 127.0.0.1:\(frontPort) --dry-run -vv 2> \(t.path("probe.err")); echo "through $?"
            dwcp-migrate file \(image) --to 127.0.0.1:\(deadPort) --dry-run --resume-timeout 1 2> \(t.path("dead.err")); echo "dead $?"
            kill $rp $fp $dp
            """)
        let out = String(decoding: r.stdout, as: UTF8.self)
        let probeErr = (try? String(contentsOfFile: t.path("probe.err"), encoding: .utf8)) ?? ""
        XCTAssertTrue(out.contains("through 0"), out + probeErr)
        XCTAssertEqual(probeErr.components(separatedBy: "probing again").count - 1, 5, probeErr)
        let plan = out.split(separator: "\n").first { $0.hasPrefix("{") }.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        XCTAssertEqual(plan?["event"] as? String, "plan", out)
        XCTAssertTrue(out.contains("dead 4"), out)
        let deadErr = (try? String(contentsOfFile: t.path("dead.err"), encoding: .utf8)) ?? ""
        XCTAssertTrue(deadErr.contains("dwcp-migrate: error: cannot probe the destination 127.0.0.1:\(deadPort): its connection was lost"), deadErr)
        XCTAssertTrue(deadErr.contains("in 1.0 s (--resume-timeout)"), deadErr)
    }

    func testDryRunPrintsThePlanAndUsageErrorsExit2() throws {
        let t = TempDir()
        let image = t.write("image", Data(count: 1 << 20))
        // --link-rate and --rtt together: nothing is probed (no destination there).
        let r = try CLI.run("dwcp-migrate", ["file", image, "--to", "127.0.0.1:1", "--link-rate", "100Mbit", "--rtt", "50ms", "--dry-run", "--max-downtime", "500ms"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let plan = try JSONSerialization.jsonObject(with: r.stdout) as! [String: Any]
        XCTAssertEqual(plan["event"] as? String, "plan")
        XCTAssertEqual(plan["max_downtime_ms"] as? Int, 500)
        XCTAssertEqual(plan["rtt_ms"] as? Double, 50)
        XCTAssertEqual(plan["mode"] as? String, "internet")
        XCTAssertLessThanOrEqual(plan["window_bytes"] as! Int, 2 << 20, "in-flight data bounded by the downtime budget on a 100 Mbit link")
        // The window covers the path's round trip: 256 KiB, a plan for 0 ms, held a 100 Mbit
        // path of 50 ms to 42 Mbit/s.
        XCTAssertGreaterThanOrEqual(plan["window_bytes"] as! Int, 100_000_000 / 8 / 20, "\(plan)")
        XCTAssertEqual(try CLI.run("dwcp-migrate", ["file", image, "--to", "127.0.0.1:1", "--rtt", "50ms", "--dry-run"]).status, 2, "--rtt needs --link-rate")
        // --link-rate alone still times the round trip, with pings only (the rate is the one given).
        let port = freePort()
        let pinged = try CLI.shell("""
            dwcp-migrate receive --listen 127.0.0.1:\(port) -o \(t.path("dst")) 2>/dev/null & rp=$!
            sleep 0.3
            dwcp-migrate file \(image) --to 127.0.0.1:\(port) --link-rate 100Mbit --dry-run; s=$?
            kill $rp; exit $s
            """)
        XCTAssertEqual(pinged.status, 0, pinged.stderr)
        let timed = try JSONSerialization.jsonObject(with: pinged.stdout) as! [String: Any]
        XCTAssertEqual(timed["link_mbit_per_s"] as? Double, 100)
        XCTAssertGreaterThan(timed["rtt_ms"] as? Double ?? 0, 0, "\(timed)")
        XCTAssertEqual(try CLI.run("dwcp-migrate", ["receive", "--listen", ":7000"]).status, 2, "needs --qmp or -o")
        XCTAssertEqual(try CLI.run("dwcp-migrate", ["receive", "--listen", ":0", "-o", t.url.path + "/new", "--no-prefault"]).status, 2,
                       "--no-prefault goes with --qmp")
        XCTAssertEqual(try CLI.run("dwcp-migrate", ["qemu", "--qmp", "/x", "--to", "h:1", "--codec", "zstd:99"]).status, 2)
        // Numbers beyond any link or interval are usage errors, never a trap converting them.
        XCTAssertEqual(try CLI.run("dwcp-migrate", ["file", image, "--to", "h:1", "--link-rate", "99999999999999999999999Gbit", "--dry-run"]).status, 2)
        // A source that cannot be read once a round is refused before the network is touched:
        // a directory used to be probed for, and then failed on its first read.
        for source in [t.url.path, "/dev/null", "/proc/version"] {
            let refused = try CLI.run("dwcp-migrate", ["file", source, "--to", "127.0.0.1:1", "--dry-run"])
            XCTAssertEqual(refused.status, 2, refused.stderr)
            XCTAssertTrue(refused.stderr.contains("\(source): not a regular file or block device"), refused.stderr)
        }
        // So is a work directory that is not there (it failed at round 0, naming the snapshot).
        let noWork = try CLI.run("dwcp-migrate", ["file", image, "--to", "127.0.0.1:1", "--work-dir", t.path("absent"), "--dry-run"])
        XCTAssertEqual(noWork.status, 2, noWork.stderr)
        XCTAssertTrue(noWork.stderr.hasPrefix("dwcp-migrate: error: --work-dir \(t.path("absent")): not a directory"), noWork.stderr)
        XCTAssertEqual(try CLI.run("dwcp-send", ["--max-rate", "99999999999999999999999Gbit", "127.0.0.1:1"]).status, 2)
        for watch in ["nan", "1e300"] { XCTAssertEqual(try CLI.run("dwcp-detect", ["--watch", watch, "127.0.0.1:1"]).status, 2) }
        // A NaN timeout would never expire: refused.
        XCTAssertEqual(try CLI.run("dwcp-send", ["--resume-timeout", "nan", "127.0.0.1:1"]).status, 2)
        XCTAssertEqual(try CLI.run("dwcp-recv", ["--idle-timeout", "nan", "--listen", "127.0.0.1:0"]).status, 2)
        XCTAssertEqual(try CLI.run("dwcp-migrate", ["receive", "--listen", ":0", "-o", "/dev/null", "--idle-timeout", "nan"]).status, 2)
        // A window beyond any memory is refused rather than trusted as a bound.
        XCTAssertEqual(try CLI.run("dwcp-send", ["--window", "1TiB", "127.0.0.1:1"]).status, 2)
        XCTAssertEqual(try CLI.run("dwcp-recv", ["--window", "1TiB", "--listen", "127.0.0.1:0"]).status, 2)
        let missing = try CLI.run("dwcp-migrate", ["qemu", "--qmp", "/nonexistent.qmp", "--to", "127.0.0.1:1", "--link-rate", "1Gbit"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.hasPrefix("dwcp-migrate: error: "), missing.stderr)
        // It waited for a QEMU that may have been starting, and says so (not a bare ENOENT).
        XCTAssertTrue(missing.stderr.contains("no socket there after 10 s (is QEMU running with -qmp unix:/nonexistent.qmp,server=on,wait=off?)"), missing.stderr)
    }
}
