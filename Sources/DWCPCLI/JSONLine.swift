import DWCPCore

/// Builds one JSON object per line with keys in insertion order (docs/FORMAT.md, "JSON lines").
///
/// Machine output of every command goes through this so the conventions hold everywhere:
/// snake_case keys, numbers as numbers (never NaN or infinity: those become null), one object per
/// line.
public struct JSONLine {
    private var parts: [String] = []

    public init() {}

    public mutating func add(_ key: String, _ value: String) {
        parts.append("\(Self.quote(key)):\(Self.quote(value))")
    }

    public mutating func add(_ key: String, _ value: Int) { parts.append("\(Self.quote(key)):\(value)") }
    public mutating func add(_ key: String, _ value: UInt64) { parts.append("\(Self.quote(key)):\(value)") }
    public mutating func add(_ key: String, _ value: Bool) { parts.append("\(Self.quote(key)):\(value)") }

    public mutating func add(_ key: String, _ value: Double, decimals: Int = 3) {
        parts.append("\(Self.quote(key)):" + (value.isFinite ? Units.format(value, decimals) : "null"))
    }

    /// A nested object of counts, keys sorted (e.g. bytes per codec: `codec_mix`).
    public mutating func add(_ key: String, _ counts: [String: UInt64]) {
        var object = JSONLine()
        for k in counts.keys.sorted() { object.add(k, counts[k]!) }
        addRaw(key, object.text)
    }

    /// A nested object or array already in JSON form.
    public mutating func addRaw(_ key: String, _ json: String) {
        parts.append("\(Self.quote(key)):\(json)")
    }

    public var text: String { "{" + parts.joined(separator: ",") + "}" }

    public static func quote(_ s: String) -> String { JSONValue.quote(s) }
}
