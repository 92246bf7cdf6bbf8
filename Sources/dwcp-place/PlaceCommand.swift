import ArgumentParser
import DWCPCLI
import DWCPCore

/// `dwcp-place`: VM placement on heterogeneous nodes, and its evaluation.
struct PlaceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dwcp-place",
        abstract: "Place VMs on heterogeneous nodes: pack datacenters, spread replicas over internet nodes.",
        discussion: """
            Nodes (--nodes) and requests are JSON lines or CSV. Each VM gets one JSON line: \
            {"vm","node","policy","score","utilisation"} or {"vm","node":null,"reason"}. A batch \
            (the default) reads every request, then packs them with --algorithm (dwcp-ls: the \
            best greedy packing improved by local search within --budget); --follow decides each \
            request as it arrives and frees resources on {"release":"vm"} lines. Nothing is ever \
            placed where it does not fit, on a quarantined node (--exclude) or against a hard \
            rule (pin, forbid, gpu_models, anti_affinity). Bad lines are reported with their line \
            number and skipped; the exit status is then 1. See docs/PLACE.md.

            Examples:
              dwcp-place --nodes nodes.jsonl < requests.jsonl
              dwcp-place --nodes nodes.csv --objective spread \\
                --exclude quarantine.txt vms.jsonl
              tail -f requests.jsonl | dwcp-place --nodes nodes.jsonl --follow
              dwcp-place eval --bounds summary.tsv instances/
              dwcp-place bench --nodes 1500,100000

            \(ExitStatus.manualTable)
            """,
        version: DWCPVersion.string,
        subcommands: [DecideCommand.self, EvalCommand.self, BenchCommand.self],
        defaultSubcommand: DecideCommand.self)
}
