import DWCPCore

/// One line of a request stream: a VM to place, or a VM leaving (`--follow`).
public enum RequestRecord {
    case place(VMRequest)
    case release(String)
}

/// Reads request streams line by line (so `--follow` can decide as lines arrive), JSON lines or
/// CSV, detected from the first line that is not blank or a `#` comment.
///
/// JSON: `{"vm":"web-1","cpu":2,"memory":4096,"group":"web","anti_affinity":true,
/// "pin":["n1","n2"],"forbid":["n9"],"gpu_models":["T4"],"region":"eu"}` and
/// `{"release":"web-1"}`. Resource keys must be resources the nodes have; a missing one is 0.
/// CSV: a header with an id column (`vm`, `id` or `name`) and the same names; lists are
/// `|`-separated. The Alibaba openb pod columns are understood: `cpu_milli` (→ cores),
/// `memory_mib`, `num_gpu` with `gpu_milli` (→ `gpu`, a share below 1 for GPU sharing),
/// `gpu_spec` (→ `gpu_models`), `pod_phase` (→ `phase`, for `--phase`); `qos` and the time
/// columns are ignored.
public struct RequestReader {
    public let space: ResourceSpace
    /// Keep only requests whose phase is one of these (nil: all).
    public var phases: Set<String>?
    private var format: Format = .unknown
    private var header: [String] = []

    enum Format { case unknown, json, csv }

    public init(space: ResourceSpace, phases: Set<String>? = nil) {
        self.space = space
        self.phases = phases
    }

    static let ignoredColumns: Set<String> = ["qos", "creation_time", "deletion_time", "scheduled_time"]

    /// The record on `line`, nil for blank lines, comments, the CSV header and filtered rows.
    public mutating func parse(_ line: Substring) throws -> RequestRecord? {
        let t = line.trimmingPrefix(while: { $0 == " " || $0 == "\t" || $0 == "\r" })
        if t.isEmpty || t.hasPrefix("#") { return nil }
        if format == .unknown {
            if t.hasPrefix("{") || t.hasPrefix("[") { format = .json } else {
                format = .csv
                header = CSVTable.split(line)
                return nil
            }
        }
        return format == .json ? try json(line) : try csv(line)
    }

    private func json(_ line: Substring) throws -> RequestRecord? {
        let v: JSONValue
        do { v = try JSONValue.parse(line) } catch { throw PlacementInputError("\(error)") }
        guard let fields = v.fields else { throw PlacementInputError("expected a JSON object") }
        if let r = v["release"] {
            guard let id = r.string, fields.count == 1 else { throw PlacementInputError("a release is {\"release\": \"vm-id\"} alone") }
            return .release(id)
        }
        var b = Builder(space: space)
        for (k, value) in fields {
            switch (k, value) {
            case ("vm", .string(let s)), ("id", .string(let s)): b.id = s
            case ("group", .string(let s)): b.group = s
            case ("region", .string(let s)): b.region = s
            case ("phase", .string(let s)): b.phase = s
            case ("anti_affinity", .bool(let x)): b.antiAffinity = x
            case ("pin", _), ("forbid", _), ("gpu_models", _):
                let list: [String]
                if let s = value.string { list = [s] } else if let a = value.array, a.allSatisfy({ $0.string != nil }) {
                    list = a.map { $0.string! }
                } else { throw PlacementInputError("\"\(k)\" must be a string or an array of strings") }
                if k == "pin" { b.pinned = list } else if k == "forbid" { b.forbidden = list } else { b.gpuModels = list }
            case (_, .number(let n)): try b.demand(k, n)
            case (_, .null): continue
            default: throw PlacementInputError("unknown or mistyped field \"\(k)\"")
            }
        }
        return try b.finish(phases)
    }

    private func csv(_ line: Substring) throws -> RequestRecord? {
        let cols = CSVTable.split(line)
        guard cols.count == header.count else { throw PlacementInputError("\(cols.count) fields, the header has \(header.count)") }
        var b = Builder(space: space)
        var numGPU: Double? = nil
        var gpuMilli: Double? = nil
        for (h, raw) in zip(header, cols) where !raw.isEmpty && !Self.ignoredColumns.contains(h) {
            func number() throws -> Double {
                guard let n = Double(raw), n.isFinite else { throw PlacementInputError("\(h) '\(raw)' is not a number") }
                return n
            }
            switch h {
            case "vm", "id", "name": b.id = raw
            case "group": b.group = raw
            case "region": b.region = raw
            case "pod_phase", "phase": b.phase = raw
            case "anti_affinity": b.antiAffinity = ["1", "true", "yes"].contains(raw.lowercased())
            case "pin": b.pinned = raw.split(separator: "|").map(String.init)
            case "forbid": b.forbidden = raw.split(separator: "|").map(String.init)
            case "gpu_spec", "gpu_models": b.gpuModels = raw.split(separator: "|").map(String.init)
            case "cpu_milli": try b.demand("cpu", try number() / 1000)
            case "memory_mib": try b.demand("memory", try number())
            case "num_gpu": numGPU = try number()
            case "gpu_milli": gpuMilli = try number()
            default: try b.demand(h, try number())
            }
        }
        if let n = numGPU, n > 0 {
            let share = (gpuMilli ?? 1000) / 1000
            guard share > 0, share <= 1 else { throw PlacementInputError("gpu_milli \(gpuMilli!) is not in 1...1000") }
            if n == 1 { try b.demand("gpu", share) } else {
                guard share == 1 else { throw PlacementInputError("a share of a GPU (gpu_milli < 1000) needs num_gpu 1") }
                try b.demand("gpu", n)
            }
        }
        return try b.finish(phases)
    }

    private struct Builder {
        let space: ResourceSpace
        var id: String?
        var group: String?
        var region: String?
        var phase: String?
        var antiAffinity = false
        var pinned: [String] = []
        var forbidden: [String] = []
        var gpuModels: [String] = []
        var demand: [Double]
        var any = false

        init(space: ResourceSpace) {
            self.space = space
            demand = Array(repeating: 0, count: space.count)
        }

        mutating func demand(_ name: String, _ n: Double) throws {
            guard let k = space.index(of: name) else {
                throw PlacementInputError("unknown resource \"\(name)\" (the nodes have \(space.names.joined(separator: ", ")))")
            }
            guard n >= 0 else { throw PlacementInputError("negative demand \(name) \(Units.plain(n))") }
            demand[k] = n
            any = true
        }

        func finish(_ phases: Set<String>?) throws -> RequestRecord? {
            guard let id, !id.isEmpty else { throw PlacementInputError("missing VM id (\"vm\")") }
            if let phases, !phases.contains(phase ?? "") { return nil }
            guard any else { throw PlacementInputError("VM '\(id)' demands no resource") }
            if antiAffinity && group == nil { throw PlacementInputError("VM '\(id)': anti_affinity needs a group") }
            return .place(VMRequest(id: id, demand: demand, group: group, antiAffinity: antiAffinity, pinned: pinned,
                                    forbidden: forbidden, gpuModels: gpuModels, homeRegion: region))
        }
    }
}
