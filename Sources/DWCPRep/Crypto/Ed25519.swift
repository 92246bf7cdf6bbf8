import CCrypto

/// Ed25519 identities through OpenSSL's libcrypto: every node signs its messages, and evidence
/// is only as good as these checks.
///
/// Verification keeps one initialised `EVP_MD_CTX` per public key (Ed25519 is one-shot, so the
/// context is reusable), which is what `openssl speed ed25519` measures too.
public enum Ed25519 {
    /// A node's signing identity: 32 private and 32 public bytes.
    public struct KeyPair: Sendable {
        public let privateKey: [UInt8]
        public let publicKey: [UInt8]
    }

    /// libcrypto refused a key or a signature operation (never a signature that does not verify, which is `false`).
    public enum Failure: Error, CustomStringConvertible {
        case openssl(String)
        public var description: String { if case let .openssl(s) = self { return "libcrypto: \(s)" }; return "" }
    }

    /// A key pair from 32 seed bytes (random for `keygen`, seeded for simulations).
    public static func keyPair(seed: [UInt8]) throws -> KeyPair {
        precondition(seed.count == 32)
        guard let key = seed.withUnsafeBufferPointer({ EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, $0.baseAddress, 32) }) else {
            throw Failure.openssl("EVP_PKEY_new_raw_private_key")
        }
        defer { EVP_PKEY_free(key) }
        var pub = [UInt8](repeating: 0, count: 32)
        var len = 32
        guard EVP_PKEY_get_raw_public_key(key, &pub, &len) == 1, len == 32 else { throw Failure.openssl("EVP_PKEY_get_raw_public_key") }
        return KeyPair(privateKey: seed, publicKey: pub)
    }

    public static func randomKeyPair() throws -> KeyPair {
        var seed = [UInt8](repeating: 0, count: 32)
        guard RAND_bytes(&seed, 32) == 1 else { throw Failure.openssl("RAND_bytes") }
        return try keyPair(seed: seed)
    }

    public static func sign(_ message: [UInt8], with pair: KeyPair) throws -> [UInt8] {
        guard let key = pair.privateKey.withUnsafeBufferPointer({ EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, $0.baseAddress, 32) }),
              let ctx = EVP_MD_CTX_new() else { throw Failure.openssl("key") }
        defer { EVP_PKEY_free(key); EVP_MD_CTX_free(ctx) }
        guard EVP_DigestSignInit(ctx, nil, nil, nil, key) == 1 else { throw Failure.openssl("EVP_DigestSignInit") }
        var sig = [UInt8](repeating: 0, count: 64)
        var len = 64
        guard EVP_DigestSign(ctx, &sig, &len, message, message.count) == 1, len == 64 else { throw Failure.openssl("EVP_DigestSign") }
        return sig
    }

    /// A reusable verifier for one public key. Not thread-safe: one per thread.
    public final class Verifier {
        private let key: OpaquePointer
        private let ctx: OpaquePointer

        public init?(publicKey: [UInt8]) {
            guard publicKey.count == 32,
                  let key = publicKey.withUnsafeBufferPointer({ EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, $0.baseAddress, 32) })
            else { return nil }
            guard let ctx = EVP_MD_CTX_new() else { EVP_PKEY_free(key); return nil }
            guard EVP_DigestVerifyInit(ctx, nil, nil, nil, key) == 1 else { EVP_MD_CTX_free(ctx); EVP_PKEY_free(key); return nil }
            self.key = key
            self.ctx = ctx
        }

        deinit {
            EVP_MD_CTX_free(ctx)
            EVP_PKEY_free(key)
        }

        public func verify(_ signature: [UInt8], _ message: [UInt8]) -> Bool {
            guard signature.count == 64 else { return false }
            return EVP_DigestVerify(ctx, signature, 64, message, message.count) == 1
        }
    }

    /// One-off verification (proof checking).
    public static func verify(signature: [UInt8], message: [UInt8], publicKey: [UInt8]) -> Bool {
        Verifier(publicKey: publicKey)?.verify(signature, message) ?? false
    }

    /// SHA-256, for payload digests.
    public static func sha256(_ data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var len: UInt32 = 32
        _ = EVP_Digest(data, data.count, &out, &len, EVP_sha256(), nil)
        return out
    }
}
