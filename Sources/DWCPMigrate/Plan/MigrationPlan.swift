import DWCPCLI
import DWCPCore
import DWCPCodec
import DWCPSystem
import DWCPTransport

/// How a migration will run, decided from the measured link before any byte of state moves.
///
/// The link probe (the same one `dwcp-detect` runs) gives RTT, loss and throughput; from them and
/// the downtime budget the plan picks the link class, the codec (the adaptive planner, seeded with
/// the measured rate), stream count, and, because every byte buffered between the source and the
/// destination must drain during the switchover, the pipeline's buffer sizes: in-flight data is
/// capped at a quarter of the downtime budget's worth of link time.
public struct MigrationPlan {
    public var mode: LinkClassifier.Mode
    public var measurement: LinkMeasurement?
    /// Link rate used for planning, bits per second.
    public var linkBitsPerSecond: Double
    public var maxDowntime: Double
    public var streams: Int
    public var window: UInt64
    public var chunkSize: Int
    public var blockSize: Int
    public var threads: Int
    /// Duplicate-page elimination: worth its hashing only when the wire, not the CPU, limits.
    public var deduplicate: Bool
    public var codec: String
    /// Send a VM's stream as is, without the DWCP encoder: `--codec raw`, or `auto` on a link
    /// at least twice as fast as the pipeline can compress (compression would only slow it).
    /// Image rounds always use the encoder (their deltas are the point).
    public var raw: Bool
    /// First codec choice for literal data, for the printed plan.
    public var initialCodec: String
    /// Seconds of buffered data the switchover must drain (subtracted from QEMU's downtime limit).
    public var drainSeconds: Double
    /// Encoded VM stream the source may hold for the sender during QEMU's first pass, bytes:
    /// `firstPassCover` of the link (at most `SendPipeline.maxEncodedBacklog`), so the link
    /// stays busy while QEMU syncs its dirty bitmap at the pass's end (~0.2 s on the test guest,
    /// sending nothing) or the encoder crawls through pages that compress well. From the
    /// second pass on the queue is back to its normal size, before any switchover.
    public var firstPassBacklog: Int

    /// `--streams` as given (nil: planned from the path).
    public var requestedStreams: Int?
    /// The plan was made before the link's rate was known (`beforeRate`): the migration
    /// measures it on its own first round trips and then applies `withMeasuredRate`.
    public var ratePending = false
    /// The rate was measured on the transfer itself (`withMeasuredRate`), not by the probe.
    public var rateMeasuredOnTransfer = false

    /// From this round trip on, a VM migration left to plan its codec measures its link's rate
    /// on its own first round trips (`--rate-probe auto`): where the probe's burst would run
    /// past 0.1 s (12 round trips), so that its filler and the transfer's own opening and slow
    /// start after it cost more than the burst learns.
    public static let rateOnTransferFromRoundTrip = 0.1 / 12

    /// The chunk size of a plan made before the rate was known: the handshake fixes it, and
    /// it suits windows from ~1 MiB (a 100 Mbit/s path of 50 ms: 13 chunks) up.
    public static let chunkBeforeRate = 64 << 10

    /// The link an image's adaptive codec is chosen for until the rate is measured (bit/s): on
    /// two cores its priors then choose zstd level 1, fast enough not to hold back a link of
    /// ~1 Gbit/s, while compressing a slower one nearly as well as the level it will be given
    /// (`CodecPlanner.autoCandidates`: ratio 3.3 against 3.5-3.8).
    public static let codecLinkBeforeRate = 8 * 200e6

    /// Seconds of link the first pass's backlog covers.
    public static let firstPassCover = 0.3

    /// What the encode → send → decode pipeline sustains on a small machine, bytes/s: the drain
    /// rate to assume when the link is faster.
    public static let pipelineBytesPerSecond = 500e6

    /// Plans from a measurement (nil: no probe possible, assume a fast datacenter link).
    public init(measurement: LinkMeasurement?, maxDowntime: Double, codec: String = "auto", streams: Int? = nil, threads: Int = OSThread.processorCount) {
        self.measurement = measurement
        self.requestedStreams = streams
        self.maxDowntime = maxDowntime
        self.threads = threads
        self.codec = codec
        if let m = measurement {
            mode = LinkClassifier().classify(m).0
            linkBitsPerSecond = m.throughput > 0 ? m.throughput : 1e9
        } else {
            mode = .datacenter
            linkBitsPerSecond = 10e9
        }
        let bytesPerSecond = linkBitsPerSecond / 8
        let rtt = measurement?.rttMedian ?? 0
        // Streams: a couple fill a short path (more only add queueing and head-of-line waits
        // at the reorder buffer); long fat paths get one per MiB of bandwidth-delay product,
        // doubled under real loss, where each stream's window collapses on its own. A raw
        // stream on a short path gets one: a single TCP stream there carries 30+ Gbit/s, more
        // than QEMU's migration thread produces, and every further stream adds threads on both
        // ends that compete with the guest for the CPU (loopback, 512 MiB guest, 8 trials
        // each: 1.07 s median with 1 stream, 1.10 s with 4).
        let bdp = bytesPerSecond * rtt
        let rawStream = codec == "raw" || (codec == "auto" && bytesPerSecond >= 2 * Self.pipelineBytesPerSecond)
        let shortPath = rtt < CongestionControl.shortPathRTT
        var planned = shortPath ? (rawStream ? 1 : bytesPerSecond >= 125e6 ? 4 : 2) : Int((bdp / Double(1 << 20)).rounded(.up))
        if rtt >= 0.01, (measurement?.loss ?? 0) > 0.001 { planned *= 2 }
        self.streams = streams ?? min(max(planned, shortPath ? 1 : 2), 16)
        // In flight: enough to cover the path (4 × bandwidth-delay product, or 20 ms of the
        // link up to 4 MiB, which covers the acknowledgements' delay on a short path) but
        // never more than a quarter of the downtime budget at the rate the pipeline really
        // drains, which on fast links is the CPU, not the wire (≈ 4 Gbit/s on two cores). More
        // only queues at the bottleneck: on the 100 Mbit tbf link a 1 MiB window overflowed the
        // 250 KB queue (2,300-11,500 retransmitted segments per migration against 200-400 with
        // 256 KiB), and all of it must drain inside the switchover.
        let drainRate = min(bytesPerSecond, Self.pipelineBytesPerSecond)
        let cover = max(4 * bdp, min(bytesPerSecond * 0.02, Double(4 << 20)))
        let budgetBytes = drainRate * maxDowntime / 4
        window = UInt64(max(Double(256 << 10), min(budgetBytes, cover, Double(64 << 20))))
        // Many chunks per window, so one slow chunk does not idle the others.
        chunkSize = Int(min(max(Double(window) / 16, Double(16 << 10)), Double(1 << 20)))
        chunkSize = 1 << (Int.bitWidth - 1 - chunkSize.leadingZeroBitCount)
        blockSize = bytesPerSecond < 100e6 ? 256 << 10 : 512 << 10
        deduplicate = bytesPerSecond < Self.pipelineBytesPerSecond
        let inFlightBlocks = Double((2 * threads + 2) * blockSize)
        let encodedQueue = Double(SendPipeline.encodedQueueBytes(window: window))
        drainSeconds = (Double(window) + encodedQueue + inFlightBlocks / 2) / drainRate
        firstPassBacklog = Int(max(encodedQueue, min(drainRate * Self.firstPassCover, Double(SendPipeline.maxEncodedBacklog))))
        raw = rawStream
        initialCodec = raw ? "raw" : codec == "auto"
            ? CodecPlanner(linkBitsPerSecond: linkBitsPerSecond, threads: threads).choose(literalBytes: blockSize).description
            : codec
    }

    /// A plan for a VM stream (`codec` auto) that starts before its link's rate is known: the
    /// probe measured the round trip (`measurement`, throughput 0) and the rate comes from the
    /// transfer's own first round trips (`TransferRateMeter`). Until then, settings no rate
    /// makes wrong: a zstd stream at level 1 on every core, without the long window (fast enough
    /// not to hold back a link of ~1 Gbit/s, where a level chosen for a slow link would, and
    /// which at 100 Mbit/s costs ~3 % of the first megabytes only); 2 connections (or
    /// `streams`); the widest window any rate could be given (the handshake names it, and it
    /// can only narrow: the downtime budget's quarter at the pipeline's 500 MB/s, at most
    /// 64 MiB); 64 KiB chunks. Never raw: the receiver tells a raw stream by its first bytes.
    /// An image's DWCP frames (`dwcp-migrate file`): the adaptive codec chooses as for a link of
    /// `codecLinkBeforeRate` until the rate is measured, with the slow links' 256 KiB blocks and
    /// duplicate pages found (neither can change in the round under way).
    public init(beforeRate measurement: LinkMeasurement, maxDowntime: Double, streams: Int? = nil, threads: Int = OSThread.processorCount) {
        var assumed = measurement
        assumed.throughput = 8 * Self.pipelineBytesPerSecond
        self.init(measurement: assumed, maxDowntime: maxDowntime, codec: "auto", streams: streams, threads: threads)
        self.measurement = measurement
        raw = false
        self.streams = streams ?? 2
        chunkSize = Self.chunkBeforeRate
        blockSize = 256 << 10
        deduplicate = true
        ratePending = true
        initialCodec = "zstd-\(vmStreamLevel)"
    }

    /// The plan once the link's rate is measured on a migration that started without it
    /// (`beforeRate`): as planned from a probe that had measured it, except what the transfer
    /// under way cannot change: the stream stays compressed, chunks keep their size, the
    /// window stays within the one the handshake named (this plan's), and no connection closes.
    /// `atLeast`: the sender, not the path, was the limit while measuring, so the rate is a
    /// floor: the link is planned as at least as fast as level 1 needs (50 MB/s), and the
    /// window stays the handshake's. A floor is no rate to size a window by: a window of a
    /// quarter of the downtime budget at the floor holds the transfer near it (1 Gbit/s with
    /// 50 ms round trips: 4.3-5.8 MB windows, three measurements in a row at 457-614 Mbit/s),
    /// and a sender that is the limit builds no queue a wide window would let grow.
    public func withMeasuredRate(_ bitsPerSecond: Double, loss: Double, atLeast: Bool = false) -> MigrationPlan {
        var m = measurement ?? LinkMeasurement(rttMin: 0, rttMedian: 0, rttP99: 0, jitter: 0, loss: 0, throughput: 0, rdmaDevices: [])
        m.throughput = atLeast ? max(bitsPerSecond, 8 * 50e6) : bitsPerSecond
        m.loss = loss
        var plan = MigrationPlan(measurement: m, maxDowntime: maxDowntime, codec: codec, streams: requestedStreams, threads: threads)
        plan.raw = false
        plan.chunkSize = chunkSize
        plan.blockSize = blockSize
        plan.deduplicate = deduplicate
        plan.window = atLeast ? window : min(plan.window, window)
        plan.streams = max(plan.streams, streams)
        plan.initialCodec = "zstd-\(plan.vmStreamLevel)"
        plan.rateMeasuredOnTransfer = true
        return plan
    }

    /// How a VM's migration stream travels: raw on links faster than compression; DWCP frames
    /// when a codec was named (`--codec zstd:3`); otherwise one zstd stream at `vmStreamLevel`
    /// by `vmStreamThreads`, with long-distance matching over a window covering the guest's RAM
    /// (2^27 to 2^30 bytes) when `vmStreamLongWindow`. A stream compressed against reference
    /// files (`referenceBytes` of them) has a window covering them too, up to 2^31 bytes, since
    /// they come before the whole stream.
    public func vmStreamFormat(guestRAM: UInt64, referenceBytes: UInt64 = 0) -> SendPipeline.StreamFormat {
        if raw { return .raw }
        if codec != "auto" { return .frames }
        return Self.vmStream(linkBytesPerSecond: linkBitsPerSecond / 8, threads: threads, guestRAM: guestRAM, referenceBytes: referenceBytes)
    }

    /// The zstd stream of `vmStreamFormat` for a link of `linkBytesPerSecond`.
    private static func vmStream(linkBytesPerSecond: Double, threads: Int, guestRAM: UInt64, referenceBytes: UInt64) -> SendPipeline.StreamFormat {
        let level = vmStreamLevel(linkBytesPerSecond: linkBytesPerSecond)
        let log = vmStreamWindowLog(guestRAM: guestRAM, referenceBytes: referenceBytes)
        return .zstd(level: level, windowLog: vmStreamLongWindow(level: level) ? log : nil,
                     threads: vmStreamThreads(linkBytesPerSecond: linkBytesPerSecond, threads: threads))
    }

    /// The long window of a VM stream (`vmStreamFormat`): 2^27 to 2^30 bytes over the guest's
    /// RAM, up to 2^31 with reference files.
    static func vmStreamWindowLog(guestRAM: UInt64, referenceBytes: UInt64) -> Int {
        let span = max(guestRAM + referenceBytes, 1)
        return min(referenceBytes > 0 ? 31 : 30, max(27, Int.bitWidth - (span - 1).leadingZeroBitCount))
    }

    /// A VM stream over the slowest links (level 6, one thread, the long window): how a stream
    /// with reference files begins when its rate is not known yet.
    static func slowLinkVMStreamFormat(guestRAM: UInt64, referenceBytes: UInt64) -> SendPipeline.StreamFormat {
        vmStream(linkBytesPerSecond: 0, threads: 1, guestRAM: guestRAM, referenceBytes: referenceBytes)
    }

    /// Whether a VM stream matches re-sent pages against their earlier versions (long-distance
    /// matching): below 50 MB/s of link (levels 3 and 6), where bytes are what costs time. On
    /// faster links the pipeline is short of CPU on two cores shared with both QEMUs, and the
    /// long window costs CPU at both ends (its matching at the source; at the destination, a
    /// decoder window of up to 1 GiB faulted in page by page) while saving 3-4 % of the bytes.
    /// At 1 Gbit/s (test guest, page writes; interleaved pairs): 512 MiB in 1.74-1.80 s without
    /// against 1.81-1.96 s with (186.7 against 179.7 MB sent); 2 GiB in 5.27-5.42 s without
    /// against 6.86-9.08 s with, each less QEMU's setup (627 against 608 MB).
    public var vmStreamLongWindow: Bool { Self.vmStreamLongWindow(level: vmStreamLevel) }
    private static func vmStreamLongWindow(level: Int) -> Bool { level > 1 }

    /// The zstd level of a VM stream: as high as the CPU keeps up with at the link's rate. On a
    /// 474 MB stream captured from the test guest (QEMU paced at 25 MiB/s, so re-sent pages
    /// included; `zstd --long=29 -T1`): level 1 208 MB, level 3 207 MB at 300 MB/s, level 6
    /// 202 MB at 166 MB/s of input per core (level 5 gains nothing over 3, level 7 0.2 % over 6).
    /// A stream compresses about 2:1, so on a link under 25 MB/s level 6 needs at most a third of
    /// a core; level 3 up to 50 MB/s; level 1 beyond.
    public var vmStreamLevel: Int { Self.vmStreamLevel(linkBytesPerSecond: linkBitsPerSecond / 8) }
    private static func vmStreamLevel(linkBytesPerSecond b: Double) -> Int { b >= 50e6 ? 1 : b >= 25e6 ? 3 : 6 }

    /// Compression threads for a VM stream: one below 25 MB/s of link (where `vmStreamLevel`
    /// is 6), else all. One core compresses the test guest's RAM at level 6 with long-distance
    /// matching at 185 MB/s (`zstd -T1 -6 --long=30`, 512 MiB in 2.9 s) where such a link takes
    /// at most 100, and a single-threaded encoder holds one 128 KiB block where the
    /// multithreaded one holds up to four 1 MiB jobs, which must cross the link inside the
    /// switchover (at 100 Mbit: ~1 MB, 90 ms).
    public var vmStreamThreads: Int { Self.vmStreamThreads(linkBytesPerSecond: linkBitsPerSecond / 8, threads: threads) }
    private static func vmStreamThreads(linkBytesPerSecond b: Double, threads: Int) -> Int { b < 25e6 ? 1 : threads }

    /// The congestion control for `--cc` (`auto` decided here, for the whole migration): cubic
    /// when the stream goes raw over a short path, where the copy is bound by the CPU and bbr's
    /// pacing timers only cost CPU; bbr otherwise, which keeps the bottleneck's queue short, and
    /// every byte queued there must drain inside the switchover (512 MiB guest over a 100 Mbit
    /// tbf link, same session: blackouts of 759 and 456 ms under cubic, 415, 507 and 409 ms
    /// under bbr).
    /// Nil: the system default (the kernel lacks the one wanted).
    public func congestionControl(_ option: String) -> String? {
        guard option == "auto" else { return option }
        // A raw stream follows the transport's own rule for the probed round trip.
        return raw ? CongestionControl.resolve(option, roundTripSeconds: measurement?.rttMedian ?? 0) : CongestionControl.ifAvailable("bbr")
    }

    /// The encoder setting for this plan (`auto`: adaptive for the measured link).
    public func codecPlanner() throws -> CodecPlanner {
        if codec == "auto" || codec == "raw" {
            return CodecPlanner(linkBitsPerSecond: ratePending ? Self.codecLinkBeforeRate : linkBitsPerSecond, threads: threads)
        }
        guard let setting = CodecSetting.parse(codec) else { throw DWCPError.usage("unknown codec '\(codec)'") }
        return CodecPlanner(fixed: setting)
    }

    public var json: String {
        var j = JSONLine()
        j.add("event", "plan")
        j.add("mode", mode.rawValue)
        // A plan made before the rate was known says so instead of the rate it assumed; the
        // migration prints its plan again once the rate is measured.
        if ratePending { j.add("link_rate", "to be measured on the transfer") } else { j.add("link_mbit_per_s", linkBitsPerSecond / 1e6, decimals: 1) }
        if rateMeasuredOnTransfer { j.add("link_rate", "measured on the transfer") }
        if let m = measurement {
            j.add("rtt_ms", m.rttMedian * 1000, decimals: 3)
            j.add("loss", m.loss, decimals: 4)
        }
        j.add("max_downtime_ms", Int(maxDowntime * 1000))
        j.add("codec", codec)
        j.add("initial_codec", initialCodec)
        // A VM stream (dwcp-migrate qemu) with the codec left to the plan: raw, or zstd-LEVEL with
        // "-long" when it has the long window.
        if codec == "auto" {
            j.add("vm_stream", raw ? "raw" : "zstd-\(vmStreamLevel)" + (vmStreamLongWindow ? "-long" : ""))
            if !raw {
                j.add("vm_stream_threads", vmStreamThreads)
                j.add("first_pass_backlog_bytes", firstPassBacklog)
            }
        }
        j.add("streams", streams)
        j.add("window_bytes", window)
        j.add("chunk_bytes", chunkSize)
        j.add("block_bytes", blockSize)
        j.add("deduplicate", deduplicate)
        j.add("drain_ms", drainSeconds * 1000, decimals: 1)
        return j.text
    }
}
