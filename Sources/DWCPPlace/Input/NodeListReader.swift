import DWCPCore

/// Reads a node list, JSON lines or CSV (detected from the first character), into a resource
/// space and node specs. Any error is fatal and names the line: a placement over a half-read
/// node list would be wrong, not degraded.
///
/// JSON: `{"node":"n1","cpu":32,"memory":262144,"gpu":2,"region":"eu","zone":"eu-a",
/// "domain":"rack7","gpu_model":"T4","reputation":0.98}`: every other numeric key is a resource,
/// and every node must give every resource (0 for none). CSV: a header with an id column (`node`,
/// `id`, `sn` or `name`), the same label columns, and numeric resource columns; `cpu_milli`
/// becomes `cpu` in cores and `model` is the GPU model (the Alibaba openb trace's columns).
public enum NodeListReader {
    static let labelKeys: Set<String> = ["region", "zone", "domain", "gpu_model", "reputation"]

    public static func parse(_ text: String, name: String) throws -> (ResourceSpace, [NodeSpec]) {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let firstContent = lines.first { !$0.trimmingPrefix(while: { $0 == " " || $0 == "\t" }).isEmpty && !$0.hasPrefix("#") }
        var rows: [(line: Int, fields: [(String, Field)])] = []
        if let f = firstContent, f.trimmingPrefix(while: { $0 == " " }).hasPrefix("{") {
            for (i, line) in lines.enumerated() {
                let t = line.trimmingPrefix(while: { $0 == " " || $0 == "\t" })
                if t.isEmpty || t.hasPrefix("#") { continue }
                let v: JSONValue
                do { v = try JSONValue.parse(line) } catch { throw PlacementInputError("\(name):\(i + 1): \(error)") }
                guard let obj = v.fields else { throw PlacementInputError("\(name):\(i + 1): expected a JSON object") }
                var fields: [(String, Field)] = []
                for (k, value) in obj {
                    switch value {
                    case .number(let n): fields.append((k == "node" ? "id" : k, .number(n)))
                    case .string(let s): fields.append((k == "node" ? "id" : k, .text(s)))
                    case .null: continue
                    default: throw PlacementInputError("\(name):\(i + 1): \"\(k)\" must be a number or a string")
                    }
                }
                rows.append((i + 1, fields))
            }
        } else {
            var header: [String]? = nil
            var scale: [Double] = []
            for (i, line) in lines.enumerated() {
                if line.trimmingPrefix(while: { $0 == " " }).isEmpty || line.hasPrefix("#") { continue }
                let cols = CSVTable.split(line)
                guard let h = header else {
                    header = cols.map(csvName)
                    scale = cols.map { $0 == "cpu_milli" ? 0.001 : 1 }
                    continue
                }
                guard cols.count == h.count else {
                    throw PlacementInputError("\(name):\(i + 1): \(cols.count) fields, the header has \(h.count)")
                }
                var fields: [(String, Field)] = []
                for (c, (k, raw)) in zip(h, cols).enumerated() {
                    if raw.isEmpty { continue }
                    if k == "id" || (labelKeys.contains(k) && k != "reputation") { fields.append((k, .text(raw))); continue }
                    guard let n = Double(raw), n.isFinite else {
                        throw PlacementInputError("\(name):\(i + 1): \(k) '\(raw)' is not a number")
                    }
                    fields.append((k, .number(n * scale[c])))
                }
                rows.append((i + 1, fields))
            }
        }
        return try build(rows, name: name)
    }

    enum Field { case number(Double), text(String) }

    /// CSV header names onto the JSON field names.
    static func csvName(_ h: String) -> String {
        switch h {
        case "node", "id", "sn", "name": return "id"
        case "cpu_milli": return "cpu"
        case "memory_mib": return "memory"
        case "model": return "gpu_model"
        default: return h
        }
    }

    static func build(_ rows: [(line: Int, fields: [(String, Field)])], name: String) throws -> (ResourceSpace, [NodeSpec]) {
        var resources: [String] = []
        for row in rows {
            for (k, f) in row.fields where !labelKeys.contains(k) && k != "id" {
                if case .number = f, !resources.contains(k) { resources.append(k) }
            }
        }
        guard !resources.isEmpty else { throw PlacementInputError("\(name): no resources (numeric fields such as cpu, memory)") }
        let space = ResourceSpace(resources)
        var nodes: [NodeSpec] = []
        var seen: [String: Int] = [:]
        for row in rows {
            let at = "\(name):\(row.line)"
            var node = NodeSpec(id: "", capacity: Array(repeating: -1, count: space.count))
            for (k, f) in row.fields {
                switch (k, f) {
                case ("id", .text(let s)): node.id = s
                case ("region", .text(let s)): node.region = s
                case ("zone", .text(let s)): node.zone = s
                case ("domain", .text(let s)): node.domain = s
                case ("gpu_model", .text(let s)): node.gpuModel = s
                case ("reputation", .number(let r)):
                    guard (0...1).contains(r) else { throw PlacementInputError("\(at): reputation \(r) is not in [0, 1]") }
                    node.reputation = r
                case (_, .number(let n)):
                    guard let idx = space.index(of: k) else { throw PlacementInputError("\(at): \"\(k)\" must be text") }
                    guard n >= 0 else { throw PlacementInputError("\(at): negative capacity \(k) \(Units.plain(n))") }
                    guard n.isFinite else { throw PlacementInputError("\(at): capacity \(k) is not finite") }
                    if k == "gpu" && n != n.rounded() { throw PlacementInputError("\(at): gpu counts whole devices, not \(Units.plain(n))") }
                    if k == "gpu" && n > Double(Cluster.maxDevicesPerNode) {
                        throw PlacementInputError("\(at): gpu \(Units.plain(n)) devices on one node (at most \(Cluster.maxDevicesPerNode))")
                    }
                    node.capacity[idx] = n
                case (_, .text):
                    throw PlacementInputError("\(at): unknown field \"\(k)\" (resources are numbers; labels: node, region, zone, domain, gpu_model, reputation)")
                }
            }
            guard !node.id.isEmpty else { throw PlacementInputError("\(at): missing node id") }
            if let first = seen[node.id] { throw PlacementInputError("\(at): duplicate node id '\(node.id)' (first on line \(first))") }
            seen[node.id] = row.line
            if let missing = node.capacity.firstIndex(of: -1) {
                throw PlacementInputError("\(at): node '\(node.id)' has no capacity for \(space.names[missing]) (give 0 for none)")
            }
            nodes.append(node)
        }
        guard !nodes.isEmpty else { throw PlacementInputError("\(name): no nodes") }
        return (space, nodes)
    }
}

/// Number formatting for messages: integers without a fraction.
enum Units {
    static func plain(_ x: Double) -> String {
        x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : String(x)
    }
}
