#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CLinux
import DWCPCore

/// A raw file descriptor with the few operations the data plane needs, each EINTR-safe.
///
/// Deliberately not a class: descriptors are owned by whoever opened them, and closed explicitly,
/// so stdin/stdout can be wrapped without ever being closed by accident.
public struct FileDescriptor: Sendable, Equatable {
    public let rawValue: Int32
    /// A human name for diagnostics: a path, `stdin` or `stdout`.
    public let name: String

    public init(rawValue: Int32, name: String) {
        self.rawValue = rawValue
        self.name = name
    }

    public static let standardInput = FileDescriptor(rawValue: 0, name: "stdin")
    public static let standardOutput = FileDescriptor(rawValue: 1, name: "stdout")
    public static let standardError = FileDescriptor(rawValue: 2, name: "stderr")

    /// Opens `path` read-only. The C flag is `O_RDONLY | O_CLOEXEC`.
    public static func openForReading(_ path: String) throws -> FileDescriptor {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw DWCPError.failure("\(path): \(String(cString: strerror(errno)))") }
        return FileDescriptor(rawValue: fd, name: path)
    }

    /// Opens an existing `path` for writing in place: no creation, no truncation
    /// (`O_WRONLY | O_CLOEXEC`).
    public static func openForWriting(_ path: String) throws -> FileDescriptor {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        if fd < 0 { throw DWCPError.failure("\(path): \(String(cString: strerror(errno)))") }
        return FileDescriptor(rawValue: fd, name: path)
    }

    /// The size of the regular file or block device at `path`; nil if it cannot be opened or has
    /// no size (a pipe, a character device).
    public static func size(ofFileAt path: String) -> UInt64? {
        guard let fd = try? openForReading(path) else { return nil }
        defer { fd.close() }
        return fd.sizeIfSeekable()
    }

    /// Whether `path` names a directory (following symlinks).
    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFDIR
    }

    /// Creates `path` for writing; refuses an existing file unless `overwrite` (`O_EXCL` otherwise).
    ///
    /// A character device or FIFO that already exists is opened as it is, without `overwrite`:
    /// writing to `/dev/null` or a named pipe destroys nothing, as `zstd -o /dev/null` knows.
    /// A block device or regular file still needs `overwrite`.
    public static func create(_ path: String, overwrite: Bool, mode: mode_t = 0o644) throws -> FileDescriptor {
        var flags = O_WRONLY | O_CREAT | O_CLOEXEC
        flags |= overwrite ? O_TRUNC : O_EXCL
        let fd = open(path, flags, mode)
        if fd < 0 {
            if errno == EEXIST {
                var st = stat()
                let kind = stat(path, &st) == 0 ? st.st_mode & S_IFMT : 0
                if kind == S_IFCHR || kind == S_IFIFO { return try openForWriting(path) }
                if kind == S_IFDIR { throw DWCPError.failure("\(path): Is a directory") }
                throw DWCPError.failure("\(path): already exists (use -f to overwrite)")
            }
            throw DWCPError.failure("\(path): \(String(cString: strerror(errno)))")
        }
        return FileDescriptor(rawValue: fd, name: path)
    }

    /// `path` with every symlink resolved (`realpath(3)`); nil if it does not exist.
    public static func resolvedPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    /// Creates a new, empty file beside `path` (`PATH.tmp-PID`, as `writeFileAtomically` names
    /// its own) to take `path`'s place by `rename(2)` once it is complete: `-f` over an existing
    /// file, where a run that fails must leave the old file as it was, not truncated or deleted.
    /// Returns the descriptor, named `path` for diagnostics, and the new file's path.
    public static func createBeside(_ path: String, mode: mode_t) throws -> (FileDescriptor, String) {
        let temporary = path + ".tmp-\(getpid())"
        let fd = try create(temporary, overwrite: true, mode: mode)
        _ = fchmod(fd.rawValue, mode)   // the old file's mode exactly, whatever the umask
        return (FileDescriptor(rawValue: fd.rawValue, name: path), temporary)
    }

    public func close() {
        _ = Glibc.close(rawValue)
    }

    /// Reads until `count` bytes are in or end of file; returns the bytes read (short only at EOF).
    ///
    /// With `abandon`, for a pipe or socket that may go quiet: it waits for input in polls of
    /// `interval` seconds and between them asks `abandon` whether the work these bytes are for
    /// has failed meanwhile; if it returns an error, throws it (a blocked read would have waited
    /// for a producer that may never write again). Without, it simply blocks in `read`.
    public func readFully(into p: UnsafeMutableRawPointer, count: Int, checkingEvery interval: Double = 0.2,
                          abandon: (() -> Error?)? = nil) throws -> Int {
        var done = 0
        while done < count {
            if let abandon {
                var waiter = pollfd(fd: rawValue, events: Int16(POLLIN), revents: 0)
                let ready = poll(&waiter, 1, Int32(interval * 1000))
                if ready < 0 {
                    if errno == EINTR { continue }
                    throw SystemError(errno: errno, what: "\(name): poll")
                }
                if ready == 0 {
                    if let error = abandon() { throw error }
                    continue
                }
            }
            let n = try readSome(into: p + done, count: count - done)
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// One `read(2)`: what is there now, waiting only for the first byte; 0 at end of file.
    public func readSome(into p: UnsafeMutableRawPointer, count: Int) throws -> Int {
        try syscall("\(name): read") { read(rawValue, p, count) }
    }

    /// Whether a read would return at once: input is waiting, or the end of the stream.
    public var hasInputNow: Bool {
        var waiter = pollfd(fd: rawValue, events: Int16(POLLIN), revents: 0)
        return poll(&waiter, 1, 0) > 0
    }

    /// Reads everything up to end of file (small inputs: node lists, keys, state files),
    /// refusing more than `limit` bytes so hostile input cannot exhaust memory.
    public func readToEnd(limit: Int = 1 << 30) throws -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = try chunk.withUnsafeMutableBytes { try readFully(into: $0.baseAddress!, count: $0.count) }
            out.append(contentsOf: chunk[0..<n])
            if out.count > limit { throw DWCPError.failure("\(name): larger than \(limit) bytes") }
            if n < chunk.count { return out }
        }
    }

    /// The whole text of `path` (`-`: standard input).
    public static func readText(_ path: String, limit: Int = 1 << 30) throws -> String {
        let fd = path == "-" ? FileDescriptor.standardInput : try openForReading(path)
        defer { if path != "-" { fd.close() } }
        return String(decoding: try fd.readToEnd(limit: limit), as: UTF8.self)
    }

    /// As `readFully(into:count:)` from the file offset, for a regular file that may be sparse:
    /// a hole (`lseek` `SEEK_DATA`/`SEEK_HOLE`) is filled with zeros in `p` and seeked over
    /// instead of read. Reading a hole fills the page cache with zero pages first: encoding a
    /// 4 GiB image holding 256 MiB from a cold cache took 1.04–1.57 s (0.8–1.3 s of it system
    /// time) reading every byte, 0.45–0.66 s this way. A file system that does not report holes
    /// reads as one run of data, as before.
    public func readFullySkippingHoles(into p: UnsafeMutableRawPointer, count: Int) throws -> Int {
        var done = 0
        while done < count {
            let offset = lseek(rawValue, 0, SEEK_CUR)
            guard offset >= 0 else { throw SystemError(errno: errno, what: "\(name): seek") }
            var hole = 0
            let data = lseek(rawValue, offset, Int32(DWCP_SEEK_DATA))
            if data >= 0 {
                hole = Int(min(Int64(count - done), Int64(data - offset)))
            } else if errno == ENXIO {
                // No data from here on: a hole up to the end of the file.
                var st = stat()
                _ = try syscall("\(name): stat") { fstat(rawValue, &st) }
                hole = Int(max(0, min(Int64(count - done), Int64(st.st_size) - Int64(offset))))
                if hole == 0 { break }
            } else {
                return done + (try readFully(into: p + done, count: count - done))
            }
            if hole > 0 {
                memset(p + done, 0, hole)
                _ = try syscall("\(name): seek") { lseek(rawValue, offset + off_t(hole), SEEK_SET) }
                done += hole
                continue
            }
            // Data here: read up to the next hole (the end of the file counts as one).
            let nextHole = lseek(rawValue, offset, Int32(DWCP_SEEK_HOLE))
            _ = try syscall("\(name): seek") { lseek(rawValue, offset, SEEK_SET) }
            let run = nextHole > offset ? Int(min(Int64(count - done), Int64(nextHole - offset))) : count - done
            let n = try readFully(into: p + done, count: run)
            done += n
            if n < run { break }
        }
        return done
    }

    /// Reads at `offset` until `count` bytes are in or end of file.
    public func readFully(into p: UnsafeMutableRawPointer, count: Int, at offset: UInt64) throws -> Int {
        var done = 0
        while done < count {
            let n = try syscall("\(name): read") { pread(rawValue, p + done, count - done, off_t(offset) + off_t(done)) }
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// Writes all `count` bytes.
    public func writeAll(_ p: UnsafeRawPointer, count: Int) throws {
        var done = 0
        while done < count {
            let n = try syscall("\(name): write") { write(rawValue, p + done, count - done) }
            done += n
        }
    }

    /// Writes all `count` bytes at file offset `offset` (`pwrite(2)`; the file offset stays).
    public func writeAll(_ p: UnsafeRawPointer, count: Int, at offset: UInt64) throws {
        var done = 0
        while done < count {
            let n = try syscall("\(name): write") { pwrite(rawValue, p + done, count - done, off_t(offset) + off_t(done)) }
            done += n
        }
    }

    public func writeAll(_ string: String) throws {
        try writeAll(Array(string.utf8))
    }

    /// Copies everything left to read to `output` through one buffer; returns the bytes copied.
    public func copyAll(to output: FileDescriptor, bufferSize: Int = 4 << 20) throws -> UInt64 {
        let buffer = RawBuffer(capacity: bufferSize)
        var total: UInt64 = 0
        while true {
            let n = try readFully(into: buffer.unsafeBase, count: bufferSize)
            try output.writeAll(buffer.unsafeBase, count: n)
            total += UInt64(n)
            if n < bufferSize { return total }  // readFully stops short only at the end
        }
    }

    /// Copies everything from this pipe to `output` with `splice(2)`: the pipe's pages move to
    /// the output (a socket, a pipe, a file) without passing through user space. Where the
    /// kernel cannot splice to `output` (EINVAL), it copies through a buffer. Returns the byte
    /// count.
    public func spliceAll(to output: FileDescriptor) throws -> UInt64 {
        var total: UInt64 = 0
        while true {
            let n = dwcp_splice(rawValue, output.rawValue, 1 << 20, 1)
            if n > 0 {
                total += UInt64(n)
            } else if n == 0 {
                return total
            } else if errno == EINTR {
                continue
            } else if errno == EINVAL && total == 0 {
                return try copyAll(to: output, bufferSize: 1 << 20)
            } else {
                throw DWCPError.failure("\(name) to \(output.name): splice: \(String(cString: strerror(errno)))")
            }
        }
    }

    /// `fsync(2)`: durable before acknowledged.
    public func sync() throws {
        _ = try syscall("\(name): fsync") { fsync(rawValue) }
    }

    /// `fdatasync(2)`: the data and what is needed to read it back (the length), without the
    /// timestamps; for files appended to or written in place at a steady pace.
    public func syncData() throws {
        _ = try syscall("\(name): fdatasync") { fdatasync(rawValue) }
    }

    /// True when the descriptor is a terminal (`isatty(3)`).
    public var isTerminal: Bool { isatty(rawValue) == 1 }

    /// The file offset `read(2)` would read from next (0 where there is none, as on a pipe).
    public var currentOffset: UInt64 {
        UInt64(max(0, lseek(rawValue, 0, SEEK_CUR)))
    }

    /// Moves the file offset to `offset` (after reading a file with `pread`, so a caller that
    /// shares the descriptor sees it consumed, as after `read(2)`).
    public func seek(to offset: UInt64) {
        _ = lseek(rawValue, off_t(offset), SEEK_SET)
    }

    /// The regular file or block device this descriptor reads or writes; nil for anything else
    /// (a pipe, a terminal, `/dev/null`), whose sharing between an input and an output
    /// destroys nothing.
    public var storageIdentity: StorageIdentity? {
        var st = stat()
        return fstat(rawValue, &st) == 0 ? StorageIdentity(st) : nil
    }

    /// True for a regular file (not a device, FIFO or socket).
    public var isRegularFile: Bool {
        var st = stat()
        return fstat(rawValue, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
    }

    /// True for a regular file whose size is its length, the one kind a sender may read by its
    /// size (`sendfile`, resume by offset). Files of the kernel's pseudo file systems are
    /// regular too, but their size is 0 (`/proc/cpuinfo`) or a page (sysfs attributes) whatever
    /// they hold: those are read to their end, like a pipe.
    public var isRegularFileOfKnownLength: Bool {
        isRegularFile && !Self.pseudoFileSystems.contains(dwcp_filesystem_type(rawValue))
    }

    /// `f_type` magic numbers (linux/magic.h) of file systems whose file sizes are not lengths:
    /// proc, sysfs, debugfs, tracefs, securityfs, configfs, cgroup, cgroup2, efivarfs, bpf.
    static let pseudoFileSystems: Set<UInt> = [0x9fa0, 0x6265_6572, 0x6462_6720, 0x7472_6163, 0x7363_6673,
                                               0x6265_6570, 0x0027_e0eb, 0x6367_7270, 0xde5e_81e4, 0xcafe_4a11]

    /// Where a writer may put bytes at their own offsets, in any order, and the result is the
    /// same as writing them in order from here: the current offset of a regular file or block
    /// device not opened for appending, or of the null device (which discards whatever it is
    /// given). Nil for pipes, sockets, terminals, other devices and appending descriptors.
    public func positionalWriteStart() -> UInt64? {
        var st = stat()
        guard fstat(rawValue, &st) == 0 else { return nil }
        let kind = st.st_mode & S_IFMT
        let isNull = kind == S_IFCHR && st.st_rdev == Self.nullDevice
        guard kind == S_IFREG || kind == S_IFBLK || isNull else { return nil }
        let flags = fcntl(rawValue, F_GETFL)
        guard flags >= 0, flags & O_APPEND == 0 else { return nil }
        let offset = lseek(rawValue, 0, SEEK_CUR)
        return offset >= 0 ? UInt64(offset) : nil
    }

    /// `/dev/null`'s device number, 1:3 on Linux (as glibc's `makedev` encodes it).
    private static let nullDevice: dev_t = (1 << 8) | 3

    /// `ftruncate(2)`.
    public func truncate(to size: UInt64) throws {
        _ = try syscall("\(name): truncate") { ftruncate(rawValue, off_t(size)) }
    }

    /// On a pipe, asks for a larger pipe buffer (`F_SETPIPE_SZ`, capped by the kernel at
    /// /proc/sys/fs/pipe-max-size): a 64 KiB default pipe makes both ends wake each other every
    /// 64 KiB, which costs more than the copying at gigabytes per second. Anything else: no-op.
    public func enlargePipeBuffer(to bytes: Int = 1 << 20) {
        var st = stat()
        guard fstat(rawValue, &st) == 0, st.st_mode & S_IFMT == S_IFIFO else { return }
        _ = fcntl(rawValue, 1031 /* F_SETPIPE_SZ */, Int32(bytes))
    }

    /// Size of a regular file or block device, nil for pipes and sockets.
    public func sizeIfSeekable() -> UInt64? {
        var st = stat()
        guard fstat(rawValue, &st) == 0 else { return nil }
        if (st.st_mode & S_IFMT) == S_IFREG { return UInt64(st.st_size) }
        if (st.st_mode & S_IFMT) == S_IFBLK {
            let end = lseek(rawValue, 0, SEEK_END)
            _ = lseek(rawValue, 0, SEEK_SET)
            return end >= 0 ? UInt64(end) : nil
        }
        return nil
    }
}

/// rename(2) then fsync of the directory, so the new name survives a crash.
public func renameDurably(_ from: String, _ to: String) throws {
    guard rename(from, to) == 0 else { throw SystemError(errno: errno, what: "rename \(from) to \(to)") }
    syncDirectory(of: to)
}

/// unlink(2) then fsync of the directory, so the name stays gone after a crash. A missing file
/// is not an error.
public func unlinkDurably(_ path: String) throws {
    guard unlink(path) == 0 || errno == ENOENT else { throw SystemError(errno: errno, what: "remove \(path)") }
    syncDirectory(of: path)
}

/// fsync of the directory holding `path`: makes a new, renamed or removed name in it durable.
public func syncDirectory(of path: String) {
    let slash = path.lastIndex(of: "/")
    let directory = slash.map { String(path[..<$0]) } ?? "."
    let fd = open(directory.isEmpty ? "/" : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if fd >= 0 {
        fsync(fd)
        close(fd)
    }
}

/// Replaces `path` with `text` atomically and durably: a temporary file beside it, written and
/// fsynced, then renamed over it. A crash leaves the old file or the new one, never a mix.
/// `mode` (before the umask): private by default, as state files are.
public func writeFileAtomically(_ path: String, _ text: String, mode: mode_t = 0o600) throws {
    try writeFileAtomically(path, Array(text.utf8), mode: mode)
}

/// `writeFileAtomically(_:_:mode:)` for bytes.
public func writeFileAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o600) throws {
    let temp = path + ".tmp-\(getpid())"
    let fd = try FileDescriptor.create(temp, overwrite: true, mode: mode)
    do {
        try fd.writeAll(bytes)
        try fd.sync()
        fd.close()
        try renameDurably(temp, path)
    } catch {
        fd.close()
        unlink(temp)
        throw error
    }
}

/// A regular file or block device as the kernel knows it (device and inode), so that two names
/// (a path and `-`, a symlink, a hard link) are seen to be the same storage.
///
/// Exists to stop an output from truncating one of the command's own inputs: `-o` with `-f`
/// creates its file with `O_TRUNC`, before a byte of the input has been read.
public struct StorageIdentity: Equatable, Sendable {
    let device: UInt64
    let inode: UInt64

    init?(_ st: stat) {
        let kind = st.st_mode & S_IFMT
        guard kind == S_IFREG || kind == S_IFBLK else { return nil }
        device = kind == S_IFBLK ? UInt64(st.st_rdev) : UInt64(st.st_dev)
        inode = kind == S_IFBLK ? 0 : UInt64(st.st_ino)
    }

    /// The storage `path` names (following symlinks); nil if it does not exist or is neither a
    /// regular file nor a block device.
    public init?(path: String) {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        self.init(st)
    }
}

/// A file's identity, size and change times as `stat` gives them: equal versions mean nobody
/// wrote the file in between (a write moves its modification and change times).
///
/// `dwcp-migrate receive` keeps the page digests of the image it wrote for the next round, which
/// verifies the pages it leaves unchanged by them: only while the image is the version it wrote.
/// A guard against another writer, not a proof: file times move in clock ticks of a few
/// milliseconds, so a write in the same tick as receive's own goes unseen, and a block device's
/// times do not move with writes to it at all (receive owns the image it writes).
public struct FileVersion: Equatable, Sendable {
    let storage: StorageIdentity
    let size: Int64
    let modified: Int64
    let changed: Int64

    /// The version of the file `path` names now; nil if it cannot be read.
    public init?(path: String) {
        var st = stat()
        guard stat(path, &st) == 0, let storage = StorageIdentity(st) else { return nil }
        self.storage = storage
        size = Int64(st.st_size)
        modified = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
        changed = Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec)
    }
}
