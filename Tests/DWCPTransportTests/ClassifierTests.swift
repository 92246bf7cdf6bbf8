import DWCPTransport
import XCTest

final class ClassifierTests: XCTestCase {
    func m(rtt: Double, jitter: Double = 0.0001, loss: Double = 0) -> LinkMeasurement {
        LinkMeasurement(rttMin: rtt, rttMedian: rtt, rttP99: rtt, jitter: jitter, loss: loss, throughput: 1e9, rdmaDevices: [])
    }

    func testModesAndReasons() {
        let c = LinkClassifier()
        XCTAssertEqual(c.classify(m(rtt: 0.0002)).0, .datacenter)
        XCTAssertEqual(c.classify(m(rtt: 0.008)).0, .hybrid)
        XCTAssertEqual(c.classify(m(rtt: 0.0002, jitter: 0.005)).0, .hybrid)
        XCTAssertEqual(c.classify(m(rtt: 0.05)).0, .internet)
        let lossy = c.classify(m(rtt: 0.0002, loss: 0.02))
        XCTAssertEqual(lossy.0, .internet)
        XCTAssertTrue(lossy.1.first!.contains("loss"), "\(lossy.1)")
    }

    func testWatchDoesNotFlapButFollowsARealChange() {
        var c = LinkClassifier()
        c.confirmations = 2
        XCTAssertEqual(c.update(m(rtt: 0.0002)).mode, .datacenter)
        // One noisy sample does not switch...
        XCTAssertEqual(c.update(m(rtt: 0.05)).mode, .datacenter)
        XCTAssertEqual(c.update(m(rtt: 0.0002)).mode, .datacenter)
        // ...alternating noise never does...
        for i in 0..<10 { XCTAssertEqual(c.update(m(rtt: i % 2 == 0 ? 0.05 : 0.0003)).mode, .datacenter) }
        // ...but two in a row do (at 1 s intervals: detected within 2 s).
        XCTAssertEqual(c.update(m(rtt: 0.05)).mode, .datacenter)
        XCTAssertEqual(c.update(m(rtt: 0.05)).mode, .internet)
    }
}
