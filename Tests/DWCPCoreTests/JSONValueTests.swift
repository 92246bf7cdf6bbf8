@testable import DWCPCore
import XCTest

final class JSONValueTests: XCTestCase {
    func testParsesNestedValuesInOrder() throws {
        let v = try JSONValue.parse(#" {"a":1.5,"b":[true,null,"x\n\u00e9"],"c":{"d":-2e3}} "#)
        XCTAssertEqual(v.fields?.map(\.key), ["a", "b", "c"])
        XCTAssertEqual(v["a"]?.number, 1.5)
        XCTAssertEqual(v["b"]?.array, [.bool(true), .null, .string("x\né")])
        XCTAssertEqual(v["c"]?["d"]?.number, -2000)
    }

    func testRejectsBadInputWithAColumn() {
        let cases: [(String, String)] = [
            (#"{"a":1"#, "unterminated object"), (#"{"a":1} x"#, "trailing characters"), (#"{"a":1,"a":2}"#, "duplicate key"),
            (#"{"a":tru}"#, "unexpected character"), (#"["x]"#, "unterminated string"), (#"{"a":1e999}"#, "unexpected character"),
            (String(repeating: "[", count: 40) + String(repeating: "]", count: 40), "nested deeper"), ("", "missing value"),
        ]
        for (text, reason) in cases {
            XCTAssertThrowsError(try JSONValue.parse(text), text) { e in
                XCTAssertTrue("\(e)".contains(reason), "\(e) should say \(reason)")
                XCTAssertTrue("\(e)".hasPrefix("column "))
            }
        }
    }
}
