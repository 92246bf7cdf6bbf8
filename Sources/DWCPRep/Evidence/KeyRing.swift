/// Who is admitted, and with which key: the defence against Sybil identities, which no message
/// check can find (anyone can make keys). A node is admitted by the allow-list (`--keys`: lines
/// `node-id hex-public-key`) or by an admission certificate signed by the admission authority
/// (`--admission-ca`): Ed25519 over `"DWCP-ADMIT1" node-id 0x00 public-key`.
public final class KeyRing {
    public private(set) var keys: [String: [UInt8]] = [:]
    public let authority: [UInt8]?

    public init(authority: [UInt8]? = nil) { self.authority = authority }

    public func admit(_ id: String, key: [UInt8]) { keys[id] = key }
    public func key(of id: String) -> [UInt8]? { keys[id] }

    /// Parses an allow-list; errors name the line.
    public static func parse(_ text: String, authority: [UInt8]? = nil) throws -> KeyRing {
        let ring = KeyRing(authority: authority)
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0]
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            if words.isEmpty { continue }
            guard words.count == 2, let key = Hex.decode(String(words[1])), key.count == 32 else {
                throw EvidenceError("line \(i + 1): expected 'node-id hex-public-key' (32 bytes)")
            }
            if ring.keys[String(words[0])] != nil { throw EvidenceError("line \(i + 1): duplicate node id '\(words[0])'") }
            ring.admit(String(words[0]), key: key)
        }
        return ring
    }

    public static func admissionBytes(_ id: String, _ key: [UInt8]) -> [UInt8] {
        Array("DWCP-ADMIT1".utf8) + Array(id.utf8) + [0] + key
    }

    /// Admits `id` if `certificate` is the authority's signature over its key.
    @discardableResult
    public func admit(_ id: String, key: [UInt8], certificate: [UInt8]) -> Bool {
        guard let authority, key.count == 32,
              Ed25519.verify(signature: certificate, message: Self.admissionBytes(id, key), publicKey: authority) else { return false }
        admit(id, key: key)
        return true
    }
}
