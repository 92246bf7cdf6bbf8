/// A JSON value parsed from one line of a JSON-lines input (placement requests, evidence
/// records, state files).
///
/// Hand-written rather than Foundation's: it is strict (one value per line, no trailing data),
/// bounded (nesting depth and size limits, so hostile input cannot blow the stack), reports the
/// column of the first error, and keeps object keys in their input order.
public enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([(key: String, value: JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.number(x), .number(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)): return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: return false
        }
    }

    /// A parse failure: 1-based column and what was expected.
    public struct ParseError: Error, CustomStringConvertible, Equatable {
        public var column: Int
        public var reason: String
        public var description: String { "column \(column): \(reason)" }
    }

    public static let maxDepth = 32

    public static func parse(_ text: Substring) throws -> JSONValue {
        var p = Parser(bytes: Array(text.utf8))
        p.skipSpace()
        let v = try p.value(depth: 0)
        p.skipSpace()
        guard p.i == p.bytes.count else { throw p.fail("trailing characters after the value") }
        return v
    }

    public static func parse(_ text: String) throws -> JSONValue { try parse(Substring(text)) }

    /// `s` as a JSON string literal: the one quoting every JSON writer in the toolkit uses.
    public static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    let h = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }

    /// The value of `key` in an object (nil for other values or a missing key).
    public subscript(key: String) -> JSONValue? {
        if case let .object(fields) = self { return fields.first { $0.key == key }?.value }
        return nil
    }

    public var string: String? { if case let .string(s) = self { return s }; return nil }
    public var number: Double? { if case let .number(n) = self { return n }; return nil }
    public var bool: Bool? { if case let .bool(b) = self { return b }; return nil }
    public var array: [JSONValue]? { if case let .array(a) = self { return a }; return nil }
    public var fields: [(key: String, value: JSONValue)]? { if case let .object(o) = self { return o }; return nil }

    private struct Parser {
        let bytes: [UInt8]
        var i = 0

        func fail(_ why: String) -> ParseError { ParseError(column: i + 1, reason: why) }

        mutating func skipSpace() {
            while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x09 || bytes[i] == 0x0D || bytes[i] == 0x0A { i += 1 }
        }

        mutating func value(depth: Int) throws -> JSONValue {
            guard depth < JSONValue.maxDepth else { throw fail("nested deeper than \(JSONValue.maxDepth)") }
            guard i < bytes.count else { throw fail("missing value") }
            switch bytes[i] {
            case 0x7B: return try object(depth: depth)
            case 0x5B: return try array(depth: depth)
            case 0x22: return .string(try string())
            case 0x74: try literal("true"); return .bool(true)
            case 0x66: try literal("false"); return .bool(false)
            case 0x6E: try literal("null"); return .null
            default: return .number(try number())
            }
        }

        mutating func literal(_ word: String) throws {
            let w = Array(word.utf8)
            guard bytes.count - i >= w.count, Array(bytes[i..<(i + w.count)]) == w else { throw fail("unexpected character") }
            i += w.count
        }

        mutating func number() throws -> Double {
            let start = i
            while i < bytes.count, let c = Optional(bytes[i]),
                  (c >= 0x30 && c <= 0x39) || c == 0x2D || c == 0x2B || c == 0x2E || c == 0x65 || c == 0x45 { i += 1 }
            guard i > start, i - start <= 64, let v = Double(String(decoding: bytes[start..<i], as: UTF8.self)), v.isFinite else {
                i = start
                throw fail(i < bytes.count ? "unexpected character" : "missing value")
            }
            return v
        }

        mutating func string() throws -> String {
            i += 1
            var s: [UInt8] = []
            while true {
                guard i < bytes.count else { throw fail("unterminated string") }
                let c = bytes[i]
                if c == 0x22 { i += 1; break }
                if c < 0x20 { throw fail("control character in a string") }
                if c == 0x5C {
                    i += 1
                    guard i < bytes.count else { throw fail("unterminated string") }
                    switch bytes[i] {
                    case 0x22, 0x5C, 0x2F: s.append(bytes[i])
                    case 0x62: s.append(0x08)
                    case 0x66: s.append(0x0C)
                    case 0x6E: s.append(0x0A)
                    case 0x72: s.append(0x0D)
                    case 0x74: s.append(0x09)
                    case 0x75:
                        guard bytes.count - i > 4, let u = UInt32(String(decoding: bytes[(i + 1)...(i + 4)], as: UTF8.self), radix: 16) else {
                            throw fail("bad \\u escape")
                        }
                        i += 4
                        let scalar = Unicode.Scalar(u) ?? "\u{FFFD}"
                        s.append(contentsOf: Array(String(Character(scalar)).utf8))
                    default: throw fail("bad escape")
                    }
                    i += 1
                } else {
                    s.append(c)
                    i += 1
                }
            }
            return String(decoding: s, as: UTF8.self)
        }

        mutating func array(depth: Int) throws -> JSONValue {
            i += 1
            var out: [JSONValue] = []
            skipSpace()
            if i < bytes.count, bytes[i] == 0x5D { i += 1; return .array(out) }
            while true {
                skipSpace()
                out.append(try value(depth: depth + 1))
                skipSpace()
                guard i < bytes.count else { throw fail("unterminated array") }
                if bytes[i] == 0x2C { i += 1; continue }
                if bytes[i] == 0x5D { i += 1; return .array(out) }
                throw fail("expected ',' or ']'")
            }
        }

        mutating func object(depth: Int) throws -> JSONValue {
            i += 1
            var out: [(key: String, value: JSONValue)] = []
            skipSpace()
            if i < bytes.count, bytes[i] == 0x7D { i += 1; return .object(out) }
            while true {
                skipSpace()
                guard i < bytes.count, bytes[i] == 0x22 else { throw fail("expected a string key") }
                let key = try string()
                if out.contains(where: { $0.key == key }) { throw fail("duplicate key \"\(key)\"") }
                skipSpace()
                guard i < bytes.count, bytes[i] == 0x3A else { throw fail("expected ':'") }
                i += 1
                skipSpace()
                out.append((key, try value(depth: depth + 1)))
                skipSpace()
                guard i < bytes.count else { throw fail("unterminated object") }
                if bytes[i] == 0x2C { i += 1; continue }
                if bytes[i] == 0x7D { i += 1; return .object(out) }
                throw fail("expected ',' or '}'")
            }
        }
    }

}
