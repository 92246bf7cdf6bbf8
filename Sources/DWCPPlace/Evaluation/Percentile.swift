/// Nearest-rank percentiles of latency samples (p50/p99 in `eval` and `bench`).
public enum Percentile {
    /// The value at rank ⌈p·n⌉ of `sorted` (ascending); 0 for no values.
    public static func nearestRank(_ sorted: [Double], _ p: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let rank = Int((p * Double(sorted.count)).rounded(.up)) - 1
        return sorted[min(sorted.count - 1, max(0, rank))]
    }
}
