import DWCPPredict
import DWCPSystem

/// The link rate the next round will see, forecast by `dwcp-predict`'s online model selection
/// from what the transfers so far delivered.
///
/// Fed one sample per second of sending (idle time between rounds is not a link measurement, so
/// it is left out); asked for the mean rate over the next `horizon` seconds. With too little
/// data it answers nil and the planner uses the measured rounds alone.
public final class LinkForecast {
    private let model: AutoSelector
    private let horizon: Int
    private var windowStart: Double?
    private var windowBytes: UInt64 = 0
    private var lastTotal: UInt64 = 0
    public private(set) var samples = 0
    private let lock = ConditionLock()

    public init(horizon: Int = 5) {
        self.horizon = horizon
        model = AutoSelector(models: [LastValue(), MovingAverage(window: 5), EWMA(), Holt()], horizons: [horizon])
    }

    /// A new transfer starts: its byte counter restarts at 0.
    public func transferStarted() {
        lock.withLock {
            lastTotal = 0
            windowStart = nil
            windowBytes = 0
        }
    }

    /// The sender's running byte count for the current transfer. Called from every
    /// connection's acknowledgement thread, so it locks, and a count older than one already
    /// seen (threads race) is ignored.
    public func progress(totalBytes: UInt64, now: Double = MonotonicClock.now()) {
        lock.withLock {
            guard totalBytes > lastTotal else { return }
            windowBytes += totalBytes - lastTotal
            lastTotal = totalBytes
            guard let start = windowStart else { windowStart = now; windowBytes = 0; return }
            if now - start >= 1 {
                model.observe(Double(windowBytes) * 8 / (now - start))
                samples += 1
                windowStart = now
                windowBytes = 0
            }
        }
    }

    /// Forecast bytes per second over the horizon, once at least 3 samples exist.
    public var bytesPerSecond: Double? {
        lock.withLock {
            guard samples >= 3, let bps = model.forecast(horizon: horizon), bps > 0 else { return nil }
            return bps / 8
        }
    }
}
