import ArgumentParser
import DWCPCore

/// `--tls`, `--cert`, `--key`, `--ca`: TLS 1.3 on every transport connection, for networks where
/// an active attacker could tamper with an established TCP stream (the shared-secret mode only
/// authenticates connections). `settings` is what the transport builds its `TLSContext` from.
public struct TLSOptions: ParsableArguments {
    @Flag(help: "Encrypt and authenticate every connection with TLS 1.3 (OpenSSL); both ends need it.")
    public var tls = false

    @Option(help: ArgumentHelp("Certificate chain (PEM) this side presents. Required when receiving with --tls; when sending, it is the client certificate for mutual TLS.", valueName: "FILE"))
    public var cert: String?

    @Option(help: ArgumentHelp("Private key (PEM) of --cert.", valueName: "FILE"))
    public var key: String?

    @Option(help: ArgumentHelp("Trusted CA certificates (PEM). Sending: the receiver's certificate must chain to them (default: the system's trust store). Receiving: clients must present a certificate that chains to them (mutual TLS).", valueName: "FILE"))
    public var ca: String?

    public init() {}

    /// The files to use, or nil without `--tls`.
    public var settings: TLSSettings? {
        tls ? TLSSettings(certificate: cert, key: key, trustedCA: ca) : nil
    }

    public func validate() throws {
        if !tls && (cert != nil || key != nil || ca != nil) { throw ValidationError("--cert, --key and --ca need --tls") }
        if (cert == nil) != (key == nil) { throw ValidationError("--cert and --key go together") }
    }
}

/// The sending side's TLS options: `TLSOptions` plus `--tls-name`, the name the receiver's
/// certificate must carry when it is not the host that was dialled (e.g. dialling an address).
public struct TLSClientOptions: ParsableArguments {
    @OptionGroup public var options: TLSOptions

    @Option(help: ArgumentHelp("With --tls: the name (DNS name or IP address) the receiver's certificate must carry; default: the HOST of HOST:PORT.", valueName: "NAME"))
    public var tlsName: String?

    public init() {}

    /// The files and the expected name, or nil without `--tls`.
    public var settings: TLSSettings? {
        options.settings.map { var s = $0; s.expectedName = tlsName; return s }
    }

    public func validate() throws {
        if tlsName != nil && !options.tls { throw ValidationError("--tls-name needs --tls") }
    }
}
