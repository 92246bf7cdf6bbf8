import ArgumentParser
import DWCPCLI
import DWCPCore
import DWCPRep
import DWCPSystem

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Simulate labelled traces, run the detectors, and score them per class.",
        discussion: """
            For every --nodes and --byzantine pair: a seeded trace, then detection exactly as \
            'dwcp-rep detect' runs it (JSON lines parsed, signatures checked on every core). \
            Per class: nodes, detected (attackers quarantined; slow nodes reported slow), false \
            positives (honest nodes quarantined), framed (honest nodes blamed by a certain \
            finding), median messages before quarantine; and records/s and signature checks/s. \
            --json prints one line per configuration and class: \
            {"nodes_total", "byzantine", "class", "nodes", "detected", "false_positives", "framed_blamed", "median_messages_to_quarantine", "median_seconds_to_quarantine"} \
            and one {"records_per_s","verifications_per_s"} line per configuration.
            """)

    @Option(help: ArgumentHelp("Comma-separated node counts.", valueName: "LIST")) var nodes = "10,100,1000"
    @Option(help: ArgumentHelp("Comma-separated Byzantine fractions.", valueName: "LIST")) var byzantine = "0,0.1,0.33"
    @OptionGroup var trace: TraceOptions
    @OptionGroup var thresholds: ThresholdOptions
    @Flag(help: "One JSON object per configuration and class.") var json = false
    @OptionGroup var verbosity: VerbosityOptions

    func lists() throws -> ([Int], [Double]) {
        let n = nodes.split(separator: ",").map { Int($0) }
        let b = byzantine.split(separator: ",").map { Double($0) }
        guard !n.isEmpty, n.allSatisfy({ ($0 ?? 0) >= 2 && ($0 ?? 0) <= 100_000 }) else { throw ValidationError("--nodes: counts from 2 to 100000") }
        guard !b.isEmpty, b.allSatisfy({ ($0 ?? -1) >= 0 && ($0 ?? 1) <= 0.5 }) else { throw ValidationError("--byzantine: fractions from 0 to 0.5") }
        return (n.map { $0! }, b.map { $0! })
    }

    func validate() throws {
        _ = try lists()
        try trace.check()
        try thresholds.check()
    }

    func run() throws {
        verbosity.apply()
        let (counts, fractions) = try lists()
        if !json {
            try FileDescriptor.standardOutput.writeAll("nodes  byz   class         nodes  detected  false_pos  framed  msgs_to_q  s_to_q\n")
        }
        for n in counts {
            for b in fractions {
                let sim = TraceSimulator(nodes: n, byzantine: b, rounds: trace.rounds, fanout: trace.fanout, seed: trace.seed)
                let population = try sim.population()
                let ring = KeyRing()
                for node in population where node.admitted { ring.admit(node.id, key: node.keys.publicKey) }
                var lines: [String] = []
                try sim.run(population) { lines.append($0.json) }
                let detector = Detector(config: thresholds.config)
                let processor = EvidenceProcessor(keys: ring, detector: detector)
                var findings: [Finding] = []
                let started = MonotonicClock.now()
                var at = 0
                while at < lines.count {
                    let chunk = lines[at..<min(lines.count, at + ChunkedLines.chunkLines)].map { Substring($0) }
                    findings += processor.process(chunk).findings
                    at += chunk.count
                }
                let elapsed = max(MonotonicClock.now() - started, 1e-9)
                let rows = GroundTruth.score(population, findings: findings, book: detector.book)
                for r in rows {
                    if json {
                        var j = JSONLine()
                        j.add("nodes_total", n)
                        j.add("byzantine", b, decimals: 2)
                        j.add("class", r.label.rawValue)
                        j.add("nodes", r.nodes)
                        j.add("detected", r.detected)
                        j.add("false_positives", r.falsePositives)
                        j.add("framed_blamed", r.framedBlamed)
                        if let m = r.medianMessagesToQuarantine { j.add("median_messages_to_quarantine", m) } else { j.addRaw("median_messages_to_quarantine", "null") }
                        if let sec = r.medianSecondsToQuarantine { j.add("median_seconds_to_quarantine", sec, decimals: 1) } else { j.addRaw("median_seconds_to_quarantine", "null") }
                        try FileDescriptor.standardOutput.writeAll(j.text + "\n")
                    } else {
                        let cols = ["\(n)".padded(to: 6), Units.format(b, 2).padded(to: 5), r.label.rawValue.padded(to: 13), "\(r.nodes)".leftPadded(to: 5), "\(r.detected)".leftPadded(to: 9),
                                    "\(r.falsePositives)".leftPadded(to: 10), "\(r.framedBlamed)".leftPadded(to: 7), (r.medianMessagesToQuarantine.map(String.init) ?? "-").leftPadded(to: 10),
                                    (r.medianSecondsToQuarantine.map { Units.format($0, 1) } ?? "-").leftPadded(to: 7)]
                        try FileDescriptor.standardOutput.writeAll(cols.joined(separator: " ") + "\n")
                    }
                }
                let rps = Double(lines.count) / elapsed, vps = Double(processor.verifications) / elapsed
                if json {
                    var j = JSONLine()
                    j.add("nodes_total", n)
                    j.add("byzantine", b, decimals: 2)
                    j.add("records", lines.count)
                    j.add("records_per_s", rps, decimals: 0)
                    j.add("verifications_per_s", vps, decimals: 0)
                    try FileDescriptor.standardOutput.writeAll(j.text + "\n")
                } else {
                    try FileDescriptor.standardOutput.writeAll("       \(lines.count) records in \(Units.format(elapsed, 2)) s: \(Units.format(rps, 0)) records/s, \(processor.verifications) signatures checked (\(Units.format(vps, 0))/s)\n")
                }
            }
        }
    }

}
