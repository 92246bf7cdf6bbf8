import DWCPSystem
@testable import DWCPTransport
import XCTest

/// The probe's pings: a fixed interval by default (as `dwcp-detect` uses it), or a few round
/// trips of the path when `pingIntervalRoundTrips` is set, so a short path is probed in
/// milliseconds rather than in `pings × pingInterval`; `pingSeconds` bounds them on long paths,
/// where the connection's opening already timed three round trips. A burst's rate comes from
/// the peer's count or, when that is not awaited, from TCP's.
final class LinkProbeTests: XCTestCase {
    /// Runs `body` with a probe of a loopback responder that answers one connection: ten pings
    /// 50 ms apart and no burst, unless `body` sets otherwise.
    private func withLoopbackResponder<T>(_ body: (inout LinkProbe) throws -> T) throws -> T {
        let listener = try StreamListener(Endpoint(host: "127.0.0.1", port: 0))
        defer { listener.shutdown() }
        let responder = OSThread {
            if case .connection(let socket) = listener.accept(timeout: 10) {
                ProbeResponder.answer(socket, auth: SessionAuth(secret: nil), tls: nil)
            }
        }
        defer { responder.join() }
        var probe = LinkProbe(endpoint: Endpoint(host: "127.0.0.1", port: listener.port))
        probe.pings = 10
        probe.pingInterval = 0.05
        probe.burstSeconds = 0
        return try body(&probe)
    }

    private func probeLoopback(_ configure: (inout LinkProbe) -> Void) throws -> (LinkMeasurement, Double) {
        try withLoopbackResponder { probe in
            configure(&probe)
            let started = MonotonicClock.now()
            let m = try probe.measure()
            return (m, MonotonicClock.now() - started)
        }
    }

    func testPingsAreSpacedByRoundTripsWhenAsked() throws {
        let (fixed, fixedSeconds) = try probeLoopback { _ in }
        // Nine gaps of 50 ms between ten pings.
        XCTAssertGreaterThanOrEqual(fixedSeconds, 0.45)
        XCTAssertGreaterThan(fixed.rttMedian, 0)
        let (spaced, spacedSeconds) = try probeLoopback { $0.pingIntervalRoundTrips = 10 }
        // Loopback round trips are tens of microseconds: ten pings take milliseconds (the bound
        // leaves room for a busy machine, and is still a tenth of the fixed spacing).
        XCTAssertLessThan(spacedSeconds, 0.2, "pings were not spaced by round trips")
        XCTAssertGreaterThan(spaced.rttMedian, 0)
        XCTAssertLessThanOrEqual(spaced.rttMin, spaced.rttMedian)
    }

    func testPingingStopsAtItsTimeLimitOnceThreeRoundTripsAreTimed() throws {
        // 50 ms apart: the opening times three round trips (TCP's and the handshake's two), then
        // pings go on until 0.1 s have passed since it began: three pings, two gaps. All ten
        // would take 0.45 s.
        let (m, seconds) = try probeLoopback { $0.pingSeconds = 0.1 }
        XCTAssertGreaterThanOrEqual(seconds, 0.1, "pinging stopped before its time limit")
        XCTAssertLessThan(seconds, 0.3, "pinging did not stop at its time limit")
        XCTAssertGreaterThan(m.rttMedian, 0)
    }

    /// On a long path the opening's round trips are enough: a 50 ms path spent three more round
    /// trips pinging. Here the time limit has passed by the end of the opening, so there is no
    /// ping at all (one would add a 50 ms gap), and the figures come from the opening. A kept
    /// connection has no opening to count: its next measurement pings at least three times.
    func testTheOpeningsRoundTripsCountWhenPingingIsCutShort() throws {
        try withLoopbackResponder { probe in
            probe.pingSeconds = 1e-9
            probe.keepConnection = true
            var started = MonotonicClock.now()
            let opened = try probe.measure()
            XCTAssertLessThan(MonotonicClock.now() - started, 0.04, "pinged although the opening timed three round trips")
            XCTAssertGreaterThan(opened.rttMin, 0)
            XCTAssertLessThanOrEqual(opened.rttMin, opened.rttMedian)
            started = MonotonicClock.now()
            let kept = try probe.measure()
            XCTAssertGreaterThanOrEqual(MonotonicClock.now() - started, 0.1, "fewer than three pings on a kept connection")
            XCTAssertGreaterThan(kept.rttMedian, 0)
        }
    }

    /// Without waiting for the peer's count, the rate is what TCP saw delivered over the
    /// burst's second half, and the connection is reset as the burst ends: the responder's
    /// session ends at once, and the probe comes back before a slow receiver could have
    /// drained what was still queued.
    func testABurstNotConfirmedIsTakenFromTCPAndResetsTheConnection() throws {
        try withLoopbackResponder { probe in
            probe.pings = 3
            probe.burstSeconds = 0.2
            probe.awaitBurstConfirmation = false
            let m = try probe.measure()
            XCTAssertGreaterThan(m.throughput, 1e8, "loopback moves more than 100 Mbit/s")
            XCTAssertTrue(m.throughput.isFinite)
            let deadline = MonotonicClock.now() + 2
            while ProbeResponder.activeSessions > 0 && MonotonicClock.now() < deadline { usleep(10_000) }
            XCTAssertEqual(ProbeResponder.activeSessions, 0, "the reset ends the responder's session")
        }
    }

    /// A burst allowed two seconds ends once its rate has levelled (on loopback, within a few
    /// round trips of its 0.1 s minimum) and still reads loopback's rate.
    func testABurstEndsOnceItsRateLevels() throws {
        let (m, seconds) = try probeLoopback { probe in
            probe.pings = 3
            probe.burstSeconds = 2
            probe.awaitBurstConfirmation = false
            probe.endBurstAtPlateau = true
        }
        XCTAssertGreaterThan(m.throughput, 1e8, "loopback moves more than 100 Mbit/s")
        XCTAssertLessThan(seconds, 1.5, "the burst ended before its two seconds")
    }

    /// `burstOnlyBelowRoundTrip`: a path whose round trip reaches it gets no burst (the
    /// migration measures the rate on its transfer); a shorter one keeps it.
    func testNoBurstFromTheRoundTripAsked() throws {
        let configure = { (probe: inout LinkProbe, limit: Double) in
            probe.pings = 3
            probe.pingInterval = 0.001
            probe.burstSeconds = 0.3
            probe.awaitBurstConfirmation = false
            probe.burstOnlyBelowRoundTrip = limit
        }
        let (skipped, seconds) = try probeLoopback { configure(&$0, 0) }
        XCTAssertEqual(skipped.throughput, 0, "no burst: no rate")
        XCTAssertGreaterThan(skipped.rttMedian, 0)
        XCTAssertLessThan(seconds, 0.25, "the burst's 0.3 s were not spent")
        let (kept, _) = try probeLoopback { configure(&$0, 1) }
        XCTAssertGreaterThan(kept.throughput, 1e8, "a loopback round trip is under a second: the burst runs")
    }

    /// Without a secret anyone may probe, and a probe holds a thread while its peer keeps the
    /// connection: sessions beyond `maxSessions` are closed after their handshake, an idle one
    /// is closed after its idle timeout, and a kept probe whose connection was closed simply
    /// connects again.
    func testProbeSessionsAreBoundedAndIdleOnesClosed() throws {
        let listener = try StreamListener(Endpoint(host: "127.0.0.1", port: 0))
        let acceptor = OSThread {
            while case .connection(let socket) = listener.accept(timeout: 30) {
                _ = OSThread { ProbeResponder.answer(socket, auth: SessionAuth(secret: nil), tls: nil, idleTimeout: 1) }
            }
        }
        defer {
            listener.shutdown()
            acceptor.join()
        }
        var probes: [LinkProbe] = []
        var answered = 0
        for _ in 0..<(ProbeResponder.maxSessions + 4) {
            var probe = LinkProbe(endpoint: Endpoint(host: "127.0.0.1", port: listener.port))
            probe.pings = 1
            probe.burstSeconds = 0
            probe.keepConnection = true
            if (try? probe.measure()) != nil { answered += 1 }
            probes.append(probe)
        }
        XCTAssertEqual(answered, ProbeResponder.maxSessions, "the sessions beyond the limit are refused")
        XCTAssertEqual(ProbeResponder.activeSessions, ProbeResponder.maxSessions)
        // Idle past the server's timeout: every session is closed...
        let deadline = MonotonicClock.now() + 5
        while ProbeResponder.activeSessions > 0 && MonotonicClock.now() < deadline { usleep(50_000) }
        XCTAssertEqual(ProbeResponder.activeSessions, 0, "idle probe connections are closed")
        // ...and a kept probe finds its connection gone and makes a new one.
        XCTAssertNoThrow(try probes[0].measure())
        probes.removeAll()
    }
}
