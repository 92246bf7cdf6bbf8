import ArgumentParser
import DWCPCLI
import DWCPCore
import DWCPRep
import DWCPSystem
#if canImport(Glibc)
import Glibc
#endif

struct DetectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detect",
        abstract: "Read evidence, print findings and score changes (the default subcommand).")

    @Option(help: ArgumentHelp("Allow-list: lines 'node-id hex-public-key' (dwcp-rep keygen prints them).", valueName: "FILE"))
    var keys: String?

    @Option(help: ArgumentHelp("Public key (hex) of the admission authority whose certificates admit nodes.", valueName: "HEX"))
    var admissionCa: String?

    @Option(help: ArgumentHelp("Admission certificates: lines 'node-id hex-public-key hex-certificate' (dwcp-rep admit).", valueName: "FILE"))
    var certificates: String?

    @Option(help: ArgumentHelp("State carried between runs; read if it exists, replaced atomically at the end.", valueName: "FILE"))
    var state: String?

    @Option(help: ArgumentHelp("Write the quarantine list here (one node id per line), atomically.", valueName: "FILE"))
    var quarantineOut: String?

    @OptionGroup var thresholds: ThresholdOptions

    @Option(name: .shortAndLong, help: ArgumentHelp("Write findings to FILE instead of standard output.", valueName: "FILE"))
    var output: String?

    @OptionGroup var verbosity: VerbosityOptions

    @Argument(help: ArgumentHelp("Evidence files (JSON lines); - or none reads standard input.", valueName: "FILE"))
    var files: [String] = []

    func validate() throws {
        try thresholds.check()
        if keys == nil && admissionCa == nil { throw ValidationError("give --keys, or --admission-ca with --certificates") }
        if let ca = admissionCa, Hex.decode(ca)?.count != 32 { throw ValidationError("--admission-ca: 32 bytes of hex") }
        if certificates != nil && admissionCa == nil { throw ValidationError("--certificates needs --admission-ca") }
    }

    func run() throws {
        verbosity.apply()
        let ring = try loadKeys()
        let detector = Detector(config: thresholds.config)
        if let state, access(state, F_OK) == 0 {
            do { try StateFile.restore(try FileDescriptor.readText(state), into: detector) } catch let e as EvidenceError {
                throw DWCPError.integrity("\(state): \(e)")
            }
        }
        let processor = EvidenceProcessor(keys: ring, detector: detector)
        let reads = (files.isEmpty ? ["-"] : files) + [keys, certificates, state].compactMap { $0 }
        let out = try OutputGuard.openText(output, reading: reads)
        defer { if output != nil { out.close() } }
        let started = MonotonicClock.now()
        var total = 0
        for path in files.isEmpty ? ["-"] : files {
            let name = path == "-" ? "stdin" : path
            try ChunkedLines.read(path) { lines, firstLine in
                total += lines.count
                let (findings, errors) = processor.process(lines)
                for (i, e) in errors { Diagnostics.error("\(name):\(firstLine + i): \(e)") }
                if !findings.isEmpty { try out.writeAll(findings.map { $0.json + "\n" }.joined()) }
            }
        }
        let elapsed = MonotonicClock.now() - started
        if let state { try writeFileAtomically(state, StateFile.encode(detector)) }
        if let q = quarantineOut {
            let list = detector.book.quarantined.map { id in "\(id)  # \(detector.book.standing(id).reason ?? "")" }
            try writeFileAtomically(q, list.isEmpty ? "" : list.joined(separator: "\n") + "\n")
        }
        Diagnostics.info("\(total) records in \(Units.format(elapsed, 2)) s (\(Units.format(Double(total) / max(elapsed, 1e-9), 0)) records/s, \(processor.verifications) signatures checked), \(detector.book.quarantined.count) quarantined")
        if processor.badLines > 0 { throw DWCPError.failure(Units.count(processor.badLines, "malformed evidence line") + " (see above)") }
    }

    private func loadKeys() throws -> KeyRing {
        do {
            let authority = admissionCa.flatMap(Hex.decode)
            let ring = try keys.map { try KeyRing.parse(try FileDescriptor.readText($0), authority: authority) } ?? KeyRing(authority: authority)
            if let certificates {
                for (i, line) in try FileDescriptor.readText(certificates).split(separator: "\n").enumerated() {
                    let w = line.split(separator: " ")
                    if w.isEmpty || w[0].hasPrefix("#") { continue }
                    guard w.count == 3, let key = Hex.decode(String(w[1])), let cert = Hex.decode(String(w[2])) else {
                        throw DWCPError.failure("\(certificates):\(i + 1): expected 'node-id hex-public-key hex-certificate'")
                    }
                    if !ring.admit(String(w[0]), key: key, certificate: cert) {
                        Diagnostics.warning("\(certificates):\(i + 1): certificate for '\(w[0])' does not verify (not admitted)")
                    }
                }
            }
            return ring
        } catch let e as EvidenceError {
            throw DWCPError.failure("\(keys ?? "keys"): \(e)")
        }
    }
}

/// Hands lines to a processor in chunks (bounded memory, room for parallel checks), with each
/// chunk's first line number.
enum ChunkedLines {
    static let chunkLines = 8192
    static let maxLine = 1 << 20

    static func read(_ path: String, _ body: ([Substring], Int) throws -> Void) throws {
        var chunk: [Substring] = []
        var first = 1
        try LineInput.read([path], maxLine: maxLine) { _, number, line in
            if chunk.isEmpty { first = number }
            chunk.append(line)
            if chunk.count == chunkLines {
                try body(chunk, first)
                chunk.removeAll(keepingCapacity: true)
            }
        }
        if !chunk.isEmpty { try body(chunk, first) }
    }
}
