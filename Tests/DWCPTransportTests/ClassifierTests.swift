import DWCPCore
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

    /// A path whose median RTT wanders across the internet threshold (17-23 ms around 20 ms, as a
    /// real 20 ms path does): confirmations alone let it flap whenever two samples in a row fall
    /// on the other side; the hysteresis margin keeps it internet.
    func testNoisyPathAtAThresholdKeepsItsMode() {
        func switches(hysteresis: Double) -> Int {
            var c = LinkClassifier()
            c.hysteresis = hysteresis
            var random = SplitMix(seed: 7)
            var count = 0
            var mode = c.update(m(rtt: 0.021)).mode
            for _ in 0..<1000 {
                let next = c.update(m(rtt: random.uniform(0.017, 0.023))).mode
                if next != mode { count += 1 }
                mode = next
            }
            return count
        }
        XCTAssertEqual(switches(hysteresis: 0.2), 0)
        XCTAssertGreaterThan(switches(hysteresis: 0), 50, "without the margin the same path flaps")
    }

    /// The margin widens only the current mode's limits: the thresholds keep their meaning for
    /// entering a mode, and a real change still switches after the confirmations.
    func testHysteresisWidensOnlyTheCurrentModesLimits() {
        let c = LinkClassifier()
        XCTAssertEqual(c.classify(m(rtt: 0.0022), staying: .datacenter).0, .datacenter)
        XCTAssertEqual(c.classify(m(rtt: 0.0022), staying: .hybrid).0, .hybrid)
        XCTAssertEqual(c.classify(m(rtt: 0.0022)).0, .hybrid)
        XCTAssertEqual(c.classify(m(rtt: 0.0025), staying: .datacenter).0, .hybrid)
        XCTAssertEqual(c.classify(m(rtt: 0.0002, jitter: 0.0011), staying: .datacenter).0, .datacenter)
        XCTAssertEqual(c.classify(m(rtt: 0.017), staying: .internet).0, .internet)
        XCTAssertEqual(c.classify(m(rtt: 0.015), staying: .internet).0, .hybrid)
        XCTAssertEqual(c.classify(m(rtt: 0.020), staying: .hybrid).0, .internet)
        XCTAssertEqual(c.classify(m(rtt: 0.0002, loss: 0.009), staying: .internet).0, .internet)
        let reasons = c.classify(m(rtt: 0.017), staying: .internet).1
        XCTAssertEqual(reasons, ["median RTT 17.0 ms >= 16.0 ms"], "the reason names the limit that applied")

        var watch = LinkClassifier()
        XCTAssertEqual(watch.update(m(rtt: 0.008)).mode, .hybrid)
        XCTAssertEqual(watch.update(m(rtt: 0.0019)).mode, .hybrid)
        XCTAssertEqual(watch.update(m(rtt: 0.0019)).mode, .datacenter, "hybrid is left at the datacenter threshold itself")
        XCTAssertEqual(watch.update(m(rtt: 0.0023)).mode, .datacenter)
        XCTAssertEqual(watch.update(m(rtt: 0.0023)).mode, .datacenter, "2.3 ms is within the datacenter's 2.4 ms")
        XCTAssertEqual(watch.update(m(rtt: 0.03)).mode, .datacenter)
        XCTAssertEqual(watch.update(m(rtt: 0.03)).mode, .internet)
    }
}
