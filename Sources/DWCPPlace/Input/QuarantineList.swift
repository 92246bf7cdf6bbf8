import DWCPCore

/// The quarantine list `dwcp-rep --quarantine-out` writes and `dwcp-place --exclude` reads: one
/// node id per line; blank lines and `#` comments are ignored.
public enum QuarantineList {
    public static func parse(_ text: String) -> [String] {
        text.split(separator: "\n").compactMap { line in
            let id = String(line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0]).trimming([" ", "\t"])
            return id.isEmpty ? nil : id
        }
    }
}
