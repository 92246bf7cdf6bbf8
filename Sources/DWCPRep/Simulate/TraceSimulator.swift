import DWCPCore
#if canImport(Glibc)
import Glibc
#endif

/// Generates seeded evidence traces with labelled behaviours: `nodes` nodes, a `byzantine`
/// fraction spread over the attacker classes, each node sending `rounds` messages (one per
/// second) to `fanout` random observers. Records come out in receive-time order, streamed (a
/// window of a few rounds is kept), so traces of any length fit in memory.
public struct TraceSimulator {
    public var nodes: Int
    public var byzantine: Double
    public var rounds: Int
    public var fanout: Int
    public var seed: UInt64

    public init(nodes: Int, byzantine: Double, rounds: Int = 300, fanout: Int = 4, seed: UInt64 = 1) {
        self.nodes = nodes
        self.byzantine = byzantine
        self.rounds = rounds
        self.fanout = fanout
        self.seed = seed
    }

    /// A simulated node: its identity, its keys and the behaviour its class gives it.
    public struct Node {
        public var id: String
        public var label: NodeClass
        public var keys: Ed25519.KeyPair
        /// In the allow-list (every class but sybil).
        public var admitted: Bool { label != .sybil }
    }

    /// The labelled nodes: Byzantine classes in turn, then 10 % slow and 5 % partitioned
    /// honest nodes (at least one each), the rest honest.
    public func population() throws -> [Node] {
        let bad = Int((Double(nodes) * byzantine).rounded())
        var labels: [NodeClass] = (0..<bad).map { NodeClass.byzantine[$0 % NodeClass.byzantine.count] }
        let honest = nodes - bad
        let slow = honest >= 4 ? max(1, honest / 10) : 0
        let partitioned = honest >= 4 ? max(1, honest / 20) : 0
        labels += Array(repeating: .slow, count: slow) + Array(repeating: .partitioned, count: partitioned)
        labels += Array(repeating: .honest, count: honest - slow - partitioned)
        var rng = SplitMix(seed: seed)
        for i in stride(from: labels.count - 1, to: 0, by: -1) { labels.swapAt(i, rng.below(i + 1)) }
        return try labels.enumerated().map { i, label in
            var krng = SplitMix(seed: seed &* 0x9E37 &+ UInt64(i))
            let seedBytes = (0..<32).map { _ in UInt8(truncatingIfNeeded: krng.next()) }
            return Node(id: nodeID(i), label: label, keys: try Ed25519.keyPair(seed: seedBytes))
        }
    }

    /// Calls `emit` with every record, in receive-time order.
    public func run(_ population: [Node], emit: (EvidenceRecord) throws -> Void) throws {
        var rng = SplitMix(seed: seed ^ 0xE71D)
        let honestIDs = population.indices.filter { population[$0].label.isHonest }
        var pending: [EvidenceRecord] = []
        var history: [[SignedMessage]] = Array(repeating: [], count: population.count)
        let partition = (rounds / 3)..<(rounds / 2)
        func observers(excluding i: Int) -> [Int] {
            var out: [Int] = []
            while out.count < min(fanout, population.count - 1) {
                let o = rng.below(population.count)
                if o != i && !out.contains(o) { out.append(o) }
            }
            return out
        }
        func latency(_ c: NodeClass, _ seq: Int) -> Int64 {
            let base = 20 + Int64(exp(3 + 0.5 * normal()))
            switch c {
            case .slow: return Int64(150 * pow(1 - rng.nextUnit(), -1 / 2.5))
            case .onOff2 where seq % 2 == 1, .onOff3 where seq % 3 == 2, .onOff5 where seq % 5 == 4:
                return 1500 + Int64(rng.below(2000))
            default: return base
            }
        }
        func normal() -> Double {
            let u = max(1e-12, rng.nextUnit()), v = rng.nextUnit()
            return (-2 * log(u)).squareRoot() * cos(2 * Double.pi * v)
        }
        func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) } }

        for t in 0..<rounds {
            for (i, node) in population.enumerated() {
                let sent = Int64(t) * 1000 + Int64(rng.below(200))
                var m = SignedMessage(sender: node.id, epoch: UInt64(t / 100), seq: UInt64(t), digest: bytes(32), nonce: bytes(8),
                                      sentMs: node.label == .skewer ? sent + 2000 + Int64(rng.below(3000)) : sent)
                try m.sign(with: node.keys)
                history[i].append(m)
                let to = observers(excluding: i)
                if node.label == .partitioned && partition.contains(t) { continue }
                var twin = m
                if node.label == .equivocator && t % 10 == 0 {
                    twin.digest = bytes(32)
                    try twin.sign(with: node.keys)
                }
                for (n, o) in to.enumerated() {
                    let msg = n % 2 == 1 ? twin : m
                    pending.append(EvidenceRecord(observer: population[o].id, peer: node.id, recvMs: sent + latency(node.label, t), message: msg))
                }
                guard !honestIDs.isEmpty else { continue }
                let victim = honestIDs[rng.below(honestIDs.count)]
                let target = observers(excluding: i)[0]
                let now = Int64(t) * 1000 + 500 + Int64(rng.below(400))
                switch node.label {
                case .forger:
                    let forged = SignedMessage(sender: population[victim].id, epoch: UInt64(t / 100), seq: UInt64(t), digest: bytes(32),
                                               nonce: bytes(8), sentMs: now - 30, signature: bytes(64))
                    pending.append(EvidenceRecord(observer: population[target].id, peer: node.id, recvMs: now, message: forged))
                case .tamperer:
                    if var relayed = history[victim].last {
                        relayed.digest[rng.below(32)] ^= 0x5A
                        pending.append(EvidenceRecord(observer: population[target].id, peer: node.id, recvMs: now, message: relayed))
                    }
                case .replayer where t >= 5:
                    let old = history[victim][rng.below(max(1, history[victim].count - 5))]
                    pending.append(EvidenceRecord(observer: population[target].id, peer: node.id, recvMs: now, message: old))
                default:
                    break
                }
            }
            // Everything sent up to 6 rounds ago has arrived: emit it in receive order.
            let horizon = Int64(t - 5) * 1000
            pending.sort { $0.recvMs < $1.recvMs }
            let ready = pending.prefix { $0.recvMs < horizon }
            for r in ready { try emit(r) }
            pending.removeFirst(ready.count)
            for i in history.indices where history[i].count > 400 { history[i].removeFirst(history[i].count - 400) }
        }
        pending.sort { $0.recvMs < $1.recvMs }
        for r in pending { try emit(r) }
    }
}

/// `n0042`-style ids, sortable.
func nodeID(_ i: Int) -> String {
    let d = String(i)
    return "n" + String(repeating: "0", count: max(0, 4 - d.count)) + d
}
