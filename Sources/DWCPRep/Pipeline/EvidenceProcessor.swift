import DWCPSystem

/// Runs evidence lines through parsing, signature checks and the detectors, as fast as the
/// signatures allow: parsing and verification run on every core in chunks; a signature already
/// checked (the same message delivered to several observers, or replayed) is not checked again;
/// the detectors then see the chunk in input order, so results do not depend on threading.
public final class EvidenceProcessor {
    public let keys: KeyRing
    public let detector: Detector
    public let workers: Int
    /// Messages already verified (true) or refuted (false), by signature; the signed bytes are
    /// compared in full on a hit, so a different message under a copied signature is checked.
    private var checked: [SignatureKey: (signed: [UInt8], valid: Bool)] = [:]

    /// A signature as eight words: hashing 8 integers, not 64 bytes one by one.
    struct SignatureKey: Hashable {
        var w: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)
        init(_ sig: [UInt8]) {
            var words = [UInt64](repeating: 0, count: 8)
            for (i, b) in sig.prefix(64).enumerated() { words[i / 8] |= UInt64(b) << (8 * UInt64(i % 8)) }
            w = (words[0], words[1], words[2], words[3], words[4], words[5], words[6], words[7])
        }
        static func == (a: Self, b: Self) -> Bool {
            a.w.0 == b.w.0 && a.w.1 == b.w.1 && a.w.2 == b.w.2 && a.w.3 == b.w.3 && a.w.4 == b.w.4 && a.w.5 == b.w.5 && a.w.6 == b.w.6 && a.w.7 == b.w.7
        }
        func hash(into h: inout Hasher) {
            h.combine(w.0); h.combine(w.1); h.combine(w.2); h.combine(w.3)
        }
    }
    private let checkedLimit = 1 << 20
    public private(set) var verifications = 0
    public private(set) var badLines = 0
    /// One verifier cache per worker (OpenSSL contexts are not shared across threads).
    private let verifiers: [VerifierCache]

    final class VerifierCache { var map: [String: Ed25519.Verifier] = [:] }

    public init(keys: KeyRing, detector: Detector, workers: Int = OSThread.processorCount) {
        self.keys = keys
        self.detector = detector
        self.workers = max(1, workers)
        verifiers = (0..<max(1, workers)).map { _ in VerifierCache() }
    }

    /// Processes a chunk of lines; returns findings in order and per-line errors (index, text).
    public func process(_ lines: [Substring]) -> (findings: [Finding], errors: [(Int, String)]) {
        // Workers write disjoint slots of raw buffers: no shared Swift array is mutated.
        let parsed = UnsafeMutableBufferPointer<Result<EvidenceRecord, EvidenceError>?>.allocate(capacity: lines.count)
        parsed.initialize(repeating: nil)
        let verdict = UnsafeMutableBufferPointer<Detector.Signature>.allocate(capacity: lines.count)
        verdict.initialize(repeating: .invalid)
        let signed = UnsafeMutableBufferPointer<[UInt8]>.allocate(capacity: lines.count)
        signed.initialize(repeating: [])
        defer {
            parsed.deinitialize()
            parsed.deallocate()
            verdict.deallocate()
            signed.deinitialize()
            signed.deallocate()
        }
        parallel(lines.count) { range, _ in
            for i in range {
                if lines[i].allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\r" }) { continue }
                do {
                    let r = try EvidenceRecord.parse(lines[i])
                    parsed[i] = .success(r)
                    signed[i] = r.message.signedBytes
                } catch let e as EvidenceError { parsed[i] = .failure(e) } catch {}
            }
        }
        var toVerify: [Int] = []
        var pendingKeys = [SignatureKey: Int]()
        var duplicateOf = [Int: Int]()
        for i in 0..<lines.count {
            guard case .success(let r)? = parsed[i] else { continue }
            guard keys.key(of: r.message.sender) != nil else { verdict[i] = .unadmitted; continue }
            let k = SignatureKey(r.message.signature)
            if let known = checked[k], known.signed == signed[i] { verdict[i] = known.valid ? .valid : .invalid } else if let j = pendingKeys[k], signed[j] == signed[i] {
                duplicateOf[i] = j
            } else {
                pendingKeys[k] = i
                toVerify.append(i)
            }
        }
        let keys = self.keys
        parallel(toVerify.count) { range, worker in
            for t in range {
                let i = toVerify[t]
                guard case .success(let r)? = parsed[i], let key = keys.key(of: r.message.sender) else { continue }
                let cache = verifiers[worker]
                let v: Ed25519.Verifier?
                if let cached = cache.map[r.message.sender] { v = cached } else {
                    v = Ed25519.Verifier(publicKey: key)
                    cache.map[r.message.sender] = v
                }
                verdict[i] = (v?.verify(r.message.signature, signed[i]) ?? false) ? .valid : .invalid
            }
        }
        verifications += toVerify.count
        if checked.count > checkedLimit { checked.removeAll(keepingCapacity: true) }
        for i in toVerify {
            if case .success(let r)? = parsed[i] { checked[SignatureKey(r.message.signature)] = (signed[i], verdict[i] == .valid) }
        }
        for (i, j) in duplicateOf { verdict[i] = verdict[j] }
        var findings: [Finding] = []
        var errors: [(Int, String)] = []
        for i in 0..<lines.count {
            switch parsed[i] {
            case .success(let r)?:
                findings += detector.process(r, signature: verdict[i], key: keys.key(of: r.message.sender))
            case .failure(let e)?:
                badLines += 1
                errors.append((i, e.description))
            case nil:
                break
            }
        }
        return (findings, errors)
    }

    /// Splits `0..<count` over the workers (the calling thread takes the first share).
    private func parallel(_ count: Int, _ body: (Range<Int>, Int) -> Void) {
        let n = min(workers, max(1, count / 64))
        if n <= 1 { body(0..<count, 0); return }
        withoutActuallyEscaping(body) { body in
            nonisolated(unsafe) let run = body
            let per = (count + n - 1) / n
            let threads = (1..<n).map { w in OSThread { run((w * per)..<min(count, (w + 1) * per), w) } }
            run(0..<min(count, per), 0)
            for t in threads { t.join() }
        }
    }
}
