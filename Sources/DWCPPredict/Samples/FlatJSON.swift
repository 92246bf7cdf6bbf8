/// A parser for one JSON object per line (`{"t": 1.5, "bps": 1e6, "state": "D"}`): the sample
/// format of `dwcp-predict`. Numbers become `Double`, strings `String`, booleans `Bool`; null
/// and nested objects and arrays (`dwcp-detect`'s `"rtt_ms":{"min":…}`, `dwcp-send`'s `"tcp":[…]`)
/// are read past and dropped, to a depth of `maxDepth`.
///
/// Written by hand because it runs on every line of every trace in `eval` (hundreds of thousands)
/// and needs precise error positions for bad input.
public enum FlatJSON {
    /// A field's value: samples hold numbers, strings and booleans only.
    public enum Value: Equatable {
        case number(Double)
        case string(String)
        case bool(Bool)
    }

    /// Why a line is not a flat JSON object, and where, for the line-numbered report.
    public struct ParseError: Error, CustomStringConvertible {
        public var column: Int
        public var reason: String
        public var description: String { "column \(column): \(reason)" }
    }

    /// Nested values deeper than this are an error: the line is bounded, and so is the work.
    public static let maxDepth = 32

    public static func parse(_ line: Substring) throws -> [String: Value] {
        let bytes = Array(line.utf8)
        var i = 0
        var out: [String: Value] = [:]
        func fail(_ why: String) -> ParseError { ParseError(column: i + 1, reason: why) }
        func skipSpace() { while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x09 || bytes[i] == 0x0D { i += 1 } }
        func string() throws -> String {
            guard i < bytes.count, bytes[i] == 0x22 else { throw fail("expected a string") }
            i += 1
            var s: [UInt8] = []
            while i < bytes.count, bytes[i] != 0x22 {
                if bytes[i] == 0x5C {
                    i += 1
                    guard i < bytes.count else { break }
                    switch bytes[i] {
                    case 0x6E: s.append(0x0A)
                    case 0x74: s.append(0x09)
                    case 0x72: s.append(0x0D)
                    case 0x75: s.append(0x3F); i += 4  // \uXXXX: not needed for sample keys; kept as '?'
                    default: s.append(bytes[i])
                    }
                } else {
                    s.append(bytes[i])
                }
                i += 1
            }
            guard i < bytes.count else { throw fail("unterminated string") }
            i += 1
            return String(decoding: s, as: UTF8.self)
        }
        /// Reads past one object or array, strings in it included.
        func skipNested() throws {
            var depth = 0
            while i < bytes.count {
                switch bytes[i] {
                case 0x7B, 0x5B:
                    depth += 1
                    guard depth <= maxDepth else { throw fail("nested deeper than \(maxDepth)") }
                    i += 1
                case 0x7D, 0x5D:
                    depth -= 1
                    i += 1
                    if depth == 0 { return }
                case 0x22:
                    _ = try string()
                default:
                    i += 1
                }
            }
            throw fail("unterminated nested value")
        }
        skipSpace()
        guard i < bytes.count, bytes[i] == 0x7B else { throw fail("expected '{'") }
        i += 1
        skipSpace()
        if i < bytes.count, bytes[i] == 0x7D { i += 1; skipSpace(); return out }
        while true {
            skipSpace()
            let key = try string()
            skipSpace()
            guard i < bytes.count, bytes[i] == 0x3A else { throw fail("expected ':'") }
            i += 1
            skipSpace()
            guard i < bytes.count else { throw fail("missing value") }
            switch bytes[i] {
            case 0x22: out[key] = .string(try string())
            case 0x74 where bytes[i...].starts(with: Array("true".utf8)): out[key] = .bool(true); i += 4
            case 0x66 where bytes[i...].starts(with: Array("false".utf8)): out[key] = .bool(false); i += 5
            case 0x6E where bytes[i...].starts(with: Array("null".utf8)): i += 4
            case 0x7B, 0x5B: try skipNested()
            default:
                let start = i
                while i < bytes.count, let c = Optional(bytes[i]), (c >= 0x30 && c <= 0x39) || c == 0x2D || c == 0x2B || c == 0x2E || c == 0x65 || c == 0x45 { i += 1 }
                guard i > start, let v = Double(String(decoding: bytes[start..<i], as: UTF8.self)) else { throw fail("bad number") }
                out[key] = .number(v)
            }
            skipSpace()
            guard i < bytes.count else { throw fail("unterminated object") }
            if bytes[i] == 0x2C { i += 1; continue }
            if bytes[i] == 0x7D { i += 1; break }
            throw fail("expected ',' or '}'")
        }
        skipSpace()
        guard i == bytes.count else { throw fail("trailing characters after the object") }
        return out
    }
}
