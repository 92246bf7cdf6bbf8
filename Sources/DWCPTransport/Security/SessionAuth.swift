import CCrypto
import DWCPCore

/// Shared-secret authentication of transport connections: HMAC-SHA256 (OpenSSL's libcrypto) over
/// both nonces, the session and the stream index, in each direction.
///
/// The receiver proves nothing to a client that cannot prove itself first, and the client checks
/// the receiver's proof, so neither a stranger connecting to the port nor a fake receiver can
/// take part in a transfer. (It authenticates connections; payload integrity comes from the chunk
/// checksums and the end-to-end digest. `--tls` is for networks where an active attacker can
/// tamper with an established TCP stream.)
public struct SessionAuth {
    public let secret: [UInt8]?

    public init(secret: [UInt8]?) {
        self.secret = secret
    }

    public var required: Bool { secret != nil }

    /// The proof of a side without a secret.
    public static let noProof = [UInt8](repeating: 0, count: 32)

    /// The proof `role` ("client" or "server") sends for this handshake; 32 zero bytes without a secret.
    public func proof(role: String, session: [UInt8], stream: UInt16, clientNonce: [UInt8], serverNonce: [UInt8]) -> [UInt8] {
        guard let secret else { return Self.noProof }
        var message = Array("dwcp-\(role)".utf8) + session + clientNonce + serverNonce
        message += [UInt8(stream & 0xFF), UInt8(stream >> 8)]
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        _ = secret.withUnsafeBytes { key in
            message.withUnsafeBytes { msg in
                HMAC(EVP_sha256(), key.baseAddress, Int32(key.count), msg.baseAddress?.assumingMemoryBound(to: UInt8.self),
                     msg.count, &out, &length)
            }
        }
        return Array(out.prefix(32))
    }

    /// Constant-time comparison (`CRYPTO_memcmp`).
    public static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a.count == b.count && a.withUnsafeBytes { x in b.withUnsafeBytes { y in CRYPTO_memcmp(x.baseAddress, y.baseAddress, a.count) == 0 } }
    }

    /// 16 random bytes from OpenSSL's CSPRNG.
    public static func nonce() -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 16)
        _ = RAND_bytes(&b, 16)
        return b
    }
}
