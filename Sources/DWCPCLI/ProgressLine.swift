import DWCPSystem

/// A single self-overwriting status line on stderr, redrawn at most four times a second.
///
/// Only used when stderr is a terminal (or `--progress`), so logs and pipes never fill with
/// carriage returns.
public final class ProgressLine: @unchecked Sendable {
    private let enabled: Bool
    private let started = MonotonicClock.now()
    private var lastDraw = 0.0
    private var drawn = false
    private let lock = ConditionLock()

    public init(enabled: Bool) {
        self.enabled = enabled
    }

    /// Seconds since creation.
    public var elapsed: Double { MonotonicClock.now() - started }

    /// Redraws with `text` if enabled and a quarter second has passed.
    public func update(_ text: @autoclosure () -> String) {
        guard enabled else { return }
        lock.withLock {
            let now = MonotonicClock.now()
            guard now - lastDraw >= 0.25 else { return }
            lastDraw = now
            drawn = true
            Diagnostics.emit("\r\u{1B}[K" + text())
        }
    }

    /// Clears the line so the next message starts clean.
    public func clear() {
        guard enabled else { return }
        lock.withLock {
            if drawn { Diagnostics.emit("\r\u{1B}[K") }
            drawn = false
        }
    }
}
