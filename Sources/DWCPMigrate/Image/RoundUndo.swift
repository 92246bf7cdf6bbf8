import Glibc
import DWCPCore
import DWCPSystem

/// The bytes a committed round replaced, kept so the receiver can go back one round.
///
/// The source records a round as confirmed only once it hears the destination's verdict. A
/// source killed after the destination committed round N but before it heard so holds round
/// N − 1 in its snapshot, and `dwcp-migrate file --resume` offers round N again, as a delta
/// against N − 1, which the destination no longer has. So the receiver keeps, beside the image,
/// a journal of what applying round N overwrote (`ImageFiles.undo`): a journal in the same
/// format that completes round N − 1. Offered a delta against round N − 1's identity (its
/// `RoundRecord.previous`), it replays that journal exactly as `recover` replays any committed
/// journal, and takes round N again.
///
/// The undo is made durable between a round's journal commit and its `RoundRecord`; the record
/// then names the round before as `previous`. It is built as the round arrives
/// (`ImageJournal.Writer.keepUndo`: the image bytes each journaled run replaces, read anyway to
/// compare the pages), or, for a round that was not known to be one before its data or that
/// changed a file's length, written after the commit from the bytes the committed journal is
/// about to replace (`write`): the same file either way. Only rounds that are not final keep
/// one (the final round ends the migration), and a round 0 or a finished migration removes it.
/// Its size is the round's changed bytes.
enum RoundUndo {
    /// Writes the undo of the committed journal `files.journal`, which has not been applied yet,
    /// against the image as it is (the round before, `previousLength` bytes of it). It is written
    /// beside and renamed into place, so the undo before it stays whole until this one is.
    static func write(_ files: ImageFiles, previousLength: UInt64) throws {
        let journal = try FileDescriptor.openForReading(files.journal)
        defer { journal.close() }
        let c = try ImageJournal.verify(journal).get()
        let image = try FileDescriptor.openForReading(files.image)
        defer { image.close() }
        guard c.round > 0 else { throw DWCPError.failure("\(files.journal): round 0 has no round before it to undo to") }
        let temporary = temporaryPath(files)
        // A device keeps its size; a file's length is the round's.
        let out = try ImageJournal.Output(path: temporary, round: c.round - 1, baseLength: files.isDevice ? c.baseLength : c.newLength, device: c.device)
        defer { out.close() }
        do {
            let bytes = RawBuffer(capacity: ImageJournal.maxRecord)
            func keep(_ offset: UInt64, _ count: Int) throws {
                guard try image.readFully(into: bytes.unsafeBase, count: count, at: offset) == count else {
                    throw DWCPError.failure("\(files.image): shorter than its round while its undo was written")
                }
                try out.record(bytes.unsafeBase, count, at: offset)
            }
            // What each record overwrites, as far as the round before reached.
            try ImageJournal.forEachRecord(in: journal, c) { offset, length, _ in
                if offset < previousLength { try keep(offset, Int(min(UInt64(length), previousLength - offset))) }
            }
            // A file the round shortens loses its tail to the truncation.
            if !files.isDevice {
                var at = c.newLength
                while at < previousLength {
                    let n = Int(min(UInt64(ImageJournal.maxRecord), previousLength - at))
                    try keep(at, n)
                    at += UInt64(n)
                }
            }
            try out.commit(newLength: previousLength, durable: true, directory: false)
            try renameDurably(temporary, files.undo)
        } catch {
            unlink(temporary)
            throw error
        }
    }

    /// Whether the undo beside the image takes it from `record`'s round back to the round
    /// before: the record names that round, and the undo checks and fits the image as it is.
    static func isUsable(_ files: ImageFiles, record: RoundRecord) -> Bool {
        guard let previous = record.previous, record.round > 0,
              let fd = try? FileDescriptor.openForReading(files.undo) else { return false }
        defer { fd.close() }
        guard case .success(let c)? = try? ImageJournal.verify(fd) else { return false }
        let imageSize = FileDescriptor.size(ofFileAt: files.image)
        return c.round == UInt64(record.round - 1) && c.device == (files.device ?? 0) && c.newLength == previous.length
            && (files.isDevice || imageSize == c.baseLength)
    }

    /// Takes the image back to the round before `record`'s (`isUsable` said it can). Every step
    /// is one a crash may stop: the undo becomes the committed journal, which `recover` replays
    /// (and a crash before the new record is written leaves the image that round without a
    /// record: the next receiver takes only a round 0).
    static func rollBack(_ files: ImageFiles, record: RoundRecord) throws -> RoundRecord {
        guard isUsable(files, record: record) else {
            throw DWCPError.integrity("\(files.undo) does not take \(files.image) back from round \(record.round) (damaged or gone); nothing changed")
        }
        let back = RoundRecord(round: record.round - 1, identity: record.previous!)
        try renameDurably(files.undo, files.journal)
        try back.save(to: files.roundRecord)
        switch try ImageJournal.recover(files) {
        case .replayed: return back
        case .discarded(let why): throw DWCPError.integrity("the undo of round \(record.round) does not read back: \(why)")
        case .nothing: throw DWCPError.failure("\(files.journal) vanished while round \(record.round) was undone")
        case .incomplete(let why): throw DWCPError.failure("\(files.image): \(why)")
        }
    }

    /// The record as a receiver starting on the image may use it: naming the round before only
    /// if its undo is usable. An undo not used goes (one for another round); one a crash left
    /// half written is gone already (`ImageJournal.recover`, which runs first).
    static func checked(_ record: RoundRecord?, _ files: ImageFiles) -> RoundRecord? {
        guard var record else {
            remove(files)
            return nil
        }
        if !isUsable(files, record: record) {
            record.previous = nil
            remove(files)
        }
        return record
    }

    /// Removes the undo (its round is final, superseded by a round 0, or the migration ended).
    static func remove(_ files: ImageFiles) {
        if access(files.undo, F_OK) == 0 { try? unlinkDurably(files.undo) }
    }

    /// Where an undo is written before it is renamed into place.
    static func temporaryPath(_ files: ImageFiles) -> String { files.undo + ".tmp" }
}
