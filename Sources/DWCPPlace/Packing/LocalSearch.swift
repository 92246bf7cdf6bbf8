import DWCPCore

/// DWCP's improvement on the greedy packers: empty whole nodes by local search.
///
/// Starting from a complete placement it repeatedly picks a lightly loaded node, takes its VMs
/// into a pool, and tries to fit the pool into the other used nodes: first by direct insertion
/// (best fit), then by swaps that put a pool VM on a node and take back out one or two smaller
/// VMs (the pool gets lighter every swap), and, when stuck, by forcing a pool VM onto a random
/// node and evicting what no longer fits (recently moved VMs are tabu, so it does not cycle).
/// An empty pool means one node fewer; a failed attempt is rolled back exactly. This is the
/// idea of Buljubašić and Vasquez's consistent neighbourhood search for vector packing, reduced
/// to its core.
///
/// Work is counted in steps, not seconds, so a `--seed` gives the same result on any machine;
/// a deadline only cuts the search short when it is reached first.
public struct LocalSearch: Sendable {
    public var seed: UInt64
    /// Steps per attempt to empty one node.
    public var steps: Int
    /// Nodes tried per level before giving up.
    public var attempts: Int
    /// A `MonotonicClock` time after which no new step starts.
    public var deadline: Double?

    public init(seed: UInt64, steps: Int = 1000, attempts: Int = 4, deadline: Double? = nil) {
        self.seed = seed
        self.steps = steps
        self.attempts = attempts
        self.deadline = deadline
    }

    /// Improves the placement of `items` (handles per item, all placed) in place; stops at
    /// `lowerBound` nodes. Returns the number of nodes it emptied.
    @discardableResult
    public func improve(_ items: [PreparedRequest], handles: inout [Int?], in c: Cluster, lowerBound: Int,
                        clock: () -> Double) -> Int {
        guard handles.allSatisfy({ $0 != nil }) else { return 0 }
        var run = Run(items: items, cluster: c, seed: seed, handles: handles)
        var emptied = 0
        level: while c.usedNodeCount > lowerBound {
            if let d = deadline, clock() >= d { break }
            // The nodes holding the least (as fractions of the largest node): the fewest VMs to rehome.
            let held = run.heldWeight()
            let used = (0..<c.nodeCount).filter { c.vmCount[$0] > 0 }.sorted { held[$0] != held[$1] ? held[$0] < held[$1] : $0 < $1 }
            for target in used.prefix(attempts) {
                let saved = c.save()
                let savedHandles = run.handles
                if run.empty(target, steps: steps, deadline: deadline, clock: clock) {
                    emptied += 1
                    continue level
                }
                c.restore(saved)
                run.reset(handles: savedHandles)
            }
            break
        }
        handles = run.handles
        return emptied
    }

    /// One search's working state.
    struct Run {
        let items: [PreparedRequest]
        let c: Cluster
        var rng: SplitMix
        var handles: [Int?]
        /// Σ demand / largest capacity over dimensions: the pool's weight.
        let size: [Double]
        /// Demands flat (`item * dims + k`), read in the hot loops without copying requests.
        let demand: [Double]
        /// Items only capacity constrains (no GPU devices, no placement rules).
        let plain: [Bool]
        var itemOfHandle: [Int] = []
        var tabuUntil: [Int]

        init(items: [PreparedRequest], cluster: Cluster, seed: UInt64, handles: [Int?]) {
            self.items = items
            c = cluster
            rng = SplitMix(seed: seed)
            self.handles = handles
            let scale = cluster.largestCapacity.map { $0 > 0 ? 1 / $0 : 0 }
            size = items.map { r in zip(r.demand, scale).reduce(0) { $0 + $1.0 * $1.1 } }
            demand = items.flatMap(\.demand)
            plain = items.map { $0.simple && $0.gpuDevices == 0 }
            tabuUntil = Array(repeating: 0, count: items.count)
            reset(handles: handles)
        }

        /// Takes the handles of a restored cluster state.
        mutating func reset(handles: [Int?]) {
            self.handles = handles
            itemOfHandle = Array(repeating: -1, count: max(c.placements.count, items.count))
            for (i, h) in handles.enumerated() { if let h { itemOfHandle[h] = i } }
        }

        mutating func put(_ i: Int, _ node: Int) {
            let h = c.place(items[i], on: node)
            handles[i] = h
            if h >= itemOfHandle.count { itemOfHandle += Array(repeating: -1, count: h + 1 - itemOfHandle.count) }
            itemOfHandle[h] = i
        }

        mutating func take(_ i: Int) {
            let h = handles[i]!
            c.release(h)
            itemOfHandle[h] = -1
            handles[i] = nil
        }

        /// Nodes a swap step looks at.
        static let swapWindow = 384

        /// Per node, the summed `size` of the VMs on it.
        func heldWeight() -> [Double] {
            var w = Array(repeating: 0.0, count: c.nodeCount)
            for (i, h) in handles.enumerated() { if let h, let p = c.placements[h] { w[p.node] += size[i] } }
            return w
        }

        func itemsOn(_ node: Int) -> [Int] { c.members[node].map { itemOfHandle[$0] } }

        /// Tries to move everything off `target` onto the other used nodes.
        mutating func empty(_ target: Int, steps: Int, deadline: Double?, clock: () -> Double) -> Bool {
            var pool = itemsOn(target)
            for i in pool { take(i) }
            c.exclude(target)
            defer { c.exclude(target, false) }
            for step in 0..<steps {
                if pool.isEmpty { return true }
                if step & 31 == 31, let d = deadline, clock() >= d { return false }
                // The heaviest pool VM first; sometimes another, to leave a dead end.
                var pick = 0
                if rng.below(4) == 0 { pick = rng.below(pool.count) } else {
                    for p in 1..<pool.count where size[pool[p]] > size[pool[pick]] { pick = p }
                }
                let x = pool[pick]
                if let node = bestFit(x) {
                    put(x, node)
                    pool.swapAt(pick, pool.count - 1); pool.removeLast()
                    continue
                }
                if let (node, out) = bestSwap(x, step: step) {
                    for y in out { take(y); tabuUntil[y] = step + 8 }
                    put(x, node)
                    tabuUntil[x] = step + 8
                    pool.swapAt(pick, pool.count - 1); pool.removeLast()
                    pool.append(contentsOf: out)
                    continue
                }
                // Stuck: force x onto a random used node, evicting non-tabu VMs until it fits.
                let used = (0..<c.nodeCount).filter { c.vmCount[$0] > 0 && !c.isExcluded($0) }
                guard !used.isEmpty else { return false }
                let node = used[rng.below(used.count)]
                // Decide what to evict without touching the cluster, then move (a failed undo
                // could land GPU shares on other devices).
                var evicted: [Int] = []
                var candidates = itemsOn(node).filter { tabuUntil[$0] <= step }.sorted { size[$0] > size[$1] }
                var fits = c.fits(items[x], node)
                while !fits, !candidates.isEmpty {
                    evicted.append(candidates.removeFirst())
                    fits = c.fitsReplacing(items[x], node, leaving: evicted.map { handles[$0]! })
                }
                if fits {
                    for y in evicted { take(y); tabuUntil[y] = step + 4 }
                    put(x, node)
                    tabuUntil[x] = step + 12
                    pool.swapAt(pick, pool.count - 1); pool.removeLast()
                    pool.append(contentsOf: evicted)
                }
            }
            return pool.isEmpty
        }

        /// The used node where `x` fits leaving the least room (L2 of the free fractions).
        func bestFit(_ x: Int) -> Int? {
            var best: Int? = nil
            var bestLeft = Double.infinity
            let d = c.dims
            let quick = plain[x]
            return demand.withUnsafeBufferPointer { dem in
                c.free.withUnsafeBufferPointer { free in
                    c.capacity.withUnsafeBufferPointer { cap in
                        c.inverse.withUnsafeBufferPointer { inv in
                            let q = x * d
                            for j in 0..<c.nodeCount where c.vmCount[j] > 0 && !c.excluded[j] {
                                let base = j * d
                                var left = 0.0
                                var ok = true
                                for k in 0..<d {
                                    let room = free[base + k] - dem[q + k]
                                    if room < -Cluster.slack * cap[base + k] { ok = false; break }
                                    let f = room * inv[base + k]
                                    left += f * f
                                }
                                if !ok || left >= bestLeft { continue }
                                if !quick && !c.fits(items[x], j) { continue }
                                bestLeft = left
                                best = j
                            }
                            return best
                        }
                    }
                }
            }
        }

        /// The swap that puts `x` on a used node taking out one or two lighter non-tabu VMs,
        /// lightening the pool the most (random tie-break).
        mutating func bestSwap(_ x: Int, step: Int) -> (Int, [Int])? {
            var best: (Int, [Int])? = nil
            var bestGain = 1e-12
            let d = c.dims
            let q = x * d
            var on: [Int] = []
            on.reserveCapacity(16)
            // Large clusters: a random window of nodes per step, so steps stay cheap and many.
            let n = c.nodeCount
            let window = min(n, Self.swapWindow)
            let start = window < n ? rng.below(n) : 0
            for offset in 0..<window {
                let j = (start + offset) % n
                if c.vmCount[j] == 0 || c.excluded[j] { continue }
                on.removeAll(keepingCapacity: true)
                for h in c.members[j] {
                    let y = itemOfHandle[h]
                    if tabuUntil[y] <= step && size[y] < size[x] - bestGain { on.append(y) }
                }
                if on.isEmpty { continue }
                let base = j * d
                let quick = plain[x] && on.allSatisfy { plain[$0] }
                func fitsWithout(_ y: Int, _ z: Int) -> Bool {
                    if quick {
                        for k in 0..<d {
                            var room = c.free[base + k] + demand[y * d + k]
                            if z >= 0 { room += demand[z * d + k] }
                            if demand[q + k] > room + Cluster.slack * c.capacity[base + k] { return false }
                        }
                        return true
                    }
                    return c.fitsReplacing(items[x], j, leaving: z >= 0 ? [handles[y]!, handles[z]!] : [handles[y]!])
                }
                for a in 0..<on.count {
                    let y = on[a]
                    let gain1 = size[x] - size[y]
                    if (gain1 > bestGain || (gain1 == bestGain && rng.below(2) == 0)) && fitsWithout(y, -1) {
                        bestGain = gain1; best = (j, [y])
                    }
                    for b in (a + 1)..<on.count {
                        let z = on[b]
                        let gain2 = size[x] - size[y] - size[z]
                        if gain2 > bestGain && fitsWithout(y, z) { bestGain = gain2; best = (j, [y, z]) }
                    }
                }
            }
            return best
        }
    }
}
