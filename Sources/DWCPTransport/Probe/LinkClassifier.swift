/// Which kind of path a measurement describes, with the reasons, and (for `--watch`) a mode that
/// does not flap on a noisy link: it is left only for a measurement beyond its limits by the
/// `hysteresis` margin, and only when `confirmations` such measurements in a row agree.
///
/// Rules (thresholds are `dwcp-detect` options):
/// - internet: median RTT ≥ `internetRTT`, or loss ≥ `internetLoss`;
/// - datacenter: median RTT ≤ `datacenterRTT`, jitter ≤ `datacenterJitter`, loss ≤ `datacenterLoss`;
/// - hybrid: anything between (a metro link, a VPN inside a region, a busy datacenter path).
///
/// With a current mode, that mode's own limits are widened by the margin (20 %: an internet link
/// stays internet down to 16 ms, a datacenter link stays datacenter up to 2.4 ms of RTT), so a
/// path whose figures straddle a threshold keeps its mode, while the thresholds keep their
/// meaning for entering a mode.
public struct LinkClassifier {
    /// The link class every planner keys on (docs/TRANSPORT.md, "Probes").
    public enum Mode: String, Sendable { case datacenter, internet, hybrid }

    public var datacenterRTT = 0.002
    public var datacenterJitter = 0.001
    public var datacenterLoss = 0.001
    public var internetRTT = 0.02
    public var internetLoss = 0.01
    /// Consecutive measurements that must agree before `--watch` switches mode.
    public var confirmations = 2
    /// How far (a fraction) beyond the current mode's limits a measurement must be to count
    /// against it.
    public var hysteresis = 0.2

    private(set) public var current: Mode?
    private var candidate: Mode?
    private var streak = 0

    public init() {}

    /// The mode `m` describes. With `staying` (the mode `--watch` is in), that mode's limits are
    /// widened by `hysteresis`.
    public func classify(_ m: LinkMeasurement, staying current: Mode? = nil) -> (Mode, [String]) {
        func ms(_ s: Double) -> String { String(Double(Int((s * 1e5).rounded())) / 100) + " ms" }
        func pct(_ x: Double) -> String { String(Double(Int((x * 1e4).rounded())) / 100) + "%" }
        let stayInternet = current == .internet ? 1 - hysteresis : 1
        let stayDatacenter = current == .datacenter ? 1 + hysteresis : 1
        let internetRTT = self.internetRTT * stayInternet, internetLoss = self.internetLoss * stayInternet
        let datacenterRTT = self.datacenterRTT * stayDatacenter, datacenterJitter = self.datacenterJitter * stayDatacenter
        let datacenterLoss = self.datacenterLoss * stayDatacenter
        if m.rttMedian >= internetRTT {
            return (.internet, ["median RTT \(ms(m.rttMedian)) >= \(ms(internetRTT))"])
        }
        if m.loss >= internetLoss {
            return (.internet, ["loss \(pct(m.loss)) >= \(pct(internetLoss))"])
        }
        var reasons: [String] = []
        if m.rttMedian > datacenterRTT { reasons.append("median RTT \(ms(m.rttMedian)) > \(ms(datacenterRTT))") }
        if m.jitter > datacenterJitter { reasons.append("jitter \(ms(m.jitter)) > \(ms(datacenterJitter))") }
        if m.loss > datacenterLoss { reasons.append("loss \(pct(m.loss)) > \(pct(datacenterLoss))") }
        if reasons.isEmpty {
            return (.datacenter, ["median RTT \(ms(m.rttMedian)) <= \(ms(datacenterRTT))", "jitter \(ms(m.jitter))", "loss \(pct(m.loss))"])
        }
        return (.hybrid, reasons)
    }

    /// Feeds one measurement; returns the (possibly unchanged) mode and this measurement's reasons.
    public mutating func update(_ m: LinkMeasurement) -> (mode: Mode, raw: Mode, reasons: [String]) {
        let (raw, reasons) = classify(m, staying: current)
        guard let c = current else {
            current = raw
            return (raw, raw, reasons)
        }
        if raw == c {
            candidate = nil
            streak = 0
        } else if raw == candidate {
            streak += 1
        } else {
            candidate = raw
            streak = 1
        }
        if streak >= confirmations {
            current = raw
            candidate = nil
            streak = 0
        }
        return (current!, raw, reasons)
    }
}
