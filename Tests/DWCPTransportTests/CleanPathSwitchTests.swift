@testable import DWCPTransport
import XCTest

/// A long path's connections go to cubic after 2 s without a retransmission (once slow start's
/// losses are repaired), and back to bbr for good when a second on cubic loses more than 0.1 %.
final class CleanPathSwitchTests: XCTestCase {
    /// Feeds counts every 20 ms from t = 0 to `until`: `sent` segments a second, and the
    /// retransmitted count `retransmitted(t)`; returns each action and when it came.
    private func run(until: Double, sent: Double = 8_000, retransmitted: (Double) -> UInt64) -> [(CleanPathSwitch.Action, Double)] {
        var watch = CleanPathSwitch(start: 0)
        var actions: [(CleanPathSwitch.Action, Double)] = []
        for tick in 0...Int(until / 0.02) {
            let t = Double(tick) * 0.02
            if let a = watch.record(time: t, retransmitted: retransmitted(t), segments: UInt64(t * sent)) { actions.append((a, t)) }
        }
        return actions
    }

    func testACleanPathGoesToCubicAfterTwoSecondsOnceSettled() {
        // Slow start's overshoot lost 300 segments, repaired in the first 0.4 s.
        let actions = run(until: 10) { t in t < 0.4 ? UInt64(t * 750) : 300 }
        XCTAssertEqual(actions.map(\.0), [.useCubic])
        XCTAssertEqual(actions.first?.1 ?? 0, 2.5, accuracy: 0.03, "0.5 s to settle, then 2 s clean")
    }

    func testAPathThatKeepsLosingStaysOnBBR() {
        // One retransmission every 1.5 s: never two clean seconds.
        XCTAssertTrue(run(until: 30) { t in UInt64(t / 1.5) }.isEmpty)
    }

    func testLossOnCubicGoesBackToBBRForGood() {
        // Clean until 5 s, then 1 % of the segments retransmitted.
        let actions = run(until: 20) { t in t < 5 ? 0 : UInt64((t - 5) * 80) }
        XCTAssertEqual(actions.map(\.0), [.useCubic, .useBBR])
        XCTAssertLessThan(actions.last!.1, 6.6, "the first lossy second sends it back")
    }

    func testARareLossOnCubicIsNotRealLoss() {
        // One retransmission in 8,000 segments a second is under the 0.1 % limit.
        XCTAssertEqual(run(until: 20) { t in t < 5 ? 0 : UInt64(t - 5) }.map(\.0), [.useCubic])
    }

    func testFewerCountsThanBeforeStartTheWatchAgain() {
        var watch = CleanPathSwitch(start: 0)
        XCTAssertNil(watch.record(time: 0.5, retransmitted: 10, segments: 1_000))
        XCTAssertNil(watch.record(time: 2.0, retransmitted: 10, segments: 20_000))
        // A connection was replaced: its counts left the sums.
        XCTAssertNil(watch.record(time: 2.6, retransmitted: 0, segments: 5_000))
        XCTAssertNil(watch.record(time: 4.0, retransmitted: 0, segments: 9_000), "the watch started again at 2.6 s")
        XCTAssertEqual(watch.record(time: 4.7, retransmitted: 0, segments: 10_000), .useCubic)
    }
}
