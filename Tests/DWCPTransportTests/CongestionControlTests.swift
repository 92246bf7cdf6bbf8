@testable import DWCPTransport
import XCTest

/// `--cc auto` follows the path: bbr where a round trip is long enough for loss to hurt, cubic on
/// short paths where bbr's pacing only costs CPU; a name given is used as given.
final class CongestionControlTests: XCTestCase {
    func testAutoFollowsTheRoundTripAndNamesAreKept() throws {
        let kernel = CongestionControl.available()
        try XCTSkipUnless(kernel.contains("bbr") && kernel.contains("cubic"), "this kernel lacks bbr or cubic: \(kernel)")
        XCTAssertEqual(CongestionControl.resolve("auto", roundTripSeconds: 0.00005), "cubic")
        XCTAssertEqual(CongestionControl.resolve("auto", roundTripSeconds: 0.0019), "cubic")
        XCTAssertEqual(CongestionControl.resolve("auto", roundTripSeconds: 0.002), "bbr")
        XCTAssertEqual(CongestionControl.resolve("auto", roundTripSeconds: 0.2), "bbr")
        XCTAssertEqual(CongestionControl.resolve("reno", roundTripSeconds: 0.2), "reno")
        XCTAssertEqual(CongestionControl.resolve("bbr", roundTripSeconds: 0.0001), "bbr")
    }
}
