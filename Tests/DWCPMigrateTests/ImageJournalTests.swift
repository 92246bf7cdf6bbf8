import XCTest
import Foundation
import DWCPCore
import DWCPSystem
@testable import DWCPMigrate

/// Rounds applied in place: only changed pages are journaled, a committed journal completes the
/// round whatever point a crash stopped the apply at, and one that was never committed (cut at
/// any byte, or with a byte changed) is deleted with the image left as the previous round.
final class ImageJournalTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "dwcp-journal-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private var image: String { directory + "/disk.img" }
    private var journal: String { ImageJournal.journalPath(for: image) }
    private var applying: String { ImageJournal.applyingPath(for: image) }

    private func bytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var random = SplitMix(seed: seed)
        return (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) }
    }

    private func write(_ path: String, _ b: [UInt8]) throws {
        let fd = try FileDescriptor.create(path, overwrite: true, mode: 0o600)
        defer { fd.close() }
        try fd.writeAll(b)
    }

    private func read(_ path: String) -> [UInt8] { [UInt8](FileManager.default.contents(atPath: path) ?? Data()) }
    private func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    /// Journals `new` against the image in pieces of `piece` bytes; commits unless told not to.
    @discardableResult
    private func journalRound(_ new: [UInt8], piece: Int = 256 << 10, commit: Bool = true) throws -> ImageJournal.Writer {
        let w = try ImageJournal.Writer(path: journal, round: 1, baselinePath: image)
        try new.withUnsafeBytes { b in
            var at = 0
            while at < b.count {
                let n = min(piece, b.count - at)
                try w.take(b.baseAddress! + at, n)
                at += n
            }
        }
        if commit { try w.commit() } else { w.close() }
        return w
    }

    /// Round 1 of a 1 MiB image: two adjacent pages and one far away edited, 5000 bytes
    /// appended. Three runs are journaled, nothing else, and the replay gives the new round.
    func testOnlyChangedPagesAreJournaledAndTheReplayIsTheNewRound() throws {
        let old = bytes(1 << 20, seed: 1)
        try write(image, old)
        var new = old
        for i in (3 * 4096 + 100)..<(4 * 4096 + 7) { new[i] ^= 0x5A }
        new[100 * 4096 + 4095] &+= 1
        new += bytes(5000, seed: 2)
        let w = try journalRound(new)
        XCTAssertEqual(w.records, 3, "pages 3-4, page 100, and the appended tail")
        XCTAssertEqual(w.dataBytes, UInt64(2 * 4096 + 4096 + 5000))
        XCTAssertEqual(try ImageJournal.recover(image: image), .replayed(round: 1, records: 3, bytes: UInt64(3 * 4096 + 5000)))
        XCTAssertEqual(read(image), new)
        XCTAssertFalse(exists(journal))
        XCTAssertFalse(exists(applying))
        XCTAssertEqual(try ImageJournal.recover(image: image), .nothing)
    }

    /// A round that changed everything, taken in 1 MiB pieces (a delta round's 1 MiB frames):
    /// records of the longest length, which go to the file past the buffer, land after the
    /// header and the records before them, and the journal replays to the new round.
    func testWholeMegabyteRecordsKeepTheirPlaceInTheJournal() throws {
        let old = bytes(3 << 20, seed: 3)
        try write(image, old)
        let new = bytes(3 << 20, seed: 4)
        let w = try journalRound(new, piece: 1 << 20)
        XCTAssertEqual(w.records, 3)
        XCTAssertEqual(try ImageJournal.recover(image: image), .replayed(round: 1, records: 3, bytes: UInt64(3 << 20)))
        XCTAssertTrue(read(image) == new, "the image is the new round")
    }

    /// The decoder's in-place copies are taken at its word: pages wholly inside them are not
    /// compared (here the hint covers an edited page, which is therefore not journaled), and a
    /// page only partly inside one is compared as any other.
    func testPagesInsideInPlaceCopiesAreNotCompared() throws {
        let old = bytes(16 * 4096, seed: 7)
        try write(image, old)
        var new = old
        new[2 * 4096 + 1] ^= 1     // inside the hint: trusted as unchanged
        new[6 * 4096 + 2] ^= 1     // page 6 is only partly inside the hint: compared
        new[12 * 4096] ^= 1        // outside: compared
        let w = try ImageJournal.Writer(path: journal, round: 1, baselinePath: image)
        try new.withUnsafeBytes { try w.take($0.baseAddress!, $0.count, unchanged: [0..<(6 * 4096 + 100), (8 * 4096)..<(10 * 4096)]) }
        try w.commit()
        XCTAssertEqual(w.records, 2)
        XCTAssertEqual(w.dataBytes, 2 * 4096)
        XCTAssertEqual(try ImageJournal.recover(image: image), .replayed(round: 1, records: 2, bytes: 2 * 4096))
        var expected = new
        expected[2 * 4096 + 1] ^= 1
        XCTAssertEqual(read(image), expected)
    }

    /// A round that shrinks the image, fed in pieces that are not page multiples, and an
    /// unchanged round (an empty journal still commits).
    func testShrinkingAndUnchangedRounds() throws {
        let old = bytes(300_000, seed: 3)
        try write(image, old)
        var new = Array(old[..<123_457])
        new[50_000] ^= 1
        try journalRound(new, piece: 10_001)
        // Pages are counted from each piece's start: byte 50,000 is in the piece at 40,004,
        // whose third page is its last 1,809 bytes.
        XCTAssertEqual(try ImageJournal.recover(image: image), .replayed(round: 1, records: 1, bytes: 1809))
        XCTAssertEqual(read(image), new)
        let w = try journalRound(new)
        XCTAssertEqual(w.records, 0)
        XCTAssertEqual(try ImageJournal.recover(image: image), .replayed(round: 1, records: 0, bytes: 0))
        XCTAssertEqual(read(image), new)
    }

    /// A crash before the commit: the journal cut at every length up to its trailer's end, or
    /// with any one byte changed, or without a trailer at all, is deleted and the image is the
    /// previous round.
    func testAJournalThatWasNeverCommittedIsDeletedAndTheImageUntouched() throws {
        let old = bytes(64 << 10, seed: 4)
        var new = old
        for i in stride(from: 0, to: new.count, by: 8192) { new[i] ^= 0xFF }
        try write(image, old)
        try journalRound(new, commit: false)
        guard case .discarded = try ImageJournal.recover(image: image) else { return XCTFail("no trailer: discarded") }
        XCTAssertFalse(exists(journal))
        XCTAssertEqual(read(image), old)

        try journalRound(new)
        let committed = read(journal)
        for cut in stride(from: 0, to: committed.count, by: 997) + [committed.count - 1, committed.count - 16] {
            try write(journal, Array(committed[..<cut]))
            guard case .discarded = try ImageJournal.recover(image: image) else { return XCTFail("cut at \(cut): discarded") }
            XCTAssertEqual(read(image), old, "cut at \(cut)")
        }
        for at in [0, 9, 20, 40, 1000, committed.count / 2, committed.count - 40, committed.count - 1] {
            var damaged = committed
            damaged[at] ^= 0x10
            try write(journal, damaged)
            guard case .discarded = try ImageJournal.recover(image: image) else { return XCTFail("byte \(at) changed: discarded") }
            XCTAssertEqual(read(image), old, "byte \(at) changed")
        }
    }

    /// A crash after the commit, at each point of the apply: before the image was moved aside,
    /// moved aside and partly written (a torn middle), and moved back but the journal not yet
    /// removed. Each recovers to the new round.
    func testACommittedJournalCompletesTheRoundWhereverTheApplyStopped() throws {
        let old = bytes(256 << 10, seed: 5)
        var new = old
        for i in stride(from: 0, to: new.count, by: 3 * 4096) { new[i] = new[i] &+ 1 }
        for stage in ["committed", "aside, half written", "moved back"] {
            try write(image, old)
            try journalRound(new)
            switch stage {
            case "aside, half written":
                try renameDurably(image, applying)
                var torn = old
                torn.replaceSubrange(0..<(128 << 10), with: new[0..<(128 << 10)])
                try write(applying, torn)
            case "moved back":
                try write(image, new)
            default:
                break
            }
            guard case .replayed = try ImageJournal.recover(image: image) else { return XCTFail("\(stage): replayed") }
            XCTAssertEqual(read(image), new, stage)
            XCTAssertFalse(exists(journal), stage)
            XCTAssertFalse(exists(applying), stage)
        }
    }

    /// States no crash can make are refused with nothing changed: a committed journal that is
    /// damaged while the image is moved aside, a moved-aside image without a journal, and an
    /// image whose size the journal does not start from.
    func testImpossibleStatesAreIntegrityErrorsThatChangeNothing() throws {
        let old = bytes(64 << 10, seed: 6)
        var new = old
        new[5] ^= 1
        try write(image, old)
        try journalRound(new)
        var damaged = read(journal)
        damaged[33] ^= 1
        try write(journal, damaged)
        try renameDurably(image, applying)
        XCTAssertThrowsError(try ImageJournal.recover(image: image)) { XCTAssertEqual(($0 as? DWCPError)?.status, .integrity) }
        XCTAssertEqual(read(journal), damaged)
        XCTAssertEqual(read(applying), old)

        try FileManager.default.removeItem(atPath: journal)
        XCTAssertThrowsError(try ImageJournal.recover(image: image)) { XCTAssertEqual(($0 as? DWCPError)?.status, .integrity) }
        XCTAssertTrue(exists(applying))

        try FileManager.default.removeItem(atPath: applying)
        try write(image, old)
        try journalRound(new)
        try write(image, Array(old[..<1000]))
        XCTAssertThrowsError(try ImageJournal.recover(image: image)) { XCTAssertEqual(($0 as? DWCPError)?.status, .integrity) }
        XCTAssertEqual(read(image).count, 1000)
        XCTAssertTrue(exists(journal))
    }

    /// Where the state goes: beside a file, or in `--journal-dir`; a journal written for a
    /// device is never replayed onto a file; what cannot hold an image is a usage error.
    func testImageFilesPlaceTheStateAndRefuseWhatCannotHoldAnImage() throws {
        let beside = try ImageFiles(image: image)
        XCTAssertEqual(beside.journal, journal)
        XCTAssertEqual(beside.applying, applying)
        XCTAssertNil(beside.device)
        let elsewhere = try ImageFiles(image: image, journalDirectory: directory + "/")
        XCTAssertEqual(elsewhere.journal, directory + "/disk.img.dwcp-journal")
        for (path, dir) in [("/dev/null", nil), (directory, nil), (image, image + ".missing")] as [(String, String?)] {
            XCTAssertThrowsError(try ImageFiles(image: path, journalDirectory: dir)) { XCTAssertEqual(($0 as? DWCPError)?.status, .usage, "\(path)") }
        }

        let old = bytes(64 << 10, seed: 7)
        var new = old
        new[9] ^= 1
        try write(image, old)
        let w = try ImageJournal.Writer(path: journal, round: 1, baselinePath: image, device: 0x0703)
        try new.withUnsafeBytes { try w.take($0.baseAddress!, $0.count) }
        try w.commit()
        XCTAssertThrowsError(try ImageJournal.recover(image: image)) { XCTAssertEqual(($0 as? DWCPError)?.status, .integrity) }
        XCTAssertEqual(read(image), old)
        XCTAssertTrue(exists(journal))
    }

    /// The round record: read back only when it checks and names an image of the size there;
    /// after a committed journal is replayed it stays only if it names that journal's round.
    func testRoundRecordNamesTheRoundTheImageHolds() throws {
        let files = try ImageFiles(image: image)
        let id = BaselineIdentity(length: 8192, digest: Digest128(high: 7, low: 9))
        try RoundRecord(round: 3, identity: id).save(to: files.roundRecord)
        XCTAssertEqual(RoundRecord.load(from: files.roundRecord, imageBytes: 8192, exact: true), RoundRecord(round: 3, identity: id))
        XCTAssertNil(RoundRecord.load(from: files.roundRecord, imageBytes: 8193, exact: true), "a file of another size")
        XCTAssertNotNil(RoundRecord.load(from: files.roundRecord, imageBytes: 1 << 20, exact: false), "a device holds more")
        XCTAssertNil(RoundRecord.load(from: files.roundRecord, imageBytes: nil, exact: true), "no image")
        let before = BaselineIdentity(length: 4096, digest: Digest128(high: 3, low: 4))
        try RoundRecord(round: 3, identity: id, previous: before).save(to: files.roundRecord)
        XCTAssertEqual(RoundRecord.load(from: files.roundRecord, imageBytes: 8192, exact: true)?.previous, before)
        // A version 1 record (48 bytes, no previous round) still loads.
        var v1 = [UInt8]("DWCPRND1".utf8)
        for word in [UInt64(3), 8192, 7, 9] { withUnsafeBytes(of: word.littleEndian) { v1 += $0 } }
        let sum = v1.withUnsafeBytes { Checksum.xxh3($0.baseAddress!, 40) }
        withUnsafeBytes(of: sum.littleEndian) { v1 += $0 }
        try write(files.roundRecord, v1)
        XCTAssertEqual(RoundRecord.load(from: files.roundRecord, imageBytes: 8192, exact: true), RoundRecord(round: 3, identity: id))
        try RoundRecord(round: 3, identity: id).save(to: files.roundRecord)
        var damaged = read(files.roundRecord)
        damaged[20] ^= 1
        try write(files.roundRecord, damaged)
        XCTAssertNil(RoundRecord.load(from: files.roundRecord, imageBytes: 8192, exact: true))

        // A journal of round 5 replayed: a record of round 5 stays, one of round 4 goes.
        let old = bytes(64 << 10, seed: 8)
        var new = old
        new[100] ^= 1
        for (recorded, kept) in [(5, true), (4, false)] {
            try write(image, old)
            let w = try ImageJournal.Writer(path: journal, round: 5, baselinePath: image)
            try new.withUnsafeBytes { try w.take($0.baseAddress!, $0.count) }
            try w.commit()
            let newIdentity = BaselineIdentity(length: UInt64(new.count), digest: Digest128(high: 1, low: 2))
            try RoundRecord(round: recorded, identity: newIdentity).save(to: files.roundRecord)
            XCTAssertEqual(try ImageJournal.recover(files), .replayed(round: 5, records: 1, bytes: 4096))
            XCTAssertEqual(exists(files.roundRecord), kept, "record of round \(recorded)")
            XCTAssertEqual(read(image), new)
        }
    }

    /// An undo built as the round is taken (`Writer.keepUndo`) is byte for byte the one written
    /// from the committed journal after it (`RoundUndo.write`), whatever the pieces the round
    /// comes in, with a run longer than a record and pages inside in-place copies. A device's
    /// stops at the round before's length. A round that changes a file's length gives it up (its
    /// header would name the old length), and so does a round closed before it finished: neither
    /// leaves a file behind.
    func testAnUndoBuiltAsTheRoundArrivesIsTheOneWrittenAfterIt() throws {
        let files = try ImageFiles(image: image)
        let temporary = RoundUndo.temporaryPath(files)
        let old = bytes(3 << 20, seed: 31)
        var new = old
        for i in stride(from: 100, to: new.count, by: 70_001) { new[i] ^= 0x5A }
        for i in (1 << 20)..<((2 << 20) + 8192) { new[i] ^= 0xA5 }
        // Pages the decoder copied in place: equal to the image, not compared.
        let copied = [(2 << 20) + 65536..<(2 << 20) + 131072]
        for i in copied[0] { new[i] = old[i] }
        func take(_ w: ImageJournal.Writer, _ b: [UInt8], piece: Int) throws {
            try b.withUnsafeBytes { p in
                var at = 0
                while at < p.count {
                    let n = min(piece, p.count - at)
                    let unchanged = copied.compactMap { r -> Range<Int>? in
                        let lo = max(r.lowerBound, at), hi = min(r.upperBound, at + n)
                        return lo < hi ? (lo - at)..<(hi - at) : nil
                    }
                    try w.take(p.baseAddress! + at, n, unchanged: unchanged)
                    at += n
                }
            }
        }
        for piece in [4096, 100_000, 1 << 20] {
            try write(image, old)
            let w = try ImageJournal.Writer(path: journal, round: 4, baselinePath: image)
            try w.keepUndo(at: temporary, previousLength: UInt64(old.count))
            try take(w, new, piece: piece)
            try w.commit()
            XCTAssertTrue(try w.finishUndo(renamingTo: files.undo), "piece \(piece)")
            XCTAssertFalse(exists(temporary))
            let built = read(files.undo)
            XCTAssertGreaterThan(built.count, (1 << 20) + 8192, "piece \(piece)")
            try RoundUndo.write(files, previousLength: UInt64(old.count))
            XCTAssertEqual(read(files.undo), built, "piece \(piece)")
            RoundUndo.remove(files)
        }
        // A file made longer or shorter: given up, nothing left.
        for changed in [new + bytes(5000, seed: 32), Array(new[0..<(2 << 20)])] {
            try write(image, old)
            let w = try ImageJournal.Writer(path: journal, round: 4, baselinePath: image)
            try w.keepUndo(at: temporary, previousLength: UInt64(old.count))
            try take(w, changed, piece: 1 << 20)
            try w.commit()
            XCTAssertFalse(try w.finishUndo(renamingTo: files.undo))
            XCTAssertFalse(exists(temporary) || exists(files.undo))
        }
        // Closed before the round was committed: dropped.
        try write(image, old)
        let dropped = try ImageJournal.Writer(path: journal, round: 4, baselinePath: image)
        try dropped.keepUndo(at: temporary, previousLength: UInt64(old.count))
        try take(dropped, new, piece: 1 << 20)
        dropped.close()
        XCTAssertFalse(exists(temporary))
        // One a killed receiver left half built, beside its uncommitted journal: `recover`
        // removes both.
        try write(temporary, bytes(5000, seed: 33))
        guard case .discarded = try ImageJournal.recover(files) else { return XCTFail("the uncommitted journal") }
        XCTAssertFalse(exists(temporary) || exists(journal))
        // A device (here a file standing for one) whose image, the round before, ended short of
        // the device's end: the undo keeps only what lay inside that length, and names the
        // device's size as the length it applies to.
        try write(image, old)
        let previousLength = UInt64(old.count - 300_000)
        let d = try ImageJournal.Writer(path: journal, round: 4, baselinePath: image, device: 0x0703)
        try d.keepUndo(at: temporary, previousLength: previousLength)
        try take(d, new, piece: 1 << 20)
        try d.commit()
        XCTAssertTrue(try d.finishUndo(renamingTo: files.undo))
        let fd = try FileDescriptor.openForReading(files.undo)
        defer { fd.close() }
        let c = try ImageJournal.verify(fd).get()
        XCTAssertEqual([c.round, c.baseLength, c.newLength, c.device], [3, UInt64(old.count), previousLength, 0x0703])
        var kept: UInt64 = 0
        try ImageJournal.forEachRecord(in: fd, c) { offset, length, at in
            XCTAssertLessThanOrEqual(offset + UInt64(length), previousLength)
            var b = [UInt8](repeating: 0, count: length)
            _ = try b.withUnsafeMutableBytes { try fd.readFully(into: $0.baseAddress!, count: length, at: at) }
            XCTAssertEqual(b, Array(old[Int(offset)..<Int(offset) + length]))
            kept += UInt64(length)
        }
        // The changed bytes inside the round before's length, in whole pages.
        let pages = Set((0..<old.count).filter { old[$0] != new[$0] && UInt64($0) < previousLength }.map { $0 / 4096 })
        XCTAssertEqual(kept, pages.reduce(0) { $0 + min(4096, previousLength - UInt64($1 * 4096)) })
    }

    /// A round applied in place keeps its undo: whether the round grew, shrank or kept the
    /// image's length, and whether the rollback runs whole or is cut after its first step (the
    /// undo renamed into the journal) and finished by `recover`, the image is the round before
    /// again and its record names that round. An undo that does not fit the image is not used.
    func testUndoTakesTheImageBackOneRound() throws {
        let files = try ImageFiles(image: image)
        let old = bytes(96 << 10, seed: 21)
        var same = old
        for i in [5, 40_000, 90_000] { same[i] ^= 0xFF }
        let longer = same + bytes(20_000, seed: 22)
        let shorter = Array(same[0..<50_000])
        func identity(_ b: [UInt8]) -> BaselineIdentity {
            BaselineIdentity(length: UInt64(b.count), digest: b.withUnsafeBytes { Checksum.xxh3_128($0.baseAddress!, $0.count) })
        }
        for (name, new) in [("same length", same), ("longer", longer), ("shorter", shorter)] {
            for cut in [false, true] {
                try write(image, old)
                let w = try ImageJournal.Writer(path: journal, round: 4, baselinePath: image)
                try new.withUnsafeBytes { try w.take($0.baseAddress!, $0.count) }
                try w.commit()
                try RoundUndo.write(files, previousLength: UInt64(old.count))
                let record = RoundRecord(round: 4, identity: identity(new), previous: identity(old))
                try record.save(to: files.roundRecord)
                guard case .replayed = try ImageJournal.recover(files) else { return XCTFail(name) }
                XCTAssertEqual(read(image), new, name)
                XCTAssertTrue(RoundUndo.isUsable(files, record: record), name)
                XCTAssertFalse(RoundUndo.isUsable(files, record: RoundRecord(round: 5, identity: record.identity, previous: record.previous)), "\(name): another round")
                if cut {
                    // Stopped after the undo became the journal: recover completes the rollback
                    // and drops the record of the round it undid.
                    try renameDurably(files.undo, files.journal)
                    guard case .replayed(round: 3, _, _) = try ImageJournal.recover(files) else { return XCTFail(name) }
                    XCTAssertFalse(exists(files.roundRecord), name)
                } else {
                    XCTAssertEqual(try RoundUndo.rollBack(files, record: record), RoundRecord(round: 3, identity: identity(old)), name)
                    XCTAssertEqual(RoundRecord.current(files), RoundRecord(round: 3, identity: identity(old)), name)
                }
                XCTAssertEqual(read(image), old, "\(name) cut: \(cut)")
                XCTAssertFalse(exists(files.undo) || exists(files.journal), name)
            }
        }
        // An undo written for an image of another size is not used.
        try write(image, old)
        let w = try ImageJournal.Writer(path: journal, round: 4, baselinePath: image)
        try same.withUnsafeBytes { try w.take($0.baseAddress!, $0.count) }
        try w.commit()
        try RoundUndo.write(files, previousLength: UInt64(old.count))
        try ImageJournal.recover(files)
        let record = RoundRecord(round: 4, identity: identity(same), previous: identity(old))
        XCTAssertTrue(RoundUndo.isUsable(files, record: record))
        try write(image, longer)
        XCTAssertFalse(RoundUndo.isUsable(files, record: record))
        // A damaged undo: the rollback refuses and changes nothing; a receiver starting there
        // drops it and takes the record without a round before.
        try write(image, same)
        var undo = read(files.undo)
        undo[undo.count / 2] ^= 1
        try write(files.undo, undo)
        try record.save(to: files.roundRecord)
        XCTAssertThrowsError(try RoundUndo.rollBack(files, record: record)) { XCTAssertEqual(($0 as? DWCPError)?.status, .integrity) }
        XCTAssertEqual(read(image), same)
        XCTAssertEqual(RoundRecord.current(files), record)
        XCTAssertEqual(RoundUndo.checked(RoundRecord.current(files), files), RoundRecord(round: 4, identity: identity(same)))
        XCTAssertFalse(exists(files.undo))
    }
}
