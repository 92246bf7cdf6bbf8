#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import DWCPCore

/// Runs a system call, retrying on `EINTR`, and turns a `-1` result into a `DWCPError` naming
/// `what` and the errno text (as NIOPosix's `syscall` helper does).
@inline(__always)
public func syscall<T: FixedWidthInteger>(_ what: @autoclosure () -> String, _ body: () -> T) throws -> T {
    while true {
        let r = body()
        if r != -1 { return r }
        let e = errno
        if e == EINTR { continue }
        throw SystemError(errno: e, what: what())
    }
}

/// A failed system call: the errno and what was being done.
public struct SystemError: Error, CustomStringConvertible {
    public var errno: Int32
    public var what: String
    public init(errno: Int32, what: String) {
        self.errno = errno
        self.what = what
    }
    public var description: String { "\(what): \(String(cString: strerror(errno)))" }
    /// As a user-facing error (exit status 1).
    public var asDWCPError: DWCPError { .failure(description) }
}
