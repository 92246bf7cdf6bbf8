import Glibc
import DWCPCore
import DWCPSystem

/// A pre-copy round applied in place: the pages that changed, journaled, then written over the
/// image, so a round costs what changed instead of the whole image.
///
/// Writing every round as a new image and renaming it into place made each round rewrite and
/// fsync the whole image at the destination (a 2 GiB image with nothing changed: 6.7 s a round,
/// all of it inside the final round's downtime). Instead the decoded round is compared with the
/// image page by page as it arrives, and the pages that differ go to `FILE.dwcp-journal`. Once
/// the stream is verified the journal gets its trailer (counts and an XXH3-128 digest) and is
/// fsynced: that is the commit point. Then `FILE` is renamed to `FILE.dwcp-applying`, the journal
/// is written into it in place, it is fsynced and renamed back, and the journal is removed.
///
/// At every instant `FILE` is a complete round or absent: a crash before the commit leaves the
/// previous round (and a journal without a valid trailer, which `recover` deletes); a crash
/// after it leaves the journal that completes the round, which `recover` replays (replaying
/// is idempotent). `dwcp-migrate receive -o FILE` recovers before it listens, and
/// `dwcp-migrate recover FILE` does it alone. The layout is in docs/MIGRATE.md.
public enum ImageJournal {
    /// The journal beside `image`.
    public static func journalPath(for image: String) -> String { image + ".dwcp-journal" }
    /// Where `image` is while a committed journal is written into it.
    public static func applyingPath(for image: String) -> String { image + ".dwcp-applying" }
    /// Where the first round is decoded before it is renamed over `image`.
    public static func partialPath(for image: String) -> String { image + ".dwcp-partial" }

    static let magic = Array("DWCPJNL1".utf8)
    static let trailerMagic = Array("DWCPJEND".utf8)
    /// magic, round, base length, device number (a block-device image's `st_rdev`, else 0).
    static let headerLength = 32
    /// offset, length (u32), reserved (u32).
    static let recordHeaderLength = 16
    /// magic, records, data bytes, new length, XXH3-128 of every byte before the digest.
    static let trailerLength = 48
    /// Pages compared and journaled as a unit.
    static let pageSize = 4096
    /// Longest record: longer runs of changed pages are split.
    static let maxRecord = 1 << 20

    /// What `recover` found and did.
    public enum Recovery: Equatable {
        /// No journal: the image is a complete round.
        case nothing
        /// A journal that was never committed, or a first round cut short (the round did not
        /// arrive): deleted; the image is the previous round, or absent after a first round.
        case discarded(reason: String)
        /// A committed journal: written into the image, which is now that round.
        case replayed(round: UInt64, records: UInt64, bytes: UInt64)
        /// A block device marked as holding no complete round: its first round never completed,
        /// or the source gave up. The next `receive` starts it from round 0.
        case incomplete(reason: String)
    }

    /// Journals one round's changes against the image it replaces (`baseline`): hand it the
    /// decoded round in order with `take`, then `commit` once the stream is verified.
    public final class Writer {
        public let path: String
        private let output: Output
        private let baseline: FileDescriptor
        private let baselineLength: UInt64
        /// The image's bytes for the span being compared.
        private var imageBytes = RawBuffer(capacity: 1 << 20)
        /// Stream offset of the next decoded byte: the image offset it lands at.
        private var offset: UInt64 = 0
        public var records: UInt64 { output.records }
        public var dataBytes: UInt64 { output.dataBytes }
        private var closed = false
        private let round: UInt64
        private let device: UInt64
        /// The round's undo, built as the round is taken (`keepUndo`), and how far into the
        /// image the round before reached.
        private var undo: Output?
        private var undoLimit: UInt64 = 0

        /// Whether `commit` fsyncs: the receiver's journal must survive a crash; the source's
        /// journal of its private snapshot need not.
        private let durable: Bool

        /// Creates the journal for `round` (replacing a stale one) against the image at
        /// `baselinePath`; `device` is that image's device number if it is a block device.
        public init(path: String, round: UInt64, baselinePath: String, device: UInt64? = nil, durable: Bool = true) throws {
            self.durable = durable
            baseline = try FileDescriptor.openForReading(baselinePath)
            guard let length = baseline.sizeIfSeekable() else {
                baseline.close()
                throw DWCPError.failure("\(baselinePath): not a regular file or block device")
            }
            baselineLength = length
            do {
                output = try Output(path: path, round: round, baseLength: length, device: device ?? 0)
            } catch {
                baseline.close()
                throw error
            }
            self.path = path
            self.round = round
            self.device = device ?? 0
        }

        deinit { close() }

        /// Starts the round's undo (`RoundUndo`) at `path`, to be built as the round is taken:
        /// each run of changed pages journaled also puts the image bytes it replaces there (as
        /// far as `previousLength`, the round before's length), bytes already read to compare
        /// the pages. So the undo is ready when the round is, instead of being written from the
        /// committed journal between its commit and the verdict (10–15 ms for a round of 3 MB
        /// on the test machine, besides its fsync). Call before the first `take`; `finishUndo`
        /// makes it durable. An undo written after the commit (`RoundUndo.write`) is the same
        /// file.
        public func keepUndo(at path: String, previousLength: UInt64) throws {
            precondition(offset == 0 && undo == nil, "keepUndo after the round's first bytes")
            guard round > 0, previousLength <= baselineLength else { return }
            // A file's undo names the image length it applies to: this round's, expected to be
            // the round before's (`finishUndo` checks); a device's is the device's size.
            undo = try Output(path: path, round: round - 1, baseLength: baselineLength, device: device)
            undoLimit = previousLength
        }

        /// After `commit`: commits the undo `keepUndo` started (fsynced) and renames it to
        /// `final`, durably. Returns false, removing it, when there is none or it cannot stand:
        /// the round changed a regular file's length, so its header names another length and it
        /// lacks the tail a truncation cut. The caller then writes it from the committed journal.
        public func finishUndo(renamingTo final: String) throws -> Bool {
            guard let undo else { return false }
            guard undoStands else {
                discardUndo()
                return false
            }
            do {
                try undo.commit(newLength: undoLimit, durable: true, directory: false)
                try renameDurably(undo.path, final)
            } catch {
                discardUndo()
                throw error
            }
            self.undo = nil
            return true
        }

        /// Whether the undo built so far can be the round's: a device's always; a file's only
        /// when the round kept its length (see `finishUndo`).
        private var undoStands: Bool { device != 0 || offset == baselineLength }

        /// Drops the undo `keepUndo` started (the round turned out final, failed, or is not kept).
        public func discardUndo() {
            guard let undo else { return }
            self.undo = nil
            undo.close()
            unlink(undo.path)
        }

        /// Takes the next `count` decoded bytes: the pages among them that differ from the image
        /// (or lie past its end) are journaled. Pages inside `unchanged` (byte ranges of these
        /// bytes known to equal the image at the same offset: the decoder's in-place copies) are
        /// not compared. Pages are counted from `p`.
        public func take(_ p: UnsafeRawPointer, _ count: Int, unchanged: [Range<Int>] = []) throws {
            let start = offset
            offset += UInt64(count)
            let page = ImageJournal.pageSize
            var known = RangeCover(unchanged)
            func isKnownSame(_ i: Int) -> Bool { known.covers(i..<min(i + page, count)) }
            var i = 0
            while i < count {
                if isKnownSame(i) { i += page; continue }
                var j = i + page
                while j < count && !isKnownSame(j) { j += page }
                try compare(p, from: i, to: min(j, count), streamStart: start)
                i = j
            }
        }

        /// Compares `[from, to)` of the taken bytes with the image and journals the runs of
        /// pages that differ.
        private func compare(_ p: UnsafeRawPointer, from: Int, to: Int, streamStart: UInt64) throws {
            let at = streamStart + UInt64(from)
            let span = to - from
            let overlap = at < baselineLength ? Int(min(UInt64(span), baselineLength - at)) : 0
            if overlap > 0 {
                if imageBytes.capacity < overlap { imageBytes = RawBuffer(capacity: overlap) }
                guard try baseline.readFully(into: imageBytes.unsafeBase, count: overlap, at: at) == overlap else {
                    throw DWCPError.failure("\(baseline.name): the image shrank while a round was compared with it")
                }
            }
            let q = p + from
            var runStart = -1
            var i = 0
            while i < span {
                let n = min(ImageJournal.pageSize, span - i)
                // A page reaching past the image's end is new, whatever its bytes.
                let differs = i + n > overlap || memcmp(q + i, imageBytes.unsafeBase + i, n) != 0
                if differs {
                    if runStart < 0 { runStart = i }
                    if i + n - runStart >= ImageJournal.maxRecord {
                        try journal(q, from: runStart, count: i + n - runStart, at: at)
                        runStart = -1
                    }
                } else if runStart >= 0 {
                    try journal(q, from: runStart, count: i - runStart, at: at)
                    runStart = -1
                }
                i += n
            }
            if runStart >= 0 { try journal(q, from: runStart, count: span - runStart, at: at) }
        }

        /// Journals `count` taken bytes from `q + from` (image offset `at + from`), and hands the
        /// undo, if one is kept, the image bytes they replace: in `imageBytes` from `from` on.
        private func journal(_ q: UnsafeRawPointer, from: Int, count: Int, at: UInt64) throws {
            let imageOffset = at + UInt64(from)
            try output.record(q + from, count, at: imageOffset)
            if let undo, imageOffset < undoLimit {
                try undo.record(imageBytes.unsafeBase + from, Int(min(UInt64(count), undoLimit - imageOffset)), at: imageOffset)
            }
        }

        /// The commit point: appends the trailer (the round's new length is the number of bytes
        /// taken) and makes the journal durable. From here the round is the image's next state.
        public func commit() throws {
            try output.commit(newLength: offset, durable: durable)
            closeFiles()
        }

        /// Closes the files (the journal stays where it is) and drops an undo not finished.
        public func close() {
            closeFiles()
            discardUndo()
        }

        private func closeFiles() {
            guard !closed else { return }
            closed = true
            output.close()
            baseline.close()
        }
    }

    /// A verified journal's trailer and where its records end.
    struct Contents {
        var round: UInt64
        var baseLength: UInt64
        var device: UInt64
        var records: UInt64
        var dataBytes: UInt64
        var newLength: UInt64
        var recordsEnd: UInt64
    }

    /// Reads and checks the journal open at `fd`: its contents, or why it is incomplete or
    /// damaged (its digest, its counts or a record's bounds do not hold).
    static func verify(_ fd: FileDescriptor) throws -> Result<Contents, DWCPError> {
        func bad(_ why: String) -> Result<Contents, DWCPError> { .failure(.integrity("\(fd.name): \(why)")) }
        guard let size = fd.sizeIfSeekable() else { return bad("not a regular file") }
        guard size >= UInt64(headerLength + trailerLength) else { return bad("cut short (\(size) bytes): the round was never committed") }
        var header = [UInt8](repeating: 0, count: headerLength)
        _ = try header.withUnsafeMutableBytes { try fd.readFully(into: $0.baseAddress!, count: headerLength, at: 0) }
        guard Array(header[0..<8]) == magic else { return bad("not a dwcp-migrate journal") }
        var trailer = [UInt8](repeating: 0, count: trailerLength)
        _ = try trailer.withUnsafeMutableBytes { try fd.readFully(into: $0.baseAddress!, count: trailerLength, at: size - UInt64(trailerLength)) }
        guard Array(trailer[0..<8]) == trailerMagic else { return bad("no trailer: the round was never committed") }
        // The digest over everything before its own 16 bytes.
        let digest = StreamDigest()
        let chunk = RawBuffer(capacity: 1 << 20)
        var at: UInt64 = 0
        while at < size - 16 {
            let n = try fd.readFully(into: chunk.unsafeBase, count: Int(min(UInt64(chunk.capacity), size - 16 - at)), at: at)
            guard n > 0 else { return bad("shrank while being read") }
            digest.update(chunk.unsafeBase, n)
            at += UInt64(n)
        }
        let d = digest.finalize()
        let (high, low, c) = trailer.withUnsafeBytes { b in
            (LittleEndian.load(UInt64.self, b.baseAddress!, 32), LittleEndian.load(UInt64.self, b.baseAddress!, 40),
             Contents(round: header.withUnsafeBytes { LittleEndian.load(UInt64.self, $0.baseAddress!, 8) },
                      baseLength: header.withUnsafeBytes { LittleEndian.load(UInt64.self, $0.baseAddress!, 16) },
                      device: header.withUnsafeBytes { LittleEndian.load(UInt64.self, $0.baseAddress!, 24) },
                      records: LittleEndian.load(UInt64.self, b.baseAddress!, 8),
                      dataBytes: LittleEndian.load(UInt64.self, b.baseAddress!, 16),
                      newLength: LittleEndian.load(UInt64.self, b.baseAddress!, 24),
                      recordsEnd: size - UInt64(trailerLength)))
        }
        guard high == d.high && low == d.low else { return bad("digest mismatch: damaged, or cut before its commit") }
        let (count, bytes): (UInt64, UInt64)
        do {
            (count, bytes) = try forEachRecord(in: fd, c) { _, _, _ in }
        } catch let error as DWCPError where error.status == .integrity {
            return .failure(error)
        }
        guard count == c.records && bytes == c.dataBytes else { return bad("trailer counts \(c.records) records of \(c.dataBytes) bytes, found \(count) of \(bytes)") }
        return .success(c)
    }

    /// Walks the records between the header and `c.recordsEnd`, which must tile that space, each
    /// 1 … `maxRecord` bytes and inside the round's new length (exit 3 naming the record
    /// otherwise), and calls `body` with its image offset, its length and where its bytes start
    /// in the journal. Returns how many records and bytes it saw.
    @discardableResult
    static func forEachRecord(in fd: FileDescriptor, _ c: Contents, _ body: (UInt64, Int, UInt64) throws -> Void) throws -> (UInt64, UInt64) {
        var cursor = UInt64(headerLength)
        var count: UInt64 = 0, bytes: UInt64 = 0
        var rh = [UInt8](repeating: 0, count: recordHeaderLength)
        while cursor < c.recordsEnd {
            guard c.recordsEnd - cursor >= UInt64(recordHeaderLength) else {
                throw DWCPError.integrity("\(fd.name): record \(count) header cut at offset \(cursor)")
            }
            _ = try rh.withUnsafeMutableBytes { try fd.readFully(into: $0.baseAddress!, count: recordHeaderLength, at: cursor) }
            let (offset, length) = rh.withUnsafeBytes { (LittleEndian.load(UInt64.self, $0.baseAddress!, 0), UInt64(LittleEndian.load(UInt32.self, $0.baseAddress!, 8))) }
            guard length > 0, length <= UInt64(maxRecord), offset <= c.newLength, length <= c.newLength - offset,
                  c.recordsEnd - cursor - UInt64(recordHeaderLength) >= length else {
                throw DWCPError.integrity("\(fd.name): record \(count) at offset \(cursor) is out of bounds (\(length) bytes at image offset \(offset))")
            }
            try body(offset, Int(length), cursor + UInt64(recordHeaderLength))
            cursor += UInt64(recordHeaderLength) + length
            count += 1
            bytes += length
        }
        return (count, bytes)
    }

    /// Writes a verified journal's records into `target`, sets its length (a regular file; a
    /// block device keeps its size) and (if `durable`) fsyncs it.
    static func apply(_ c: Contents, from journal: FileDescriptor, to target: String, durable: Bool = true) throws {
        let out = try FileDescriptor.openForWriting(target)
        defer { out.close() }
        let data = RawBuffer(capacity: maxRecord)
        try forEachRecord(in: journal, c) { offset, length, at in
            guard try journal.readFully(into: data.unsafeBase, count: length, at: at) == length else {
                throw DWCPError.failure("\(journal.name): shrank while being applied")
            }
            try out.writeAll(data.unsafeBase, count: length, at: offset)
        }
        if out.isRegularFile { try out.truncate(to: c.newLength) }
        if durable { try out.sync() }
    }

    /// Writes the committed journal at `journalPath` into `target` in place and deletes it, with
    /// no moving aside and no fsync: for a private copy that nobody reads meanwhile and that a
    /// crash makes useless anyway (`dwcp-migrate file`'s snapshot of what it sent).
    public static func applyPrivately(journal journalPath: String, to target: String) throws {
        let journal = try FileDescriptor.openForReading(journalPath)
        defer { journal.close() }
        let contents = try verify(journal).get()
        try apply(contents, from: journal, to: target, durable: false)
        unlink(journalPath)
    }

    /// Brings the regular file `image`, its state beside it, to a complete round
    /// (`recover(_:)`).
    @discardableResult
    public static func recover(image: String) throws -> Recovery {
        try recover(ImageFiles(image: image))
    }

    /// Brings an image to a complete round after whatever stopped a receiver: replays a committed
    /// journal, deletes one that never was (and an undo left half built). Throws (exit 3) when
    /// the files cannot be a complete round (a committed journal that is damaged while the image
    /// is moved aside, one written for another device, or an image of a size the journal does
    /// not start from), leaving them for a person to look at.
    @discardableResult
    public static func recover(_ files: ImageFiles) throws -> Recovery {
        // An undo a stopped receiver was building as its round arrived belongs to no round.
        unlink(RoundUndo.temporaryPath(files))
        if files.isDevice { return try recoverDevice(files) }
        let image = files.image, journalPath = files.journal, applying = files.applying!, partial = files.partial!
        let hasJournal = access(journalPath, F_OK) == 0, hasApplying = access(applying, F_OK) == 0
        // A first round cut short is never needed again: the next migration starts from round 0.
        let hadPartial = access(partial, F_OK) == 0
        if hadPartial { try unlinkDurably(partial) }
        guard hasJournal else {
            if hasApplying {
                throw DWCPError.integrity("\(applying) exists without \(journalPath): cannot tell whether it is a complete round; nothing changed")
            }
            return hadPartial ? .discarded(reason: "\(partial): a first round that never completed") : .nothing
        }
        let journal = try FileDescriptor.openForReading(journalPath)
        defer { journal.close() }
        let contents: Contents
        switch try verify(journal) {
        case .failure(let why):
            guard !hasApplying else {
                throw DWCPError.integrity("\(why.message); \(image) is moved aside as \(applying) mid-round and cannot be completed; nothing changed")
            }
            try unlinkDurably(journalPath)
            return .discarded(reason: why.message)
        case .success(let c):
            guard c.device == 0 else {
                throw DWCPError.integrity("\(journalPath) was written for a block device (device \(c.device)), not the file \(image); nothing changed")
            }
            contents = c
        }
        if !hasApplying {
            guard let size = FileDescriptor.size(ofFileAt: image) else {
                throw DWCPError.integrity("\(journalPath) is committed but \(image) is missing; nothing changed")
            }
            guard size == contents.baseLength || size == contents.newLength else {
                throw DWCPError.integrity("\(journalPath) applies to an image of \(contents.baseLength) bytes, \(image) has \(size); nothing changed")
            }
            try renameDurably(image, applying)
        }
        try apply(contents, from: journal, to: applying)
        try renameDurably(applying, image)
        try unlinkDurably(journalPath)
        RoundRecord.keepOnlyIfFor(round: contents.round, files)
        return .replayed(round: contents.round, records: contents.records, bytes: contents.dataBytes)
    }

    /// `recover` for a block device: a committed journal is written into the device in place
    /// (nothing can be moved aside; the journal's presence is what says the device may be torn),
    /// and a device marked incomplete is reported as such.
    private static func recoverDevice(_ files: ImageFiles) throws -> Recovery {
        var recovery = Recovery.nothing
        if access(files.journal, F_OK) == 0 {
            let journal = try FileDescriptor.openForReading(files.journal)
            defer { journal.close() }
            switch try verify(journal) {
            case .failure(let why):
                try unlinkDurably(files.journal)
                recovery = .discarded(reason: why.message)
            case .success(let c):
                guard c.device == files.device! else {
                    throw DWCPError.integrity("\(files.journal) was written for device \(c.device), \(files.image) is device \(files.device!); nothing changed")
                }
                let image = try FileDescriptor.openForReading(files.image)
                let size = image.sizeIfSeekable() ?? 0
                image.close()
                guard c.newLength <= size else {
                    throw DWCPError.integrity("\(files.journal) makes an image of \(c.newLength) bytes, \(files.image) holds \(size); nothing changed")
                }
                try apply(c, from: journal, to: files.image)
                try unlinkDurably(files.journal)
                RoundRecord.keepOnlyIfFor(round: c.round, files)
                recovery = .replayed(round: c.round, records: c.records, bytes: c.dataBytes)
            }
        }
        if files.isMarkedIncomplete {
            return .incomplete(reason: "\(files.incomplete!) is present: a first round never completed, or the source gave up")
        }
        return recovery
    }
}
