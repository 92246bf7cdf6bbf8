/// Scores a detection run against the simulator's labels, per class.
public struct GroundTruth {
    /// One node class's counts: how many, how many detected, how many wrongly quarantined.
    public struct Row: Sendable {
        public var label: NodeClass
        public var nodes = 0
        /// Attacker classes: quarantined. `slow`: reported slow. Other honest classes: 0.
        public var detected = 0
        /// Honest classes: quarantined (they should never be).
        public var falsePositives = 0
        /// Honest classes: blamed by a certain finding (framed).
        public var framedBlamed = 0
        /// Median messages from a node before its quarantine (quarantined nodes only).
        public var medianMessagesToQuarantine: Int?
        /// Median seconds from a node's first record to its quarantine.
        public var medianSecondsToQuarantine: Double?
    }

    public static func score(_ population: [TraceSimulator.Node], findings: [Finding], book: ReputationBook) -> [Row] {
        var blamed = Set<String>()
        var slow = Set<String>()
        for f in findings {
            if f.certain && f.kind != .score { blamed.insert(f.node) }
            if f.kind == .slow { slow.insert(f.node) }
        }
        return NodeClass.allCases.compactMap { label in
            let members = population.filter { $0.label == label }
            guard !members.isEmpty else { return nil }
            var row = Row(label: label, nodes: members.count)
            var toQuarantine: [Int] = []
            var seconds: [Double] = []
            for n in members {
                let s = book.standing(n.id)
                let quarantined = s.state == .quarantined
                if quarantined, let at = s.quarantinedAt { toQuarantine.append(at) }
                if quarantined, let t0 = s.firstSeenMs, let t1 = s.quarantinedAtMs { seconds.append(Double(t1 - t0) / 1000) }
                if label.isHonest {
                    if quarantined { row.falsePositives += 1 }
                    if blamed.contains(n.id) { row.framedBlamed += 1 }
                    if label == .slow && slow.contains(n.id) { row.detected += 1 }
                } else if quarantined {
                    row.detected += 1
                }
            }
            toQuarantine.sort()
            if !toQuarantine.isEmpty { row.medianMessagesToQuarantine = toQuarantine[toQuarantine.count / 2] }
            seconds.sort()
            if !seconds.isEmpty { row.medianSecondsToQuarantine = seconds[seconds.count / 2] }
            return row
        }
    }
}
