#if canImport(Glibc)
import Glibc
#endif

/// Deletes a partially written output file if the process is interrupted (SIGINT, SIGTERM,
/// SIGHUP, SIGPIPE) and exits with 128+signal, as coreutils and zstd do.
///
/// The handler only calls async-signal-safe functions (`unlink`, `_exit`) on a path copied into
/// C memory beforehand.
public enum SignalCleanup {
    nonisolated(unsafe) private static var pathToRemove: UnsafeMutablePointer<CChar>?

    /// Installs the handlers once; call `removeOnInterrupt` to arm the path.
    public static func install() {
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            signal(sig, { sig in
                if let p = SignalCleanup.pathToRemove { unlink(p) }
                _exit(128 + sig)
            })
        }
        // A closed reader of our output is reported as EPIPE by write(2) instead of killing us
        // silently, so partial output is cleaned up by the normal error path.
        signal(SIGPIPE, SIG_IGN)
    }

    /// Arms (or with nil, disarms) removal of `path` on interruption.
    public static func removeOnInterrupt(_ path: String?) {
        let old = pathToRemove
        pathToRemove = path.map { strdup($0) }
        if let old { free(old) }
    }
}
