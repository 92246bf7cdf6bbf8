import DWCPCore

/// The detectors, as one pure state machine: feed it evidence records (with the outcome of
/// their signature check) in order, get findings back. No I/O, no clock, no randomness, so
/// traces replay exactly and tests drive it directly.
///
/// What each finding can prove, and whom it blames:
/// - invalid signature: the message is certainly bad, and the authenticated link peer sent it;
///   the id the message claims is never blamed (anyone can claim any id);
/// - equivocation: the sender signed two contents for one slot; certain, with a proof;
/// - replay: a signed (epoch, seq, nonce) delivered again after the grace period, relayed by
///   another node more than the grace period after it first went round (or, unseen, signed
///   longer ago than grace + timeout), or older than the sender's window: the delivering peer
///   is blamed;
/// - timing and slowness: statistical, see `ReputationBook`;
/// - Sybil: undetectable from messages; identities without admission are reported.
public final class Detector {
    /// The detector's thresholds; the defaults are docs/REPUTATION.md's.
    public struct Config: Sendable {
        /// A duplicate delivered within this of the first copy is a retransmission, not a replay.
        public var replayGraceMs: Int64 = 2000
        /// Slots per sender remembered for replay and equivocation checks; older ones are stale.
        public var window: UInt64 = 1024
        public var reputation = ReputationConfig()
        public init() {}
    }

    /// The outcome of checking a record's signature.
    public enum Signature: Sendable {
        case valid, invalid
        /// The sender has no admitted key.
        case unadmitted
    }

    public let config: Config
    public let book: ReputationBook
    var senders: [String: SenderWindow] = [:]
    var reportedUnadmitted = Set<String>()
    public internal(set) var records = 0

    /// Reference types, so updating one slot does not copy a sender's whole window.
    final class Slot {
        var first: SignedMessage
        /// When any observer first received it.
        var firstRecvMs: Int64
        init(first: SignedMessage, at: Int64) {
            self.first = first
            firstRecvMs = at
        }
        var equivocated = false
        /// (observer, nonce) → first receive time.
        var deliveries: [Delivery: Int64] = [:]
    }

    struct Delivery: Hashable {
        var observer: String
        var nonce: [UInt8]
    }

    struct SlotKey: Hashable, Comparable {
        var epoch: UInt64
        var seq: UInt64
        static func < (a: SlotKey, b: SlotKey) -> Bool { (a.epoch, a.seq) < (b.epoch, b.seq) }
    }

    final class SenderWindow {
        var newest = SlotKey(epoch: 0, seq: 0)
        var slots: [SlotKey: Slot] = [:]
    }

    public init(config: Config) {
        self.config = config
        book = ReputationBook(config: config.reputation)
    }

    /// Processes one record. `key` is the sender's public key (for proofs).
    public func process(_ r: EvidenceRecord, signature: Signature, key: [UInt8]?) -> [Finding] {
        records += 1
        book.now = r.recvMs
        let m = r.message
        var out: [Finding] = []
        switch signature {
        case .unadmitted:
            book.countMessage(m.sender)
            if reportedUnadmitted.insert(m.sender).inserted {
                out.append(Finding(.unadmitted, node: m.sender, certain: true, detail: [("observer", JSONValue.quote(r.observer))]))
                if let f = book.prove(m.sender, "no admission (not in the allow-list, no valid certificate)") { out.append(f) }
            }
            return out
        case .invalid:
            book.countMessage(r.peer)
            out.append(Finding(.invalidSignature, node: r.peer, certain: true,
                               detail: [("claimed_sender", JSONValue.quote(m.sender)), ("observer", JSONValue.quote(r.observer)),
                                        ("epoch", "\(m.epoch)"), ("seq", "\(m.seq)")]))
            if let f = book.prove(r.peer, "delivered a message whose signature does not verify") { out.append(f) }
            return out
        case .valid:
            break
        }
        book.countMessage(m.sender)
        let keySlot = SlotKey(epoch: m.epoch, seq: m.seq)
        let w: SenderWindow
        if let known = senders[m.sender] { w = known } else { w = SenderWindow(); senders[m.sender] = w }
        let culprit = r.peer
        if let slot = w.slots[keySlot] {
            if slot.first.digest != m.digest {
                if !slot.equivocated {
                    slot.equivocated = true
                    var f = Finding(.equivocation, node: m.sender, certain: true, detail: [("epoch", "\(m.epoch)"), ("seq", "\(m.seq)")])
                    if let key { f.proof = EquivocationProof(publicKey: key, a: slot.first, b: m) }
                    out.append(f)
                    if let s = book.prove(m.sender, "signed two different messages for epoch \(m.epoch) seq \(m.seq)") { out.append(s) }
                }
                return out
            }
            let d = Delivery(observer: r.observer, nonce: m.nonce)
            // Again to the same observer after the grace period, or relayed by someone else
            // long after it first went round: honest nodes retransmit and relay promptly.
            let again = slot.deliveries[d].map { r.recvMs - $0 > config.replayGraceMs } ?? false
            let lateRelay = culprit != m.sender && r.recvMs - slot.firstRecvMs > config.replayGraceMs
            if again || lateRelay {
                let first = slot.deliveries[d] ?? slot.firstRecvMs
                return replay(r, [("first_seen_ms", "\(first)"), ("again_ms", "\(r.recvMs)")],
                              "replayed a message first delivered \(r.recvMs - first) ms earlier")
            }
            if slot.deliveries[d] != nil { return out }  // a prompt retransmission
            slot.deliveries[d] = r.recvMs
        } else {
            // A relay of a message signed long ago that nobody here has seen: a replay too.
            let oldRelay = culprit != m.sender && r.recvMs - m.sentMs > config.replayGraceMs + config.reputation.timeoutMs
            if isStale(keySlot, w) { return replay(r, [("stale", "true")], "delivered a message older than the sender's window") }
            if oldRelay {
                return replay(r, [("stale", "true")], "relayed a message signed \(r.recvMs - m.sentMs) ms earlier that had not gone round")
            }
            let slot = Slot(first: m, at: r.recvMs)
            slot.deliveries[Delivery(observer: r.observer, nonce: m.nonce)] = r.recvMs
            w.slots[keySlot] = slot
            if w.newest < keySlot { w.newest = keySlot }
            prune(w)
        }
        // Latency speaks for the sender only when the sender delivered it itself.
        if r.peer == m.sender { out += book.observe(m.sender, latencyMs: r.recvMs - m.sentMs) }
        return out
    }

    /// A replay, blamed on the peer that delivered it (the sender itself when it re-sent).
    private func replay(_ r: EvidenceRecord, _ detail: [(String, String)], _ reason: String) -> [Finding] {
        let m = r.message
        if r.peer != m.sender { book.countMessage(r.peer) }
        var out = [Finding(.replay, node: r.peer, certain: true,
                           detail: [("sender", JSONValue.quote(m.sender)), ("observer", JSONValue.quote(r.observer)), ("epoch", "\(m.epoch)"),
                                    ("seq", "\(m.seq)")] + detail)]
        if let s = book.prove(r.peer, reason) { out.append(s) }
        return out
    }

    private func isStale(_ k: SlotKey, _ w: SenderWindow) -> Bool {
        if w.slots.isEmpty { return false }
        if k.epoch + 1 < w.newest.epoch { return true }
        return k.epoch == w.newest.epoch && k.seq + config.window < w.newest.seq
    }

    /// Keeps a sender's memory bounded: slots outside the window go, and if a sender still has
    /// more than twice the window (valid messages for an old epoch, at arbitrary sequence
    /// numbers, which only its own key can make), only the newest `window` slots stay.
    private func prune(_ w: SenderWindow) {
        guard UInt64(w.slots.count) > 2 * config.window else { return }
        let newest = w.newest
        w.slots = w.slots.filter { k, _ in
            !(k.epoch + 1 < newest.epoch || (k.epoch == newest.epoch && k.seq + config.window < newest.seq))
        }
        if UInt64(w.slots.count) > 2 * config.window {
            let keep = Set(w.slots.keys.sorted().suffix(Int(config.window)))
            w.slots = w.slots.filter { keep.contains($0.key) }
        }
    }
}
