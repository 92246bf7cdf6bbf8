import DWCPCore

/// A comma-separated table with a header row: the CSV form of node lists and request streams.
/// Quoted fields (`"a,b"`, `""` for a quote) are supported; every row must have the header's width.
public struct CSVTable {
    public var header: [String]

    public static func split(_ line: Substring) -> [String] {
        var fields: [String] = []
        var field = ""
        var quoted = false
        var it = line.makeIterator()
        while let ch = it.next() {
            if quoted {
                if ch == "\"" {
                    var peek = it
                    if peek.next() == "\"" { field.append("\""); it = peek } else { quoted = false }
                } else {
                    field.append(ch)
                }
            } else if ch == "\"" {
                quoted = true
            } else if ch == "," {
                fields.append(field)
                field = ""
            } else if ch != "\r" {
                field.append(ch)
            }
        }
        fields.append(field)
        return fields.map { $0.trimming([" ", "\t"]) }
    }
}
