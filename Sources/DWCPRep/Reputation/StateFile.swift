import DWCPCore

/// The detector's memory between runs (`--state FILE`), so cron can feed `dwcp-rep` new
/// evidence incrementally: standings, the population's latencies, reported identities, and
/// per sender the slots inside the window (first message and deliveries), so an equivocation
/// or replay that spans two runs is still caught. JSON lines; written atomically by the caller.
public enum StateFile {
    static let version = 1

    public static func encode(_ d: Detector) -> String {
        var out = "{\"dwcp_rep_state\":\(version),\"records\":\(d.records)}\n"
        out += "{\"population\":[\(d.book.population.map(String.init).joined(separator: ","))]}\n"
        for id in d.book.nodes.keys.sorted() {
            let s = d.book.nodes[id]!
            var parts = ["\"node\":\(JSONValue.quote(id))", "\"score\":\(s.score)", "\"state\":\"\(s.state.rawValue)\"", "\"messages\":\(s.messages)"]
            if let r = s.reason { parts.append("\"reason\":\(JSONValue.quote(r))") }
            if let q = s.quarantinedAt { parts.append("\"quarantined_at\":\(q)") }
            if let t = s.firstSeenMs { parts.append("\"first_seen_ms\":\(t)") }
            if let t = s.quarantinedAtMs { parts.append("\"quarantined_at_ms\":\(t)") }
            parts.append("\"recent\":\"\(String(s.recent.map { $0 ? "1" : "0" }))\"")
            parts.append("\"recent_pos\":\(s.recentPos)")
            parts.append("\"slow_reported\":\(s.slowReported)")
            parts.append("\"latency\":[\(s.latency.map(String.init).joined(separator: ","))]")
            out += "{" + parts.joined(separator: ",") + "}\n"
        }
        for id in d.reportedUnadmitted.sorted() { out += "{\"unadmitted\":\(JSONValue.quote(id))}\n" }
        for sender in d.senders.keys.sorted() {
            let w = d.senders[sender]!
            for key in w.slots.keys.sorted() {
                let slot = w.slots[key]!
                let deliveries = slot.deliveries.sorted { ($0.key.observer, $0.value) < ($1.key.observer, $1.value) }.map {
                    "[\(JSONValue.quote($0.key.observer)),\"\(Hex.encode($0.key.nonce))\",\($0.value)]"
                }
                out += "{\"seen\":\(slot.first.json),\"first_recv_ms\":\(slot.firstRecvMs),\"equivocated\":\(slot.equivocated),\"deliveries\":[\(deliveries.joined(separator: ","))]}\n"
            }
        }
        return out
    }

    public static func restore(_ text: String, into d: Detector) throws {
        var first = true
        for (i, line) in text.split(separator: "\n").enumerated() {
            let v: JSONValue
            do { v = try JSONValue.parse(line) } catch { throw EvidenceError("state line \(i + 1): \(error)") }
            func fail(_ why: String) -> EvidenceError { EvidenceError("state line \(i + 1): \(why)") }
            if first {
                guard v["dwcp_rep_state"]?.number == Double(version) else { throw fail("not a dwcp-rep state file (version \(version))") }
                d.records = Int(v["records"]?.number ?? 0)
                first = false
                continue
            }
            if let p = v["population"]?.array {
                guard p.count == LatencyBuckets.count else { throw fail("population histogram size") }
                d.book.population = p.map { UInt32($0.number ?? 0) }
                d.book.populationCount = d.book.population.reduce(0) { $0 + Int($1) }
            } else if let id = v["node"]?.string {
                var s = Standing()
                guard let score = v["score"]?.number, let state = v["state"]?.string.flatMap(Standing.State.init(rawValue:)),
                      let recent = v["recent"]?.string, let lat = v["latency"]?.array, lat.count == LatencyBuckets.count else {
                    throw fail("node record incomplete")
                }
                s.score = score
                s.state = state
                s.reason = v["reason"]?.string
                s.messages = Int(v["messages"]?.number ?? 0)
                s.quarantinedAt = v["quarantined_at"]?.number.map { Int($0) }
                s.firstSeenMs = v["first_seen_ms"]?.number.map { Int64($0) }
                s.quarantinedAtMs = v["quarantined_at_ms"]?.number.map { Int64($0) }
                s.recent = recent.map { $0 == "1" }
                s.recentBad = s.recent.filter { $0 }.count
                s.recentPos = min(Int(v["recent_pos"]?.number ?? 0), max(0, s.recent.count - 1))
                s.slowReported = v["slow_reported"]?.bool ?? false
                s.latency = lat.map { UInt32($0.number ?? 0) }
                s.latencyCount = s.latency.reduce(0) { $0 + Int($1) }
                d.book.set(id, s)
            } else if let id = v["unadmitted"]?.string {
                d.reportedUnadmitted.insert(id)
            } else if let seen = v["seen"] {
                let m = try SignedMessage.parse(seen)
                guard let at = v["first_recv_ms"]?.number else { throw fail("slot without first_recv_ms") }
                let slot = Detector.Slot(first: m, at: Int64(at))
                slot.equivocated = v["equivocated"]?.bool ?? false
                for entry in v["deliveries"]?.array ?? [] {
                    guard let e = entry.array, e.count == 3, let o = e[0].string, let n = e[1].string.flatMap(Hex.decode), let t = e[2].number else {
                        throw fail("bad delivery")
                    }
                    slot.deliveries[Detector.Delivery(observer: o, nonce: n)] = Int64(t)
                }
                let key = Detector.SlotKey(epoch: m.epoch, seq: m.seq)
                let w = d.senders[m.sender] ?? Detector.SenderWindow()
                w.slots[key] = slot
                if w.newest < key { w.newest = key }
                d.senders[m.sender] = w
            } else {
                throw fail("unknown record")
            }
        }
        if first { throw EvidenceError("state file is empty") }
    }
}
