import ArgumentParser
import DWCPCLI
import DWCPCore

/// `dwcp-rep`: Byzantine detection from signed evidence, reputation and quarantine.
struct RepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dwcp-rep",
        abstract: "Find Byzantine behaviour in signed evidence, keep reputations, quarantine nodes.",
        discussion: """
            Evidence is JSON lines, one per message a node received: \
            {"observer","peer","recv_ms","msg":{"sender","epoch","seq","digest","nonce","sent_ms","sig"}} \
            (docs/REPUTATION.md). Proven faults (equivocation, invalid signatures, replays, \
            identities without admission) quarantine at once; timing faults move a decaying \
            score and a bad-rate test. Findings and score changes are printed as JSON lines; \
            --quarantine-out writes the list dwcp-place --exclude reads.

            Examples:
              dwcp-rep keygen --id n1 -o n1.key >> allow-list
              dwcp-rep --keys allow-list --state rep.state \\
                --quarantine-out quarantine.txt evidence.jsonl
              dwcp-rep verify-proof finding.json
              dwcp-rep simulate --nodes 100 --byzantine 0.1 --keys-out keys \\
                > trace.jsonl
              dwcp-rep eval --nodes 10,100,1000 --byzantine 0,0.1,0.33

            \(ExitStatus.manualTable)
            """,
        version: DWCPVersion.string,
        subcommands: [DetectCommand.self, KeygenCommand.self, AdmitCommand.self, VerifyProofCommand.self, SimulateCommand.self, EvalCommand.self],
        defaultSubcommand: DetectCommand.self)
}
