/// An error a DWCP command reports to its user.
///
/// Every error carries the exit-status class it maps to, so the shared `main` wrapper can turn
/// any thrown error into the right diagnostic line and exit code without each command repeating
/// that mapping.
public struct DWCPError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Which exit status the error produces.
    public var status: ExitStatus
    /// One line, no trailing period, no program name: `"stdin: truncated stream at offset 1234"`.
    public var message: String

    public init(_ status: ExitStatus, _ message: String) {
        self.status = status
        self.message = message
    }

    public var description: String { message }

    /// A malformed, truncated or corrupted stream, or a digest mismatch.
    public static func integrity(_ message: String) -> DWCPError { DWCPError(.integrity, message) }
    /// A usage problem discovered after parsing (e.g. a file that must not exist does).
    public static func usage(_ message: String) -> DWCPError { DWCPError(.usage, message) }
    /// Any other failure.
    public static func failure(_ message: String) -> DWCPError { DWCPError(.failure, message) }
}
