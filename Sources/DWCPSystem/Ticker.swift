/// Calls a closure every `interval` seconds on its own thread until stopped: periodic JSON lines
/// (`dwcp-send --json --interval`) written next to work that must not wait for their reader.
/// `stop()` wakes it at once and waits for a call under way to finish.
public final class Ticker: @unchecked Sendable {
    private final class State: @unchecked Sendable {
        let lock = ConditionLock()
        var stopped = false
    }
    private let state = State()
    private var thread: OSThread?

    /// Starts ticking: `tick` is first called `interval` seconds from now, then on that grid (a
    /// late tick skips the ones it missed rather than catching up).
    public init(every interval: Double, _ tick: @escaping () -> Void) {
        thread = OSThread { [state] in
            var next = MonotonicClock.now() + interval
            while true {
                let stop: Bool = state.lock.withLock {
                    while !state.stopped && MonotonicClock.now() < next {
                        state.lock.waitForTimer(seconds: next - MonotonicClock.now())
                    }
                    return state.stopped
                }
                if stop { return }
                tick()
                next += interval
                let now = MonotonicClock.now()
                if next <= now { next = now + interval - (now - next).truncatingRemainder(dividingBy: interval) }
            }
        }
    }

    /// Stops the ticks; returns once no tick is running. Idempotent.
    public func stop() {
        state.lock.withLock {
            state.stopped = true
            state.lock.wakeTimers()
        }
        thread?.join()
        thread = nil
    }

    deinit { stop() }
}
