import DWCPCLI
import DWCPPlace
import DWCPSystem

/// The text summary of an evaluation: one line per algorithm over all instances.
enum EvalReport {
    static func write(_ results: [[Evaluation.Result]], algorithms: [PackingAlgorithm]) throws {
        let header = "algorithm              bins   x_lb  x_best  at_lb  unplaced  ms/inst  p50_us  p99_us"
        try FileDescriptor.standardOutput.writeAll(header + "\n")
        for (a, algorithm) in algorithms.enumerated() {
            let rows = results.map { $0[a] }
            let bins = rows.reduce(0) { $0 + $1.bins }
            let lb = rows.reduce(0) { $0 + $1.lowerBound }
            let withBest = rows.filter { $0.bestPublished != nil }
            let best = withBest.reduce(0) { $0 + $1.bestPublished! }
            let binsWithBest = withBest.reduce(0) { $0 + $1.bins }
            let atLB = rows.filter { $0.bins <= $0.lowerBound }.count
            let unplaced = rows.reduce(0) { $0 + $1.unplaced }
            let ms = rows.reduce(0.0) { $0 + $1.milliseconds } / Double(max(1, rows.count))
            let times = rows.flatMap(\.decisionTimes).sorted()
            let p50 = times.isEmpty ? "-" : Units.format(Percentile.nearestRank(times, 0.50) * 1e6, 1)
            let p99 = times.isEmpty ? "-" : Units.format(Percentile.nearestRank(times, 0.99) * 1e6, 1)
            let cols = [algorithm.rawValue.padded(to: 20), "\(bins)".leftPadded(to: 6), ratio(bins, lb).leftPadded(to: 6),
                        (best > 0 ? ratio(binsWithBest, best) : "-").leftPadded(to: 7), "\(atLB)".leftPadded(to: 6), "\(unplaced)".leftPadded(to: 9),
                        Units.format(ms, 2).leftPadded(to: 8), p50.leftPadded(to: 7), p99.leftPadded(to: 7)]
            try FileDescriptor.standardOutput.writeAll(cols.joined(separator: " ") + "\n")
        }
    }

    static func ratio(_ a: Int, _ b: Int) -> String { b > 0 ? Units.format(Double(a) / Double(b), 4) : "-" }
}
