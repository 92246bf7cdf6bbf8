import Foundation
import XCTest

/// `--help` is read on 80-column terminals and is where a user copies examples from. The
/// argument parser wraps a discussion line longer than 80 columns and the wrapped part starts
/// at column 0, so an indented example or table row broke in two ("... peer:7000 <" and
/// "big.img" on the next line): every help screen is checked for such a break, and for indented
/// lines too long for the man page made from the same text.
final class HelpLayoutTests: XCTestCase {
    static let commands: [(String, [String])] = [
        ("dwcp-encode", []), ("dwcp-send", []), ("dwcp-recv", []), ("dwcp-detect", []),
        ("dwcp-predict", ["forecast", "eval", "train"]), ("dwcp-place", ["decide", "eval", "bench"]),
        ("dwcp-rep", ["detect", "keygen", "verify-proof", "simulate", "eval"]),
        ("dwcp-migrate", ["qemu", "file", "receive", "recover"]),
    ]

    func testHelpScreensFitEightyColumnsAndNameTheirValues() throws {
        for (command, subcommands) in Self.commands {
            for sub in [nil] + subcommands.map(Optional.some) {
                let r = try CLI.run(command, (sub.map { [$0] } ?? []) + ["--help"])
                XCTAssertEqual(r.status, 0, "\(command) \(sub ?? ""): \(r.stderr)")
                let lines = String(decoding: r.stdout, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
                XCTAssertGreaterThan(lines.count, 5)
                for (previous, line) in zip(lines, lines.dropFirst()) where previous.hasPrefix("  ") {
                    // A section title ("OPTIONS:") may follow an indented line; text may not.
                    let broken = !line.isEmpty && !line.hasPrefix(" ") && !line.hasSuffix(":")
                    XCTAssertFalse(broken, "\(command) \(sub ?? ""): wrapped line:\n\(previous)\n\(line)")
                }
                // A value is named for what it is (N, SECONDS, FILE), not by its option's name
                // (the parser's default, "--pings <pings>").
                for line in lines where line.hasPrefix("  -") {
                    for word in line.split(separator: " ") where word.hasPrefix("--") {
                        XCTAssertFalse(line.contains("\(word) <\(word.dropFirst(2))>"), "\(command) \(sub ?? ""): \(line)")
                    }
                }
                // The discussion's own indented lines (examples, the exit-status table) also
                // fit a man page, which indents them by 5 more and wraps at 78.
                for line in lines.prefix(while: { !$0.hasPrefix("USAGE:") }) where line.hasPrefix("  ") {
                    XCTAssertLessThanOrEqual(line.count, 72, "\(command) \(sub ?? ""): \(line)")
                }
            }
        }
    }
}
