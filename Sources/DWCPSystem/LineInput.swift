import DWCPCore
#if canImport(Glibc)
import Glibc
#endif

/// Reads text inputs line by line for the JSON-lines commands (`dwcp-predict`, `dwcp-place`,
/// `dwcp-rep`): `-` is standard input; with `follow`, a regular file is read on as it grows
/// (`tail -f`) until a signal ends the process, while standard input ends at end of file.
public enum LineInput {
    /// The longest line any of them takes by default: their records are a few hundred bytes.
    public static let defaultMaxLine = 1 << 20

    /// Calls `body(name, lineNumber, line)` for every line (without its newline); `name` is the
    /// path, or `stdin`. A line longer than `maxLine` bytes stops the read (exit 3) before more
    /// than `maxLine` bytes of it are held, so an endless line (`< /dev/zero`) cannot grow the
    /// process; read errors fail. Following a file, a line still being written is held until
    /// its newline arrives.
    public static func read(_ paths: [String], follow: Bool = false, maxLine: Int = defaultMaxLine,
                            _ body: (String, Int, Substring) throws -> Void) throws {
        for path in paths.isEmpty ? ["-"] : paths {
            let raw = path == "-" ? dup(0) : open(path, O_RDONLY | O_CLOEXEC)
            guard raw >= 0 else { throw DWCPError.failure("\(path): \(String(cString: strerror(errno)))") }
            defer { close(raw) }
            let name = path == "-" ? "stdin" : path
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            var pending: [UInt8] = []  // the start of a line that continues in the next chunk
            var number = 0
            func emit(_ bytes: UnsafeBufferPointer<UInt8>) throws {
                number += 1
                try body(name, number, Substring(String(decoding: bytes, as: UTF8.self)))
            }
            func tooLong() -> Error { DWCPError.integrity("\(name):\(number + 1): line longer than \(maxLine) bytes") }
            while true {
                let n = chunk.withUnsafeMutableBytes { Glibc.read(raw, $0.baseAddress, $0.count) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw DWCPError.failure("\(name): read: \(String(cString: strerror(errno)))")
                }
                if n == 0 {
                    if follow && path != "-" {
                        usleep(200_000)
                        continue
                    }
                    if !pending.isEmpty { try pending.withUnsafeBufferPointer { try emit($0) } }
                    break
                }
                try chunk.withUnsafeBufferPointer { all in
                    var start = 0
                    while start < n {
                        let rest = UnsafeBufferPointer(rebasing: all[start..<n])
                        guard let hit = memchr(rest.baseAddress!, 0x0A, rest.count) else {
                            guard pending.count + rest.count <= maxLine else { throw tooLong() }
                            pending.append(contentsOf: rest)
                            break
                        }
                        let end = start + (UnsafeRawPointer(hit) - UnsafeRawPointer(rest.baseAddress!))
                        let piece = UnsafeBufferPointer(rebasing: all[start..<end])
                        guard pending.count + piece.count <= maxLine else { throw tooLong() }
                        if pending.isEmpty {
                            try emit(piece)
                        } else {
                            pending.append(contentsOf: piece)
                            try pending.withUnsafeBufferPointer { try emit($0) }
                            pending.removeAll(keepingCapacity: true)
                        }
                        start = end + 1
                    }
                }
            }
        }
    }
}
