@testable import DWCPMigrate
import XCTest

/// A migration's loss is counted once slow start's own drops are repaired, over a second or 20
/// round trips in two halves: the retransmissions of the plateau's overshoot, or one burst of
/// drops, are no path's loss.
final class LossWatchTests: XCTestCase {
    /// Feeds counts every 20 ms from `start` on: `retransmittedBy(time)` of 1,000 segments a tick.
    private func run(roundTrip: Double, _ retransmittedBy: (Double) -> UInt64) -> (loss: Double, time: Double)? {
        var watch = LossWatch(from: 10, roundTrip: roundTrip)
        for tick in 0..<500 {
            let time = 10 + Double(tick) * 0.02
            if let loss = watch.record(time: time, retransmitted: retransmittedBy(time), segments: UInt64(tick) * 1_000) {
                return (loss, time)
            }
        }
        return nil
    }

    func testSlowStartsDropsRightAfterTheMeasurementAreNotCounted() throws {
        // 5,000 segments resent in the first 0.3 s after the plateau, none after.
        let (loss, time) = try XCTUnwrap(run(roundTrip: 0.05) { min(5_000, UInt64(max(0, $0 - 10) / 0.3 * 5_000)) })
        XCTAssertEqual(loss, 0)
        XCTAssertEqual(time, 10 + 0.2 + 4 * 0.05 + 1, accuracy: 0.021, "a second after 0.2 s and four round trips")
    }

    func testAPathThatKeepsDroppingShowsItsLoss() throws {
        // 1 % of every tick's 1,000 segments resent, throughout.
        let (loss, time) = try XCTUnwrap(run(roundTrip: 0.1) { UInt64(($0 - 10) / 0.02 * 10) })
        XCTAssertEqual(loss, 0.01, accuracy: 0.001)
        XCTAssertEqual(time, 10 + 0.2 + 0.4 + 2, accuracy: 0.021, "20 round trips when they are longer than a second")
    }

    func testDropsInOneHalfOnlyAreNoPathsLoss() throws {
        // A burst of 3,000 resent segments 0.7 s after the plateau (the first half), none else.
        let (loss, _) = try XCTUnwrap(run(roundTrip: 0.05) { $0 >= 10.7 ? 3_000 : 0 })
        XCTAssertEqual(loss, 0)
    }

    func testCountsThatGoBackAreNoLoss() throws {
        // A connection replaced midway: fewer segments counted than at the start.
        var watch = LossWatch(from: 0, roundTrip: 0.01)
        XCTAssertNil(watch.record(time: 0.3, retransmitted: 100, segments: 50_000))
        XCTAssertNil(watch.record(time: 0.8, retransmitted: 150, segments: 60_000))
        XCTAssertEqual(watch.record(time: 1.3, retransmitted: 10, segments: 2_000), 0)
    }
}
