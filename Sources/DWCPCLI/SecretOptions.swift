import ArgumentParser
import DWCPCore
import DWCPSystem
#if canImport(Glibc)
import Glibc
#endif

/// `--secret-file`: the shared secret of the lighter authentication mode, read from a file (never
/// from the command line, where `ps` would show it) or from `$DWCP_SECRET_FILE`.
public struct SecretOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Shared secret for authenticating connections (HMAC-SHA256), read from FILE; default $DWCP_SECRET_FILE. Both ends need the same.", valueName: "FILE"))
    public var secretFile: String?

    public init() {}

    /// The secret's bytes (trailing newline removed), or nil when none is configured.
    public func load() throws -> [UInt8]? {
        let env = getenvString("DWCP_SECRET_FILE")
        guard let path = secretFile ?? env else { return nil }
        let fd = try FileDescriptor.openForReading(path)
        defer { fd.close() }
        var bytes = [UInt8](repeating: 0, count: 4096)
        let n = try bytes.withUnsafeMutableBytes { try fd.readFully(into: $0.baseAddress!, count: 4096) }
        var secret = Array(bytes.prefix(n))
        while let last = secret.last, last == 0x0A || last == 0x0D { secret.removeLast() }
        guard secret.count >= 16 else { throw DWCPError.usage("\(path): a secret needs at least 16 bytes (e.g. head -c 32 /dev/urandom | base64)") }
        return secret
    }
}

/// `getenv` as a Swift string.
public func getenvString(_ name: String) -> String? {
    guard let p = getenv(name) else { return nil }
    return String(cString: p)
}
