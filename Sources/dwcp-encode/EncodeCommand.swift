import ArgumentParser
import DWCPCLI
import DWCPCodec
import DWCPCore
import DWCPSystem

/// `dwcp-encode`: the toolkit's compressor. A thin shell over `DWCPCodec`: it turns options into
/// an `EncoderConfiguration`, opens inputs and output, and reports.
struct EncodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dwcp-encode",
        abstract: "Compress and delta-encode a byte stream into the DWCP frame stream; -d decodes.",
        discussion: """
            Reads the concatenation of FILEs (standard input if none, or for -) and writes a DWCP \
            stream (docs/FORMAT.md) to standard output or -o FILE. Zero pages and pages repeated \
            within --window cost a few bytes each. With --baseline, content found anywhere in the \
            baseline image (at any byte offset) is sent as a reference, pages edited in place as a \
            compressed XOR, and the rest is compressed with the nearby baseline bytes as a zstd \
            prefix; decoding needs the same baseline and refuses any other.

            --codec auto picks codec and level per frame to maximise delivered throughput over a \
            link of --link-rate (docs/AUTO-CODEC.md). --format zstd writes a plain zstd stream that \
            `zstd -d` reads instead.

            Every frame carries checksums of its encoded and decoded bytes and the stream ends with \
            its length and XXH3-128 digest; -d writes a frame only after it verified, and fails \
            with exit status 3 on any mismatch, truncation or wrong baseline. Streams that follow \
            one another (cat a.dwcp b.dwcp, several FILEs, or output appended with >>) decode to \
            their outputs one after another, each verified on its own. Memory is bounded: \
            about (2*THREADS+2) * 2 * BLOCK-SIZE plus WINDOW when encoding and decoding, plus \
            1/8 to 1/4 of the baseline's size for its index when encoding against one (never \
            more than 5/8).

            --stats prints a summary to stderr; --json prints it as one JSON object, to standard \
            output when -o is given and to stderr otherwise.

            Examples:
              dwcp-encode < mem.img > mem.dwcp && dwcp-encode -d mem.dwcp > mem.out
              dwcp-encode --baseline round1.img round2.img -o round2.dwcp
              dwcp-encode -c auto --link-rate 100Mbit vm.img |
                ssh peer "dwcp-encode -d > vm.img"
              dwcp-encode --format zstd -l 3 big.img | zstd -d > big.copy
              dwcp-encode -t archive/*.dwcp && echo intact

            \(ExitStatus.manualTable)
            """,
        version: DWCPVersion.string)

    @Flag(name: .shortAndLong, help: "Decode a DWCP (or plain zstd) stream instead of encoding.")
    var decode = false

    @Flag(name: .shortAndLong, help: "Test: decode and verify every stream, write nothing (as gzip -t and zstd -t); the exit status says whether they are intact.")
    var test = false

    @Flag(inversion: .prefixedNo, help: "With -d into a regular file, leave every whole zero page as a hole, as zstd -d does: it reads back as zeros and takes no disk space. --no-sparse writes every byte.")
    var sparse = true

    @Option(name: [.customShort("c"), .long], help: ArgumentHelp("Literal codec: zstd, lz4, brotli, none or auto.", valueName: "CODEC"))
    var codec: CodecChoice = .zstd

    @Option(name: .shortAndLong, parsing: .unconditional,
            help: ArgumentHelp("Codec level: zstd -131072...22 (negative = fast), lz4 <3 fast (negative = acceleration) or 3...12 HC, brotli 0...11. Default: lz4 1, brotli 5; zstd chooses per section, level 1's search where the bytes look random and a wider double-fast one elsewhere (see docs/AUTO-CODEC.md); --format zstd uses 3.", valueName: "LEVEL"))
    var level: Int?

    @Option(name: [.customShort("T"), .long], help: ArgumentHelp("Worker threads, at most 256; 0 means one per core (the default). Memory grows with them (docs/FORMAT.md, \"Memory a decoder needs\").", valueName: "N"))
    var threads: Int = 0

    @Option(help: ArgumentHelp("Page size for zero, duplicate and baseline matching: a power of two, 512 to 1MiB.", valueName: "BYTES"))
    var pageSize: String = "4096"

    @Option(help: ArgumentHelp("Original bytes per frame, a multiple of the page size up to 64MiB (default: 6MiB; with --baseline, 1/128 of the baseline's size as a power of two from 1MiB to 8MiB). Larger frames let the compressor reach further back and cost fewer headers; delta rounds keep them small on small images to bound memory.", valueName: "BYTES"))
    var blockSize: String?

    /// Full rounds compress better with frames that span more of the image, since a frame cannot
    /// reach into the one before it: node's heap dump, against `zstd -3`'s size, 1.20 in 1 MiB
    /// frames, 1.01–1.02 in 4 MiB, 0.96 in 6 MiB, 0.93 in 8 MiB. Larger frames cost time where
    /// the wide match tables are chosen (python3's dump: 0.83–0.87 of `zstd -1 -T0`'s time in
    /// 4 or 6 MiB frames, 0.92–0.95 in 8 MiB) and memory; 6 MiB keeps every dump of
    /// `make bench` under both bars. Delta rounds find their matches in the baseline and
    /// size their frames by it (`EncoderConfiguration.deltaBlockSize`): 1 MiB frames hold small
    /// images' memory to a quarter of `zstd --patch-from`'s, and large images, mostly references,
    /// spend less on headers in larger ones.
    var effectiveBlockSize: String { blockSize ?? "6MiB" }

    @Option(help: ArgumentHelp("How far back a duplicate page may be referenced; the decoder keeps this much output. 0 disables duplicate elimination.", valueName: "BYTES"))
    var window: String = "128MiB"

    @Option(help: ArgumentHelp("Literal history: zstd compresses each frame with the last BYTES of earlier frames' literals as prefix. Better ratio on sparse images (node heap: 0.72x the size with 4MiB), but slower to encode and decode (frames' literals decode in sequence). 0 = independent frames.", valueName: "BYTES"))
    var history: String = "0"

    @Option(help: ArgumentHelp("Delta against FILE, the image the receiver already has (e.g. the previous pre-copy round). Needed again to decode.", valueName: "FILE"))
    var baseline: String?

    @Option(help: ArgumentHelp("Link rate that --codec auto optimises for, e.g. 100Mbit, 10Gbit, 50MB/s.", valueName: "RATE"))
    var linkRate: String = "1Gbit"

    @Flag(help: "Checksum each frame and digest the stream over every page's XXH3-64 instead of over the bytes (format 1.2, docs/FORMAT.md \"Page-list checksums\"): the stream's digest is no longer a serial pass over all the data, and a delta names its baseline by its pages' digests. dwcp-migrate file sends its rounds so. Decoders before 1.2 refuse such a stream.")
    var pageChecksums = false

    @Option(help: ArgumentHelp("Output format: dwcp (framed, checksummed, page-aware) or zstd (plain zstd stream).", valueName: "FORMAT"))
    var format: OutputFormat = .dwcp

    @Flag(help: "Print a summary (bytes, ratio, page classes, codec mix, speed) to stderr.")
    var stats = false

    @Flag(help: "Print the summary as one JSON object (to stdout with -o, else stderr).")
    var json = false

    @OptionGroup var outputOptions: OutputOptions
    @OptionGroup var verbosity: VerbosityOptions

    @Argument(help: ArgumentHelp("Input files, concatenated; - or none reads standard input.", valueName: "FILE"))
    var files: [String] = []

    func validate() throws {
        if !(0...256).contains(threads) { throw ValidationError("--threads must be 0...256 (0: one per core)") }
        guard let page = Units.parseBytes(pageSize), StreamHeader.pageSizeRange.contains(Int(clamping: page)), page.nonzeroBitCount == 1 else {
            throw ValidationError("--page-size must be a power of two between 512 and 1MiB")
        }
        guard let block = Units.parseBytes(effectiveBlockSize), block >= page, block % page == 0, block <= UInt64(StreamHeader.maxBlockLimit) else {
            throw ValidationError("--block-size must be a multiple of the page size, at most 64MiB")
        }
        guard let w = Units.parseBytes(window), w <= StreamHeader.maxWindow else {
            throw ValidationError("--window must be a size up to 4GiB (e.g. 128MiB, or 0)")
        }
        guard let h = Units.parseBytes(history), h <= UInt64(StreamHeader.maxBlockLimit) else {
            throw ValidationError("--history must be a size up to 64MiB (e.g. 1MiB, or 0)")
        }
        if Units.parseBitRate(linkRate) == nil { throw ValidationError("--link-rate: cannot parse '\(linkRate)' (e.g. 100Mbit, 10Gbit)") }
        if let level, let c = codec.codecID, !CodecSetting.levelRange(for: c).contains(level) {
            throw ValidationError("level \(level) out of range \(CodecSetting.levelRange(for: c)) for \(codec.rawValue)")
        }
        if level != nil && codec == .auto { throw ValidationError("--level cannot be combined with --codec auto") }
        if test && outputOptions.output != nil { throw ValidationError("-t writes nothing: it takes no -o") }
        if format == .zstd && (baseline != nil || codec != .zstd || pageChecksums) {
            throw ValidationError("--format zstd writes plain zstd: it takes neither --baseline, --page-checksums nor another --codec")
        }
        if pageChecksums && (decode || test) {
            throw ValidationError("--page-checksums is for encoding: a decoder reads which checksums a stream has from its header")
        }
    }

    func run() throws {
        verbosity.apply()
        let inputs = try InputFiles.open(files, force: outputOptions.force)
        let target = test ? try OutputOptions.discarding() : try outputOptions.open(inputs: inputs, readPaths: baseline.map { [$0] } ?? [])
        let progress = ProgressLine(enabled: verbosity.showsProgress)
        let threadCount = threads == 0 ? OSThread.processorCount : threads
        // Reported once the output is complete and closed: a summary that fails to print must
        // not delete the output it describes.
        var decoded: DecodeStats?
        var encoded: EncodeStats?
        do {
            if decode || test {
                let decoder = StreamDecoder()
                decoder.threads = threadCount
                decoder.baselinePath = baseline
                // Streams one after another, in one input or over several, decode to their
                // bytes one after another, as `zstd -dc a.zst b.zst` and `cat` of both do.
                decoder.concatenated = true
                var s = DecodeStats()
                let holes = sparse ? SparseFileWriter.atEndOf(target.fd) : nil
                let output = holes.map { DecodedOutput.sparse($0) } ?? .descriptor(target.fd)
                for input in inputs {
                    let before = s.bytesOut
                    decoder.progress = { now in
                        let bytes = before + now.bytesOut
                        progress.update("dwcp-encode -d: \(Units.formatBytes(bytes)) written, \(Self.rate(bytes, progress.elapsed))")
                    }
                    let one: DecodeStats
                    do {
                        one = try decoder.decode(input, prefix: [], into: output)
                    } catch var e as DWCPError where inputs.count > 1 && !e.message.hasPrefix(input.name + ":") {
                        // Offsets are within each input: say which one.
                        e.message = "\(input.name): " + e.message
                        throw e
                    }
                    s.format = s.streams == 0 || s.format == one.format ? one.format : "mixed"
                    s.bytesIn += one.bytesIn
                    s.bytesOut += one.bytesOut
                    s.frames += one.frames
                    s.skippedFrames += one.skippedFrames
                    s.streams += max(one.streams, 1)
                }
                try holes?.finish()
                s.holeBytes = holes?.holeBytes
                progress.clear()
                try target.finish()
                decoded = s
            } else {
                let chain = InputChain(inputs)
                let total = chain.knownTotalSize
                let onProgress: (EncodeStats) -> Void = { s in
                    progress.update(Self.progressText(s, total: total, elapsed: progress.elapsed))
                }
                let s: EncodeStats
                if format == .zstd {
                    s = try ZstdStream.compress(chain, to: target.fd, level: level ?? CodecSetting.defaultLevel(for: .zstd), threads: threadCount, progress: onProgress)
                } else {
                    let encoder = StreamEncoder(configuration: try configuration(threads: threadCount))
                    encoder.progress = onProgress
                    s = try encoder.encode(chain, to: target.fd)
                }
                progress.clear()
                try target.finish()
                encoded = s
            }
        } catch {
            progress.clear()
            target.abandon()
            throw error
        }
        if let decoded { try report(decodeStats: decoded, seconds: progress.elapsed, target: target) }
        if let encoded { try report(encodeStats: encoded, seconds: progress.elapsed, target: target) }
    }

    func configuration(threads: Int) throws -> EncoderConfiguration {
        var c = EncoderConfiguration()
        c.threads = threads
        c.pageSize = Int(Units.parseBytes(pageSize)!)
        c.blockSize = Int(Units.parseBytes(effectiveBlockSize)!)
        c.blockSizeFromBaseline = blockSize == nil
        c.window = Units.parseBytes(window)!
        c.baselinePath = baseline
        c.history = Int(Units.parseBytes(history)!)
        c.pageListChecksums = pageChecksums
        if let id = codec.codecID {
            c.planner = CodecPlanner(fixed: level.map { CodecSetting(codec: id, level: $0) } ?? CodecSetting.standard(for: id))
        } else {
            c.planner = CodecPlanner(linkBitsPerSecond: Units.parseBitRate(linkRate)!, threads: threads)
        }
        var info = JSONLine()
        info.add("encoder", "dwcp-encode")
        info.add("version", DWCPVersion.string)
        info.add("codec", codec.rawValue)
        if let level { info.add("level", level) }
        if codec == .auto { info.add("link_rate_bps", Units.parseBitRate(linkRate)!, decimals: 0) }
        c.infoJSON = info.text
        return c
    }

    static func rate(_ bytes: UInt64, _ seconds: Double) -> String {
        Units.format(Double(bytes) / max(seconds, 1e-9) / 1e6, 1) + " MB/s"
    }

    static func progressText(_ s: EncodeStats, total: UInt64?, elapsed: Double) -> String {
        var text = "dwcp-encode: \(Units.formatBytes(s.bytesIn))"
        if let total, total > 0 { text += " / \(Units.formatBytes(total)) (\(s.bytesIn * 100 / total)%)" }
        text += " -> \(Units.formatBytes(s.bytesOut)), \(rate(s.bytesIn, elapsed))"
        if let total, s.bytesIn > 0, total > s.bytesIn {
            let eta = Double(total - s.bytesIn) / (Double(s.bytesIn) / max(elapsed, 1e-9))
            text += ", ETA \(Int(eta))s"
        }
        return text
    }

    private func report(encodeStats s: EncodeStats, seconds: Double, target: OutputTarget) throws {
        let ratio = s.bytesOut > 0 ? Double(s.bytesIn) / Double(s.bytesOut) : 0
        if json {
            var j = JSONLine()
            j.add("command", "encode")
            j.add("format", format.rawValue)
            j.add("bytes_in", s.bytesIn)
            j.add("bytes_out", s.bytesOut)
            j.add("ratio", ratio)
            j.add("seconds", seconds, decimals: 4)
            j.add("mb_per_s", Double(s.bytesIn) / max(seconds, 1e-9) / 1e6, decimals: 1)
            j.add("frames", s.frames)
            j.add("zero_bytes", s.zeroBytes)
            j.add("duplicate_bytes", s.duplicateBytes)
            j.add("baseline_copy_bytes", s.baselineCopyBytes)
            j.add("moved_bytes", s.movedBytes)
            j.add("xor_bytes", s.xorBytes)
            j.add("literal_bytes", s.literalBytes)
            j.add("codec_mix", s.codecMix)
            j.add("peak_rss_bytes", ResourceUsage.peakResidentBytes())
            try target.emitJSON(j)
        }
        if stats || verbosity.verbose > 0 {
            let pct = { (n: UInt64) in Units.format(s.bytesIn == 0 ? 0 : Double(n) * 100 / Double(s.bytesIn), 1) + "%" }
            let mix = s.codecMix.keys.sorted().map { "\($0) \(Units.formatBytes(s.codecMix[$0]!))" }.joined(separator: ", ")
            Diagnostics.emit("""
                dwcp-encode: \(Units.formatBytes(s.bytesIn)) -> \(Units.formatBytes(s.bytesOut)) (ratio \(Units.format(ratio, 3))) in \(Units.format(seconds, 3)) s, \(Self.rate(s.bytesIn, seconds))
                  zero \(pct(s.zeroBytes)), duplicate \(pct(s.duplicateBytes)), baseline copy \(pct(s.baselineCopyBytes)), xor \(pct(s.xorBytes)), literal \(pct(s.literalBytes))
                  frames \(s.frames), codecs: \(mix.isEmpty ? "-" : mix)

                """)
        }
    }

    private func report(decodeStats s: DecodeStats, seconds: Double, target: OutputTarget) throws {
        if json {
            var j = JSONLine()
            j.add("command", "decode")
            j.add("format", s.format)
            j.add("bytes_in", s.bytesIn)
            j.add("bytes_out", s.bytesOut)
            j.add("seconds", seconds, decimals: 4)
            j.add("mb_per_s", Double(s.bytesOut) / max(seconds, 1e-9) / 1e6, decimals: 1)
            j.add("streams", s.streams)
            if let holes = s.holeBytes { j.add("hole_bytes", holes) }
            j.add("frames", s.frames)
            j.add("skipped_frames", s.skippedFrames)
            j.add("verified", true)
            j.add("peak_rss_bytes", ResourceUsage.peakResidentBytes())
            try target.emitJSON(j)
        }
        if stats || verbosity.verbose > 0 {
            Diagnostics.emit("dwcp-encode: decoded \(Units.formatBytes(s.bytesIn)) -> \(Units.formatBytes(s.bytesOut)) in \(Units.format(seconds, 3)) s, \(Self.rate(s.bytesOut, seconds)), verified\n")
        }
    }
}

/// `--codec` values.
enum CodecChoice: String, ExpressibleByArgument, CaseIterable {
    case zstd, lz4, brotli, none, auto

    var codecID: CodecID? {
        switch self {
        case .zstd: return .zstd
        case .lz4: return .lz4
        case .brotli: return .brotli
        case .none: return CodecID.none
        case .auto: return nil
        }
    }
}

/// `--format` values.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case dwcp, zstd
}
