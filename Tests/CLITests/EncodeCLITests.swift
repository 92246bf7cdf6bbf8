import Foundation
import XCTest

/// `dwcp-encode` as a user runs it: exit codes, stdout/stderr discipline, files, pipelines.
final class EncodeCLITests: XCTestCase {
    func testRoundTripThroughAPipe() throws {
        let t = TempDir()
        t.write("in", sampleImage(pages: 300))
        let r = try CLI.shell("dwcp-encode < \(t.path("in")) | dwcp-encode -d > \(t.path("out"))")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stderr, "", "quiet by default")
        XCTAssertEqual(t.read("out"), t.read("in"))
    }

    /// `--page-checksums` (format 1.2): a delta whose checksums are over page digests decodes
    /// with any decoder of this build, `-t` still catches a changed byte (exit 3), and the flag
    /// means nothing to a decoder (exit 2).
    func testPageChecksumStreamsDecodeAndAreVerified() throws {
        let t = TempDir()
        let image = sampleImage(pages: 200)
        t.write("old", image)
        var changed = image
        for i in stride(from: 5_000, to: changed.count, by: 50_000) { changed[i] ^= 0x5A }
        t.write("new", changed)
        let r = try CLI.shell("""
            cd \(t.url.path) && dwcp-encode --page-checksums --baseline old new > d.dwcp &&
            dwcp-encode -d --baseline old d.dwcp > back && cp d.dwcp bad.dwcp &&
            printf 'X' | dd of=bad.dwcp bs=1 seek=$(( $(stat -c %s d.dwcp) - 40 )) conv=notrunc status=none || exit 9
            dwcp-encode -t --baseline old bad.dwcp; echo "bad $?"
            dwcp-encode -d --page-checksums d.dwcp; echo "usage $?"
            """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(t.read("back"), changed)
        XCTAssertEqual(t.read("d.dwcp")[5], 2, "minor version 2")
        XCTAssertEqual(String(decoding: r.stdout, as: UTF8.self), "bad 3\nusage 2\n", r.stderr)
    }

    /// `>>` and `cat` of streams decode like gzip's and zstd's members; so do several FILEs.
    /// Before, the second stream was "trailing data" (exit 3) and -d took one FILE.
    func testConcatenatedStreamsAndSeveralFilesDecodeInTurn() throws {
        let t = TempDir()
        t.write("a", sampleImage(pages: 100))
        t.write("b", Data((0..<70_000).map { UInt8($0 % 251) }))
        let r = try CLI.shell("""
            dwcp-encode \(t.path("a")) > \(t.path("ab.dwcp")) && dwcp-encode -c lz4 \(t.path("b")) >> \(t.path("ab.dwcp")) &&
            dwcp-encode \(t.path("b")) -o \(t.path("b.dwcp")) &&
            dwcp-encode -d --json -o \(t.path("ab")) \(t.path("ab.dwcp")) > \(t.path("ab.json")) &&
            dwcp-encode -d \(t.path("ab.dwcp")) - \(t.path("b.dwcp")) < \(t.path("b.dwcp")) > \(t.path("abbb"))
            """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(t.read("ab"), t.read("a") + t.read("b"))
        XCTAssertEqual(t.read("abbb"), t.read("a") + t.read("b") + t.read("b") + t.read("b"))
        let json = try JSONSerialization.jsonObject(with: t.read("ab.json")) as! [String: Any]
        XCTAssertEqual(json["streams"] as? Int, 2)
        XCTAssertEqual(json["bytes_out"] as? Int, t.read("ab").count)
    }

    /// `-t` checks streams as `gzip -t` and `zstd -t` do: every stream decoded and verified,
    /// nothing written (not even to a terminal), the exit status the verdict, and with several
    /// FILEs the error names the one that failed.
    func testTestModeVerifiesEveryStreamAndWritesNothing() throws {
        let t = TempDir()
        t.write("a", sampleImage(pages: 50))
        let r = try CLI.shell("""
            dwcp-encode \(t.path("a")) > \(t.path("a.dwcp")) && cp \(t.path("a.dwcp")) \(t.path("bad.dwcp")) &&
            printf 'X' | dd of=\(t.path("bad.dwcp")) bs=1 seek=300 conv=notrunc status=none &&
            cd \(t.url.path) && dwcp-encode -t a.dwcp a.dwcp && cat a.dwcp a.dwcp | dwcp-encode -t - || exit 9
            dwcp-encode -t a.dwcp bad.dwcp; echo "bad $?"
            """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(String(decoding: r.stdout, as: UTF8.self), "bad 3\n", "-t writes nothing on success")
        XCTAssertTrue(r.stderr.hasPrefix("dwcp-encode: error: bad.dwcp: frame "), r.stderr)
        XCTAssertEqual(try CLI.run("dwcp-encode", ["-t", "-o", t.path("x"), t.path("a.dwcp")]).status, 2)
    }

    /// A decoded image's zero pages become holes in a file output, as with `zstd -d`: the file
    /// reads back byte for byte but takes the disk space of its data. Never where a hole could
    /// read as anything but zero: appending, or over an existing file's bytes (`1<>`), writes
    /// every byte; so does --no-sparse.
    func testDecodedZeroPagesAreHolesInAFileOutput() throws {
        let t = TempDir()
        var image = Data((0..<40_000).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) })
        image.append(Data(count: 8 << 20))
        image.append(Data((0..<5_000).map { UInt8($0 % 7 + 1) }))
        image.append(Data(count: 1 << 20))  // ends in zeros: the file must still have its length
        t.write("img", image)
        t.write("old", Data(repeating: 0x55, count: image.count))
        let r = try CLI.shell("""
            dwcp-encode \(t.path("img")) > \(t.path("s.dwcp")) &&
            dwcp-encode -d --json -o \(t.path("sparse")) \(t.path("s.dwcp")) > \(t.path("d.json")) &&
            dwcp-encode -d \(t.path("s.dwcp")) > \(t.path("redirected")) &&
            dwcp-encode -d --no-sparse \(t.path("s.dwcp")) > \(t.path("dense")) &&
            dwcp-encode -d \(t.path("s.dwcp")) 1<> \(t.path("old")) &&
            cp \(t.path("img")) \(t.path("appended")) && dwcp-encode -d \(t.path("s.dwcp")) >> \(t.path("appended"))
            """)
        XCTAssertEqual(r.status, 0, r.stderr)
        func allocated(_ name: String) throws -> Int {
            var st = stat()
            XCTAssertEqual(stat(t.path(name), &st), 0)
            return Int(st.st_blocks) * 512
        }
        for name in ["sparse", "redirected", "dense", "old"] { XCTAssertEqual(t.read(name), image, name) }
        XCTAssertEqual(t.read("appended"), image + image)
        for name in ["sparse", "redirected"] { XCTAssertLessThan(try allocated(name), 1 << 20, name) }
        for name in ["dense", "old"] { XCTAssertGreaterThanOrEqual(try allocated(name), image.count, name) }
        let json = try JSONSerialization.jsonObject(with: t.read("d.json")) as! [String: Any]
        // Whole pages of the stream only: the zeros' first and last partial pages are written.
        XCTAssertEqual(Double(json["hole_bytes"] as! Int), Double(9 << 20), accuracy: 3 * 4096)
    }

    func testEveryCodecFromTheCommandLine() throws {
        let t = TempDir()
        t.write("in", sampleImage(pages: 100))
        for args in ["-c zstd -l -5", "-c zstd -l 19", "-c lz4", "-c lz4 -l 12", "-c brotli -l 9", "-c none", "-c auto --link-rate 100Mbit", "-T 1 --block-size 64K --page-size 1K", "--history 64K -T 2 --block-size 32K"] {
            let r = try CLI.shell("dwcp-encode \(args) \(t.path("in")) | dwcp-encode -d | cmp - \(t.path("in"))")
            XCTAssertEqual(r.status, 0, "\(args): \(r.stderr)")
        }
    }

    func testBaselineDeltaFromTheCommandLine() throws {
        let t = TempDir()
        let base = sampleImage(pages: 200)
        var next = Data("a new header that shifts everything".utf8) + base
        next[50_000] ^= 0xFF
        t.write("base", base)
        t.write("next", next)
        let r = try CLI.shell("""
            dwcp-encode --baseline \(t.path("base")) --json -o \(t.path("d")) \(t.path("next")) &&
            dwcp-encode -d --baseline \(t.path("base")) \(t.path("d")) | cmp - \(t.path("next"))
            """)
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try JSONSerialization.jsonObject(with: r.stdout) as! [String: Any]
        XCTAssertEqual(json["command"] as? String, "encode")
        XCTAssertGreaterThan(json["baseline_copy_bytes"] as! Int, base.count / 2)
        // Wrong baseline: exit 3 and a message naming it.
        let wrong = try CLI.run("dwcp-encode", ["-d", "--baseline", t.path("next"), t.path("d")])
        XCTAssertEqual(wrong.status, 3)
        XCTAssertTrue(wrong.stderr.hasPrefix("dwcp-encode: error: "), wrong.stderr)
        XCTAssertTrue(wrong.stderr.contains("wrong baseline"), wrong.stderr)
        XCTAssertEqual(wrong.stdout.count, 0)
    }

    func testCorruptStreamExitsThreeAndNamesFrameAndOffset() throws {
        let t = TempDir()
        t.write("in", sampleImage(pages: 100))
        _ = try CLI.run("dwcp-encode", ["-o", t.path("s"), t.path("in")])
        var s = t.read("s")
        s[s.count / 2] ^= 0x40
        t.write("bad", s)
        let r = try CLI.run("dwcp-encode", ["-d", "-o", t.path("out"), t.path("bad")])
        XCTAssertEqual(r.status, 3, r.stderr)
        XCTAssertTrue(r.stderr.contains("frame "), r.stderr)
        XCTAssertTrue(r.stderr.contains("offset"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: t.path("out")), "partial output must be removed")
        let cut = try CLI.run("dwcp-encode", ["-d", t.path("bad")].dropLast() + [t.write("cut", s.prefix(s.count - 10))])
        XCTAssertEqual(cut.status, 3)
        XCTAssertTrue(cut.stderr.contains("truncated"), cut.stderr)
    }

    func testUsageErrorsExitTwoWithAHint() throws {
        for args in [["--no-such-flag"], ["-c", "gzip"], ["-l", "99"], ["--page-size", "3000"], ["--page-size", "18446744073709551615"],
                     ["--format", "zstd", "--baseline", "/etc/hostname"],
                     // A thread count the machine cannot hold was an abort (memory for 100,000 workers).
                     ["-T", "100000"], ["-d", "-T", "257"], ["-T", "-1"]] {
            let r = try CLI.run("dwcp-encode", args)
            XCTAssertEqual(r.status, 2, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.hasPrefix("dwcp-encode: error: "), r.stderr)
            XCTAssertTrue(r.stderr.contains("Try 'dwcp-encode --help'"), r.stderr)
        }
    }

    func testOutputFileRules() throws {
        let t = TempDir()
        t.write("in", sampleImage(pages: 10))
        t.write("exists", Data("keep me".utf8))
        let r = try CLI.run("dwcp-encode", ["-o", t.path("exists"), t.path("in")])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("already exists"), r.stderr)
        XCTAssertEqual(t.read("exists"), Data("keep me".utf8))
        XCTAssertEqual(try CLI.run("dwcp-encode", ["-f", "-o", t.path("exists"), t.path("in")]).status, 0)
        // A character device or FIFO destroys nothing, so it needs no -f; a full disk is an
        // error, not a silent success.
        XCTAssertEqual(try CLI.run("dwcp-encode", ["-o", "/dev/null", t.path("in")]).status, 0)
        let full = try CLI.run("dwcp-encode", ["-o", "/dev/full", t.path("in")])
        XCTAssertEqual(full.status, 1, full.stderr)
        XCTAssertTrue(full.stderr.contains("No space left"), full.stderr)
        let type = try FileManager.default.attributesOfItem(atPath: "/dev/full")[.type] as? FileAttributeType
        XCTAssertEqual(type, .typeCharacterSpecial, "a failed write must never delete a device node")
        // A --json summary that cannot be written is an error, and the finished output stays.
        let summary = try CLI.shell("dwcp-encode --json -f -o '\(t.path("out"))' '\(t.path("in"))' > /dev/full")
        XCTAssertEqual(summary.status, 1, summary.stderr)
        XCTAssertTrue(summary.stderr.contains("stdout: write: No space left"), summary.stderr)
        XCTAssertFalse(t.read("out").isEmpty, "the encoded file is complete and kept")
        XCTAssertEqual(try CLI.run("dwcp-encode", ["-d", t.path("out")]).stdout, t.read("in"))
        for force in [[], ["-f"]] {
            let directory = try CLI.run("dwcp-encode", force + ["-o", t.url.path, t.path("in")])
            XCTAssertEqual(directory.status, 1)
            XCTAssertTrue(directory.stderr.contains("\(t.url.path): Is a directory"), directory.stderr)
        }
        let missing = try CLI.run("dwcp-encode", [t.path("nope")])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("No such file"), missing.stderr)
    }

    /// `-o` with `-f` truncates its file before a byte is read, so an output that is one of the
    /// inputs used to be destroyed: encoding left a 274-byte stream of an empty input, and a
    /// decode deleted its own stream on the error that followed. `zstd` refuses the same.
    func testOutputThatIsAnInputIsRefused() throws {
        let t = TempDir()
        let image = sampleImage(pages: 40)
        t.write("in", image)
        let encoded = try CLI.run("dwcp-encode", ["-o", t.path("enc"), t.path("in")])
        XCTAssertEqual(encoded.status, 0, encoded.stderr)
        let stream = t.read("enc")
        try FileManager.default.createSymbolicLink(atPath: t.path("link"), withDestinationPath: t.path("in"))
        let attempts: [(String, String)] = [
            ("encode onto its input", "dwcp-encode -f -o '\(t.path("in"))' '\(t.path("in"))'"),
            ("through a symlink", "dwcp-encode -f -o '\(t.path("link"))' '\(t.path("in"))'"),
            ("the input on stdin", "dwcp-encode -f -o '\(t.path("in"))' < '\(t.path("in"))'"),
            ("one of several inputs", "dwcp-encode -f -o '\(t.path("in"))' /dev/null '\(t.path("in"))'"),
            ("onto the baseline", "dwcp-encode -f --baseline '\(t.path("in"))' -o '\(t.path("in"))' /dev/null"),
            ("decode onto its stream", "dwcp-encode -d -f -o '\(t.path("enc"))' '\(t.path("enc"))'"),
        ]
        for (what, command) in attempts {
            let r = try CLI.shell(command)
            XCTAssertEqual(r.status, 2, "\(what): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("is also an input; refusing to overwrite it"), "\(what): \(r.stderr)")
            XCTAssertEqual(t.read("in"), image, what)
            XCTAssertEqual(t.read("enc"), stream, what)
        }
        // A different file, and the null device read and written, are still fine.
        XCTAssertEqual(try CLI.run("dwcp-encode", ["-f", "-o", t.path("enc"), t.path("in")]).status, 0)
        XCTAssertEqual(try CLI.shell("dwcp-encode -o /dev/null < /dev/null").status, 0)
    }

    func testPlainZstdOutputIsReadByTheRealZstd() throws {
        let t = TempDir()
        t.write("in", sampleImage(pages: 300))
        let r = try CLI.shell("dwcp-encode --format zstd -l 3 \(t.path("in")) | zstd -d -q | cmp - \(t.path("in"))")
        XCTAssertEqual(r.status, 0, r.stderr)
        // ...and dwcp-encode -d reads zstd streams the real zstd wrote.
        let back = try CLI.shell("zstd -q -c \(t.path("in")) | dwcp-encode -d | cmp - \(t.path("in"))")
        XCTAssertEqual(back.status, 0, back.stderr)
    }

    /// A delta round's frames grow with the baseline unless --block-size says otherwise: a 600 MB
    /// (sparse) baseline gives 4 MiB frames, 1/128 of it rounded down to a power of two.
    func testDeltaFramesGrowWithTheBaseline() throws {
        let t = TempDir()
        let r = try CLI.shell("""
            truncate -s 600M \(t.path("base")) && truncate -s 64M \(t.path("next")) &&
            dwcp-encode --json --baseline \(t.path("base")) -o \(t.path("d")) \(t.path("next")) &&
            dwcp-encode --json --block-size 1MiB --baseline \(t.path("base")) -o \(t.path("d1")) \(t.path("next")) &&
            dwcp-encode -d --baseline \(t.path("base")) \(t.path("d")) | cmp - \(t.path("next"))
            """)
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: UInt8(ascii: "\n"))
        XCTAssertEqual(lines.count, 2)
        let frames = try lines.map { (try JSONSerialization.jsonObject(with: Data($0)) as! [String: Any])["frames"] as? Int }
        XCTAssertEqual(frames, [16, 64])
    }

    func testStatsAndJSON() throws {
        let t = TempDir()
        let image = sampleImage(pages: 100)
        t.write("in", image)
        let zeroPages = stride(from: 0, to: image.count, by: 4096).filter { image[$0..<$0 + 4096].allSatisfy { $0 == 0 } }.count
        let r = try CLI.run("dwcp-encode", ["--stats", "--json", t.path("in")], stdoutFile: t.path("s"))
        XCTAssertEqual(r.status, 0)
        let lines = r.stderr.split(separator: "\n")
        let jsonLine = try XCTUnwrap(lines.first { $0.hasPrefix("{") })
        let json = try JSONSerialization.jsonObject(with: Data(jsonLine.utf8)) as! [String: Any]
        XCTAssertEqual(json["bytes_in"] as? Int, 409_600)
        XCTAssertEqual(json["zero_bytes"] as? Int, zeroPages * 4096)
        XCTAssertNotNil(json["codec_mix"] as? [String: Any])
        XCTAssertTrue(r.stderr.contains("ratio"), r.stderr)
        let d = try CLI.run("dwcp-encode", ["-d", "--json", "-o", t.path("o"), t.path("s")])
        let dj = try JSONSerialization.jsonObject(with: d.stdout) as! [String: Any]
        XCTAssertEqual(dj["verified"] as? Bool, true)
        XCTAssertEqual(dj["bytes_out"] as? Int, 409_600)
    }

    func testHelpDocumentsTheExitStatusTable() throws {
        let r = try CLI.run("dwcp-encode", ["--help"])
        XCTAssertEqual(r.status, 0)
        let help = String(decoding: r.stdout, as: UTF8.self)
        for needle in ["--baseline", "--link-rate", "--format", "3    integrity error", "130"] {
            XCTAssertTrue(help.contains(needle), needle)
        }
    }

    func testInterruptRemovesPartialOutput() throws {
        let t = TempDir()
        let status = try interruptedSlowEncode(["-o", t.path("partial")]) {
            XCTAssertTrue(FileManager.default.fileExists(atPath: t.path("partial")))
        }
        XCTAssertEqual(status, 130)
        XCTAssertFalse(FileManager.default.fileExists(atPath: t.path("partial")))
    }

    /// A file-size limit (`ulimit -f`) is an error like a full disk: SIGXFSZ used to kill the
    /// encoder (exit 153) and leave its partial output behind.
    func testFileSizeLimitIsAnErrorAndLeavesNoPartialOutput() throws {
        let t = TempDir()
        let r = try CLI.shell("""
            head -c 4000000 /dev/urandom > \(t.path("in"))
            (ulimit -f 1000; dwcp-encode -o \(t.path("out")) \(t.path("in"))); echo $?
            """)
        XCTAssertEqual(r.printed, "1", r.stderr)
        XCTAssertTrue(r.stderr.contains("out: write: File too large"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: t.path("out")), "the partial output is removed")
    }

    /// `-f` over an existing file used to truncate it at once and delete it on failure: a decode
    /// of a corrupt stream onto last night's good image lost the image. The output is now written
    /// beside the file and renamed over it only when complete.
    func testFailedOrInterruptedRunLeavesTheFileItWouldReplace() throws {
        let t = TempDir()
        let image = sampleImage(pages: 100)
        t.write("in", image)
        XCTAssertEqual(try CLI.run("dwcp-encode", ["-o", t.path("s"), t.path("in")]).status, 0)
        var stream = t.read("s")
        stream[stream.count / 2] ^= 0x40
        t.write("bad", stream)
        let old = Data("yesterday's image".utf8)
        t.write("img", old)
        XCTAssertEqual(chmod(t.path("img"), 0o640), 0)
        try FileManager.default.createSymbolicLink(atPath: t.path("link"), withDestinationPath: t.path("img"))
        func leftovers() throws -> [String] {
            try FileManager.default.contentsOfDirectory(atPath: t.url.path).filter { $0.contains(".tmp-") }
        }

        let corrupt = try CLI.run("dwcp-encode", ["-d", "-f", "-o", t.path("img"), t.path("bad")])
        XCTAssertEqual(corrupt.status, 3, corrupt.stderr)
        XCTAssertEqual(t.read("img"), old, "a failed decode keeps the file it would have replaced")
        XCTAssertEqual(try leftovers(), [])

        XCTAssertEqual(try interruptedSlowEncode(["-f", "-o", t.path("img")]), 130)
        XCTAssertEqual(t.read("img"), old, "an interrupted run keeps it too")
        XCTAssertEqual(try leftovers(), [])

        // A run that completes replaces it, keeping its mode, and writes through a symlink.
        let decoded = try CLI.run("dwcp-encode", ["-d", "-f", "-o", t.path("link"), t.path("s")])
        XCTAssertEqual(decoded.status, 0, decoded.stderr)
        XCTAssertEqual(t.read("img"), image)
        let attributes = try FileManager.default.attributesOfItem(atPath: t.path("img"))
        XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o640)
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: t.path("link")), t.path("img"))
        XCTAssertEqual(try leftovers(), [])

        // A user who may write the file but not create files beside it still overwrites it, in
        // place as before (checked as nobody, where root can run a command as another user).
        let encoder = CLI.binDir.appendingPathComponent("dwcp-encode").path
        let asNobody = "setpriv --reuid=65534 --regid=65534 --clear-groups"
        guard getuid() == 0, try CLI.shell("\(asNobody) \(encoder) --version").status == 0 else { return }
        XCTAssertEqual(chmod(t.url.path, 0o755), 0)
        XCTAssertEqual(chmod(t.path("img"), 0o666), 0)
        XCTAssertEqual(chmod(t.path("s"), 0o644), 0)
        let locked = try CLI.shell("\(asNobody) \(encoder) -d -f -o '\(t.path("img"))' '\(t.path("s"))'")
        XCTAssertEqual(locked.status, 0, locked.stderr)
        XCTAssertEqual(t.read("img"), image)
    }

    /// Runs a slow encode (zstd -19) of 1 MiB from a pipe with `arguments`, interrupts it (SIGINT)
    /// 0.3 s in, after `whileRunning`, and returns its exit status.
    func interruptedSlowEncode(_ arguments: [String], whileRunning: () -> Void = {}) throws -> Int32 {
        let p = Process()
        p.executableURL = CLI.binDir.appendingPathComponent("dwcp-encode")
        p.arguments = arguments + ["-c", "zstd", "-l", "19", "-"]
        let input = Pipe()
        p.standardInput = input
        p.standardError = FileHandle.nullDevice
        try p.run()
        input.fileHandleForWriting.write(Data(count: 1 << 20))
        Thread.sleep(forTimeInterval: 0.3)
        whileRunning()
        p.interrupt()
        p.waitUntilExit()
        return p.terminationStatus
    }
}
