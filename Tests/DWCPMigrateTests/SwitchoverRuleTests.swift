import XCTest
@testable import DWCPMigrate

/// The switchover rule for compressed VM streams, fed counters shaped like the 100 Mbit test
/// guest's: the link acknowledges 12 MB/s, the whole stream compressed to 0.42, the last
/// second to 0.21.
final class SwitchoverRuleTests: XCTestCase {
    let mb = 1_000_000.0

    /// Ten seconds of a steady stream, then one second of better-compressing pages, with
    /// `backlog` wire bytes encoded and not yet acknowledged at the end.
    func measured(backlog: Double = 300_000) -> SwitchoverRule {
        var rule = SwitchoverRule(budget: 0.3, assumedRate: 12.5e6)
        var encoderIn = 0.0, encoderOut = 0.0
        for tick in 0...110 {
            let t = Double(tick) / 10
            let acknowledged = max(0, encoderOut - backlog)
            rule.record(.init(time: t, transferred: UInt64(encoderIn + 200_000), encoderIn: UInt64(encoderIn),
                              encoderOut: UInt64(encoderOut), acknowledged: UInt64(acknowledged)))
            // Per tick: 1.2 MB on the wire; at 0.42 before t = 10 s, at 0.21 after.
            let ratio = t < 10 ? 0.42 : 0.21
            encoderIn += 1.2 * mb / ratio
            encoderOut += 1.2 * mb
        }
        return rule
    }

    func testNothingMeasuredAssumesNoCompressionAndTheProbedRate() {
        let rule = SwitchoverRule(budget: 0.3, assumedRate: 12.5e6)
        XCTAssertEqual(rule.wireRatio, 1)
        XCTAssertEqual(rule.wireRate, 12.5e6)
        XCTAssertEqual(rule.backlog, 0)
        // 3 MB uncompressed at 12.5 MB/s is 240 ms, plus settling: fits 300 ms.
        XCTAssertTrue(rule.fits(remaining: 3_000_000, dirtyBytesPerSecond: 0, sinceSync: 0))
        XCTAssertFalse(rule.fits(remaining: 4_000_000, dirtyBytesPerSecond: 0, sinceSync: 0))
    }

    /// The rate comes from acknowledgements; the ratio is the worse of the recent one and the
    /// whole stream's (the last pass's pages compressed worse than the recent stream).
    func testRateRatioAndBacklogComeFromTheCounters() {
        let rule = measured()
        XCTAssertEqual(rule.wireRate, 12 * mb, accuracy: 0.02 * 12 * mb)
        let whole = rule.wireRatio
        XCTAssertGreaterThan(whole, 0.21 * 1.2, "the recent, better ratio must not be trusted alone")
        XCTAssertLessThanOrEqual(whole, 0.42 + 1e-9)
        // Encoded and unacknowledged, plus QEMU's 200 kB not yet read by the encoder.
        XCTAssertEqual(rule.backlog, 300_000 + 200_000 * whole, accuracy: 1)
    }

    /// QEMU's own rule stopped the test guest with 15.5 MB left (700 ms of downtime at this
    /// rate and ratio); this one waits until what is left fits.
    func testWaitsUntilWhatIsLeftFitsTheBudget() {
        let rule = measured()
        XCTAssertFalse(rule.fits(remaining: 15_500_000, dirtyBytesPerSecond: 8 * mb, sinceSync: 0))
        XCTAssertGreaterThan(rule.expectedDowntime(remaining: 15_500_000, dirtyBytesPerSecond: 8 * mb, sinceSync: 0), 0.5)
        XCTAssertTrue(rule.fits(remaining: 3_000_000, dirtyBytesPerSecond: 8 * mb, sinceSync: 0))
        // The same remainder long after QEMU's last bitmap sync: the guest dirtied more since.
        XCTAssertFalse(rule.fits(remaining: 3_000_000, dirtyBytesPerSecond: 8 * mb, sinceSync: 1.5))
        // A bigger backlog in the pipeline leaves less room.
        XCTAssertFalse(measured(backlog: 3_000_000).fits(remaining: 3_000_000, dirtyBytesPerSecond: 8 * mb, sinceSync: 0))
    }

    /// The expected downtime grows with what is left and with the dirty rate.
    func testExpectedDowntimeIsMonotonic() {
        let rule = measured()
        var previous = 0.0
        for remaining in stride(from: 0, through: 40_000_000, by: 1_000_000) {
            let d = rule.expectedDowntime(remaining: UInt64(remaining), dirtyBytesPerSecond: 8 * mb, sinceSync: 0.2)
            XCTAssertGreaterThan(d, previous)
            previous = d
        }
        // A long path adds the last byte's travel, half its round trip.
        var far = rule
        far.propagationSeconds = 0.025
        XCTAssertEqual(far.expectedDowntime(remaining: 1_000_000, dirtyBytesPerSecond: 8 * mb, sinceSync: 0.2),
                       rule.expectedDowntime(remaining: 1_000_000, dirtyBytesPerSecond: 8 * mb, sinceSync: 0.2) + 0.025, accuracy: 1e-9)
        XCTAssertLessThan(rule.expectedDowntime(remaining: 1_000_000, dirtyBytesPerSecond: 1 * mb, sinceSync: 0.2),
                          rule.expectedDowntime(remaining: 1_000_000, dirtyBytesPerSecond: 50 * mb, sinceSync: 0.2))
    }
}
