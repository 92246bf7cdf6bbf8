/// The one exit-code table shared by every DWCP command.
///
/// Scripts branch on these, so they never change meaning. Each command's man page prints the
/// table (see `ExitStatus.manualTable`).
public enum ExitStatus: Int32, Sendable, CaseIterable {
    /// Success.
    case ok = 0
    /// A failure that is not one of the classes below (I/O error, resource exhaustion, ...).
    case failure = 1
    /// Bad command line: unknown option, invalid value, conflicting flags.
    case usage = 2
    /// Integrity: a checksum or digest mismatch, a truncated or malformed stream, a wrong baseline.
    case integrity = 3
    /// Network or peer failure: connection refused or lost beyond the resume budget.
    case network = 4
    /// Interrupted by SIGINT (128 + 2), as the shell reports it.
    case interrupted = 130

    /// The text every man page carries in its EXIT STATUS discussion. Lines stay within 72
    /// columns: `--help` wraps longer ones at 80 and loses their indentation, and a man page
    /// indents the discussion by 5 before wrapping at 78.
    public static let manualTable = """
        Exit status (the same for every DWCP command):
          0    success
          1    failure (I/O error, resource exhaustion, anything else)
          2    usage error (unknown option, invalid value)
          3    integrity error (checksum or digest mismatch, truncated or
               malformed stream, wrong baseline)
          4    network or peer error
          130  interrupted by SIGINT (128 + N for signal N: 143 for SIGTERM);
               a transfer under way is cancelled at the other end first
        """
}
