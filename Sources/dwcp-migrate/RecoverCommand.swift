import ArgumentParser
import DWCPCLI
import DWCPCore
import DWCPMigrate
import DWCPSystem

/// `dwcp-migrate recover`: finishes or discards the round an interrupted `receive -o` left.
struct RecoverCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recover",
        abstract: "Bring an image that 'dwcp-migrate receive -o' was building to a complete round after a crash.",
        discussion: """
            A receiver decodes the first pre-copy round into FILE.dwcp-partial (deleted here if \
            left behind) and applies each later round through FILE.dwcp-journal. \
            If it stopped before the round was committed (the journal has no valid trailer), \
            the journal is deleted and FILE is the previous round, untouched. If it stopped \
            after, the journal is written into FILE (which may be moved aside as \
            FILE.dwcp-applying meanwhile) and FILE is the new round. Replaying is idempotent. \
            'dwcp-migrate receive -o FILE' does the same before it listens. Exit status 3 when \
            the files cannot make a complete round (a damaged committed journal, or FILE of a \
            size the journal does not start from); nothing is changed then. A block device's \
            journal is in the --journal-dir given to receive, and is written into the device \
            in place; exit status 3 also when the device is marked as holding no complete \
            round (DIR/NAME.dwcp-incomplete: its first round never completed, or the source \
            gave up). Exit status 1, changing nothing, while a receive or another recover is \
            at work on FILE (it holds FILE.dwcp-lock, or the device, locked). With --verify the image is then read whole and compared with the digest \
            of the round its record names (FILE.dwcp-round, or in --journal-dir): exit status 3 \
            if it is not that round. A finished migration (its source heard the final round's \
            verdict) keeps no record, so its image has nothing to be checked against (said, \
            exit status 0).
            """)

    @Argument(help: ArgumentHelp("The image file given to 'dwcp-migrate receive -o'.", valueName: "FILE"))
    var image: String

    @Option(help: ArgumentHelp("The directory given to 'dwcp-migrate receive --journal-dir' (needed for a block device).", valueName: "DIR"))
    var journalDir: String?

    @Flag(help: "Then read the image whole and check it is exactly the round its record names (exit status 3 if not).")
    var verify = false

    @Flag(help: "Print the result as a JSON line on standard output.")
    var json = false

    @OptionGroup var verbosity: VerbosityOptions

    func run() throws {
        verbosity.apply()
        let files = try ImageFiles(image: image, journalDirectory: journalDir)
        let lock = try ImageLock(files)
        defer { lock.release() }
        let recovery = try ImageJournal.recover(files)
        let incomplete: Bool
        if case .incomplete = recovery { incomplete = true } else { incomplete = false }
        let verification = verify && !incomplete ? try RoundVerification.check(files) : nil
        if json {
            var j = JSONLine()
            j.add("event", "recover")
            j.add("file", image)
            switch recovery {
            case .nothing:
                j.add("action", "none")
            case .discarded(let reason):
                j.add("action", "discarded")
                j.add("reason", reason)
            case .replayed(let round, let records, let bytes):
                j.add("action", "replayed")
                j.add("round", Int(round))
                j.add("records", records)
                j.add("bytes", bytes)
            case .incomplete(let reason):
                j.add("action", "incomplete")
                j.add("reason", reason)
            }
            switch verification {
            case nil:
                break
            case .verified(let round, let bytes)?:
                j.add("verify", "verified")
                j.add("verified_round", round)
                j.add("verified_bytes", bytes)
            case .noRecord?:
                j.add("verify", "no-record")
            case .mismatch(let round, let reason)?:
                j.add("verify", "mismatch")
                j.add("verified_round", round)
                j.add("verify_reason", reason)
            }
            try FileDescriptor.standardOutput.writeAll(j.text + "\n")
        } else {
            var text = Self.describe(recovery, image: image) + "\n"
            if let verification { text += Self.describe(verification, image: image) + "\n" }
            try FileDescriptor.standardOutput.writeAll(text)
        }
        if incomplete {
            throw DWCPError.integrity("\(image) holds no complete round")
        }
        if case .mismatch(let round, let reason)? = verification {
            throw DWCPError.integrity("\(reason): it is not round \(round)")
        }
    }

    /// One line saying what `--verify` found.
    static func describe(_ v: RoundVerification, image: String) -> String {
        switch v {
        case .verified(let round, let bytes):
            return "\(image): verified: exactly round \(round) (\(Units.formatBytes(bytes)) read, digest matches its record)"
        case .noRecord:
            return "\(image): nothing to verify against (no round record: the migration finished, or never got past its first round)"
        case .mismatch(let round, let reason):
            return "\(image): NOT round \(round): \(reason)"
        }
    }

    /// One line saying what `recover` found and did.
    static func describe(_ r: ImageJournal.Recovery, image: String) -> String {
        switch r {
        case .nothing:
            return "\(image): nothing to recover (no journal; it is a complete round)"
        case .discarded(let reason):
            return "\(image): deleted what a round that never completed left (\(reason)); the image is the round before it, if there was one"
        case .replayed(let round, let records, let bytes):
            return "\(image): completed round \(round) from its committed journal (\(records) runs, \(Units.formatBytes(bytes)))"
        case .incomplete(let reason):
            return "\(image): holds no complete round (\(reason)); the next 'dwcp-migrate receive' starts it from round 0"
        }
    }

    /// What `receive -o` says before it listens, when there was something to recover.
    static func report(_ r: ImageJournal.Recovery, image: String) {
        if r != .nothing { Diagnostics.warning(describe(r, image: image)) }
    }
}
