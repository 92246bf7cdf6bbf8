import DWCPCore

/// A trained GRU ensemble and the horizons its outputs forecast; what `dwcp-predict train` writes.
///
/// Outputs are log(mean rate over the next h bins ÷ the last bin), so the networks learn a
/// correction to "last value". Several networks trained from different seeds answer together
/// (the mean of their outputs): one training run lands in a better or worse optimum by chance,
/// and the mean of a few is steadier and better than a typical one. File format (text,
/// docs/PREDICT.md):
///
///     dwcp-gru 2
///     inputs 3 hidden 16 horizons 1 5 10
///     networks <how many networks answer together>              (optional: 1 when absent)
///     prior <model> <horizon> <w20 on the training traces>      (any number of lines)
///     profile <mean log rate> <mean |change of log rate|>        (optional: the training link class)
///     score-alpha <weight of each outcome in auto's scores>      (optional: chosen by `train`)
///     blend <how many top models auto combines>                  (optional: chosen by `train`)
///     band-scale <horizon>:<scale> …                              (optional: learned by `train`)
///     <one parameter per line, as Swift prints a Double (exact round trip); network after network>
///     xxh3 <XXH3-64 of every byte before this line, 16 hex digits>
///
/// The digest line makes a changed digit or a cut file an error rather than a different model;
/// version 1 files (no digest line) still load.
public struct GRUModel: Equatable {
    /// At least one; all with the same shape.
    public var networks: [GRUNetwork]
    public var horizons: [Int]
    /// w20 of every model on the training traces, per horizon: where `--model auto` starts before
    /// it has seen how models do on this link.
    public var priors: [String: [Int: Double]]
    /// The training traces' link profile: with several model files, `auto` routes by it.
    public var profile: LinkProfile?
    /// How fast `--model auto` forgets how models did (the weight of each new outcome in its
    /// scores), chosen by `train` on its held-out runs; nil: `AutoSelector`'s default.
    public var scoreAlpha: Double?
    /// How many of the best-scoring models `--model auto`'s blend contender combines, chosen like `scoreAlpha`.
    public var blend: Int?
    /// Where `--model auto`'s band calibration starts, per horizon (`AutoSelector`'s band
    /// scale): its geometric mean over `train`'s held-out runs, so a short session's band holds
    /// what it claims from its first minute; nil: 1, the raw quantiles.
    public var bandScales: [Int: Double]?

    public init(networks: [GRUNetwork], horizons: [Int], priors: [String: [Int: Double]] = [:], profile: LinkProfile? = nil,
                scoreAlpha: Double? = nil, blend: Int? = nil, bandScales: [Int: Double]? = nil) {
        precondition(!networks.isEmpty && networks.allSatisfy {
            ($0.inputs, $0.hidden, $0.outputs) == (networks[0].inputs, networks[0].hidden, networks[0].outputs)
        }, "an ensemble needs networks of one shape")
        self.networks = networks
        self.horizons = horizons
        self.priors = priors
        self.profile = profile
        self.scoreAlpha = scoreAlpha
        self.blend = blend
        self.bandScales = bandScales
    }

    public func serialized() -> String {
        let first = networks[0]
        var s = "dwcp-gru 2\ninputs \(first.inputs) hidden \(first.hidden) horizons \(horizons.map(String.init).joined(separator: " "))\n"
        if networks.count > 1 { s += "networks \(networks.count)\n" }
        for name in priors.keys.sorted() {
            for h in priors[name]!.keys.sorted() { s += "prior \(name) \(h) \(priors[name]![h]!)\n" }
        }
        if let profile { s += "profile \(profile.level) \(profile.volatility)\n" }
        if let scoreAlpha { s += "score-alpha \(scoreAlpha)\n" }
        if let blend { s += "blend \(blend)\n" }
        if let bandScales, !bandScales.isEmpty {
            s += "band-scale " + bandScales.keys.sorted().map { "\($0):\(bandScales[$0]!)" }.joined(separator: " ") + "\n"
        }
        for network in networks {
            for p in network.parameters { s += "\(p)\n" }
        }
        return Self.sealed(s)
    }

    /// `body` with its digest line appended.
    static func sealed(_ body: String) -> String { body + "xxh3 \(Checksum.xxh3Hex(Substring(body)))\n" }

    public static func parse(_ text: String) throws -> GRUModel {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        guard lines.count >= 2, lines[0] == "dwcp-gru 1" || lines[0] == "dwcp-gru 2" else {
            throw SampleProblem(line: 1, reason: "not a dwcp-gru model file (version 1 or 2)")
        }
        if lines[0] == "dwcp-gru 2" {
            let last = lines.removeLast()
            guard last.hasPrefix("xxh3 "), text.hasSuffix("\n") else {
                throw SampleProblem(line: lines.count + 1, reason: "model file truncated (no digest line)")
            }
            let body = text[..<last.startIndex]
            guard last.dropFirst(5) == Checksum.xxh3Hex(body) else {
                throw SampleProblem(line: lines.count + 1, reason: "model file corrupted: its XXH3 is \(Checksum.xxh3Hex(body)), the digest line says \(last.dropFirst(5))")
            }
        }
        let head = lines[1].split(separator: " ")
        guard head.count >= 6, head[0] == "inputs", head[2] == "hidden", head[4] == "horizons",
              let inputs = Int(head[1]), let hidden = Int(head[3]), inputs == GRUFeatures.count,
              (1...256).contains(hidden) else {
            throw SampleProblem(line: 2, reason: "bad model header")
        }
        let horizons = head[5...].compactMap { Int($0) }
        guard horizons.count == head.count - 5, !horizons.isEmpty, horizons.allSatisfy({ $0 >= 1 }) else {
            throw SampleProblem(line: 2, reason: "bad horizons")
        }
        var parameters: [Double] = []
        var priors: [String: [Int: Double]] = [:]
        var profile: LinkProfile?
        var scoreAlpha: Double?
        var blend: Int?
        var bandScales: [Int: Double]?
        var count = 1
        for (i, l) in lines.dropFirst(2).enumerated() {
            let f = l.split(separator: " ")
            func bad(_ what: String) -> SampleProblem { SampleProblem(line: i + 3, reason: "bad \(what)") }
            /// The value of a `networks` or `blend` line: a whole number from 1 to 16.
            func smallCount() throws -> Int {
                guard f.count == 2, let n = Int(f[1]), (1...16).contains(n) else { throw bad(String(f[0])) }
                return n
            }
            switch f.first {
            case "networks"?:
                count = try smallCount()
            case "blend"?:
                blend = try smallCount()
            case "score-alpha"?:
                guard f.count == 2, let alpha = Double(f[1]), alpha > 0, alpha <= 1 else { throw bad("score-alpha") }
                scoreAlpha = alpha
            case "band-scale"?:
                var scales: [Int: Double] = [:]
                for pair in f.dropFirst() {
                    let hs = pair.split(separator: ":")
                    guard hs.count == 2, let h = Int(hs[0]), (1...3600).contains(h), scales[h] == nil,
                          let s = Double(hs[1]), (AutoSelector.bandScaleRange).contains(s) else { throw bad("band-scale") }
                    scales[h] = s
                }
                guard !scales.isEmpty else { throw bad("band-scale") }
                bandScales = scales
            case "profile"?:
                guard f.count == 3, let level = Double(f[1]), let volatility = Double(f[2]), level.isFinite,
                      volatility.isFinite, volatility >= 0 else { throw bad("profile") }
                profile = LinkProfile(level: level, volatility: volatility)
            case "prior"?:
                guard f.count == 4, let h = Int(f[2]), let w = Double(f[3]), (0...1).contains(w) else { throw bad("prior") }
                priors[String(f[1]), default: [:]][h] = w
            default:
                guard let v = Double(l), v.isFinite else { throw bad("parameter") }
                parameters.append(v)
            }
        }
        let each = GRUNetwork.Layout(i: inputs, h: hidden, k: horizons.count).count
        guard parameters.count == each * count else {
            throw SampleProblem(line: lines.count, reason: "\(parameters.count) parameters, expected \(each * count)")
        }
        let networks = (0..<count).map {
            GRUNetwork(inputs: inputs, hidden: hidden, outputs: horizons.count, parameters: Array(parameters[$0 * each..<($0 + 1) * each]))
        }
        return GRUModel(networks: networks, horizons: horizons, priors: priors, profile: profile, scoreAlpha: scoreAlpha, blend: blend,
                        bandScales: bandScales)
    }
}
