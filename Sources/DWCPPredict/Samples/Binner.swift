/// Resamples irregular samples into fixed bins (1 s by default), streaming.
///
/// Forecasting horizons are in seconds and traces are sampled every 0.3 s to 10 s, so every model
/// and the evaluation see the same regular series: the time-weighted mean rate in each bin. A
/// sample spreads its rate over the interval it covers; a bin less than half covered (an idle
/// period) is `nil`, a hole. A sample with the same timestamp as the previous one covers no time
/// and is ignored (the 5G traces repeat some seconds).
///
/// Work and output per sample are bounded whatever the timestamps say: a run of holes stops
/// after `holeLimit` (every caller treats a gap longer than its `--max-gap` alike, as a restart),
/// and a sample covering more than `longestSample` seconds counts as a gap too, since a rate
/// averaged over that long says nothing about the link now. After such a gap the bins go on from
/// the bin holding the sample's time. So `{"t": 1}` then `{"t": 1e12}` costs a few bins, not 10^12.
public struct Binner {
    public let width: Double
    public let holeLimit: Int
    public let longestSample: Double
    private var origin: Double?
    private var lastT: Double?
    private var binIndex = 0
    private var bits = 0.0
    private var covered = 0.0

    /// The longest interval one sample may spread its rate over by default: ten minutes.
    public static let defaultLongestSample = 600.0

    public init(width: Double = 1.0, holeLimit: Int = 64, longestSample: Double = Binner.defaultLongestSample) {
        precondition(width > 0 && holeLimit >= 1 && longestSample >= width)
        self.width = width
        self.holeLimit = holeLimit
        self.longestSample = longestSample
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
        let to = sample.t
        self.lastT = to
        let tooLong = to - lastT > longestSample
        let rate: Double? = sample.active && !tooLong ? sample.bps : nil
        var from = lastT
        var holes = 0
        while from < to {
            let binEnd = origin + Double(binIndex + 1) * width
            let segmentEnd = min(to, binEnd)
            if let rate {
                bits += rate * (segmentEnd - from)
                covered += segmentEnd - from
            }
            from = segmentEnd
            guard segmentEnd >= binEnd else { break }
            let value: Double? = covered >= width / 2 ? bits / covered : nil
            done.append(value)
            bits = 0
            covered = 0
            binIndex += 1
            holes = value == nil ? holes + 1 : 0
            if holes >= holeLimit && from < to {
                // A long gap: the rest of it is more holes, left out. Skip to the bin holding
                // `to` on the same grid; restart the grid at `to` if a Double cannot place that
                // bin (or the grid stopped advancing, which only times near 2^53 s can do).
                let k = ((to - origin) / width).rounded(.down)
                if k >= 0x1p52 || holes > holeLimit {
                    self.origin = to
                    binIndex = 0
                    break
                }
                if Double(binIndex) < k {
                    binIndex = Int(k)
                    from = origin + k * width
                }
            }
        }
        return done
    }
}
