import DWCPCore
import DWCPSystem

/// A data frame read from the stream, not yet verified: the unit of parallel decoding.
struct DecodeJob {
    let header: FrameHeader
    /// Position among data frames: the key of the literal history.
    let dataIndex: UInt64
    let payload: RawBuffer
    let streamOffset: UInt64   // where the frame header starts in the encoded stream
}

/// A data frame decoded except for its back-references, which need earlier output.
struct DecodedFrame {
    let header: FrameHeader
    let output: RawBuffer
    let backReferences: [(position: Int, length: Int, distance: UInt64)]
    let streamOffset: UInt64
    /// True when the worker already checked the decoded checksum (no back-references to wait for).
    let verified: Bool
    /// Byte ranges of the frame copied from the baseline at their own offset: known to equal it.
    let unchanged: [Range<Int>]
    /// In a stream with page-list checksums, the digests of the frame's pieces once verified.
    let pieces: [UInt64]?
    /// Ranges among `unchanged` whose bytes were left unread (`BlockDecoder.skipsUnchanged`):
    /// the output buffer holds nothing meaningful there, and a back-reference into them reads
    /// the baseline at the same offset instead.
    let unread: [Range<Int>]
}

/// Verifies and decodes one data frame on a worker thread. Every length and range is checked
/// against the frame's own header before any byte is copied, so hostile input fails with an
/// integrity error instead of reading or writing out of bounds.
final class BlockDecoder {
    private let decompressor = Decompressor()
    private let baseline: Baseline?
    private let literal: RawBuffer
    private let window: UInt64

    private let outputs: BufferPool
    private let history: LiteralHistory?
    /// The page size when frames are checksummed over page digests, else nil.
    private let pageList: Int?
    /// The baseline's page digests as the caller knows them (`StreamDecoder.trustedBaselineDigests`).
    private let trusted: PageDigests?
    /// Leave whole pages copied from the baseline at their own offset unread when `trusted` has
    /// their digests: the output is a sink that never reads such ranges (`DecodedOutput.sink`);
    /// a back-reference into them reads the baseline (`DecodedFrame.unread`).
    private let skipsUnchanged: Bool

    init(maxBlock: Int, baseline: Baseline?, window: UInt64, outputs: BufferPool, history: LiteralHistory?,
         pageList: Int? = nil, trusted: PageDigests? = nil, skipsUnchanged: Bool = false) {
        self.outputs = outputs
        self.history = history
        self.pageList = pageList
        self.trusted = trusted
        self.skipsUnchanged = skipsUnchanged && trusted != nil && pageList != nil
        self.baseline = baseline
        self.window = window
        literal = RawBuffer(capacity: maxBlock)
    }

    func decode(_ job: DecodeJob) throws -> DecodedFrame {
        do {
            return try decodeUnlabelled(job)
        } catch let error as DWCPError {
            throw DWCPError(error.status, "frame \(job.header.sequence) (data, at stream offset \(job.streamOffset)): \(error.message)")
        }
    }

    private func decodeUnlabelled(_ job: DecodeJob) throws -> DecodedFrame {
        let payload = job.payload
        guard Checksum.xxh3(payload.unsafeBase, payload.count) == job.header.payloadChecksum else {
            throw DWCPError.integrity("payload checksum mismatch")
        }
        let head = try DataPayloadHead.decode(payload.unsafeBytes)
        let decodedLength = Int(job.header.decodedLength)
        let opsStart = payload.unsafeBase + DataPayloadHead.encodedLength
        let ops = try BlockOp.parseAll(UnsafeRawBufferPointer(start: opsStart, count: Int(head.opsLength)),
                                       maxLength: decodedLength, window: window, baselineLength: baseline?.length)
        var total = 0
        var literalNeeded = 0
        for op in ops {
            total += op.length
            switch op {
            case .literal(let n), .xorBaseline(let n, _): literalNeeded += n
            default: break
            }
        }
        guard total == decodedLength else { throw DWCPError.integrity("ops produce \(total) bytes, frame declares \(decodedLength)") }
        guard literalNeeded == Int(head.literalDecodedLength) else {
            throw DWCPError.integrity("ops consume \(literalNeeded) literal bytes, section holds \(head.literalDecodedLength)")
        }
        let refsStart = opsStart + Int(head.opsLength)
        let refs = try BaselineRange.parseAll(UnsafeRawBufferPointer(start: refsStart, count: Int(head.refsLength)),
                                              baselineLength: baseline?.length)
        let literalSource = UnsafeRawBufferPointer(start: refsStart + Int(head.refsLength), count: Int(head.literalEncodedLength))

        // Literal section. With a literal history, the previous frame's tail is needed first
        // (for the prefix of a data+history frame, and to publish this frame's tail).
        let withHistory = job.header.kind == .dataWithHistory
        guard !withHistory || (history != nil && head.codec == .zstd) else {
            throw DWCPError.integrity("history frame in a stream without literal history, or not zstd")
        }
        let tail = try history?.tail(before: job.dataIndex)
        let literalBytes: UnsafeRawPointer
        if head.codec == .none {
            guard literalSource.count == literalNeeded else { throw DWCPError.integrity("stored literal section has the wrong length") }
            literalBytes = literalSource.baseAddress ?? UnsafeRawPointer(literal.unsafeBase)
        } else {
            let hasRefs = head.literalFlags & DataPayloadHead.referencePrefixFlag != 0
            if hasRefs || withHistory {
                let refSize = hasRefs ? refs.reduce(0) { $0 + $1.length } : 0
                let buffer = RawBuffer(capacity: refSize + (withHistory ? tail!.count : 0))
                if withHistory {
                    buffer.unsafeBase.copyMemory(from: tail!.unsafeBase, byteCount: tail!.count)
                    buffer.count = tail!.count
                }
                if hasRefs {
                    guard let baseline else { throw DWCPError.integrity("reference prefix without baseline") }
                    for r in refs {
                        try baseline.read(into: buffer.unsafeBase + buffer.count, count: r.length, at: r.offset)
                        buffer.count += r.length
                    }
                }
                try decompressor.decompress(head.codec, src: literalSource, dst: literal.unsafeBase, dstLength: literalNeeded,
                                            prefix: buffer.unsafeBytes)
            } else {
                try decompressor.decompress(head.codec, src: literalSource, dst: literal.unsafeBase, dstLength: literalNeeded)
            }
            literalBytes = UnsafeRawPointer(literal.unsafeBase)
        }
        if let history, let tail {
            history.publish(job.dataIndex, previous: tail, literal: UnsafeRawBufferPointer(start: literalBytes, count: literalNeeded))
        }

        // Apply ops (back-references are left for the ordered stage).
        let output = outputs.take()
        output.count = decodedLength
        let out = output.unsafeBase
        var pos = 0
        var lit = 0
        var backs: [(position: Int, length: Int, distance: UInt64)] = []
        var unchanged: [Range<Int>] = []
        var unread: [Range<Int>] = []
        for op in ops {
            switch op {
            case .literal(let n):
                (out + pos).copyMemory(from: literalBytes + lit, byteCount: n)
                lit += n
            case .zero(let n):
                (out + pos).initializeMemory(as: UInt8.self, repeating: 0, count: n)
            case .copyBaseline(let n, let offset):
                let inPlace = offset == job.header.offset + UInt64(pos)
                // Only in a frame that starts on a whole page: its pieces are then the image's
                // pages, each unread one verified by its trusted digest (`pieces`).
                if inPlace && skipsUnchanged && job.header.offset % UInt64(pageList!) == 0 && trusted!.hasWholePages(at: offset, count: n) {
                    unread.appendMerging(pos..<(pos + n))
                } else {
                    try baseline!.read(into: out + pos, count: n, at: offset)
                }
                if inPlace { unchanged.appendMerging(pos..<(pos + n)) }
            case .xorBaseline(let n, let offset):
                try baseline!.read(into: out + pos, count: n, at: offset)
                XOR.apply(UnsafeRawPointer(out + pos), literalBytes + lit, into: out + pos, count: n)
                lit += n
            case .copyBack(let n, let d):
                backs.append((pos, n, d))
            }
            pos += op.length
        }
        // Without back-references the frame is complete: verify here, in parallel.
        let verified = backs.isEmpty
        var pieces: [UInt64]?
        if verified, let pageList {
            let list = Self.pieces(output.unsafeBase, decodedLength, pageSize: pageList, frameOffset: job.header.offset,
                                   unchanged: unchanged, trusted: trusted)
            guard PageListDigest.frameChecksum(list) == job.header.decodedChecksum else {
                throw DWCPError.integrity("decoded checksum mismatch")
            }
            pieces = list
        } else if verified && Checksum.xxh3(output.unsafeBase, decodedLength) != job.header.decodedChecksum {
            throw DWCPError.integrity("decoded checksum mismatch")
        }
        return DecodedFrame(header: job.header, output: output, backReferences: backs, streamOffset: job.streamOffset,
                            verified: verified, unchanged: unchanged, pieces: pieces, unread: unread)
    }

    /// The digests of a decoded frame's pieces (`PageListDigest`). A whole page inside a range
    /// copied from the baseline at its own offset takes the baseline page's digest from
    /// `trusted` instead of being hashed: its bytes are the baseline's, whose digests the caller
    /// computed from the same bytes when it wrote them.
    static func pieces(_ out: UnsafeRawPointer, _ count: Int, pageSize: Int, frameOffset: UInt64,
                       unchanged: [Range<Int>], trusted: PageDigests?) -> [UInt64] {
        var list: [UInt64] = []
        list.reserveCapacity(PageListDigest.pieceCount(count, pageSize: pageSize))
        var cover = RangeCover(unchanged)
        var i = 0
        while i < count {
            let n = min(pageSize, count - i)
            var known: UInt64?
            if let trusted, n == pageSize, cover.covers(i..<(i + n)) {
                known = trusted.digest(at: frameOffset + UInt64(i))
            }
            list.append(known ?? Checksum.xxh3(out + i, n))
            i += n
        }
        return list
    }
}
