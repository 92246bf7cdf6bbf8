import Foundation
import XCTest
import DWCPTransport
import DWCPCodec
@testable import DWCPMigrate

/// The plan sizes buffers from the downtime budget: whatever sits between QEMU and the wire
/// must drain within it.
final class MigrationPlanTests: XCTestCase {
    func measurement(mbit: Double, rttMs: Double, loss: Double = 0) -> LinkMeasurement {
        LinkMeasurement(rttMin: rttMs / 1000, rttMedian: rttMs / 1000, rttP99: rttMs / 1000, jitter: 0, loss: loss, throughput: mbit * 1e6, rdmaDevices: [])
    }

    func testSlowLinkKeepsInFlightDataWithinTheBudget() {
        let plan = MigrationPlan(measurement: measurement(mbit: 100, rttMs: 0.1), maxDowntime: 0.3)
        XCTAssertLessThanOrEqual(Double(plan.window), max(12.5e6 * 0.3 / 4, Double(1 << 20)))
        XCTAssertLessThan(plan.drainSeconds, 0.3)
        XCTAssertEqual(plan.streams, 2, "a short path needs few streams")
        XCTAssertGreaterThanOrEqual(Int(plan.window) / plan.chunkSize, 16)
    }

    /// On a short path the window covers 20 ms of the link, not more: what is in flight beyond
    /// the path's needs only queues at the bottleneck (and overflowed the 100 Mbit tbf link's
    /// queue). A long path still gets its bandwidth-delay product, within the budget.
    func testWindowCoversThePathAndNoMore() {
        let short = MigrationPlan(measurement: measurement(mbit: 100, rttMs: 0.05), maxDowntime: 0.3)
        XCTAssertEqual(short.window, 256 << 10)
        XCTAssertGreaterThanOrEqual(Int(short.window) / short.chunkSize, 16)
        let long = MigrationPlan(measurement: measurement(mbit: 100, rttMs: 50), maxDowntime: 0.3)
        XCTAssertEqual(Double(long.window), 12.5e6 * 0.3 / 4, accuracy: 1)
        let gigabit = MigrationPlan(measurement: measurement(mbit: 1000, rttMs: 0.05), maxDowntime: 0.3)
        XCTAssertEqual(Double(gigabit.window), 125e6 * 0.02, accuracy: 1)
        let fast = MigrationPlan(measurement: measurement(mbit: 40_000, rttMs: 0.05), maxDowntime: 0.3)
        XCTAssertEqual(fast.window, 4 << 20)
    }

    /// During QEMU's first pass the encoded queue covers 0.3 s of the link (QEMU's bitmap sync
    /// at the pass's end sends nothing for ~0.2 s), capped for fast links, and never below the
    /// queue's normal size.
    func testFirstPassBacklogCoversAFewTenthsOfTheLink() {
        let slow = MigrationPlan(measurement: measurement(mbit: 100, rttMs: 0.05), maxDowntime: 0.3)
        XCTAssertEqual(Double(slow.firstPassBacklog), 12.5e6 * 0.3, accuracy: 1)
        XCTAssertGreaterThan(slow.firstPassBacklog, SendPipeline.encodedQueueBytes(window: slow.window))
        let fast = MigrationPlan(measurement: measurement(mbit: 40_000, rttMs: 0.05), maxDowntime: 0.3)
        XCTAssertEqual(fast.firstPassBacklog, SendPipeline.maxEncodedBacklog)
        let crawl = MigrationPlan(measurement: measurement(mbit: 0.1, rttMs: 0.05), maxDowntime: 0.3)
        XCTAssertEqual(crawl.firstPassBacklog, SendPipeline.encodedQueueBytes(window: crawl.window))
    }

    func testLongFatPathGetsStreamsFromTheBandwidthDelayProduct() {
        let plan = MigrationPlan(measurement: measurement(mbit: 1000, rttMs: 50), maxDowntime: 2)
        // BDP 6.25 MB: one stream per MiB.
        XCTAssertEqual(plan.streams, 6)
        let lossy = MigrationPlan(measurement: measurement(mbit: 1000, rttMs: 50, loss: 0.01), maxDowntime: 2)
        XCTAssertEqual(lossy.streams, 12)
        XCTAssertEqual(lossy.mode, .internet)
    }

    func testFastLinkIsBoundedByThePipelineNotTheWire() {
        let plan = MigrationPlan(measurement: measurement(mbit: 40_000, rttMs: 0.05), maxDowntime: 0.3)
        XCTAssertLessThanOrEqual(Double(plan.window), MigrationPlan.pipelineBytesPerSecond * 0.3 / 4 + 1)
        XCTAssertFalse(plan.deduplicate, "hashing for duplicates costs more than it saves when the CPU is the limit")
        XCTAssertEqual(plan.mode, .datacenter)
        XCTAssertTrue(plan.raw)
        XCTAssertEqual(plan.streams, 1, "one TCP stream on a short path outruns QEMU's migration thread")
        let compressed = MigrationPlan(measurement: measurement(mbit: 40_000, rttMs: 0.05), maxDowntime: 0.3, codec: "zstd:1")
        XCTAssertEqual(compressed.streams, 4)
    }

    /// `--cc auto`: cubic only where the copy is CPU-bound (a raw stream over a short path);
    /// bbr wherever a bottleneck queue would have to drain during the switchover.
    func testCongestionControlFollowsThePlan() throws {
        let kernel = CongestionControl.available()
        try XCTSkipUnless(kernel.contains("bbr") && kernel.contains("cubic"), "this kernel lacks bbr or cubic: \(kernel)")
        XCTAssertEqual(MigrationPlan(measurement: measurement(mbit: 40_000, rttMs: 0.05), maxDowntime: 0.3).congestionControl("auto"), "cubic")
        XCTAssertEqual(MigrationPlan(measurement: measurement(mbit: 100, rttMs: 0.1), maxDowntime: 0.3).congestionControl("auto"), "bbr")
        XCTAssertEqual(MigrationPlan(measurement: measurement(mbit: 40_000, rttMs: 0.05), maxDowntime: 0.3, codec: "zstd:1").congestionControl("auto"), "bbr")
        XCTAssertEqual(MigrationPlan(measurement: measurement(mbit: 10_000, rttMs: 30), maxDowntime: 0.3).congestionControl("auto"), "bbr")
        XCTAssertEqual(MigrationPlan(measurement: measurement(mbit: 40_000, rttMs: 0.05), maxDowntime: 0.3).congestionControl("reno"), "reno")
    }

    func testVMStreamLevelFollowsTheLinkRate() {
        func format(_ mbit: Double) -> SendPipeline.StreamFormat {
            MigrationPlan(measurement: measurement(mbit: mbit, rttMs: 0.5), maxDowntime: 0.3, threads: 2).vmStreamFormat(guestRAM: 512 << 20)
        }
        XCTAssertEqual(format(100), .zstd(level: 6, windowLog: 29, threads: 1))
        XCTAssertEqual(format(300), .zstd(level: 3, windowLog: 29, threads: 2))
        XCTAssertEqual(format(1000), .zstd(level: 1, windowLog: nil, threads: 2), "short of CPU, not of link: no long window")
        XCTAssertEqual(format(40_000), .raw)
        XCTAssertEqual(MigrationPlan(measurement: measurement(mbit: 100, rttMs: 0.5), maxDowntime: 0.3, codec: "zstd:3")
            .vmStreamFormat(guestRAM: 512 << 20), .frames)
    }

    func testFixedCodecParses() throws {
        XCTAssertNoThrow(try MigrationPlan(measurement: nil, maxDowntime: 0.3, codec: "zstd:-3").codecPlanner())
        XCTAssertThrowsError(try MigrationPlan(measurement: nil, maxDowntime: 0.3, codec: "gzip").codecPlanner())
    }

    /// A VM migration on a long path starts before its link's rate is known: level 1 on every
    /// core (which no link's rate makes the bottleneck), never raw, 2 connections, the widest
    /// window the budget could give any rate. Once the rate is measured the plan is the one a
    /// probe would have made, within what the transfer under way can change.
    func testAPlanBeforeTheRateAndAfterIt() {
        let before = MigrationPlan(beforeRate: measurement(mbit: 0, rttMs: 50), maxDowntime: 0.3, threads: 2)
        XCTAssertTrue(before.ratePending)
        XCTAssertEqual(before.vmStreamFormat(guestRAM: 512 << 20), .zstd(level: 1, windowLog: nil, threads: 2))
        XCTAssertEqual(before.streams, 2)
        XCTAssertEqual(before.chunkSize, MigrationPlan.chunkBeforeRate)
        XCTAssertEqual(Double(before.window), 500e6 * 0.3 / 4, accuracy: 1)
        XCTAssertTrue(before.json.contains(#""link_rate":"to be measured on the transfer""#), before.json)
        XCTAssertFalse(before.json.contains("link_mbit_per_s"), "the rate it assumed is no measurement")
        // An image's frames: zstd level 1 from the adaptive codec until the rate is known, with
        // the slow links' blocks and duplicate pages found.
        XCTAssertEqual(try before.codecPlanner().choose(literalBytes: 1 << 20), CodecSetting(codec: .zstd, level: 1))
        XCTAssertEqual(before.blockSize, 256 << 10)
        XCTAssertTrue(before.deduplicate)

        let slow = before.withMeasuredRate(95e6, loss: 0.05)
        let probed = MigrationPlan(measurement: measurement(mbit: 95, rttMs: 50, loss: 0.05), maxDowntime: 0.3, threads: 2)
        XCTAssertFalse(slow.ratePending)
        XCTAssertEqual(slow.vmStreamFormat(guestRAM: 512 << 20), probed.vmStreamFormat(guestRAM: 512 << 20))
        XCTAssertEqual(slow.window, probed.window)
        XCTAssertEqual(slow.streams, probed.streams)
        XCTAssertEqual(slow.chunkSize, before.chunkSize, "the handshake fixed it")
        XCTAssertEqual(slow.blockSize, before.blockSize, "the round under way keeps its encoder")
        XCTAssertEqual(slow.deduplicate, before.deduplicate)
        XCTAssertEqual(try slow.codecPlanner().choose(literalBytes: 1 << 20), try probed.codecPlanner().choose(literalBytes: 1 << 20),
                       "the codec is chosen for the measured rate")
        XCTAssertTrue(slow.json.contains(#""link_rate":"measured on the transfer""#), slow.json)
        XCTAssertTrue(slow.json.contains(#""link_mbit_per_s":95.0"#), slow.json)

        // Fast enough for raw, but the stream has begun compressed; the window cannot widen.
        let fast = before.withMeasuredRate(20e9, loss: 0)
        XCTAssertEqual(fast.vmStreamFormat(guestRAM: 512 << 20), .zstd(level: 1, windowLog: nil, threads: 2))
        XCTAssertLessThanOrEqual(fast.window, before.window)
        XCTAssertGreaterThan(fast.streams, 2, "a long fat path gets a connection per MiB of its bandwidth-delay product")

        // The sender was the limit: the link is planned as at least as fast as level 1 needs.
        let floor = before.withMeasuredRate(30e6, loss: 0, atLeast: true)
        XCTAssertEqual(floor.vmStreamLevel, 1)
        XCTAssertEqual(floor.linkBitsPerSecond, 400e6, accuracy: 1)
        XCTAssertEqual(floor.window, before.window, "a floor keeps the handshake's window")
        XCTAssertLessThan(before.withMeasuredRate(400e6, loss: 0).window, before.window, "a rate narrows it")

        // --streams is kept.
        let pinned = MigrationPlan(beforeRate: measurement(mbit: 0, rttMs: 50), maxDowntime: 0.3, streams: 3, threads: 2).withMeasuredRate(5e9, loss: 0)
        XCTAssertEqual(pinned.streams, 3)
    }

    func testRoundLabelRoundTripsAndRejectsGarbage() {
        let label = RoundLabel(kind: .final, round: 7)
        XCTAssertEqual(RoundLabel.parse([#"{"encoder":"dwcp-encode"}"#, label.json]), label)
        XCTAssertNil(RoundLabel.parse([#"{"dwcp_migrate":"round"}"#]))
        XCTAssertNil(RoundLabel.parse([#"{"dwcp_migrate":"explode","round":1}"#]))
        XCTAssertNil(RoundLabel.parse([#"{"dwcp_migrate":"round","round":-1}"#]))
        XCTAssertNil(RoundLabel.parse(["not json"]))
    }
}

/// The forecast is fed from several acknowledgement threads at once, with counts that can
/// arrive out of order: it must neither crash nor count bytes twice.
final class LinkForecastTests: XCTestCase {
    func testOutOfOrderAndConcurrentProgress() {
        let f = LinkForecast()
        f.transferStarted()
        // 10 simulated seconds at 100 MB/s, each count also delivered late and stale.
        for second in 0...10 {
            let total = UInt64(second) * 100_000_000
            f.progress(totalBytes: total, now: Double(second))
            f.progress(totalBytes: total > 0 ? total - 1 : 0, now: Double(second) + 0.1)
        }
        XCTAssertEqual(f.bytesPerSecond ?? 0, 100e6, accuracy: 1e6)
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            for k in 0..<10_000 { f.progress(totalBytes: 2_000_000_000 + UInt64(k * 8 + i)) }
        }
        XCTAssertNotNil(f.bytesPerSecond)
    }
}
