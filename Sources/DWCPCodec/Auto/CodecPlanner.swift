import DWCPSystem

/// Chooses the codec setting for each frame's literal section.
///
/// With a fixed `-c/-l` it always answers that setting. With `--codec auto` it maximises the
/// delivered throughput for the link, the model in docs/AUTO-CODEC.md:
///
///     delivered(c) = min(threads × speed(c), link × ratio(c))      (original bytes per second)
///
/// where `speed(c)` (input bytes per second per core) and `ratio(c)` (input ÷ output) start from
/// priors measured on memory images and are replaced by exponentially weighted measurements of
/// the frames this stream actually compressed. Every 16th frame it also tries the runner-up so its
/// estimate stays current when the data changes. Thread-safe: workers call it concurrently.
public final class CodecPlanner: @unchecked Sendable {
    /// A candidate and what we currently believe about it.
    public struct Estimate: Sendable {
        public var setting: CodecSetting
        public var speed: Double   // bytes/s per core
        public var ratio: Double
        public var samples: Int
    }

    private let lock = ConditionLock()
    private let fixed: CodecSetting?
    private var linkBytesPerSecond: Double
    private let threads: Int
    private var estimates: [Estimate]
    private var decisions = 0
    /// Weight of a new measurement in the running estimates.
    public static let smoothing = 0.25

    /// Candidates for `auto` with priors (speed MB/s per core, ratio) measured on this machine
    /// kind on gcore dumps of python3/sqlite3/node (see docs/AUTO-CODEC.md).
    public static let autoCandidates: [Estimate] = [
        Estimate(setting: .none, speed: 8000e6, ratio: 1.0, samples: 0),
        Estimate(setting: CodecSetting(codec: .lz4, level: 1), speed: 700e6, ratio: 2.3, samples: 0),
        Estimate(setting: CodecSetting(codec: .zstd, level: -3), speed: 650e6, ratio: 2.6, samples: 0),
        Estimate(setting: CodecSetting(codec: .zstd, level: 1), speed: 450e6, ratio: 3.3, samples: 0),
        Estimate(setting: CodecSetting(codec: .zstd, level: 3), speed: 250e6, ratio: 3.5, samples: 0),
        Estimate(setting: CodecSetting(codec: .zstd, level: 9), speed: 60e6, ratio: 3.8, samples: 0),
        Estimate(setting: CodecSetting(codec: .zstd, level: 15), speed: 15e6, ratio: 3.9, samples: 0),
        Estimate(setting: CodecSetting(codec: .zstd, level: 19), speed: 3e6, ratio: 4.1, samples: 0),
    ]

    /// A planner that always answers `setting`.
    public init(fixed setting: CodecSetting) {
        fixed = setting
        linkBytesPerSecond = 0
        threads = 1
        estimates = []
    }

    /// An adaptive planner for a link of `linkBitsPerSecond` and `threads` compressing cores.
    public init(linkBitsPerSecond: Double, threads: Int, candidates: [Estimate] = CodecPlanner.autoCandidates) {
        fixed = nil
        linkBytesPerSecond = linkBitsPerSecond / 8
        self.threads = threads
        estimates = candidates
    }

    /// Delivered original bytes per second if every frame used `e`.
    public func delivered(_ e: Estimate) -> Double {
        lock.withLock { deliveredLocked(e) }
    }

    private func deliveredLocked(_ e: Estimate) -> Double {
        min(Double(threads) * e.speed, linkBytesPerSecond * e.ratio)
    }

    /// The link's rate, once it is measured (a migration that started before it knew it); the
    /// next frames are chosen for it, with what the frames so far taught about each codec.
    public func setLink(bitsPerSecond: Double) {
        guard fixed == nil else { return }
        lock.withLock { linkBytesPerSecond = bitsPerSecond / 8 }
    }

    private func ranked() -> [Int] {
        estimates.indices.sorted { a, b in
            let da = deliveredLocked(estimates[a]), db = deliveredLocked(estimates[b])
            if da != db { return da > db }
            return estimates[a].ratio > estimates[b].ratio
        }
    }

    /// The setting for the next frame.
    public func choose(literalBytes: Int) -> CodecSetting {
        if let fixed { return fixed }
        return lock.withLock {
            decisions += 1
            let order = ranked()
            if decisions % 16 == 0 && order.count > 1 { return estimates[order[1]].setting }
            return estimates[order[0]].setting
        }
    }

    /// Feeds back what compressing `input` bytes with `setting` produced.
    public func record(_ setting: CodecSetting, input: Int, output: Int, seconds: Double) {
        guard fixed == nil, input >= 4096, output > 0 else { return }
        lock.withLock {
            guard let i = estimates.firstIndex(where: { $0.setting == setting }) else { return }
            let speed = Double(input) / max(seconds, 1e-7)
            let ratio = Double(input) / Double(output)
            let a = estimates[i].samples == 0 ? 1.0 : Self.smoothing
            estimates[i].speed = estimates[i].speed * (1 - a) + speed * a
            estimates[i].ratio = estimates[i].ratio * (1 - a) + ratio * a
            estimates[i].samples += 1
        }
    }

    /// A snapshot of the estimates, best first (for `-vv` and tests).
    public func snapshot() -> [Estimate] {
        lock.withLock { ranked().map { estimates[$0] } }
    }
}
