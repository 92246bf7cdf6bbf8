import DWCPCodec
import DWCPCore
import DWCPSystem
import Foundation
import XCTest

/// Files in a fresh temporary directory, removed when the test case ends.
final class Scratch {
    let directory: URL

    init() {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("dwcp-test-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) -> String {
        let p = path(name)
        FileManager.default.createFile(atPath: p, contents: Data(bytes))
        return p
    }

    func read(_ name: String) -> [UInt8] { [UInt8](FileManager.default.contents(atPath: path(name)) ?? Data()) }
}

/// Deterministic test data (xorshift), so failures reproduce.
struct TestData {
    var state: UInt64

    init(seed: UInt64) { state = seed | 1 }

    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }

    mutating func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8(truncatingIfNeeded: next()) } }

    /// Compressible text-like bytes.
    mutating func text(_ n: Int) -> [UInt8] {
        let words = ["page", "frame", "migrate", "zero", "dirty", "baseline", " ", " ", "\n", "0x7f3a"]
        var out: [UInt8] = []
        while out.count < n { out += Array(words[Int(next() % UInt64(words.count))].utf8) }
        return Array(out.prefix(n))
    }

    /// An image like VM memory: zero pages, repeated pages, text pages and random pages.
    mutating func memoryImage(pages: Int, pageSize: Int = 4096) -> [UInt8] {
        var out: [UInt8] = []
        var earlier: [[UInt8]] = []
        for _ in 0..<pages {
            let page: [UInt8]
            switch next() % 8 {
            case 0, 1: page = [UInt8](repeating: 0, count: pageSize)
            case 2 where !earlier.isEmpty: page = earlier[Int(next() % UInt64(earlier.count))]
            case 3, 4: page = text(pageSize)
            default: page = bytes(pageSize)
            }
            earlier.append(page)
            out += page
        }
        return out
    }
}

enum Codec {
    /// Encodes `input` with `configure` applied; returns the stream and the stats.
    static func encode(_ input: [UInt8], scratch: Scratch, name: String = "in", configure: (inout EncoderConfiguration) -> Void = { _ in })
        throws -> (stream: [UInt8], stats: EncodeStats) {
        let inPath = scratch.write(name, input)
        var c = EncoderConfiguration()
        c.threads = 2
        configure(&c)
        let inFD = try FileDescriptor.openForReading(inPath)
        defer { inFD.close() }
        let outPath = scratch.path(name + ".dwcp")
        let outFD = try FileDescriptor.create(outPath, overwrite: true)
        defer { outFD.close() }
        let stats = try StreamEncoder(configuration: c).encode(InputChain([inFD]), to: outFD)
        return (scratch.read(name + ".dwcp"), stats)
    }

    /// Decodes `stream`; returns what was written (even if decoding then failed) and the error.
    static func decode(_ stream: [UInt8], scratch: Scratch, baseline: String? = nil, identity: BaselineIdentity? = nil, threads: Int = 2,
                       buffers: BufferPools? = nil, concatenated: Bool = false, zstdReference: ReferenceFiles? = nil) -> (output: [UInt8], error: Error?) {
        let inPath = scratch.write("stream", stream)
        let inFD = try! FileDescriptor.openForReading(inPath)
        defer { inFD.close() }
        let outFD = try! FileDescriptor.create(scratch.path("decoded"), overwrite: true)
        let decoder = StreamDecoder()
        decoder.threads = threads
        decoder.baselinePath = baseline
        decoder.baselineIdentity = identity
        if let buffers { decoder.buffers = buffers }
        decoder.concatenated = concatenated
        decoder.zstdReference = zstdReference
        var error: Error?
        do { _ = try decoder.decode(inFD, to: outFD) } catch let e { error = e }
        outFD.close()
        return (scratch.read("decoded"), error)
    }
}

/// Frames built by hand with valid checksums, for streams no encoder writes (XXH3 is no MAC, so
/// a crafted stream carries valid ones).
enum CraftedFrame {
    /// A data frame whose literal section is stored raw.
    static func data(sequence: UInt64, offset: UInt64, ops: [BlockOp], literal: [UInt8] = [],
                     decodedLength: Int, decodedChecksum: UInt64) -> [UInt8] {
        var opBytes: [UInt8] = []
        for op in ops { op.append(to: &opBytes) }
        var payload = [UInt8](repeating: 0, count: DataPayloadHead.encodedLength)
        let head = DataPayloadHead(codec: .none, literalFlags: 0, opsLength: UInt32(opBytes.count), refsLength: 0,
                                   literalDecodedLength: UInt32(literal.count), literalEncodedLength: UInt32(literal.count))
        payload.withUnsafeMutableBytes { head.store(to: $0.baseAddress!) }
        payload += opBytes + literal
        let frame = FrameHeader(kind: .data, payloadLength: UInt32(payload.count), sequence: sequence, offset: offset,
                                decodedLength: UInt32(decodedLength), payloadChecksum: Checksum.xxh3(payload),
                                decodedChecksum: decodedChecksum)
        return frame.encoded() + payload
    }

    /// The end frame after `sequence` data frames holding `totalLength` bytes.
    static func end(sequence: UInt64, totalLength: UInt64, digest: Digest128) -> [UInt8] {
        let end = EndPayload(totalLength: totalLength, frameCount: sequence, digest: digest).encoded()
        let frame = FrameHeader(kind: .end, payloadLength: UInt32(end.count), sequence: sequence, offset: totalLength,
                                decodedLength: 0, payloadChecksum: Checksum.xxh3(end), decodedChecksum: 0)
        return frame.encoded() + end
    }
}
