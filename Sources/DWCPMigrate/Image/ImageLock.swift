import Glibc
import DWCPCore
import DWCPSystem

/// An exclusive lock on an image a `dwcp-migrate receive -o` or `recover` is at work on, so
/// two of them never touch one image's files at once.
///
/// Without it, a `recover` run beside a live receiver deleted the first round the receiver was
/// still decoding (its `FILE.dwcp-partial`), and that receiver then failed at its rename; two
/// receivers on one image would interleave journals. The lock is `flock(2)`: the kernel drops it
/// when its holder dies, even by SIGKILL, so a crash never leaves an image locked. A regular
/// file's lock file holds the holder's pid for the message a second process gets, and is
/// removed when the holder ends normally (a process that opened it just before is told by the
/// inode check below and locks the new one instead). A block device is locked itself.
public final class ImageLock {
    public let path: String
    private var fd: Int32
    private let ownsFile: Bool

    /// Takes the lock for `files`, or throws (exit 1) naming the process that holds it.
    public init(_ files: ImageFiles) throws {
        let path = files.lock, ownsFile = !files.isDevice
        self.path = path
        self.ownsFile = ownsFile
        while true {
            let fd = ownsFile ? open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600) : open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw DWCPError.failure("\(path): cannot lock: \(String(cString: strerror(errno)))") }
            if flock(fd, LOCK_EX | LOCK_NB) != 0 {
                let e = errno
                let holder = ownsFile ? Self.holder(fd) : nil
                close(fd)
                guard e == EWOULDBLOCK else { throw DWCPError.failure("\(path): cannot lock: \(String(cString: strerror(e)))") }
                throw DWCPError.failure("\(files.image) is in use by another dwcp-migrate receive or recover"
                                        + (holder.map { " (pid \($0), holding \(path))" } ?? " (it holds \(path) locked)"))
            }
            // A holder that ended removed the file after this one opened it: lock the path's file.
            var opened = stat(), named = stat()
            if ownsFile && (fstat(fd, &opened) != 0 || stat(path, &named) != 0 || opened.st_ino != named.st_ino || opened.st_dev != named.st_dev) {
                close(fd)
                continue
            }
            if ownsFile {
                let pid = Array("\(getpid())\n".utf8)
                _ = ftruncate(fd, 0)
                _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
            }
            self.fd = fd
            return
        }
    }

    /// The pid a holder wrote into the lock file, if it is readable.
    private static func holder(_ fd: Int32) -> Int? {
        var b = [UInt8](repeating: 0, count: 24)
        let n = b.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return nil }
        return Int(String(decoding: b[0..<n], as: UTF8.self).trimming([" ", "\n"]))
    }

    /// Gives the lock up (removing a regular file's lock file first); also on deinit.
    public func release() {
        guard fd >= 0 else { return }
        if ownsFile { unlink(path) }
        close(fd)
        fd = -1
    }

    deinit { release() }
}
