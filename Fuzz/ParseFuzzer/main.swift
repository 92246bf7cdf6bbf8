// libFuzzer entry point over every parser that reads input a user or a peer controls, other
// than the DWCP stream (DecodeFuzzer has that): the transport's handshake and message headers
// (a stranger connecting to dwcp-recv's port), its --resume checkpoint file, JSON lines as
// JSONValue reads them (placement requests and node lists, evidence, reputation state), the
// journal `dwcp-migrate receive` replays after a crash, bandwidth samples through the binner
// and every forecaster, GRU model files, VBP instances (packed and audited) and bounds tables,
// key rings, sizes, rates and durations on the command line. Built and run by `make fuzz` with
// `-sanitize=fuzzer,address`.
//
// The first byte picks the parser; the rest is its input. Every input must parse or be refused
// with an error: a trap (overflow, out-of-range index, force unwrap), a hang or unbounded
// allocation is a finding. Where the toolkit promises more than "no crash", that is checked too:
// forecasts and their bands are finite and positive whatever the samples say.
import DWCPCLI
import DWCPCodec
import DWCPCore
import DWCPMigrate
import DWCPPlace
import DWCPPredict
import DWCPRep
import DWCPSystem
import DWCPTransport
#if canImport(Glibc)
import Glibc
#endif

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<Int32>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> Int32) -> Int32

/// The parsers, in the order of the selector byte (its value modulo their count).
let targets: [(name: String, run: ([UInt8]) -> Void)] = [
    ("json", fuzzJSON),
    ("samples", fuzzSamples),
    ("gru-model", fuzzModelFile),
    ("placement", fuzzPlacement),
    ("vbp", fuzzVBP),
    ("evidence", fuzzEvidence),
    ("reputation-state", fuzzReputationState),
    ("wire", fuzzWire),
    ("checkpoint", fuzzCheckpoint),
    ("image-journal", fuzzImageJournal),
    ("units", fuzzUnits),
]

func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

func lines(_ bytes: [UInt8]) -> [Substring] { text(bytes).split(separator: "\n", omittingEmptySubsequences: false) }

func fuzzJSON(_ bytes: [UInt8]) {
    for line in lines(bytes) {
        guard let v = try? JSONValue.parse(line) else { continue }
        // What the parser accepts, the toolkit's writers must be able to print and read back.
        if case .string(let s) = v, (try? JSONValue.parse(JSONValue.quote(s))) != v { fatalError("quote does not round-trip") }
    }
}

/// dwcp-predict's path: sample lines, 1 s bins, every model at once (auto), a forecast per line.
func fuzzSamples(_ bytes: [UInt8]) {
    var parser = SampleParser()
    var binner = Binner(holeLimit: 6)
    let selector = ModelCatalog.auto(grus: [], horizons: [1, 5, 10])
    for line in lines(bytes) {
        guard let sample = try? parser.parse(line) else { continue }
        for bin in binner.add(sample) {
            if let b = bin { selector.observe(b) } else { selector.reset() }
        }
        for h in [1, 5, 10] {
            guard let d = selector.detail(horizon: h) else { continue }
            guard d.forecast.isFinite, d.forecast > 0, d.p10.isFinite, d.p90.isFinite, d.p10 >= 0, d.p90 >= 0 else {
                fatalError("forecast \(d) for horizon \(h) after \(sample)")
            }
        }
    }
}

/// A model file (version 1 has no digest, so mutations reach every line), then the loaded model
/// forecasting a short series.
func fuzzModelFile(_ bytes: [UInt8]) {
    guard let model = try? GRUModel.parse(text(bytes)) else { return }
    let selector = ModelCatalog.auto(grus: [model], horizons: model.horizons.filter { $0 <= 3600 }.prefix(4).map { $0 })
    for (i, bps) in [1e6, 2e6, 5e5, 1e9, 3e3, 1e6].enumerated() {
        selector.observe(bps)
        for h in model.horizons.prefix(4) where h <= 3600 {
            if let d = selector.detail(horizon: h), !(d.forecast.isFinite && d.forecast > 0) {
                fatalError("model forecast \(d.forecast) at bin \(i), horizon \(h)")
            }
        }
    }
}

/// dwcp-place decide --follow: a node list (the input up to a line "---"), then requests placed
/// and released one by one under both objectives.
func fuzzPlacement(_ bytes: [UInt8]) {
    let all = lines(bytes)
    let cut = all.firstIndex(of: "---") ?? all.count / 2
    guard let (space, nodes) = try? NodeListReader.parse(all[..<cut].joined(separator: "\n"), name: "nodes") else { return }
    for objective in Objective.allCases {
        let session = PlacementSession(space: space, nodes: nodes, objective: objective,
                                       excluded: QuarantineList.parse(all.prefix(2).joined(separator: "\n")))
        var reader = RequestReader(space: space)
        for line in all.dropFirst(min(cut + 1, all.count)) {
            guard let record = try? reader.parse(line) else { continue }
            switch record {
            case .place(let r): _ = try? session.decide(r)
            case .release(let id): _ = try? session.release(id)
            }
        }
    }
}

/// dwcp-place eval: an instance parsed, then packed by every algorithm (small ones: the search is
/// the slow part), each packing audited for capacity as `eval` audits it.
func fuzzVBP(_ bytes: [UInt8]) {
    _ = try? BoundsTable.parse(text(bytes), name: "fuzz")
    guard let instance = try? VBPInstance.parse(text(bytes), name: "fuzz"), instance.items.count <= 64 else { return }
    let (make, items) = instance.problem()
    for algorithm in PackingAlgorithm.allCases {
        let (cluster, handles) = algorithm.run(items, make: make, options: PackingAlgorithm.Options(steps: 20, attempts: 1))
        do {
            try Audit.check(cluster, items: items, handles: handles, algorithm: algorithm.rawValue, instance: "fuzz")
        } catch {
            fatalError("\(error)")
        }
    }
}

/// dwcp-rep detect: key rings and evidence lines through the detector (signatures taken as
/// valid, so records reach every rule), and proofs as dwcp-rep verify reads them.
func fuzzEvidence(_ bytes: [UInt8]) {
    _ = try? KeyRing.parse(text(bytes))
    let detector = Detector(config: Detector.Config())
    for line in lines(bytes) {
        if let r = try? EvidenceRecord.parse(line) { _ = detector.process(r, signature: .valid, key: nil) }
        if let v = try? JSONValue.parse(line) { _ = try? EquivocationProof.parse(v) }
    }
}

func fuzzReputationState(_ bytes: [UInt8]) {
    try? StateFile.restore(text(bytes), into: Detector(config: Detector.Config()))
}

/// What a stranger sends dwcp-recv's port first (HELLO), what a receiver answers (CHALLENGE,
/// WELCOME), and message headers with a cancel reason after them.
func fuzzWire(_ bytes: [UInt8]) {
    _ = try? Hello.decode(bytes)
    _ = try? Challenge.decode(bytes)
    _ = try? Welcome.decode(bytes)
    var at = 0
    while at + Wire.messageHeaderLength <= bytes.count {
        let h = bytes.withUnsafeBytes { try? MessageHeader.decode($0.baseAddress! + at) }
        at += Wire.messageHeaderLength
        guard let h, h.kind == .cancel || h.kind == .end else { continue }
        let payload = Array(bytes[at..<min(bytes.count, at + Int(h.length))])
        if h.kind == .cancel { _ = Wire.cancelReason(payload) }
        at += payload.count
    }
}

/// Where the file targets write: one directory per fuzzing process, removed when it exits.
let scratch: String = {
    var template = Array("/tmp/dwcp-parse-fuzz-XXXXXX".utf8CString)
    guard mkdtemp(&template) != nil else { fatalError("mkdtemp: \(errno)") }
    atexit { _ = system("rm -rf \(scratch)") }
    return String(cString: template)
}()

/// The image rounds apply through: two pages, the same before every input.
let journalImage = [UInt8]((0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 31) })

/// Replaces the file at `path` with `bytes`. A failed write would fuzz a stale file unnoticed,
/// so it stops the fuzzer.
func writeFile(_ path: String, _ bytes: [UInt8]) {
    do {
        let fd = try FileDescriptor.create(path, overwrite: true, mode: 0o600)
        defer { fd.close() }
        try fd.writeAll(bytes)
    } catch {
        fatalError("\(path): \(error)")
    }
}

/// dwcp-recv --resume reading the checkpoint file a killed receiver left.
func fuzzCheckpoint(_ bytes: [UInt8]) {
    let path = scratch + "/output.dwcp-recv"
    writeFile(path, bytes)
    _ = try? ReceiveCheckpoint.open(path)
}

/// dwcp-migrate receive -o (and recover) after a crash: the journal beside the image, replayed
/// if committed and intact, deleted if it never was, refused (exit 3) if it is damaged.
func fuzzImageJournal(_ bytes: [UInt8]) {
    let image = scratch + "/image"
    for leftover in [ImageJournal.applyingPath(for: image), ImageJournal.partialPath(for: image)] { unlink(leftover) }
    writeFile(image, journalImage)
    writeFile(ImageJournal.journalPath(for: image), bytes)
    _ = try? ImageJournal.recover(image: image)
}

func fuzzUnits(_ bytes: [UInt8]) {
    for line in lines(bytes) {
        let s = String(line)
        _ = Units.parseBytes(s)
        _ = Units.parseBitRate(s)
        _ = Units.parseDuration(s)
        _ = CodecSetting.parse(s)
    }
}

func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size > 0 else { return 0 }
    let target = targets[Int(data[0]) % targets.count]
    target.run(Array(UnsafeBufferPointer(start: data + 1, count: size - 1)))
    return 0
}

// MARK: Seeds

/// One valid input per parser, written by the toolkit's own writers (so they stay true to the
/// formats, and those with a reader of their own are read back here first):
/// `DWCP_FUZZ_SEEDS=DIR ParseFuzzer` fills DIR and exits. Checksummed formats (model
/// files, checkpoint records, reputation state, signatures) keep mutations at their checks, but
/// libFuzzer's comparison tracing still walks the fields in front of them.
func writeSeeds(to dir: String) throws {
    func seed(_ name: String, _ parser: String, _ bytes: [UInt8]) {
        writeFile("\(dir)/\(name)", [UInt8(targets.firstIndex { $0.name == parser }!)] + bytes)
    }
    func seed(_ name: String, _ parser: String, _ text: String) { seed(name, parser, Array(text.utf8)) }

    seed("nested-object", "json", #"{"return": {"status": "active", "ram": {"transferred": 1234, "remaining": 5.5e8}}, "id": "q\u00e9"}"#)
    var samples = ""
    var random = SplitMix(seed: 7)
    for i in 0..<16 { samples += #"{"t":\#(Double(i) * 0.7),"bps":\#(1e6 * (1 + random.nextUnit())),"rtt_ms":\#(20 + i % 7)}"# + "\n" }
    seed("samples", "samples", samples + #"{"t":12,"bps":0}"# + "\n" + #"{"t":1e12,"bps":5e6}"# + "\n")

    let network = GRUNetwork(inputs: GRUFeatures.count, hidden: 2, outputs: 2, seed: 3)
    var model = GRUModel(networks: [network], horizons: [1, 5], priors: ["last": [1: 0.9]],
                         profile: LinkProfile(level: 15, volatility: 0.2), scoreAlpha: 0.01, blend: 2).serialized()
    // Version 1 (no digest line), so mutations reach every line.
    model = (["dwcp-gru 1"] + model.split(separator: "\n").dropFirst().dropLast()).joined(separator: "\n") + "\n"
    _ = try GRUModel.parse(model)
    seed("model", "gru-model", model)

    seed("placement", "placement", """
        {"node":"a","cpu":32,"memory":131072,"gpu":4,"gpu_model":"T4","region":"eu","zone":"eu-1","domain":"r1"}
        {"node":"b","cpu":16,"memory":65536,"region":"us","zone":"us-1","domain":"r2","reputation":0.7}
        ---
        {"vm":"db-1","cpu":8,"memory":32768,"group":"db","anti_affinity":true}
        {"vm":"web-1","cpu":2,"memory":4096,"gpu":0.5,"gpu_models":["T4"],"pin":["a"],"region":"eu"}
        {"release":"db-1"}

        """)
    seed("placement-csv", "placement", "node,cpu,memory\na,4,8\nb,8,16\n---\nvm,cpu,memory,phase\nx,1,2,Running\ny,9,1,Failed\n")
    seed("vbp", "vbp", "3 2\n10 10\n4 5\n6 5\n3 3\n")
    seed("bounds", "vbp", "instance,lower,upper\ncl_01_001,3,4\n")

    let simulator = TraceSimulator(nodes: 4, byzantine: 0.5, rounds: 4, fanout: 2, seed: 5)
    let population = try simulator.population()
    var evidence = population.filter(\.admitted).map { "\($0.id) \(Hex.encode($0.keys.publicKey))\n" }.joined()
    let detector = Detector(config: Detector.Config())
    try simulator.run(population) { r in
        if evidence.utf8.count < 3000 { evidence += r.json + "\n" }
        _ = detector.process(r, signature: .valid, key: nil)
    }
    _ = try KeyRing.parse(evidence.split(separator: "\n").prefix { !$0.hasPrefix("{") }.joined(separator: "\n"))
    seed("evidence", "evidence", evidence)
    try StateFile.restore(StateFile.encode(detector), into: Detector(config: Detector.Config()))
    seed("reputation-state", "reputation-state", StateFile.encode(detector))

    let session = (0..<16).map { UInt8($0 * 7) }
    var wire = Hello(flags: Hello.authFlag, streamIndex: 1, session: session, nonce: Array(session.reversed()),
                     chunkSize: 1 << 20, streams: 4, window: 64 << 20).encoded()
    wire += Challenge(nonce: session).encoded()
    wire += Welcome(status: .ok, nextExpected: 3, window: 1 << 20, proof: [UInt8](repeating: 9, count: Wire.proofLength)).encoded()
    let reason = Array("disk full".utf8)
    var header = [UInt8](repeating: 0, count: Wire.messageHeaderLength)
    header.withUnsafeMutableBytes { MessageHeader(kind: .cancel, length: UInt32(reason.count), sequence: 0, offset: 0, checksum: 0).store(to: $0.baseAddress!) }
    seed("wire", "wire", wire + header + reason)

    let path = "\(dir)/.checkpoint"
    let (checkpoint, _) = try ReceiveCheckpoint.open(path)
    try checkpoint.record(session: session, first: 0, checksums: [1, 2, 3], bytes: 3 << 20)
    try checkpoint.record(session: session, first: 3, checksums: [4], bytes: 4 << 20)
    let saved = try FileDescriptor.openForReading(path)
    var bytes = [UInt8](repeating: 0, count: Int(saved.sizeIfSeekable()!))
    _ = try bytes.withUnsafeMutableBytes { try saved.readFully(into: $0.baseAddress!, count: $0.count, at: 0) }
    saved.close()
    let (_, restored) = try ReceiveCheckpoint.open(path)
    guard restored?.chunks == 4 else { fatalError("checkpoint seed reads back as \(String(describing: restored))") }
    checkpoint.remove()
    seed("checkpoint", "checkpoint", bytes)

    let image = "\(dir)/.image"
    writeFile(image, journalImage)
    let journal = try ImageJournal.Writer(path: ImageJournal.journalPath(for: image), round: 3, baselinePath: image, durable: false)
    var round = journalImage
    round[100] ^= 0xFF
    try round.withUnsafeBytes { try journal.take($0.baseAddress!, $0.count) }
    try journal.commit()
    let journalBytes = try FileDescriptor.openForReading(ImageJournal.journalPath(for: image)).readToEnd()
    guard case .replayed(round: 3, _, _) = try ImageJournal.recover(image: image) else { fatalError("journal seed did not replay") }
    unlink(image)
    seed("image-journal", "image-journal", journalBytes)

    seed("units", "units", "64MiB\n1.5Gbit\n250ms\nzstd:19\nlz4:-3\n100MB/s\n2h\n")
}

@_cdecl("ParseFuzzer_main")
func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    if let dir = getenv("DWCP_FUZZ_SEEDS") {
        do { try writeSeeds(to: String(cString: dir)) } catch { fatalError("writing seeds: \(error)") }
        return 0
    }
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv, { data, size in fuzzOneInput(data, size) })
}
