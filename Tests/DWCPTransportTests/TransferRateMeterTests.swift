@testable import DWCPTransport
import Foundation
import XCTest

/// A migration that starts before it knows its link's rate measures it on its own bytes: what
/// TCP delivered, a round trip apart, until the rate levels; samples taken while the sender had
/// nothing waiting say what the sender gave, not what the path takes.
final class TransferRateMeterTests: XCTestCase {
    /// Feeds samples every 10 ms on a 50 ms path: `perRound(i)` bytes delivered in round trip
    /// i, and whether bytes waited unsent; returns the verdict and when it came.
    private func run(_ perRound: (Int) -> (bytes: UInt64, backlogged: Bool), rounds: Int = 40) -> (TransferRateMeter.Verdict, Double)? {
        var meter = TransferRateMeter(roundTrip: 0.05)
        var delivered: UInt64 = 0
        for tick in 0..<(rounds * 5) {
            let time = Double(tick) * 0.01
            let (bytes, backlogged) = perRound(tick / 5)
            delivered += bytes / 5
            if let v = meter.record(time: time, delivered: delivered, backlogged: backlogged) { return (v, time) }
        }
        return nil
    }

    func testTheRateOnceSlowStartHasFilledThePath() throws {
        // 12.5 MB/s (100 Mbit/s) is 625,000 bytes a round trip, reached after slow start.
        let (verdict, time) = try XCTUnwrap(run { i in (min(625_000, 15_000 << UInt64(i)), true) })
        guard case .rate(let bits) = verdict else { return XCTFail("\(verdict)") }
        XCTAssertEqual(bits, 100e6, accuracy: 3e6)
        XCTAssertLessThan(time, 0.6, "ends at the plateau, well before 12 round trips")
    }

    func testASenderThatRunsDryIsNoPlateau() throws {
        // Level deliveries, but nothing waiting unsent: the sender's pace, a floor for the path.
        let (verdict, time) = try XCTUnwrap(run { _ in (200_000, false) })
        guard case .atLeast(let bits) = verdict else { return XCTFail("\(verdict)") }
        XCTAssertEqual(bits, 32e6, accuracy: 2e6)
        XCTAssertGreaterThanOrEqual(time, 0.6, "runs its 12 round trips")
    }

    func testARoundTripWithoutBacklogStartsTheSearchAgain() throws {
        // Level from round trip 6, but the sender ran dry in round trip 8: the plateau needs
        // two level round trips with a backlog after it.
        let (verdict, time) = try XCTUnwrap(run { i in (min(625_000, 15_000 << UInt64(i)), i != 8) })
        guard case .rate(let bits) = verdict else { return XCTFail("\(verdict)") }
        XCTAssertEqual(bits, 100e6, accuracy: 3e6)
        XCTAssertGreaterThan(time, 0.5, "not before round trip 10")
    }

    func testAPathStillFillingAfterTwelveRoundTripsGivesAFloor() throws {
        // Windows opening by 30 % a round trip (never level by the plateau's rule, and still
        // growing when the measurement ends): the average so far is only a floor.
        let (verdict, time) = try XCTUnwrap(run { i in (UInt64(15_000 * pow(1.3, Double(i))), true) })
        guard case .atLeast(let bits) = verdict else { return XCTFail("\(verdict)") }
        XCTAssertGreaterThan(bits, 0)
        XCTAssertEqual(time, 0.6, accuracy: 0.011)
    }

    func testANoisyLevelIsARateNotAFloor() throws {
        // Round trips alternating 300 and 950 kB after slow start: level on average, not
        // growing, so whether or not the plateau's rule finds it, the rate is the path's.
        let (verdict, _) = try XCTUnwrap(run { i in (i < 4 ? 15_000 << UInt64(i) : i % 2 == 0 ? 300_000 : 950_000, true) })
        guard case .rate(let bits) = verdict else { return XCTFail("\(verdict)") }
        XCTAssertEqual(bits, 100e6, accuracy: 20e6)
    }

    func testNothingDeliveredIsNoVerdict() {
        var meter = TransferRateMeter(roundTrip: 0.05)
        for tick in 0..<300 { XCTAssertNil(meter.record(time: Double(tick) * 0.01, delivered: 0, backlogged: true)) }
    }

    func testTheMeasurementLastsTwelveRoundTripsWithinATenthAndASecond() {
        XCTAssertEqual(TransferRateMeter(roundTrip: 0.05).longest, 0.6, accuracy: 1e-9)
        XCTAssertEqual(TransferRateMeter(roundTrip: 0.001).longest, 0.1)
        XCTAssertEqual(TransferRateMeter(roundTrip: 0.2).longest, 1)
    }
}
