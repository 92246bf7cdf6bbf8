import DWCPCore

/// Parses and prints the sizes and rates users type: `4096`, `64K`, `1MiB`, `100Mbit`, `10Gbit`.
public enum Units {
    /// A byte count: a number with an optional binary suffix (K, M, G, T; KiB...; KB... also mean
    /// powers of 1024, as in zstd and dd's `K`).
    public static func parseBytes(_ text: String) -> UInt64? {
        let t = text.trimmingSpaces()
        let digits = t.prefix { $0.isNumber }
        guard !digits.isEmpty, let n = UInt64(digits) else { return nil }
        let suffix = t.dropFirst(digits.count).lowercased()
        let shift: UInt64
        switch suffix {
        case "", "b": shift = 0
        case "k", "kb", "kib": shift = 10
        case "m", "mb", "mib": shift = 20
        case "g", "gb", "gib": shift = 30
        case "t", "tb", "tib": shift = 40
        default: return nil
        }
        let (v, overflow) = n.multipliedReportingOverflow(by: 1 << shift)
        return overflow ? nil : v
    }

    /// The fastest rate `parseBitRate` accepts: 1 Pbit/s, beyond any link, and small enough that
    /// every caller can turn it into a whole number of bytes per second.
    public static let maxBitRate = 1e15

    /// A link rate in bits per second: `100Mbit`, `10Gbit`, `1.5Gbit`, `800M`, `100mbps`,
    /// `50MB/s` (bytes, times 8). Decimal prefixes, as network rates are. Nil for anything that
    /// does not parse, is not above 0 or is above `maxBitRate`.
    public static func parseBitRate(_ text: String) -> Double? {
        var t = text.trimmingSpaces().lowercased()
        var multiplier = 1.0
        for (suffix, factor) in [("bit/s", 1.0), ("bps", 1.0), ("bit", 1.0), ("b/s", 8.0)] where t.hasSuffix(suffix) {
            t.removeLast(suffix.count)
            multiplier = factor
            break
        }
        var scale = 1.0
        if let last = t.last {
            switch last {
            case "k": scale = 1e3
            case "m": scale = 1e6
            case "g": scale = 1e9
            case "t": scale = 1e12
            default: break
            }
            if scale != 1.0 { t.removeLast() }
        }
        guard let v = Double(t), v > 0, v.isFinite else { return nil }
        let rate = v * scale * multiplier
        return rate <= maxBitRate ? rate : nil
    }

    /// Parses a duration: `300ms`, `1.5s`, `2m`; a bare number is milliseconds (as QEMU's
    /// downtime limit). Returns seconds.
    public static func parseDuration(_ text: String) -> Double? {
        let t = text.lowercased()
        let units: [(String, Double)] = [("ms", 1e-3), ("us", 1e-6), ("s", 1), ("m", 60)]
        for (suffix, scale) in units where t.hasSuffix(suffix) {
            guard let v = Double(t.dropLast(suffix.count)), v.isFinite, v >= 0 else { return nil }
            return v * scale
        }
        guard let v = Double(t), v.isFinite, v >= 0 else { return nil }
        return v / 1000
    }

    /// `1 stream`, `8 streams`: a count and its noun, made plural with an `s` when not 1.
    public static func count(_ n: Int, _ noun: String) -> String {
        "\(n) \(noun)\(n == 1 ? "" : "s")"
    }

    /// `1.5 GiB`, `12.0 MiB`, `512 B`.
    public static func formatBytes(_ n: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(n)
        var i = 0
        while v >= 1024 && i < units.count - 1 {
            v /= 1024
            i += 1
        }
        return i == 0 ? "\(n) B" : format(v, 1) + " " + units[i]
    }

    /// Fixed-point formatting without Foundation.
    /// Magnitudes from 2^53 up (where a Double holds no fraction, and beyond UInt64's range) are
    /// written in Swift's shortest form, e.g. `1e+308`, which is still a JSON number.
    public static func format(_ v: Double, _ decimals: Int) -> String {
        guard v.isFinite else { return "0" }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let r = (abs(v) * scale).rounded()
        guard r < 0x1p53 else { return String(v) }
        let whole = UInt64(r / scale)
        var frac = String(UInt64(r) - whole * UInt64(scale))
        while frac.count < decimals { frac = "0" + frac }
        return (v < 0 ? "-" : "") + String(whole) + (decimals > 0 ? "." + frac : "")
    }
}
