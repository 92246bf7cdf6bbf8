#if canImport(Glibc)
import Glibc
#endif

/// Named steps where a debug build can be made to die as `kill -9` would kill it, for tests of
/// what survives a crash at a step no outside observer can catch: between two writes of the
/// same thread, with no system call of its own to stop at (strace) or file to wait for.
///
/// `DWCP_CRASH_AT=NAME` in the environment of a debug build SIGKILLs the process when it
/// reaches `CrashPoint.reach(NAME)`. Release builds (what `make release`, `make demo` and
/// `make bench` run) compile every point out, environment or not.
public enum CrashPoint {
    #if DEBUG
    private static let armed: String? = getenv("DWCP_CRASH_AT").map { String(cString: $0) }
    #endif

    /// Dies here if this build has crash points and `DWCP_CRASH_AT` names `name`.
    @inline(__always)
    public static func reach(_ name: @autoclosure () -> String) {
        #if DEBUG
        if let armed, armed == name() { kill(getpid(), SIGKILL) }
        #endif
    }
}
