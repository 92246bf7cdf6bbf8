import DWCPCore
import DWCPSystem

/// Writes diagnostics to stderr in the toolkit's one format: `dwcp-encode: error: reason`.
///
/// Verbosity is one level for the whole toolkit: `-q` errors only, default adds warnings, `-v`
/// a summary and progress, `-vv` debug detail.
public enum Diagnostics {
    nonisolated(unsafe) public static var programName = "dwcp"
    nonisolated(unsafe) public static var verbosity = 1

    public static func error(_ message: String) {
        emit("\(programName): error: \(message)\n")
    }

    public static func warning(_ message: String) {
        if verbosity >= 1 { emit("\(programName): warning: \(message)\n") }
    }

    /// A `-v` line.
    public static func info(_ message: String) {
        if verbosity >= 2 { emit("\(programName): \(message)\n") }
    }

    /// A `-vv` line.
    public static func debug(_ message: String) {
        if verbosity >= 3 { emit("\(programName): debug: \(message)\n") }
    }

    /// Raw text to stderr (progress lines, summaries).
    public static func emit(_ text: String) {
        try? FileDescriptor.standardError.writeAll(text)
    }
}
