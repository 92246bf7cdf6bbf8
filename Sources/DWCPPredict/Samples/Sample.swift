/// One throughput measurement: the mean rate over the interval that ended at `t`.
///
/// This is the JSON-lines input of `dwcp-predict` (`{"t": seconds, "bps": bits_per_second}`,
/// optional `rtt_ms` (or `rtt_ms_median`), optional `state`; other fields are ignored), as `dwcp-detect --watch` and `dwcp-send --json [--interval]` emit it and
/// as the normalised traces in `../shared/data/bandwidth-traces` are written. A sample covers
/// `(previous t, t]`, the Pensieve convention.
public struct Sample: Equatable, Sendable {
    public var t: Double
    public var bps: Double
    public var rttMs: Double?
    /// `false` for a sample that says the link was idle (`"state": "I"`): a gap, not a rate.
    public var active: Bool

    /// The rates a sample may claim, in bit/s: from 0.001 bit/s to 1 Pbit/s, beyond any link.
    /// A rate outside is a broken measurement (a counter that wrapped, a unit error); taken in,
    /// one such sample would swamp every model's state for as long as it remembers.
    public static let plausibleRates = 1e-3...1e15

    public init(t: Double, bps: Double, rttMs: Double? = nil, active: Bool = true) {
        self.t = t
        self.bps = bps
        self.rttMs = rttMs
        self.active = active
    }
}

/// Why a line was not used, with its line number: what `--strict` turns into an error.
public struct SampleProblem: Error, CustomStringConvertible, Equatable {
    public var line: Int
    public var reason: String
    public var description: String { "line \(line): \(reason)" }
}

/// Turns JSON lines into samples, checking each: malformed JSON, missing or non-finite fields,
/// time going backwards, and zero or negative rates are problems, reported with the line number.
public struct SampleParser {
    private var lineNumber = 0
    private var lastT: Double?

    public init() {}

    /// Parses the next line. Returns nil for blank lines; throws `SampleProblem` for a bad one
    /// (the caller skips it, or stops under `--strict`).
    public mutating func parse(_ line: Substring) throws -> Sample? {
        lineNumber += 1
        if line.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\r" }) { return nil }
        let object: [String: FlatJSON.Value]
        do {
            object = try FlatJSON.parse(line)
        } catch {
            throw SampleProblem(line: lineNumber, reason: "malformed JSON (\(error))")
        }
        guard case .number(let t)? = object["t"], t.isFinite else {
            throw SampleProblem(line: lineNumber, reason: "missing or non-numeric \"t\"")
        }
        guard case .number(let bps)? = object["bps"], bps.isFinite else {
            throw SampleProblem(line: lineNumber, reason: "missing or non-numeric \"bps\"")
        }
        if let last = lastT, t < last {
            throw SampleProblem(line: lineNumber, reason: "time goes backwards (t=\(t) after t=\(last))")
        }
        var active = true
        if case .string(let state)? = object["state"], state == "I" { active = false }
        if active && bps <= 0 {
            // Skipped as if absent: the next sample's interval covers this one's.
            throw SampleProblem(line: lineNumber, reason: "rate \(bps) bit/s is not positive")
        }
        if active && !Sample.plausibleRates.contains(bps) {
            throw SampleProblem(line: lineNumber, reason: "rate \(bps) bit/s is not a link's (0.001 bit/s to 1 Pbit/s)")
        }
        lastT = t
        var rtt: Double?
        // dwcp-detect's `rtt_ms` is an object (min, p50, p99); its median is `rtt_ms_median`.
        if case .number(let r)? = object["rtt_ms"] ?? object["rtt_ms_median"], r.isFinite, r >= 0 { rtt = r }
        return Sample(t: t, bps: bps, rttMs: rtt, active: active)
    }

    public var currentLine: Int { lineNumber }
}
