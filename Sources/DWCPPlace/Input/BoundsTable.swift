import DWCPCore

/// Published results per instance, from a tab-separated table with a header row
/// (`instance_name`, `LB`, and `best_overall` or `OPT`), as the Mommessin et al. summary ships.
public struct BoundsTable: Sendable {
    /// One instance's published bounds.
    public struct Row: Sendable {
        public var lowerBound: Int
        public var bestPublished: Int?
    }

    public var rows: [String: Row] = [:]

    public static func parse(_ text: String, name: String) throws -> BoundsTable {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: true).map { $0.split(separator: "\t", omittingEmptySubsequences: false).map { $0.trimming([" ", "\r"]) } }
        guard !lines.isEmpty else { throw PlacementInputError("\(name): empty") }
        let header = lines.removeFirst()
        guard let nameCol = header.firstIndex(of: "instance_name"), let lbCol = header.firstIndex(of: "LB") else {
            throw PlacementInputError("\(name): the header needs instance_name and LB columns")
        }
        let bestCol = header.firstIndex(of: "best_overall") ?? header.firstIndex(of: "OPT")
        var table = BoundsTable()
        for (i, cols) in lines.enumerated() {
            guard cols.count == header.count, let lb = Int(cols[lbCol]) else {
                throw PlacementInputError("\(name):\(i + 2): expected \(header.count) tab-separated columns with an integer LB")
            }
            let best = bestCol.flatMap { Int(cols[$0]) }.flatMap { $0 > 0 ? $0 : nil }
            table.rows[cols[nameCol]] = Row(lowerBound: lb, bestPublished: best)
        }
        return table
    }
}
