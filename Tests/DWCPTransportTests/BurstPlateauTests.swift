@testable import DWCPTransport
import XCTest

/// A probe burst ends once TCP's delivery rate has levelled: two round trips in a row within a
/// quarter of the one before. Slow start's doubling, a rate still falling after a loss, or
/// samples closer than a round trip never end it.
final class BurstPlateauTests: XCTestCase {
    /// Feeds (time, delivered) samples 51 ms apart (the round trip: 50 ms) with these
    /// per-round-trip byte counts and returns the plateau's start, if any, after each sample.
    private func starts(_ perRound: [UInt64]) -> [Double?] {
        var plateau = BurstPlateau()
        var delivered: UInt64 = 0
        XCTAssertTrue(plateau.record(time: 0, delivered: 0, roundTrip: 0.05))
        return perRound.enumerated().map { i, bytes in
            delivered += bytes
            XCTAssertTrue(plateau.record(time: Double(i + 1) * 0.051, delivered: delivered, roundTrip: 0.05))
            return plateau.start?.time
        }
    }

    func testSlowStartsDoublingIsNotAPlateau() {
        XCTAssertTrue(starts([15_000, 30_000, 60_000, 120_000, 240_000, 480_000]).allSatisfy { $0 == nil })
    }

    func testTwoLevelRoundTripsAfterSlowStartAreOne() {
        let s = starts([15_000, 30_000, 60_000, 120_000, 240_000, 480_000, 600_000, 590_000, 610_000])
        XCTAssertNil(s[6], "600 KB after 480 KB is still growth")
        XCTAssertNil(s[7], "one level round trip is not enough")
        XCTAssertEqual(s[8]!, 7 * 0.051, accuracy: 1e-9, "the last two round trips, from the sample after the 600 KB one")
    }

    func testAFallingRateIsNotAPlateau() {
        // A loss halves the window: the rate falls, then must hold for two round trips.
        let s = starts([15_000, 30_000, 60_000, 120_000, 600_000, 300_000, 150_000, 150_000, 155_000])
        XCTAssertEqual(s.prefix(7).compactMap { $0 }, [])
        XCTAssertNotNil(s[8])
    }

    func testSamplesCloserThanARoundTripAreNotRecorded() {
        var plateau = BurstPlateau()
        XCTAssertTrue(plateau.record(time: 0, delivered: 0, roundTrip: 0.05))
        XCTAssertFalse(plateau.record(time: 0.03, delivered: 10_000, roundTrip: 0.05))
        XCTAssertTrue(plateau.record(time: 0.05, delivered: 12_000, roundTrip: 0.05))
        XCTAssertEqual(plateau.samples.count, 2)
    }
}
