#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Deletes a partially written output file if the process is interrupted (SIGINT, SIGTERM,
/// SIGHUP, SIGPIPE) and exits with 128+signal, as coreutils and zstd do; or, with
/// `whenInterrupted`, first does what the command must do before it goes.
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
        // The same for a file-size limit (`ulimit -f`): write(2) fails with EFBIG ("File too
        // large") and the partial output is removed, where SIGXFSZ killed us and left it.
        signal(SIGXFSZ, SIG_IGN)
    }

    /// Runs `action` on its own thread when SIGINT, SIGTERM or SIGHUP arrives, then removes the
    /// armed path and exits with 128+signal: for work that must tell someone before the process
    /// goes (`dwcp-send` cancels its transfer at the receiver). `action` should be brief; a
    /// second signal exits at once without waiting for it.
    ///
    /// The signals are blocked in the calling thread and waited for by a thread of their own;
    /// threads started afterwards inherit the mask, so call this before starting any (a thread
    /// started before could still take a signal, and with it the plain exit of `install`).
    public static func whenInterrupted(_ action: @escaping (_ signalName: String) -> Void) {
        var set = sigset_t()
        sigemptyset(&set)
        for sig in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&set, sig) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
        _ = OSThread {
            var sig: Int32 = 0
            guard sigwait(&set, &sig) == 0 else { return }
            let first = sig
            interrupted.store(first, ordering: .sequentiallyConsistent)
            _ = OSThread {
                action(name(of: first))
                exitForSignal(first)
            }
            // A second signal: the user means it.
            if sigwait(&set, &sig) == 0 { exitForSignal(sig) }
        }
    }

    /// The signal `whenInterrupted` is handling, 0 if none.
    private static let interrupted = Atomic<Int32>(0)

    /// If an interruption is being handled, waits for its handler to end the process (with
    /// 128 + the signal): a command whose work failed or ended because of the interruption
    /// must not exit first with another status.
    public static func awaitInterruptHandler() {
        guard interrupted.load(ordering: .sequentiallyConsistent) != 0 else { return }
        while true { pause() }
    }

    private static func exitForSignal(_ sig: Int32) -> Never {
        if let p = pathToRemove { unlink(p) }
        _exit(128 + sig)
    }

    /// "SIGINT" and the like, for messages.
    public static func name(of sig: Int32) -> String {
        switch sig {
        case SIGINT: return "SIGINT"
        case SIGTERM: return "SIGTERM"
        case SIGHUP: return "SIGHUP"
        default: return "signal \(sig)"
        }
    }

    /// Arms (or with nil, disarms) removal of `path` on interruption.
    public static func removeOnInterrupt(_ path: String?) {
        let old = pathToRemove
        pathToRemove = path.map { strdup($0) }
        if let old { free(old) }
    }
}
