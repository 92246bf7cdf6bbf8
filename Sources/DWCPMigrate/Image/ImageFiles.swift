import Glibc
import DWCPCore
import DWCPSystem

/// Where an image that `dwcp-migrate receive -o` builds lives, and where its round state goes.
///
/// A regular file keeps its state beside it: the first round is decoded into `FILE.dwcp-partial`
/// and renamed over it, and later rounds are journaled in `FILE.dwcp-journal` (or in
/// `--journal-dir`) and applied with `FILE` moved aside as `FILE.dwcp-applying`.
///
/// A block device can be neither renamed nor truncated, and its node usually sits on a RAM
/// file system (`/dev`) where nothing is durable. So its state lives in a directory the caller
/// names, every round is written into the device in place, and the image is the device's first
/// bytes (as long as the round says; the rest of the device is left alone). What the rename
/// gave a file, a marker gives a device: `DIR/NAME.dwcp-incomplete` exists, durably, whenever
/// the device holds no complete round (a first round being written, or the source gave up).
public struct ImageFiles: Sendable, Equatable {
    /// The image: a regular file (existing or not) or a block device.
    public let image: String
    /// The device number (`st_rdev`) of a block-device image, else nil. Journals record it, so
    /// a journal is never replayed onto another device that happens to share the state directory.
    public let device: UInt64?
    /// The round journal.
    public let journal: String
    /// Where a regular file is moved while a journal is written into it (nil for a device).
    public let applying: String?
    /// Where a regular file's first round is decoded (nil for a device).
    public let partial: String?
    /// The marker of a device without a complete round (nil for a regular file).
    public let incomplete: String?
    /// Which round the image holds and its identity (`RoundRecord`), so a restarted receiver
    /// can take the next round instead of only a new round 0.
    public let roundRecord: String
    /// What applying the last round overwrote (`RoundUndo`), so a receiver can go back to the
    /// round before when a restarted source offers that round again.
    public let undo: String
    /// What a `receive` or `recover` at work on the image holds locked (`ImageLock`): a block
    /// device itself, as systemd's block-device locking asks of a tool writing one; beside a
    /// regular file (which may not exist yet) `FILE.dwcp-lock`, also with `--journal-dir`, so
    /// two receivers given different directories still meet.
    public let lock: String

    public var isDevice: Bool { device != nil }

    /// Resolves the paths for `image`, whose state goes to `journalDirectory` if given (a block
    /// device needs one). A character device, FIFO, socket or directory cannot hold an image
    /// (usage error).
    public init(image: String, journalDirectory: String? = nil) throws {
        self.image = image
        var st = stat()
        let kind = stat(image, &st) == 0 ? st.st_mode & S_IFMT : S_IFREG
        let name = image.split(separator: "/").last.map(String.init) ?? image
        if kind == S_IFBLK {
            guard let directory = journalDirectory else {
                throw DWCPError.usage("\(image) is a block device: give --journal-dir DIR, a directory on a durable file system for its round journal (a device cannot hold it, and /dev is kept in RAM)")
            }
            device = UInt64(st.st_rdev)
            journal = Self.join(directory, name + ".dwcp-journal")
            incomplete = Self.join(directory, name + ".dwcp-incomplete")
            roundRecord = Self.join(directory, name + ".dwcp-round")
            undo = Self.join(directory, name + ".dwcp-undo")
            lock = image
            applying = nil
            partial = nil
        } else if kind == S_IFREG {
            device = nil
            journal = journalDirectory.map { Self.join($0, name + ".dwcp-journal") } ?? ImageJournal.journalPath(for: image)
            roundRecord = journalDirectory.map { Self.join($0, name + ".dwcp-round") } ?? image + ".dwcp-round"
            undo = journalDirectory.map { Self.join($0, name + ".dwcp-undo") } ?? image + ".dwcp-undo"
            lock = image + ".dwcp-lock"
            applying = ImageJournal.applyingPath(for: image)
            partial = ImageJournal.partialPath(for: image)
            incomplete = nil
        } else {
            throw DWCPError.usage("\(image) is not a regular file or block device: a pipe, character device or directory cannot hold the image")
        }
        if let directory = journalDirectory {
            guard FileDescriptor.isDirectory(directory) else {
                throw DWCPError.usage("--journal-dir \(directory) is not a directory")
            }
        }
    }

    private static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    /// Marks the device as holding no complete round, durably (a device only).
    func markIncomplete() throws {
        guard let incomplete else { return }
        try writeFileAtomically(incomplete, "\(image) holds no complete dwcp-migrate round\n")
    }

    /// Whether the device is marked as holding no complete round.
    var isMarkedIncomplete: Bool { incomplete.map { access($0, F_OK) == 0 } ?? false }

    /// Clears the marker once the device holds a complete round, durably.
    func clearIncomplete() throws {
        if let incomplete, access(incomplete, F_OK) == 0 { try unlinkDurably(incomplete) }
    }
}
