import DWCPCore

/// The detector's memory between runs (`--state FILE`), so cron can feed `dwcp-rep` new
/// evidence incrementally: standings, the population's latencies, reported identities, and
/// per sender the slots inside the window (first message and deliveries), so an equivocation
/// or replay that spans two runs is still caught. JSON lines; written atomically by the caller.
///
/// The last line carries the number of lines before it and the XXH3-64 of their bytes, so a
/// file cut at a line boundary or with a flipped digit is refused (exit 3), never read as a
/// smaller or different memory. Version 1 files, written before the digest line, still load.
public enum StateFile {
    static let version = 2

    public static func encode(_ d: Detector) -> String {
        let body = encodeBody(d)
        return body + "{\"end\":\(lineCount(Substring(body))),\"xxh3\":\"\(Checksum.xxh3Hex(Substring(body)))\"}\n"
    }

    /// The newlines in `text`: what the digest line's `end` counts.
    static func lineCount(_ text: Substring) -> Int { text.utf8.reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) } }

    /// Checks a version 2 file's digest line; returns the text the digest covers.
    static func verified(_ text: String) throws -> Substring {
        guard text.hasSuffix("\n"), let cut = text.dropLast().lastIndex(of: "\n") else {
            throw EvidenceError("state file truncated (no digest line)")
        }
        let body = text[...cut]
        let last = text[text.index(after: cut)...].dropLast()
        let v: JSONValue
        do { v = try JSONValue.parse(last) } catch { throw EvidenceError("state file truncated or corrupted (last line: \(error))") }
        let lines = lineCount(body)
        guard let end = v["end"]?.number, let sum = v["xxh3"]?.string else {
            throw EvidenceError("state file truncated (no digest line)")
        }
        guard end == Double(lines) else { throw EvidenceError("state file truncated: \(lines) lines where the digest line says \(end)") }
        guard sum == Checksum.xxh3Hex(body) else {
            throw EvidenceError("state file corrupted: its XXH3 is \(Checksum.xxh3Hex(body)), the digest line says \(sum)")
        }
        return body
    }

    static func encodeBody(_ d: Detector) -> String {
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
        let header = try? JSONValue.parse(text.prefix { $0 != "\n" })
        let body: Substring
        switch header?["dwcp_rep_state"]?.number {
        case Double(version)?: body = try verified(text)
        case 1?: body = Substring(text)  // written before the digest line
        case nil where text.isEmpty: throw EvidenceError("state file is empty")
        default: throw EvidenceError("state line 1: not a dwcp-rep state file (version \(version))")
        }
        for (i, line) in body.split(separator: "\n").enumerated() {
            let v: JSONValue
            do { v = try JSONValue.parse(line) } catch { throw EvidenceError("state line \(i + 1): \(error)") }
            func fail(_ why: String) -> EvidenceError { EvidenceError("state line \(i + 1): \(why)") }
            // Numbers are checked before they are converted: a crafted file must not trap.
            func count(_ value: JSONValue?, _ name: String) throws -> Int {
                guard let n = value?.number ?? (value == nil ? 0 : nil), n >= 0, n <= 0x1p53, n == n.rounded() else {
                    throw fail("\(name) is not a whole number ≥ 0")
                }
                return Int(n)
            }
            func milliseconds(_ value: JSONValue, _ name: String) throws -> Int64 {
                guard let n = value.number, abs(n) < 9e15, n == n.rounded() else { throw fail("\(name) is not whole milliseconds") }
                return Int64(n)
            }
            func counts(_ values: [JSONValue], _ name: String) throws -> [UInt32] {
                try values.map { v in
                    let n = try count(v, name)
                    guard n <= Int(UInt32.max) else { throw fail("\(name) is too large") }
                    return UInt32(n)
                }
            }
            if i == 0 {
                d.records = try count(v["records"], "records")
                continue
            }
            if let p = v["population"]?.array {
                guard p.count == LatencyBuckets.count else { throw fail("population histogram size") }
                d.book.population = try counts(p, "population")
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
                s.messages = try count(v["messages"], "messages")
                s.quarantinedAt = try v["quarantined_at"].map { try count($0, "quarantined_at") }
                s.firstSeenMs = try v["first_seen_ms"].map { try milliseconds($0, "first_seen_ms") }
                s.quarantinedAtMs = try v["quarantined_at_ms"].map { try milliseconds($0, "quarantined_at_ms") }
                s.recent = recent.map { $0 == "1" }
                s.recentBad = s.recent.filter { $0 }.count
                s.recentPos = min(try count(v["recent_pos"], "recent_pos"), max(0, s.recent.count - 1))
                s.slowReported = v["slow_reported"]?.bool ?? false
                s.latency = try counts(lat, "latency")
                s.latencyCount = s.latency.reduce(0) { $0 + Int($1) }
                d.book.set(id, s)
            } else if let id = v["unadmitted"]?.string {
                d.reportedUnadmitted.insert(id)
            } else if let seen = v["seen"] {
                let m = try SignedMessage.parse(seen)
                guard let at = v["first_recv_ms"] else { throw fail("slot without first_recv_ms") }
                let slot = Detector.Slot(first: m, at: try milliseconds(at, "first_recv_ms"))
                slot.equivocated = v["equivocated"]?.bool ?? false
                for entry in v["deliveries"]?.array ?? [] {
                    guard let e = entry.array, e.count == 3, let o = e[0].string, let n = e[1].string.flatMap(Hex.decode) else {
                        throw fail("bad delivery")
                    }
                    slot.deliveries[Detector.Delivery(observer: o, nonce: n)] = try milliseconds(e[2], "delivery time")
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
    }
}
