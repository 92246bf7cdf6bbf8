import ArgumentParser
import DWCPCLI
import DWCPCore
import DWCPRep
import DWCPSystem

/// Options that shape a simulated trace.
struct TraceOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Messages each node sends (one per second).", valueName: "N")) var rounds = 300
    @Option(help: ArgumentHelp("Observers each message reaches.", valueName: "N")) var fanout = 4
    @Option(help: ArgumentHelp("Seed (same seed, same trace).", valueName: "N")) var seed: UInt64 = 1

    func check() throws {
        guard rounds >= 10 && rounds <= 100_000 else { throw ValidationError("--rounds: 10 to 100000") }
        guard fanout >= 1 && fanout <= 64 else { throw ValidationError("--fanout: 1 to 64") }
    }
}

struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Write a seeded evidence trace with labelled behaviours (the benchmark's ground truth).",
        discussion: """
            Classes: honest, slow (heavy-tailed delays), partitioned, equivocator, forger (framing \
            honest ids), replayer, tamperer, skewer (timestamps in the future), on-off-2/3/5 (late \
            on every 2nd/3rd/5th message), sybil (identities without admission). Evidence goes \
            to stdout; --keys-out gets the allow-list (sybils left out), --labels-out one \
            'node-id class' line per node.
            """)

    @Option(help: ArgumentHelp("Nodes.", valueName: "N")) var nodes = 100
    @Option(help: ArgumentHelp("Byzantine fraction (0 to 0.5).", valueName: "F")) var byzantine = 0.1
    @OptionGroup var trace: TraceOptions
    @Option(help: ArgumentHelp("Write the allow-list here.", valueName: "FILE")) var keysOut: String?
    @Option(help: ArgumentHelp("Write the labels here.", valueName: "FILE")) var labelsOut: String?

    func validate() throws {
        try trace.check()
        guard nodes >= 2 && nodes <= 100_000 else { throw ValidationError("--nodes: 2 to 100000") }
        guard byzantine >= 0 && byzantine <= 0.5 else { throw ValidationError("--byzantine: 0 to 0.5") }
    }

    func run() throws {
        let sim = TraceSimulator(nodes: nodes, byzantine: byzantine, rounds: trace.rounds, fanout: trace.fanout, seed: trace.seed)
        let population = try sim.population()
        if let keysOut {
            try writeFileAtomically(keysOut, population.filter(\.admitted).map { "\($0.id) \(Hex.encode($0.keys.publicKey))\n" }.joined())
        }
        if let labelsOut { try writeFileAtomically(labelsOut, population.map { "\($0.id) \($0.label.rawValue)\n" }.joined()) }
        var buffer = ""
        try sim.run(population) { r in
            buffer += r.json + "\n"
            if buffer.utf8.count > 1 << 20 { try FileDescriptor.standardOutput.writeAll(buffer); buffer = "" }
        }
        try FileDescriptor.standardOutput.writeAll(buffer)
    }
}
