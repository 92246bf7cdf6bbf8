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
                       buffers: BufferPools? = nil, concatenated: Bool = false) -> (output: [UInt8], error: Error?) {
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
        var error: Error?
        do { _ = try decoder.decode(inFD, to: outFD) } catch let e { error = e }
        outFD.close()
        return (scratch.read("decoded"), error)
    }
}
