@testable import DWCPCodec
import XCTest

final class AnchorScanTests: XCTestCase {
    /// The baseline is indexed at 8-byte-aligned positions only; the input scan looks at every
    /// byte position. So whatever the shift, every anchor of the baseline is met again, with the
    /// same key, where its bytes now lie.
    func testEveryBaselineAnchorIsFoundByTheInputScanAtAnyShift() {
        var gen = TestData(seed: 21)
        let baseline = gen.bytes(100_000) + gen.text(100_000)
        var indexed: [(UInt64, UInt64)] = []
        baseline.withUnsafeBytes { AnchorIndex.collectAnchors($0.baseAddress!, $0.count, origin: 0, into: &indexed) }
        XCTAssertGreaterThan(indexed.count, 200_000 / 1_000, "about one anchor per 256 bytes")
        XCTAssertLessThan(indexed.count, 200_000 / 64)
        for shift in [0, 1, 3, 7, 8, 777] {
            let input = gen.bytes(shift) + baseline
            var scanned: [UInt64: Set<Int>] = [:]
            input.withUnsafeBytes { raw in
                AnchorIndex.forEachAnchor(raw.baseAddress!, raw.count) { key, at in
                    scanned[key, default: []].insert(at)
                    return true
                }
            }
            for (key, offset) in indexed {
                XCTAssertTrue(scanned[key]?.contains(Int(offset) + shift) ?? false, "anchor at \(offset), shift \(shift)")
            }
        }
    }

    /// The baseline scan takes the positions of the full scan that lie at a multiple of 8 from the
    /// baseline's start, wherever the range starts, and only windows inside the range. (Random
    /// bytes: no key repeats and no 4 KiB holds more than its share, so nothing is left out.)
    func testTheBaselineScanTakesTheAlignedAnchorsOfTheFullScan() {
        var gen = TestData(seed: 5)
        let data = gen.bytes(20_000) + [UInt8](repeating: 0, count: 5_000) + gen.bytes(20_000)
        data.withUnsafeBytes { raw in
            for (start, count) in [(0, raw.count), (3, 40_000), (13, 31), (13, 32), (100, 33), (5, 0)] {
                for origin: UInt64 in [0, 4_096, 4_101, 7] {
                    var full: [(UInt64, UInt64)] = []
                    AnchorIndex.forEachAnchor(raw.baseAddress! + start, count) { key, at in
                        if (origin + UInt64(at)) % 8 == 0 { full.append((key, origin + UInt64(at))) }
                        return true
                    }
                    var aligned: [(UInt64, UInt64)] = []
                    AnchorIndex.collectAnchors(raw.baseAddress! + start, count, origin: origin, into: &aligned)
                    XCTAssertEqual(aligned.map(\.0), full.map(\.0), "keys, \(count) bytes from \(start), origin \(origin)")
                    XCTAssertEqual(aligned.map(\.1), full.map(\.1), "positions, \(count) bytes from \(start), origin \(origin)")
                    XCTAssertTrue(aligned.allSatisfy { $0.1 % 8 == 0 && Int($0.1 - origin) + AnchorHash.window <= count })
                }
            }
        }
        // A zero word is never sampled, so zero runs hold no anchor.
        XCTAssertFalse(WordSample.selects(0))
        let zeros = [UInt8](repeating: 0, count: 4_096)
        zeros.withUnsafeBytes { raw in
            AnchorIndex.forEachAnchor(raw.baseAddress!, raw.count) { _, at in XCTFail("anchor at \(at) in zeros"); return true }
        }
    }

    /// The table answers the same whatever the number of threads that built it: the first
    /// position of each key, in baseline order; `forEachMatch` reports the input's anchors the
    /// baseline has, in order, and stops when asked.
    func testTheIndexKeepsTheFirstOccurrenceWithAnyNumberOfThreads() {
        var gen = TestData(seed: 8)
        let piece = gen.bytes(60_000)
        let baseline = piece + gen.bytes(50_000) + piece    // every key of `piece` occurs twice
        var lists: [[(UInt64, UInt64)]] = []
        baseline.withUnsafeBytes { raw in
            for part in stride(from: 0, to: raw.count, by: 40_000) {
                var found: [(UInt64, UInt64)] = []
                AnchorIndex.collectAnchors(raw.baseAddress! + part, min(40_000, raw.count - part), origin: UInt64(part), into: &found)
                lists.append(found)
            }
        }
        let all = lists.flatMap { $0 }
        var first: [UInt64: UInt64] = [:]
        for (key, offset) in all where first[key] == nil { first[key] = offset }
        let absent = gen.bytes(20_000)
        var absentKeys: [UInt64] = []
        absent.withUnsafeBytes { raw in
            AnchorIndex.forEachAnchor(raw.baseAddress!, raw.count) { key, _ in absentKeys.append(key); return true }
        }
        for threads in [1, 2, 3, 4, 8] {
            let index = AnchorIndex(anchors: lists, threads: threads)
            XCTAssertEqual(index.count, first.count, "\(threads) threads")
            for (key, offset) in first { XCTAssertEqual(index.lookup(key), offset, "\(threads) threads") }
            for key in absentKeys where first[key] == nil { XCTAssertNil(index.lookup(key)) }
        }
        let index = AnchorIndex(anchors: lists, threads: 2)
        // The second copy of `piece`, shifted by 5 in the input, names the first copy's offsets.
        let input = gen.bytes(5) + Array(baseline[110_000...])
        var matches: [(UInt64, Int)] = []
        input.withUnsafeBytes { raw in
            index.forEachMatch(raw.baseAddress!, raw.count) { old, at in matches.append((old, at)); return true }
        }
        XCTAssertFalse(matches.isEmpty)
        XCTAssertEqual(matches.map(\.1), matches.map(\.1).sorted(), "in input order")
        for (old, at) in matches where at >= 5 && at + AnchorHash.window <= 5 + piece.count {
            XCTAssertEqual(Int(old), at - 5, "the first copy's position")
        }
        var calls = 0
        input.withUnsafeBytes { raw in
            index.forEachMatch(raw.baseAddress!, raw.count) { _, _ in calls += 1; return calls < 3 }
        }
        XCTAssertEqual(calls, 3, "stops when asked")
    }

    /// Content made of sampled words cannot flood the index: a fill of one repeated word gives
    /// its key once, and distinct sampled words are cut at 32 anchors per 4 KiB.
    func testSampledFillsAndArraysAreBounded() {
        let word = (UInt64(1)...).first { WordSample.selects($0) }!
        let fill = [UInt64](repeating: word, count: 1 << 17)           // 1 MiB
        var distinct: [UInt64] = []
        var x: UInt64 = 1
        while distinct.count < 1 << 17 {
            if WordSample.selects(x) { distinct.append(x) }
            x += 1
        }
        var fromFill: [(UInt64, UInt64)] = [], fromDistinct: [(UInt64, UInt64)] = []
        fill.withUnsafeBytes { AnchorIndex.collectAnchors($0.baseAddress!, $0.count, origin: 0, into: &fromFill) }
        distinct.withUnsafeBytes { AnchorIndex.collectAnchors($0.baseAddress!, $0.count, origin: 0, into: &fromDistinct) }
        XCTAssertEqual(fromFill.count, 1, "one key, kept once")
        XCTAssertEqual(fromDistinct.count, 256 * AnchorIndex.maxAnchorsPer4KiB)
        XCTAssertEqual(Set(fromDistinct.map { $0.1 / 4096 }).count, 256, "every 4 KiB keeps its share")
    }
}
