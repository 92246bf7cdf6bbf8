import DWCPCore

/// A protocol message as its sender signed it: who, which slot (epoch/view and sequence), what
/// (the payload's SHA-256), a nonce and the sender's send time. The signature covers exactly
/// `signedBytes`, so any change to any field invalidates it.
public struct SignedMessage: Equatable, Sendable {
    public var sender: String
    public var epoch: UInt64
    public var seq: UInt64
    public var digest: [UInt8]
    public var nonce: [UInt8]
    public var sentMs: Int64
    public var signature: [UInt8]

    public init(sender: String, epoch: UInt64, seq: UInt64, digest: [UInt8], nonce: [UInt8], sentMs: Int64, signature: [UInt8] = []) {
        self.sender = sender
        self.epoch = epoch
        self.seq = seq
        self.digest = digest
        self.nonce = nonce
        self.sentMs = sentMs
        self.signature = signature
    }

    /// `"DWCP-EV1"`, then length-prefixed sender, epoch, seq, digest, nonce, send time; integers
    /// big-endian (docs/REPUTATION.md).
    public var signedBytes: [UInt8] {
        var b = Array("DWCP-EV1".utf8)
        func u64(_ v: UInt64) { for i in (0..<8).reversed() { b.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) } }
        let s = Array(sender.utf8)
        b.append(UInt8(s.count >> 8)); b.append(UInt8(s.count & 255)); b += s
        u64(epoch); u64(seq)
        b.append(UInt8(digest.count)); b += digest
        b.append(UInt8(nonce.count)); b += nonce
        u64(UInt64(bitPattern: sentMs))
        return b
    }

    public mutating func sign(with pair: Ed25519.KeyPair) throws { signature = try Ed25519.sign(signedBytes, with: pair) }

    public var json: String {
        "{\"sender\":\(JSONValue.quote(sender)),\"epoch\":\(epoch),\"seq\":\(seq),\"digest\":\"\(Hex.encode(digest))\",\"nonce\":\"\(Hex.encode(nonce))\",\"sent_ms\":\(sentMs),\"sig\":\"\(Hex.encode(signature))\"}"
    }

    public static func parse(_ v: JSONValue) throws -> SignedMessage {
        func field(_ k: String) throws -> JSONValue {
            guard let x = v[k] else { throw EvidenceError("message lacks \"\(k)\"") }
            return x
        }
        func uint(_ k: String) throws -> UInt64 {
            guard let n = try field(k).number, n >= 0, n == n.rounded(), n < 9e15 else { throw EvidenceError("\"\(k)\" must be a whole number ≥ 0") }
            return UInt64(n)
        }
        func hex(_ k: String, _ count: ClosedRange<Int>) throws -> [UInt8] {
            guard let s = try field(k).string, let b = Hex.decode(s), count.contains(b.count) else {
                throw EvidenceError("\"\(k)\" must be hex (\(count.lowerBound)–\(count.upperBound) bytes)")
            }
            return b
        }
        guard let sender = try field("sender").string, !sender.isEmpty, sender.utf8.count < 256 else { throw EvidenceError("\"sender\" must be a node id") }
        guard let sent = try field("sent_ms").number, abs(sent) < 9e15, sent == sent.rounded() else { throw EvidenceError("\"sent_ms\" must be whole milliseconds") }
        return SignedMessage(sender: sender, epoch: try uint("epoch"), seq: try uint("seq"), digest: try hex("digest", 32...32),
                             nonce: try hex("nonce", 0...64), sentMs: Int64(sent), signature: try hex("sig", 0...64))
    }
}

/// One evidence record: a message as `observer` received it from the authenticated link `peer`
/// at `recvMs`. PBFT nodes write one per message received (docs/REPUTATION.md).
public struct EvidenceRecord: Equatable, Sendable {
    public var observer: String
    public var peer: String
    public var recvMs: Int64
    public var message: SignedMessage

    public init(observer: String, peer: String, recvMs: Int64, message: SignedMessage) {
        self.observer = observer
        self.peer = peer
        self.recvMs = recvMs
        self.message = message
    }

    public var json: String {
        "{\"observer\":\(JSONValue.quote(observer)),\"peer\":\(JSONValue.quote(peer)),\"recv_ms\":\(recvMs),\"msg\":\(message.json)}"
    }

    public static func parse(_ line: Substring) throws -> EvidenceRecord {
        let v: JSONValue
        do { v = try JSONValue.parse(line) } catch { throw EvidenceError("\(error)") }
        guard let observer = v["observer"]?.string, !observer.isEmpty else { throw EvidenceError("\"observer\" must be a node id") }
        guard let peer = v["peer"]?.string, !peer.isEmpty else { throw EvidenceError("\"peer\" must be a node id") }
        guard let recv = v["recv_ms"]?.number, abs(recv) < 9e15, recv == recv.rounded() else { throw EvidenceError("\"recv_ms\" must be whole milliseconds") }
        guard let msg = v["msg"], msg.fields != nil else { throw EvidenceError("\"msg\" must be an object") }
        return EvidenceRecord(observer: observer, peer: peer, recvMs: Int64(recv), message: try SignedMessage.parse(msg))
    }
}

/// A malformed evidence record or proof.
public struct EvidenceError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}
