import DWCPCore

/// What the detectors conclude, one JSON line each (docs/REPUTATION.md).
public struct Finding: Sendable {
    /// What a finding says; each case tells whether it is proven or statistical.
    public enum Kind: String, Sendable {
        /// Two valid signatures by one key over different content for one slot: proven.
        case equivocation
        /// A message whose signature does not verify: proven bad, blamed on the link peer.
        case invalidSignature = "invalid_signature"
        /// A message delivered again after the grace period, or older than the window: blamed on
        /// the peer that delivered it.
        case replay
        /// An identity with no admission (allow-list or certificate): reported, not trusted.
        case unadmitted
        /// Too many late or future-stamped messages for chance (statistical, with confidence).
        case timing
        /// Consistently slower than its peers (statistical; reported, not quarantined).
        case slow
        /// A node's standing changed (ok / suspect / quarantined).
        case score
    }

    public var kind: Kind
    /// The node blamed or described.
    public var node: String
    public var certain: Bool
    /// For statistical findings: confidence in [0, 1].
    public var confidence: Double?
    /// Extra fields, already JSON values, in order.
    public var detail: [(String, String)] = []
    public var proof: EquivocationProof?

    public init(_ kind: Kind, node: String, certain: Bool, confidence: Double? = nil, detail: [(String, String)] = []) {
        self.kind = kind
        self.node = node
        self.certain = certain
        self.confidence = confidence
        self.detail = detail
    }

    public var json: String {
        var parts = ["\"finding\":\"\(kind.rawValue)\"", "\"node\":\(JSONValue.quote(node))", "\"certain\":\(certain)"]
        if let c = confidence { parts.append("\"confidence\":\(Self.number(c))") }
        for (k, v) in detail { parts.append("\(JSONValue.quote(k)):\(v)") }
        if let p = proof { parts.append("\"proof\":\(p.json)") }
        return "{" + parts.joined(separator: ",") + "}"
    }

    static func number(_ x: Double) -> String {
        guard x.isFinite else { return "null" }
        let r = (x * 10000).rounded() / 10000
        return r == r.rounded() && abs(r) < 1e15 ? String(Int(r)) : String(r)
    }
}

/// A transferable proof of equivocation: the sender's key and two messages it signed for the
/// same slot with different content. Anyone can check it (`dwcp-rep verify-proof`) without
/// trusting whoever produced it.
public struct EquivocationProof: Sendable {
    public var publicKey: [UInt8]
    public var a: SignedMessage
    public var b: SignedMessage

    public var json: String { "{\"type\":\"equivocation\",\"public_key\":\"\(Hex.encode(publicKey))\",\"a\":\(a.json),\"b\":\(b.json)}" }

    /// Nil when the proof holds; else why not.
    public func problem() -> String? {
        if a.sender != b.sender { return "the two messages name different senders" }
        if a.epoch != b.epoch || a.seq != b.seq { return "the two messages are for different slots" }
        if a.digest == b.digest { return "the two messages carry the same content" }
        if !Ed25519.verify(signature: a.signature, message: a.signedBytes, publicKey: publicKey) { return "message a's signature does not verify" }
        if !Ed25519.verify(signature: b.signature, message: b.signedBytes, publicKey: publicKey) { return "message b's signature does not verify" }
        return nil
    }

    public static func parse(_ v: JSONValue) throws -> EquivocationProof {
        let p = v["proof"] ?? v
        guard p["type"]?.string == "equivocation" else { throw EvidenceError("not an equivocation proof (\"type\")") }
        guard let k = p["public_key"]?.string, let key = Hex.decode(k), key.count == 32 else { throw EvidenceError("\"public_key\" must be 32 bytes of hex") }
        guard let a = p["a"], let b = p["b"] else { throw EvidenceError("a proof needs messages \"a\" and \"b\"") }
        return EquivocationProof(publicKey: key, a: try SignedMessage.parse(a), b: try SignedMessage.parse(b))
    }
}
