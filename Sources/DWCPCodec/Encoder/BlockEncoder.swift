import DWCPCore
import DWCPSystem

/// A block read from the input with its reader-stage plan: the unit of parallel work.
public struct EncodeJob {
    public let sequence: UInt64
    /// Position among data frames (0, 1, 2, …): the key of the literal history.
    public let dataIndex: UInt64
    public let offset: UInt64
    public let block: RawBuffer
    /// The reader's plan; nil when no duplicate index makes planning sequential, and the worker
    /// plans the block itself (`BlockEncoder.encode`).
    public let plan: [PlanSegment]?
    /// The digests of the block's whole pages, when the caller computed them as it read the
    /// input (`EncoderConfiguration.inputDigests`).
    public let pageDigests: [UInt64]?
    /// With page-list checksums: the block's pieces' digests when the reader had them (from the
    /// input tap); nil, the worker computes them.
    public let pieces: [UInt64]?
}

/// A finished frame (header and payload, ready to write) and what it contains.
public struct EncodedFrame {
    public let bytes: RawBuffer
    public let stats: EncodeStats
    /// With page-list checksums: the block's pieces' digests, for the stream's digest.
    public let pieces: [UInt64]?
}

/// Turns one block into one data frame on a worker thread: hands open stretches to the
/// `DeltaMatcher` (with a baseline) or takes them as literal bytes, compresses the literal
/// section, and checksums everything. One instance per worker; it owns its scratch buffers.
final class BlockEncoder {
    private let planner: CodecPlanner
    private let compressor = Compressor()
    private let literal: RawBuffer
    private let prefix: RawBuffer
    private let matcher: DeltaMatcher?
    private let baseline: Baseline?
    private let framePool: BufferPool
    private let history: LiteralHistory?
    /// The page size when frames are checksummed over page digests, else nil.
    private let pageList: Int?
    private let pageSize: Int
    /// The baseline's page digests (`BaselineIndex.digests`), which a worker's plan and matcher
    /// compare the block's pages with.
    private let baselineDigests: PageDigests?

    /// Size of pooled frame buffers: the literal section is never larger than the block, and ops
    /// and reference ranges rarely take more than 48 bytes per page each.
    static func frameCapacity(maxBlock: Int, pageSize: Int) -> Int {
        FrameHeader.encodedLength + DataPayloadHead.encodedLength + maxBlock + (maxBlock / pageSize + 1) * 48 * 2 + 4096
    }

    /// The reference ranges as sent: each clipped to the baseline's end (the margins around the
    /// last page can run past it), and no more of them than the prefix buffer holds (margins add
    /// up to 2 KiB per literal run; what does not fit is left out of the reference, which only
    /// costs compression). The decoder reads exactly these ranges.
    static func fitted(_ refs: [BaselineRange], baselineLength: UInt64, room: Int) -> [BaselineRange] {
        var out: [BaselineRange] = []
        var left = room
        for r in refs where r.offset < baselineLength && left > 0 {
            let length = min(r.length, Int(baselineLength - r.offset), left)
            out.append(BaselineRange(offset: r.offset, length: length))
            left -= length
        }
        return out
    }

    init(pageSize: Int, maxBlock: Int, index: BaselineIndex?, planner: CodecPlanner, framePool: BufferPool,
         history: LiteralHistory?, pageListChecksums: Bool = false) {
        self.planner = planner
        self.pageSize = pageSize
        pageList = pageListChecksums ? pageSize : nil
        baselineDigests = index?.digests
        self.framePool = framePool
        self.history = history
        literal = RawBuffer(capacity: maxBlock)
        // A block's literal bytes, plus room for the references' margins.
        prefix = RawBuffer(capacity: (index == nil ? 0 : maxBlock + maxBlock / 4) + (history?.length ?? 0))
        matcher = index.map { DeltaMatcher(index: $0, pageSize: pageSize) }
        baseline = index?.baseline
    }

    func encode(_ job: EncodeJob) throws -> EncodedFrame {
        let base = UnsafeRawPointer(job.block.unsafeBase)
        let count = job.block.count
        // A block the reader did not plan is planned here, with its pages' digests hashed here
        // when the reader had none and something compares them (the baseline's digests, or
        // page-list checksums): hashing and zero scanning then run on every worker at once.
        var pageDigests = job.pageDigests
        if pageDigests == nil, job.plan == nil, baselineDigests != nil || (pageList != nil && job.pieces == nil) {
            pageDigests = PageListDigest.pieces(base, count - count % pageSize, pageSize: pageSize)
        }
        let plan = job.plan ?? BlockPlanner(pageSize: pageSize, duplicates: nil)
            .plan(base, count: count, offset: job.offset, baseline: baselineDigests, known: pageDigests)
        var content = FrameContent(literal: literal)
        content.stats.bytesIn = UInt64(count)
        content.stats.frames = 1
        var shift: Int64 = 0
        for segment in plan {
            switch segment {
            case .zero(_, let n):
                content.zero(n)
            case .back(_, let n, let d):
                content.back(n, distance: d)
            case .open(let start, let n):
                if let matcher {
                    try matcher.encode(base, start: start, end: start + n, blockOffset: job.offset, pageDigests: baselineDigests == nil ? nil : pageDigests,
                                       shift: &shift, into: &content)
                } else if plan.count == 1 {
                    content.wholeLiteral(base + start, n)
                } else {
                    content.literal(base + start, n)
                }
            }
        }
        return try assemble(job, content, wholePages: pageDigests)
    }

    /// Compresses the literal section and writes header and payload into one buffer.
    private func assemble(_ job: EncodeJob, _ content: FrameContent, wholePages: [UInt64]?) throws -> EncodedFrame {
        var stats = content.stats
        let literal = content.literalBytes
        let setting = planner.choose(literalBytes: literal.count)
        // The literal history: wait for the previous frame's tail, publish ours, before compressing.
        var tail: RawBuffer?
        if let history {
            let previous = try history.tail(before: job.dataIndex)
            history.publish(job.dataIndex, previous: previous, literal: literal)
            tail = previous
        }
        var refBytes: [UInt8] = []
        var prefixBytes: UnsafeRawBufferPointer?
        prefix.count = 0
        let useHistory = setting.codec == .zstd && (tail?.count ?? 0) > 0
        if useHistory, let tail {
            prefix.unsafeBase.copyMemory(from: tail.unsafeBase, byteCount: tail.count)
            prefix.count = tail.count
            prefixBytes = prefix.unsafeBytes
        }
        if setting.codec == .zstd, !content.refs.isEmpty, let baseline {
            let refs = Self.fitted(content.refs, baselineLength: baseline.length, room: prefix.capacity - prefix.count)
            for r in refs {
                try baseline.read(into: prefix.unsafeBase + prefix.count, count: r.length, at: r.offset)
                prefix.count += r.length
            }
            prefixBytes = prefix.unsafeBytes
            BaselineRange.appendAll(refs, to: &refBytes)
        }
        var opBytes: [UInt8] = []
        opBytes.reserveCapacity(content.ops.count * 6)
        for op in content.ops { op.append(to: &opBytes) }

        let head = FrameHeader.encodedLength + DataPayloadHead.encodedLength + opBytes.count + refBytes.count
        let frame = takeFrameBuffer(head + literal.count)
        var literalDst = frame.unsafeBase + head
        var encodedLength = literal.count
        var usedCodec = CodecID.none
        if literal.count > 0 {
            let started = MonotonicClock.now()
            var label = "none"
            if setting.codec != .none,
               let c = compressor.compress(setting, src: literal, dst: literalDst, dstCapacity: literal.count - 1,
                                           prefix: prefixBytes) {
                encodedLength = c.length
                usedCodec = setting.codec
                label = c.label
            }
            planner.record(setting, input: literal.count, output: encodedLength, seconds: MonotonicClock.now() - started)
            stats.codecMix[label, default: 0] += UInt64(literal.count)
            if usedCodec == .none {
                // Stored raw: a reference prefix would mean nothing, so drop the section.
                if !refBytes.isEmpty {
                    literalDst -= refBytes.count
                    refBytes = []
                }
                literalDst.copyMemory(from: literal.baseAddress!, byteCount: literal.count)
            }
        }
        let payload = frame.unsafeBase + FrameHeader.encodedLength
        let kind: FrameKind = useHistory && usedCodec == .zstd ? .dataWithHistory : .data
        let dataHead = DataPayloadHead(codec: usedCodec, literalFlags: refBytes.isEmpty ? 0 : DataPayloadHead.referencePrefixFlag,
                                       opsLength: UInt32(opBytes.count), refsLength: UInt32(refBytes.count),
                                       literalDecodedLength: UInt32(literal.count), literalEncodedLength: UInt32(encodedLength))
        dataHead.store(to: payload)
        var cursor = payload + DataPayloadHead.encodedLength
        opBytes.withUnsafeBytes { cursor.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        cursor += opBytes.count
        if !refBytes.isEmpty {
            refBytes.withUnsafeBytes { cursor.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        }
        let payloadLength = dataHead.totalLength
        frame.count = FrameHeader.encodedLength + payloadLength
        let pieces = pageList.map { job.pieces ?? StreamEncoder.pieces(of: job.block, pageSize: $0, wholePages: wholePages)
            ?? PageListDigest.pieces(job.block.unsafeBase, job.block.count, pageSize: $0) }
        let decodedChecksum = pieces.map { PageListDigest.frameChecksum($0) } ?? Checksum.xxh3(job.block.unsafeBase, job.block.count)
        FrameHeader(kind: kind, payloadLength: UInt32(payloadLength), sequence: job.sequence, offset: job.offset,
                    decodedLength: UInt32(job.block.count), payloadChecksum: Checksum.xxh3(payload, payloadLength),
                    decodedChecksum: decodedChecksum).store(to: frame.unsafeBase)
        stats.bytesOut = UInt64(frame.count)
        return EncodedFrame(bytes: frame, stats: stats, pieces: pieces)
    }

    /// A pooled buffer when the frame fits the usual bound (always, except for blocks with
    /// hundreds of tiny edits per page), else a one-off allocation.
    private func takeFrameBuffer(_ size: Int) -> RawBuffer {
        size <= framePool.bufferCapacity ? framePool.take() : RawBuffer(capacity: size)
    }
}
