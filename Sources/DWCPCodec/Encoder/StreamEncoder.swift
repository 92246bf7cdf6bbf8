import DWCPCore
import DWCPSystem

/// Settings of one encode, as the `dwcp-encode` options give them.
public struct EncoderConfiguration {
    public var pageSize = 4096
    public var blockSize = 1 << 20
    /// With a baseline, size the frames by it (`deltaBlockSize`) instead of `blockSize`:
    /// dwcp-encode's default when no `--block-size` is given.
    public var blockSizeFromBaseline = false
    public var window: UInt64 = 128 << 20
    public var threads = OSThread.processorCount
    public var baselinePath: String?
    /// The baseline's length and digest when the caller already knows them (`dwcp-migrate file`:
    /// its snapshot is the input of the round before, whose digest that round's encode returned),
    /// which spares a pass over the whole file before the first frame can go out.
    public var baselineIdentity: BaselineIdentity?
    /// Look changed pages up anywhere in the baseline by their anchors (content that moved), not
    /// only where they were. Off, the anchor index (a hash pass over the whole baseline, about
    /// half of a 256 MiB round's encode) is never built; `dwcp-migrate file` turns it off once a
    /// round showed its changes stay in place.
    public var searchMoved = true
    /// The baseline's page digests when the caller computed them as it read the image the
    /// baseline holds (`dwcp-migrate file`, `PageDigests`): copies are then extended by comparing
    /// digests, and the baseline is read only where they differ. Ignored unless they describe a
    /// baseline of the same length and page size.
    public var baselineDigests: PageDigests?
    /// The input's page digests as the caller's input tap computes them (`InputChain.tap`;
    /// `dwcp-migrate file` builds the next round's `baselineDigests` so): each block's are taken
    /// from it once the block is read, so comparing a page with `baselineDigests` does not hash
    /// it again. Wrong digests cannot make wrong output pass: see `PageDigests`.
    public var inputDigests: PageDigests.Builder?
    public var planner = CodecPlanner(fixed: .adaptiveZstd)
    public var deduplicate = true
    /// Literal history given to zstd as prefix (0 = frames compressed independently).
    public var history = 0
    /// Checksum frames and digest the stream over page digests (`PageListDigest`), not bytes:
    /// `dwcp-migrate file`, whose input tap computes them anyway (`inputDigests`) and whose
    /// destination then verifies unchanged pages without hashing them. Off, the stream is a
    /// version 1.1 one, byte for byte as before.
    public var pageListChecksums = false
    /// Where block and frame buffers come from: a caller encoding one stream after another
    /// (the rounds of `dwcp-migrate file`) gives each the same, so later streams reuse the
    /// buffers earlier ones faulted in (fresh 8 MiB blocks were a sixth of an unchanged 1 GiB
    /// round's reading). Nil, the encode makes its own.
    public var buffers: BufferPools?
    /// Free-form JSON object written into the skippable info frame.
    public var infoJSON: String?

    public init() {}

    /// Frames in flight between reader and writer: bounds memory (see docs/FORMAT.md "Memory").
    public var maxInFlight: Int { 2 * threads + 2 }

    /// The frame size of a delta round when none is given: 1/128 of the baseline, rounded down to
    /// a power of two, from 1 to 8 MiB. Every frame costs about 80 bytes of headers whatever it
    /// holds, and a round that barely changed is little else (node's 1.1 GB heap: 117 kB in 1 MiB
    /// frames, 41 kB in 8 MiB ones, against `zstd --patch-from`'s 64 kB). Memory grows with the
    /// frame (128 MiB at 8 MiB), so images under 256 MiB keep 1 MiB frames.
    public static func deltaBlockSize(baselineBytes: UInt64) -> Int {
        var size = 1 << 20
        while size < 8 << 20 && UInt64(size) * 2 <= baselineBytes / 128 { size *= 2 }
        return size
    }
}

/// Encodes a byte stream into the DWCP frame stream (docs/FORMAT.md).
///
/// Three stages: the calling thread reads blocks, digests them and plans zero and duplicate pages
/// (sequential by nature: the duplicate index depends on every earlier page; without duplicate
/// elimination each worker plans its own blocks); `threads` workers match, compress and checksum
/// blocks; a writer thread emits frames in order. At most `maxInFlight` blocks exist at once.
public final class StreamEncoder {
    public let configuration: EncoderConfiguration
    /// Called on the writer thread after each frame with the running totals.
    public var progress: ((EncodeStats) -> Void)?

    public init(configuration: EncoderConfiguration) {
        self.configuration = configuration
    }

    public func encode(_ input: InputChain, to output: any ByteSink) throws -> EncodeStats {
        let c = configuration
        let baseline = try c.baselinePath.map { try Baseline(opening: $0) }
        let blockSize = c.blockSizeFromBaseline && baseline != nil
            ? EncoderConfiguration.deltaBlockSize(baselineBytes: baseline!.length) : c.blockSize
        precondition(blockSize % c.pageSize == 0)
        let index = baseline.map { BaselineIndex(baseline: $0, pageSize: c.pageSize, threads: c.threads, searchesMoved: c.searchMoved, digests: c.baselineDigests) }
        // The header names the baseline by its digest, a serial pass over the whole file (about
        // a tenth of a delta round's CPU on a 0.5 GB image). It runs on its own thread while the
        // first frames encode; the header goes out before the first frame, once it is known.
        var identity: Result<BaselineIdentity, Error>?
        if let known = c.baselineIdentity, let b = baseline {
            guard known.length == b.length else {
                throw DWCPError.failure("\(b.path): baseline is \(b.length) bytes, its given identity says \(known.length)")
            }
            identity = .success(known)
        }
        let pageList = c.pageListChecksums ? c.pageSize : nil
        let digestThread = identity != nil ? nil : baseline.map { b in OSThread { identity = Result { try b.identity(pageList: pageList) } } }
        defer { digestThread?.join() }
        let history = c.history > 0 ? LiteralHistory(length: c.history) : nil
        // How far back references may reach, which is what the decoder keeps of its output.
        // Only duplicate pages refer back: without them the header says 0 and the decoder keeps
        // no frame past its write (an image round's decoder faulted in 16 frames of 8 MiB it
        // never read again).
        let window = c.deduplicate ? c.window : 0
        var written = EncodeStats()
        var headerWritten = false
        var sequence: UInt64 = 0
        let info = c.infoJSON
        if info != nil { sequence += 1 }
        func writeHeader() throws {
            if headerWritten { return }
            headerWritten = true
            digestThread?.join()
            var header = StreamHeader(pageSize: UInt32(c.pageSize), maxBlock: UInt32(blockSize), window: window,
                                      baseline: try identity?.get(), streamID: SystemRandom.uint64())
            header.history = UInt32(c.history)
            header.pageListChecksums = c.pageListChecksums
            try output.writeAll(header.encoded())
            written.bytesOut += UInt64(StreamHeader.encodedLength)
            if let info {
                let frame = Self.metadataFrame(kind: .info, payload: Array(info.utf8), sequence: 0, offset: 0)
                try output.writeAll(frame)
                written.bytesOut += UInt64(frame.count)
            }
        }

        let pools = c.buffers ?? BufferPools()
        let blocks = pools.pool(bufferCapacity: blockSize)
        let frames = pools.pool(bufferCapacity: BlockEncoder.frameCapacity(maxBlock: blockSize, pageSize: c.pageSize))
        let workers = (0..<c.threads).map { _ in
            BlockEncoder(pageSize: c.pageSize, maxBlock: blockSize, index: index, planner: c.planner, framePool: frames,
                         history: history, pageListChecksums: c.pageListChecksums)
        }
        let digest = StreamDigest()
        let progress = self.progress
        let pipeline = OrderedPipeline<EncodeJob, EncodedFrame>(
            workers: c.threads, maxInFlight: c.maxInFlight,
            work: { w, job in
                defer { blocks.recycle(job.block) }
                do {
                    return try workers[w].encode(job)
                } catch {
                    history?.poison()
                    throw error
                }
            },
            consume: { frame in
                defer { frames.recycle(frame.bytes) }
                try writeHeader()
                try output.writeAll(frame.bytes.unsafeBase, count: frame.bytes.count)
                if let pieces = frame.pieces { PageListDigest.update(digest, with: pieces) }
                written.add(frame.stats)
                progress?(written)
            })

        // Only the duplicate index makes planning sequential: without it each worker plans its
        // own blocks (zero pages, pages equal to the baseline's), and the reader only reads.
        let planner = window > 0 ? BlockPlanner(pageSize: c.pageSize, duplicates: DuplicateIndex(window: window, pageSize: c.pageSize)) : nil
        var offset: UInt64 = 0
        var dataIndex: UInt64 = 0
        do {
            while true {
                let block = blocks.take()
                block.count = try input.read(into: block.unsafeBase, count: blockSize)
                if block.count == 0 { break }
                // Over bytes, the stream's digest is taken here; over page digests, by the writer
                // from each frame's pieces (which the tap's digests give, or the worker hashes).
                if pageList == nil { digest.update(block.unsafeBase, block.count) }
                let tapped = c.inputDigests?.digests(ofPagesAt: offset, count: block.count)
                let pageDigests = index?.digests == nil ? nil : tapped
                let plan = planner?.plan(block.unsafeBase, count: block.count, offset: offset, baseline: index?.digests, known: pageDigests)
                try pipeline.submit(EncodeJob(sequence: sequence, dataIndex: dataIndex, offset: offset, block: block, plan: plan,
                                              pageDigests: pageDigests,
                                              pieces: pageList.flatMap { Self.pieces(of: block, pageSize: $0, wholePages: tapped) }))
                sequence += 1
                dataIndex += 1
                offset += UInt64(block.count)
                if block.count < blockSize { break }
            }
        } catch {
            pipeline.abort(error)
            throw error
        }
        try pipeline.finish()
        try writeHeader()  // an empty input: no frame wrote it
        var totals = written
        let end = EndPayload(totalLength: offset, frameCount: sequence, digest: digest.finalize())
        totals.inputDigest = end.digest
        let endFrame = Self.metadataFrame(kind: .end, payload: end.encoded(), sequence: sequence, offset: offset)
        try output.writeAll(endFrame)
        totals.bytesOut += UInt64(endFrame.count)
        return totals
    }

    /// A block's page-list pieces from the digests of its whole pages the input tap computed,
    /// with a short last piece hashed here; nil when the tap did not give them all.
    static func pieces(of block: RawBuffer, pageSize: Int, wholePages: [UInt64]?) -> [UInt64]? {
        guard var list = wholePages, list.count == block.count / pageSize else { return nil }
        let tail = block.count % pageSize
        if tail > 0 { list.append(Checksum.xxh3(block.unsafeBase + (block.count - tail), tail)) }
        return list
    }

    /// A non-data frame (end, info): decoded bytes are the payload itself.
    static func metadataFrame(kind: FrameKind, payload: [UInt8], sequence: UInt64, offset: UInt64) -> [UInt8] {
        let sum = Checksum.xxh3(payload)
        let header = FrameHeader(kind: kind, flags: kind == .info ? FrameHeader.skippableFlag : 0,
                                 payloadLength: UInt32(payload.count), sequence: sequence, offset: offset,
                                 decodedLength: 0, payloadChecksum: sum, decodedChecksum: 0)
        return header.encoded() + payload
    }
}
