#if canImport(Glibc)
import Glibc
#endif

/// A private directory (`mkdtemp` under `$TMPDIR` or /tmp) for sockets and scratch files,
/// removed with its files by `remove()`: dwcp-migrate shares its unix sockets with QEMU here.
public struct TemporaryDirectory {
    public let path: String

    public init(prefix: String = "dwcp") throws {
        let base = (getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp") + "/\(prefix).XXXXXX"
        var template = Array(base.utf8CString)
        guard let p = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw SystemError(errno: errno, what: "mkdtemp \(base)")
        }
        path = String(cString: p)
    }

    /// Deletes the files in it (not subdirectories) and the directory.
    public func remove() {
        if let d = opendir(path) {
            while let e = readdir(d) {
                let name = withUnsafeBytes(of: e.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
                if name != "." && name != ".." { unlink(path + "/" + name) }
            }
            closedir(d)
        }
        rmdir(path)
    }
}
