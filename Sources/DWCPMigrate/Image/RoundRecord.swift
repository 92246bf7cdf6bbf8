import Glibc
import DWCPCore
import DWCPSystem

/// Which pre-copy round a receiver's image holds, and that image's identity (length and
/// XXH3-128), kept durably beside it (`ImageFiles.roundRecord`) after every round but the last.
///
/// A receiver that is killed and started again finds its image a complete round (the journal
/// sees to that), but the source is by then sending the next round, and a new receiver process
/// only knew how to take a round 0. With this record it takes either: the round after the one
/// it holds, as a delta against its image (whose identity the stream header must name, or the
/// decoder refuses it), or a new round 0. The source, told by its transport that the receiver
/// was restarted (`Wire.receiverRestarted`), sends the round again from its start.
///
/// It also names the round before (`previous`) when the receiver kept that round's undo
/// (`RoundUndo`): a source that stopped before it heard the destination confirm this round
/// offers it again, as a delta against the round before, and the receiver goes back to take it.
///
/// Layout (little-endian): `DWCPRND2`, round, length, digest high, digest low, then 1 and the
/// previous round's length, digest high and low (or four zero words without one), then XXH3-64
/// of the 72 bytes before: 80 bytes. Version 1 records (`DWCPRND1`, 48 bytes, no previous round)
/// still load. A record that does not check, or names an image of another length than the file
/// or device holds, is ignored: the receiver then takes only a round 0.
public struct RoundRecord: Equatable, Sendable {
    public var round: Int
    public var identity: BaselineIdentity
    /// The round before's identity, when its undo is kept beside the image.
    public var previous: BaselineIdentity?

    public init(round: Int, identity: BaselineIdentity, previous: BaselineIdentity? = nil) {
        self.round = round
        self.identity = identity
        self.previous = previous
    }

    static let magicV1 = Array("DWCPRND1".utf8)
    static let magic = Array("DWCPRND2".utf8)
    static let lengthV1 = 48
    static let length = 80

    /// Writes the record atomically (temporary file, fsync, rename, directory fsync).
    func save(to path: String) throws {
        var b = [UInt8](repeating: 0, count: Self.length)
        b.withUnsafeMutableBytes { p in
            let base = p.baseAddress!
            Self.magic.withUnsafeBytes { base.copyMemory(from: $0.baseAddress!, byteCount: 8) }
            LittleEndian.store(UInt64(round), base, 8)
            Self.store(identity, base + 16)
            if let previous {
                LittleEndian.store(UInt64(1), base, 40)
                Self.store(previous, base + 48)
            }
            LittleEndian.store(Checksum.xxh3(base, 72), base, 72)
        }
        try writeFileAtomically(path, b)
    }

    private static func store(_ id: BaselineIdentity, _ p: UnsafeMutableRawPointer) {
        LittleEndian.store(id.length, p, 0)
        LittleEndian.store(id.digest.high, p, 8)
        LittleEndian.store(id.digest.low, p, 16)
    }

    private static func load(_ p: UnsafeRawPointer) -> BaselineIdentity {
        BaselineIdentity(length: LittleEndian.load(UInt64.self, p, 0),
                         digest: Digest128(high: LittleEndian.load(UInt64.self, p, 8), low: LittleEndian.load(UInt64.self, p, 16)))
    }

    /// The record at `path` if there is a valid one for an image that holds at least
    /// `imageBytes` bytes (exactly that many for a regular file).
    static func load(from path: String, imageBytes: UInt64?, exact: Bool) -> RoundRecord? {
        guard let r = load(from: path), let imageBytes, exact ? imageBytes == r.identity.length : imageBytes >= r.identity.length else { return nil }
        return r
    }

    /// The record at `path` if it is a valid one, whatever image it is beside
    /// (`RoundVerification` reports a size that does not match as a finding).
    static func load(from path: String) -> RoundRecord? {
        guard let fd = try? FileDescriptor.openForReading(path) else { return nil }
        defer { fd.close() }
        var b = [UInt8](repeating: 0, count: length + 1)
        guard let n = try? b.withUnsafeMutableBytes({ try fd.readFully(into: $0.baseAddress!, count: length + 1) }) else { return nil }
        let v2 = n == length && Array(b[0..<8]) == magic
        guard v2 || (n == lengthV1 && Array(b[0..<8]) == magicV1) else { return nil }
        return b.withUnsafeBytes { p -> RoundRecord? in
            let base = p.baseAddress!
            let checked = v2 ? 72 : 40
            guard LittleEndian.load(UInt64.self, base, checked) == Checksum.xxh3(base, checked) else { return nil }
            let round = LittleEndian.load(UInt64.self, base, 8)
            let identity = load(base + 16)
            guard round < 1 << 32 else { return nil }
            let previous = v2 && LittleEndian.load(UInt64.self, base, 40) == 1 ? load(base + 48) : nil
            return RoundRecord(round: Int(round), identity: identity, previous: previous)
        }
    }

    /// The record at `path` if there is a valid one for the image at `image` as it is now.
    static func load(from path: String, forImageAt image: String, exact: Bool) -> RoundRecord? {
        load(from: path, imageBytes: FileDescriptor.size(ofFileAt: image), exact: exact)
    }

    /// The record for `files`' image as it is now: nil if there is none, it does not check, or
    /// the image does not hold as many bytes as it names (exactly, for a regular file), or a
    /// device is marked as holding no complete round.
    static func current(_ files: ImageFiles) -> RoundRecord? {
        if files.isMarkedIncomplete { return nil }
        return load(from: files.roundRecord, forImageAt: files.image, exact: !files.isDevice)
    }

    /// After a committed journal of `round` was replayed: the record is written between a
    /// journal's commit and its apply, so a record of another round was left by a receiver that
    /// stopped in between, and no longer names the image: it goes.
    static func keepOnlyIfFor(round: UInt64, _ files: ImageFiles) {
        if let r = current(files), r.round == Int(round) { return }
        remove(at: files.roundRecord)
    }

    /// Removes the record (the migration ended: done, or given up).
    static func remove(at path: String) {
        if access(path, F_OK) == 0 { try? unlinkDurably(path) }
    }
}
