import DWCPCore
#if canImport(Glibc)
import Glibc
#endif

/// Reads text inputs line by line for the JSON-lines commands (`dwcp-predict`, `dwcp-place`,
/// `dwcp-rep`): `-` is standard input; with `follow`, a regular file is read on as it grows
/// (`tail -f`) until a signal ends the process, while standard input ends at end of file.
public enum LineInput {
    /// Calls `body(name, lineNumber, line)` for every line (without its newline); `name` is the
    /// path, or `stdin`. Lines longer than `maxLine` bytes are refused (exit 3); read errors fail.
    public static func read(_ paths: [String], follow: Bool = false, maxLine: Int? = nil,
                            _ body: (String, Int, Substring) throws -> Void) throws {
        for path in paths.isEmpty ? ["-"] : paths {
            let stream: UnsafeMutablePointer<FILE>? = path == "-" ? fdopen(dup(0), "r") : fopen(path, "r")
            guard let f = stream else { throw DWCPError.failure("\(path): \(String(cString: strerror(errno)))") }
            defer { fclose(f) }
            let name = path == "-" ? "stdin" : path
            var line: UnsafeMutablePointer<CChar>? = nil
            defer { free(line) }
            var cap = 0
            var number = 0
            while true {
                let n = getline(&line, &cap, f)
                if n < 0 {
                    if ferror(f) != 0 { throw DWCPError.failure("\(name): read error") }
                    if follow && path != "-" {
                        clearerr(f)
                        usleep(200_000)
                        continue
                    }
                    break
                }
                number += 1
                if let maxLine, n > maxLine { throw DWCPError.integrity("\(name):\(number): line longer than \(maxLine) bytes") }
                var text = String(cString: line!)
                if text.hasSuffix("\n") { text.removeLast() }
                try body(name, number, Substring(text))
            }
        }
    }
}
