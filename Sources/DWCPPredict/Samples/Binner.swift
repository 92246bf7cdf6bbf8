/// Resamples irregular samples into fixed bins (1 s by default), streaming.
///
/// Forecasting horizons are in seconds and traces are sampled every 0.3 s to 10 s, so every model
/// and the evaluation see the same regular series: the time-weighted mean rate in each bin. A
/// sample spreads its rate over the interval it covers; a bin less than half covered (an idle
/// period) is `nil`, a hole. A sample with the same timestamp as the previous one covers no time
/// and is ignored (the 5G traces repeat some seconds).
public struct Binner {
    public let width: Double
    private var origin: Double?
    private var lastT: Double?
    private var binIndex = 0
    private var bits = 0.0
    private var covered = 0.0

    public init(width: Double = 1.0) {
        self.width = width
    }

    /// Feeds one sample and returns the bins it completed, in order.
    public mutating func add(_ sample: Sample) -> [Double?] {
        guard let origin, let lastT else {
            self.origin = sample.t
            self.lastT = sample.t
            return []
        }
        var done: [Double?] = []
        if sample.t == lastT { return done }
        let rate: Double? = sample.active ? sample.bps : nil
        var from = lastT
        let to = sample.t
        while from < to {
            let binEnd = origin + Double(binIndex + 1) * width
            let segmentEnd = min(to, binEnd)
            if let rate {
                bits += rate * (segmentEnd - from)
                covered += segmentEnd - from
            }
            from = segmentEnd
            if segmentEnd >= binEnd {
                done.append(covered >= width / 2 ? bits / covered : nil)
                bits = 0
                covered = 0
                binIndex += 1
            }
        }
        self.lastT = to
        return done
    }
}
