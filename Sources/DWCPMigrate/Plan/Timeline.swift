import DWCPCLI
import DWCPSystem

/// Debug timeline of a migration's switchover (`-vv`): wall-clock milliseconds per step, so a
/// slow switchover can be taken apart across the source and destination logs.
public enum Timeline {
    public static func mark(_ what: @autoclosure () -> String) {
        guard Diagnostics.verbosity >= 3 else { return }
        let ms = Int64(WallClock.now() * 1000) % 100_000
        Diagnostics.debug("t=\(ms) ms: \(what())")
    }
}
