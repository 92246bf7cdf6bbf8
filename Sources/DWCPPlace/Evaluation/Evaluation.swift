import DWCPSystem

/// Runs packing algorithms over benchmark instances and measures them: nodes used against the
/// lower bound and the best published result, time per instance, and per-decision latency.
///
/// Instances run in parallel (one worker per core); each algorithm's result on an instance is
/// checked before it is reported: every item placed exactly once, no node over capacity.
public struct Evaluation {
    /// One algorithm on one instance, checked, with the bounds it is judged against.
    public struct Result: Sendable {
        public var instance: String
        public var algorithm: PackingAlgorithm
        public var bins: Int
        public var unplaced: Int
        public var lowerBound: Int
        public var bestPublished: Int?
        public var milliseconds: Double
        /// Per-decision seconds (online algorithms only).
        public var decisionTimes: [Double]
    }

    public var algorithms: [PackingAlgorithm]
    public var options: PackingAlgorithm.Options
    public var workers: Int

    public init(algorithms: [PackingAlgorithm], options: PackingAlgorithm.Options, workers: Int = OSThread.processorCount) {
        self.algorithms = algorithms
        self.options = options
        self.workers = max(1, workers)
    }

    /// Evaluates each instance (`load` is called on a worker); results come in instance order.
    public func run(count: Int, load: @escaping @Sendable (Int) throws -> (name: String, make: () -> Cluster, items: [PreparedRequest]),
                    bounds: BoundsTable?) throws -> [[Result]] {
        let lock = ConditionLock()
        nonisolated(unsafe) var results = [[Result]](repeating: [], count: count)
        nonisolated(unsafe) var next = 0
        nonisolated(unsafe) var failure: Error? = nil
        let algorithms = self.algorithms
        let options = self.options
        let threads = (0..<min(workers, max(1, count))).map { _ in
            OSThread {
                while true {
                    let i: Int = lock.withLock { defer { next += 1 }; return failure == nil ? next : count }
                    if i >= count { return }
                    do {
                        let problem = try load(i)
                        let bound = bounds?.rows[problem.name]
                        let lowerBound = max(LowerBound.nodes(for: problem.items, in: problem.make()), bound?.lowerBound ?? 0)
                        var row: [Result] = []
                        for a in algorithms {
                            var times: [Double] = []
                            let t0 = MonotonicClock.now()
                            let (c, handles) = a.run(problem.items, make: problem.make, options: options,
                                                     decisionTimes: a.onlinePolicy == nil ? nil : { times.append($0) })
                            let ms = (MonotonicClock.now() - t0) * 1000
                            try Audit.check(c, items: problem.items, handles: handles, algorithm: a.rawValue, instance: problem.name)
                            row.append(Result(instance: problem.name, algorithm: a, bins: c.usedNodeCount,
                                              unplaced: handles.filter { $0 == nil }.count,
                                              lowerBound: lowerBound, bestPublished: bound?.bestPublished,
                                              milliseconds: ms, decisionTimes: times))
                        }
                        lock.withLock { results[i] = row }
                    } catch {
                        lock.withLock { if failure == nil { failure = error } }
                        return
                    }
                }
            }
        }
        for t in threads { t.join() }
        if let failure { throw failure }
        return results
    }
}

/// The invariant every output must satisfy, checked independently of the algorithms' own
/// bookkeeping: each placed item on one node, and no node holding more than its capacity.
public enum Audit {
    public static func check(_ c: Cluster, items: [PreparedRequest], handles: [Int?], algorithm: String, instance: String) throws {
        var used = Array(repeating: 0.0, count: c.nodeCount * c.dims)
        var seen = Set<Int>()
        for (i, h) in handles.enumerated() {
            guard let h else { continue }
            guard let p = c.placements[h], p.request.request.id == items[i].request.id, seen.insert(h).inserted else {
                throw PlacementInputError("\(instance) \(algorithm): internal error: item \(i) has a stale handle")
            }
            for k in 0..<c.dims { used[p.node * c.dims + k] += items[i].demand[k] }
        }
        for j in 0..<c.nodeCount {
            for k in 0..<c.dims where used[j * c.dims + k] > c.capacity(j, k) * (1 + Cluster.slack) {
                throw PlacementInputError("\(instance) \(algorithm): internal error: node \(c.nodes[j].id) over capacity in \(c.space.names[k])")
            }
        }
    }
}
