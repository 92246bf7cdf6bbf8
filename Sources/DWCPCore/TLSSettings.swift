/// Which certificate files one side of a TLS connection uses: what the `--tls` options say,
/// as plain data. The CLI produces it (`TLSOptions`), the transport turns it into an OpenSSL
/// context (`TLSContext`), so neither depends on the other.
public struct TLSSettings: Equatable, Sendable {
    /// Certificate chain (PEM) this side presents; required on a receiver.
    public var certificate: String?
    /// Private key (PEM) of `certificate`.
    public var key: String?
    /// Trusted CA certificates (PEM): the peer must chain to them.
    public var trustedCA: String?
    /// The name the receiver's certificate must carry, if not the host that was dialled
    /// (sending side only).
    public var expectedName: String?

    public init(certificate: String? = nil, key: String? = nil, trustedCA: String? = nil, expectedName: String? = nil) {
        self.certificate = certificate
        self.key = key
        self.trustedCA = trustedCA
        self.expectedName = expectedName
    }
}
