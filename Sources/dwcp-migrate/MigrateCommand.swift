import ArgumentParser
import DWCPCLI
import DWCPCore

/// `dwcp-migrate`: live migration composed from the encoder, the transport and the link probe.
struct MigrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dwcp-migrate",
        abstract: "Live-migrate a QEMU VM or a changing image file to another host over DWCP.",
        discussion: """
            The destination runs 'dwcp-migrate receive'; the source runs 'dwcp-migrate qemu' or \
            'dwcp-migrate file'. Before moving state the source probes the link (as dwcp-detect \
            does), classifies it, and plans codec, stream count and buffer sizes for the \
            --max-downtime budget (--dry-run prints that plan). The state then flows through the \
            DWCP encoder and the multi-stream transport in-process; the same job can be done by \
            hand with dwcp-encode and dwcp-send. See docs/MIGRATE.md.

            Examples:
              dst$ qemu-system-x86_64 ... -incoming defer \\
                     -qmp unix:/run/vm.qmp,server=on,wait=off
              dst$ dwcp-migrate receive --listen :7000 --qmp /run/vm.qmp
              src$ dwcp-migrate qemu --qmp /run/vm.qmp --to dst:7000 --json

              dst$ dwcp-migrate receive --listen :7000 -o /srv/disk.img
              src$ dwcp-migrate file /srv/disk.img --to dst:7000 \\
                     --freeze 'kill -STOP 1234'

            \(ExitStatus.manualTable)
            """,
        version: DWCPVersion.string,
        subcommands: [QemuCommand.self, FileCommand.self, ReceiveCommand.self, RecoverCommand.self])
}
