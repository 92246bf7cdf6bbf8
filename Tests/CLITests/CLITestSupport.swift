import Foundation
import XCTest

/// Runs the real `dwcp-*` executables built next to the test bundle (or in `$DWCP_BIN_DIR`).
enum CLI {
    static var binDir: URL {
        if let dir = ProcessInfo.processInfo.environment["DWCP_BIN_DIR"] { return URL(fileURLWithPath: dir) }
        return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    }

    struct Result {
        var status: Int32
        var stdout: Data
        var stderr: String

        /// Standard output as text without surrounding whitespace: what a test script's
        /// closing `echo "$s $r"` printed.
        var printed: String { String(decoding: stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) }
        /// `printed` split at its spaces (exit statuses, a duration).
        var printedWords: [String] { printed.split(separator: " ").map(String.init) }
    }

    /// Runs `tool args` with `stdin` from a file (or /dev/null) and captures everything.
    static func run(_ tool: String, _ args: [String], stdin: String? = nil, stdoutFile: String? = nil) throws -> Result {
        let p = Process()
        p.executableURL = binDir.appendingPathComponent(tool)
        p.arguments = args
        p.standardInput = FileHandle(forReadingAtPath: stdin ?? "/dev/null")
        let outPipe = Pipe(), errPipe = Pipe()
        if let stdoutFile {
            FileManager.default.createFile(atPath: stdoutFile, contents: nil)
            p.standardOutput = FileHandle(forWritingAtPath: stdoutFile)
        } else {
            p.standardOutput = outPipe
        }
        p.standardError = errPipe
        try p.run()
        var out = Data()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            if stdoutFile == nil { out = outPipe.fileHandleForReading.readDataToEndOfFile() }
            group.leave()
        }
        let err = errPipe.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: out, stderr: String(decoding: err, as: UTF8.self))
    }

    /// Runs a shell pipeline with the binaries on PATH.
    static func shell(_ script: String) throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["-c", "set -o pipefail; " + script]
        var env = ProcessInfo.processInfo.environment
        env["PATH"] = binDir.path + ":" + (env["PATH"] ?? "/usr/bin:/bin")
        p.environment = env
        let outPipe = Pipe(), errPipe = Pipe()
        p.standardOutput = outPipe
        p.standardError = errPipe
        try p.run()
        let out = outPipe.fileHandleForReading.readDataToEndOfFile()
        let err = errPipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: out, stderr: String(decoding: err, as: UTF8.self))
    }
}

extension CLI {
    /// Skips the test unless `strace` is there: the tests that kill a process at an exact
    /// system call inject the signal with it (`make test` installs it).
    static func requireStrace() throws {
        guard (try? shell("command -v strace"))?.status == 0 else { throw XCTSkip("strace is not installed (make test installs it)") }
    }
}

/// A temporary directory per test.
final class TempDir {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("dwcp-cli-\(UUID().uuidString)")
    init() { try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) }
    deinit { try? FileManager.default.removeItem(at: url) }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    @discardableResult
    func write(_ name: String, _ data: Data) -> String {
        FileManager.default.createFile(atPath: path(name), contents: data)
        return path(name)
    }

    func read(_ name: String) -> Data { FileManager.default.contents(atPath: path(name)) ?? Data() }
}

/// Deterministic bytes with zero pages, repeats and text.
func sampleImage(pages: Int, seed: UInt64 = 5) -> Data {
    var s = seed | 1
    var out = Data()
    for i in 0..<pages {
        switch i % 5 {
        case 0: out.append(Data(count: 4096))
        case 1: out.append(Data(repeating: UInt8(i % 7), count: 4096))
        case 2: out.append(Data("page \(i) of a test image; ".utf8.cycled(to: 4096)))
        default:
            var page = [UInt8](repeating: 0, count: 4096)
            for j in 0..<4096 { s ^= s << 13; s ^= s >> 7; s ^= s << 17; page[j] = UInt8(truncatingIfNeeded: s) }
            out.append(contentsOf: page)
        }
    }
    return out
}

extension Sequence where Element == UInt8 {
    func cycled(to n: Int) -> [UInt8] {
        let a = Array(self)
        return (0..<n).map { a[$0 % a.count] }
    }
}

/// A free TCP port (bind to 0, read it back).
func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var a = sockaddr_in()
    a.sin_family = sa_family_t(AF_INET)
    a.sin_addr.s_addr = inet_addr("127.0.0.1")
    _ = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return Int(UInt16(bigEndian: a.sin_port))
}

/// The JSON objects of a JSON-lines output, one per line (a line that is not an object fails).
func jsonLines(_ data: Data) throws -> [[String: Any]] {
    try String(decoding: data, as: UTF8.self).split(separator: "\n").map {
        guard let object = try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] else {
            throw CocoaError(.coderReadCorrupt, userInfo: [NSLocalizedDescriptionKey: "not a JSON object: \($0)"])
        }
        return object
    }
}
