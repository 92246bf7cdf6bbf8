import ArgumentParser
import DWCPCLI
import DWCPCore
import DWCPRep
import DWCPSystem
#if canImport(Glibc)
import Glibc
#endif

struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Make an Ed25519 key pair: the private key to a file (mode 600), 'id public-key' to stdout.",
        discussion: "The stdout line is an allow-list entry for --keys. The private key file holds the 32-byte seed in hex.")

    @Option(help: ArgumentHelp("Node id for the allow-list line.", valueName: "ID")) var id: String
    @Option(name: .shortAndLong, help: ArgumentHelp("Private key file to create (refuses to overwrite).", valueName: "FILE")) var output: String

    func run() throws {
        guard !id.isEmpty, !id.contains(where: { $0 == " " || $0 == "\t" || $0 == "#" }) else { throw DWCPError.usage("--id: no spaces or '#'") }
        let pair = try Ed25519.randomKeyPair()
        let fd = try FileDescriptor.create(output, overwrite: false, mode: 0o600)
        defer { fd.close() }
        try fd.writeAll(Hex.encode(pair.privateKey) + "\n")
        try fd.sync()
        try FileDescriptor.standardOutput.writeAll("\(id) \(Hex.encode(pair.publicKey))\n")
    }
}

/// Loads a private key file written by `keygen`.
enum PrivateKeyFile {
    static func load(_ path: String) throws -> Ed25519.KeyPair {
        let text = try FileDescriptor.readText(path, limit: 4096).split(separator: "\n").first.map(String.init) ?? ""
        guard let seed = Hex.decode(text.trimming([" ", "\r"])), seed.count == 32 else { throw DWCPError.failure("\(path): not a dwcp-rep private key") }
        return try Ed25519.keyPair(seed: seed)
    }
}

struct AdmitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "admit",
        abstract: "Sign an admission certificate: prints 'id public-key certificate' for --certificates.",
        discussion: "The authority's key comes from dwcp-rep keygen; detectors trust it with --admission-ca PUBLIC-KEY.")

    @Option(help: ArgumentHelp("The admission authority's private key file.", valueName: "FILE")) var ca: String
    @Argument(help: ArgumentHelp("Node id.", valueName: "ID")) var id: String
    @Argument(help: ArgumentHelp("The node's public key (hex).", valueName: "PUBLIC-KEY")) var publicKey: String

    func run() throws {
        guard let key = Hex.decode(publicKey), key.count == 32 else { throw DWCPError.usage("PUBLIC-KEY: 32 bytes of hex") }
        let authority = try PrivateKeyFile.load(ca)
        let cert = try Ed25519.sign(KeyRing.admissionBytes(id, key), with: authority)
        try FileDescriptor.standardOutput.writeAll("\(id) \(publicKey.lowercased()) \(Hex.encode(cert))\n")
    }
}

struct VerifyProofCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-proof",
        abstract: "Check an equivocation proof (a finding line or the proof object) without trusting its source.",
        discussion: "Exit status 0 and a line on stdout when the proof holds; 3 and the reason when it does not.")

    @Argument(help: ArgumentHelp("Proof file (its first line); - or none reads standard input.", valueName: "FILE")) var file: String = "-"

    func run() throws {
        let text = try FileDescriptor.readText(file, limit: 1 << 20)
        guard let line = text.split(separator: "\n").first else { throw DWCPError.integrity("\(file): empty") }
        let proof: EquivocationProof
        do { proof = try EquivocationProof.parse(try JSONValue.parse(line)) } catch {
            throw DWCPError.integrity("\(file == "-" ? "stdin" : file): \(error)")
        }
        if let problem = proof.problem() { throw DWCPError.integrity("proof does not hold: \(problem)") }
        try FileDescriptor.standardOutput.writeAll(
            "valid: \(proof.a.sender) (key \(Hex.encode(proof.publicKey).prefix(16))…) signed two different messages for epoch \(proof.a.epoch) seq \(proof.a.seq)\n")
    }
}
