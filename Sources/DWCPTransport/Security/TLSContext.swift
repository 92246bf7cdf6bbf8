import CTLS
import DWCPCore

/// The TLS 1.3 settings of one side of a transfer (`--tls`, `--cert`, `--key`, `--ca`), loaded
/// once and shared by every connection of that side.
///
/// Why it exists: the shared-secret mode authenticates connections but leaves an established TCP
/// stream open to an active attacker on the path. With TLS every byte is encrypted and
/// authenticated by the record layer (AES-GCM or ChaCha20-Poly1305), and both ends are
/// identified by certificates:
/// - the sender always verifies the receiver's certificate, against `--ca` or the system's trust
///   store, and checks that it names the host it dialled (or `--tls-name`);
/// - a receiver given `--ca` requires a client certificate signed by it (mutual TLS).
/// Only TLS 1.3 is offered. AES-128-GCM is preferred: it is the fastest suite with AES-NI, and
/// this is a bulk data path.
public final class TLSContext: @unchecked Sendable {
    /// Which end of the TLS handshake this context serves.
    public enum Role: Sendable { case client, server }

    public let role: Role
    /// The name the receiver's certificate must carry, if not the host that was dialled.
    public let expectedName: String?
    let context: OpaquePointer

    /// The files and name `settings` gives (what the `--tls` options produce).
    public convenience init(role: Role, _ settings: TLSSettings) throws {
        try self.init(role: role, certificate: settings.certificate, key: settings.key, trustedCA: settings.trustedCA,
                      expectedName: settings.expectedName)
    }

    /// Loads the certificate chain, key and trust anchors. Unreadable or mismatched files are
    /// usage errors (exit 2), named with OpenSSL's reason.
    public init(role: Role, certificate: String?, key: String?, trustedCA: String?, expectedName: String? = nil) throws {
        self.role = role
        self.expectedName = expectedName
        guard let context = SSL_CTX_new(role == .client ? TLS_client_method() : TLS_server_method()) else {
            throw DWCPError(.failure, "TLS: cannot create a context: \(TLSContext.lastError())")
        }
        self.context = context
        guard dwcp_ssl_ctx_require_tls13(context) == 1 else { throw DWCPError(.failure, "TLS 1.3 is not available in this OpenSSL") }
        dwcp_ssl_ctx_set_stream_modes(context)
        _ = SSL_CTX_set_ciphersuites(context, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256")
        // No session tickets: every connection does a full handshake, and nothing but
        // application data flows after it.
        _ = SSL_CTX_set_num_tickets(context, 0)

        if role == .server && (certificate == nil || key == nil) {
            throw DWCPError.usage("--tls on the receiving side needs --cert and --key")
        }
        if (certificate == nil) != (key == nil) { throw DWCPError.usage("--cert and --key go together") }
        if let certificate, let key {
            guard SSL_CTX_use_certificate_chain_file(context, certificate) == 1 else {
                throw DWCPError.usage("\(certificate): cannot load the certificate: \(TLSContext.lastError())")
            }
            guard SSL_CTX_use_PrivateKey_file(context, key, SSL_FILETYPE_PEM) == 1 else {
                throw DWCPError.usage("\(key): cannot load the private key: \(TLSContext.lastError())")
            }
            guard SSL_CTX_check_private_key(context) == 1 else {
                throw DWCPError.usage("\(key): the key does not belong to \(certificate)")
            }
        }
        if let trustedCA {
            guard SSL_CTX_load_verify_locations(context, trustedCA, nil) == 1 else {
                throw DWCPError.usage("\(trustedCA): cannot load CA certificates: \(TLSContext.lastError())")
            }
        } else if role == .client {
            _ = SSL_CTX_set_default_verify_paths(context)
        }
        switch role {
        case .client:
            SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
        case .server:
            if let trustedCA {
                SSL_CTX_set_verify(context, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nil)
                if let names = SSL_load_client_CA_file(trustedCA) { SSL_CTX_set_client_CA_list(context, names) }
            } else {
                SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nil)
            }
        }
    }

    deinit { SSL_CTX_free(context) }

    /// Drains this thread's OpenSSL error queue into one line of reasons (the first is the cause).
    static func lastError() -> String {
        var reasons: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            let reason = ERR_reason_error_string(code).map { String(cString: $0) } ?? "error \(code)"
            if !reasons.contains(reason) { reasons.append(reason) }
        }
        return reasons.isEmpty ? "unknown error" : reasons.joined(separator: "; ")
    }
}
