import DWCPCore
import DWCPSystem

/// What a decode produced, for `--stats`/`--json`.
public struct DecodeStats: Sendable {
    public var bytesIn: UInt64 = 0
    public var bytesOut: UInt64 = 0
    public var frames: UInt64 = 0
    public var skippedFrames: UInt64 = 0
    public var format = "dwcp"
    /// DWCP streams decoded one after another (`StreamDecoder.concatenated`).
    public var streams: UInt64 = 0
    /// Zero bytes left as holes in a sparse output file (`SparseFileWriter`); nil when the
    /// output was not written sparsely.
    public var holeBytes: UInt64?
    /// XXH3-128 of what the last DWCP stream decoded to (over its page digests in a stream with
    /// page-list checksums), checked against its end frame.
    public var outputDigest = Digest128.zero
    /// The page digests of what the last DWCP stream decoded to, when it has page-list
    /// checksums and `StreamDecoder.collectPageDigests` asked for them.
    public var pageDigests: PageDigests?
    public init() {}
}

/// Where a decoder puts what it decoded, in stream order.
public enum DecodedOutput {
    /// Written to a descriptor (a file, a pipe, QEMU's socket).
    case descriptor(FileDescriptor)
    /// Written into a regular file, whole zero pages left as holes (`dwcp-encode -d -o FILE`).
    case sparse(SparseFileWriter)
    /// Handed over a frame's decoded bytes at a time, each after its checksum matched, with the
    /// byte ranges among them that were copied from the baseline at their own offset (so equal
    /// to it): `dwcp-migrate receive` compares the rest with the image it holds and journals the
    /// changes. Only DWCP frame streams can be decoded this way (a plain zstd stream is refused).
    /// With `StreamDecoder.trustedBaselineDigests` in use, the bytes of whole pages in those
    /// ranges may be left unread (their digests verify them): the sink must not read them.
    case sink((UnsafeRawPointer, Int, [Range<Int>]) throws -> Void)

    var isSink: Bool {
        if case .sink = self { return true }
        return false
    }
}

/// Decodes a DWCP frame stream (or a plain zstd stream) back to the original bytes.
///
/// Reading and frame-header checks are sequential; payload checksums, decompression and op
/// application run on worker threads; back-references, the decoded checksum, the write and the
/// stream digest happen in order on the writer thread. A frame's bytes are written only after its
/// decoded checksum matched; the end frame's length, frame count and digest are checked last, and
/// anything after it is an error, unless it is another whole stream and `concatenated` is set.
public final class StreamDecoder {
    public var threads = OSThread.processorCount
    public var baselinePath: String?
    /// What the caller knows the file at `baselinePath` to be (`dwcp-migrate receive`: the
    /// output of the round it applied last), which spares a pass over the whole file. A stream
    /// naming another baseline is refused as with a computed identity; the end frame's digest
    /// still covers every decoded byte, copies from the baseline included.
    public var baselineIdentity: BaselineIdentity?
    /// When set, the baseline is the first this many bytes of `baselinePath`, which must hold at
    /// least as many: a block device holding a smaller image (`dwcp-migrate receive` onto a
    /// device). Unset, the whole file is the baseline.
    public var baselineLength: UInt64?
    /// Called with the baseline a delta stream names, before any baseline is opened; what it
    /// returns stands for `baselineIdentity` and `baselineLength` in this stream. A caller may
    /// change the file first: `dwcp-migrate receive` takes its image back one round when a
    /// restarted source offers a round again (`RoundUndo`).
    public var resolveBaseline: ((BaselineIdentity) throws -> (identity: BaselineIdentity?, length: UInt64?))?
    /// Called on the writer thread after each frame with the running totals.
    public var progress: ((DecodeStats) -> Void)?
    /// Receives the JSON text of each info frame (after its checksum is verified): dwcp-migrate
    /// labels its rounds this way.
    public var onInfo: ((String) -> Void)?
    /// Where frame buffers come from: a caller decoding one stream after another (the rounds of
    /// `dwcp-migrate receive`) gives each decode the same, so later streams reuse the buffers
    /// earlier ones faulted in (`BufferPools`).
    public var buffers = BufferPools()
    /// Accept DWCP streams one after another in the input (`cat a.dwcp b.dwcp`, or `>>`), as
    /// gzip and zstd accept their members: each is decoded and verified against its own end
    /// frame, and their outputs follow each other. Unset, anything after the first stream's end
    /// frame is an error (`dwcp-migrate receive`: one stream is one round).
    public var concatenated = false
    /// The page digests of the file at `baselinePath`, as the caller knows them from the bytes it
    /// wrote there (`dwcp-migrate receive`: the rounds it applied), with the identity they belong
    /// to. Used only for a stream with page-list checksums against exactly that baseline (same
    /// identity, length and page size): a page copied from it at its own offset is then verified
    /// by its digest here instead of being hashed, so an unchanged page costs no hashing.
    public var trustedBaselineDigests: (identity: BaselineIdentity, digests: PageDigests)?
    /// Keep the page digests of what a stream with page-list checksums decoded to, for the
    /// caller's next `trustedBaselineDigests` (`DecodeStats.pageDigests`).
    public var collectPageDigests = false
    /// What a plain zstd stream was compressed against (`ZstdStream.compress(prefix:)`): every
    /// frame is decoded with these files as its prefix. DWCP frame streams do not use it.
    public var zstdReference: ReferenceFiles?

    public init() {}

    public func decode(_ input: FileDescriptor, to output: FileDescriptor) throws -> DecodeStats {
        try decode(input, prefix: [], to: output)
    }

    /// Decodes a stream whose first bytes (`prefix`) were already read from `input` by a
    /// caller that had to look at them (dwcp-migrate tells raw from encoded streams this way).
    public func decode(_ input: FileDescriptor, prefix alreadyRead: [UInt8], to output: FileDescriptor) throws -> DecodeStats {
        try decode(input, prefix: alreadyRead, into: .descriptor(output))
    }

    /// Decodes `input` (whose first bytes `prefix` a caller already read) into `output`.
    public func decode(_ input: FileDescriptor, prefix alreadyRead: [UInt8], into output: DecodedOutput) throws -> DecodeStats {
        let reader = StreamReader(input, prefix: alreadyRead)
        var stats = try decodeStream(reader, input: input, into: output, base: DecodeStats())
        while stats.format == "dwcp" {
            // After an end frame: the input's end, or (concatenated) the next stream's magic.
            let at = reader.offset
            var next = [UInt8](repeating: 0, count: StreamHeader.magic.count)
            let got = try next.withUnsafeMutableBytes { try reader.readUpTo($0.baseAddress!, $0.count) }
            if got == 0 { break }
            guard concatenated, next == StreamHeader.magic else {
                throw DWCPError.integrity("trailing data after the end frame at stream offset \(at)" + (concatenated ? " (not another DWCP stream)" : ""))
            }
            reader.unread(next)
            stats = try decodeStream(reader, input: input, into: output, base: stats)
        }
        return stats
    }

    /// Decodes one stream from `reader`, up to and including its end frame, into `output`;
    /// returns `base` with this stream's figures added.
    private func decodeStream(_ reader: StreamReader, input: FileDescriptor, into output: DecodedOutput, base: DecodeStats) throws -> DecodeStats {
        var prefix = [UInt8](repeating: 0, count: 8)
        let got = try prefix.withUnsafeMutableBytes { try reader.readUpTo($0.baseAddress!, 8) }
        if got == 0 { throw DWCPError.integrity("\(input.name): empty input, not a DWCP stream") }
        if got >= 4 && prefix[0..<4] == [0x28, 0xB5, 0x2F, 0xFD] {
            let write: (UnsafeRawPointer, Int) throws -> Void
            switch output {
            case .descriptor(let fd): write = { try fd.writeAll($0, count: $1) }
            case .sparse(let file): write = { try file.write($0, count: $1) }
            case .sink: throw DWCPError.integrity("\(input.name): a plain zstd stream where a DWCP frame stream was expected")
            }
            return try ZstdStream.decompress(reader: reader, alreadyRead: Array(prefix[0..<got]), prefix: zstdReference?.bytes,
                                             write: write, progress: progress)
        }
        guard got == 8 else { throw DWCPError.integrity("\(input.name): truncated stream header (\(got) bytes)") }
        let headerLength = try prefix.withUnsafeBytes { try StreamHeader.headerLength(prefix: $0) }
        var headerBytes = prefix + [UInt8](repeating: 0, count: headerLength - 8)
        try headerBytes.withUnsafeMutableBytes { try reader.readExactly($0.baseAddress! + 8, headerLength - 8, what: "stream header") }
        let header = try headerBytes.withUnsafeBytes { try StreamHeader.decode($0) }

        let baseline = try openBaseline(for: header)
        let maxBlock = Int(header.maxBlock)
        let maxPayload = 2 * maxBlock + (1 << 20)
        let outputs = buffers.pool(bufferCapacity: maxBlock)
        let payloads = buffers.pool(bufferCapacity: maxPayload)
        let readBaseline = baseline.map { b in { try b.read(into: $0, count: $1, at: $2) } as (UnsafeMutableRawPointer, Int, UInt64) throws -> Void }
        let window = DecodeWindow(window: header.window, pool: outputs, readBaseline: readBaseline)
        let history = header.history > 0 ? LiteralHistory(length: Int(header.history)) : nil
        let pageList = header.pageListChecksums ? Int(header.pageSize) : nil
        var trusted: PageDigests?
        if let pageList, let t = trustedBaselineDigests, let baseline, t.identity == header.baseline,
           t.digests.length == baseline.length, t.digests.pageSize == pageList {
            trusted = t.digests
        }
        let workers = (0..<threads).map { _ in
            BlockDecoder(maxBlock: maxBlock, baseline: baseline, window: header.window, outputs: outputs, history: history,
                         pageList: pageList, trusted: trusted, skipsUnchanged: output.isSink)
        }
        let digest = StreamDigest()
        var collected: [UInt64]? = pageList != nil && collectPageDigests ? [] : nil
        var stats = base
        let progress = self.progress
        var written: UInt64 = 0
        let pipeline = OrderedPipeline<DecodeJob, DecodedFrame>(
            workers: threads, maxInFlight: 2 * threads + 2,
            work: { w, job in
                defer { payloads.recycle(job.payload) }
                do {
                    return try workers[w].decode(job)
                } catch {
                    history?.poison()
                    throw error
                }
            },
            consume: { frame in
                let out = frame.output.unsafeBase
                for b in frame.backReferences {
                    // The ops parser checked the distance against the length and the window, but
                    // only here is it known where the reference stands in the stream.
                    let here = frame.header.offset + UInt64(b.position)
                    guard b.distance <= here else {
                        throw DWCPError.integrity("frame \(frame.header.sequence) (data, at stream offset \(frame.streamOffset)): back-reference \(b.distance) bytes back from decoded offset \(here), before the stream's start")
                    }
                    let from = here - b.distance
                    // The part before this frame comes from the window; the rest (all of it for a
                    // source inside the frame) from this frame's own bytes, which end before
                    // `position` since distance >= length, and are complete since references
                    // are resolved in order.
                    let before = from < frame.header.offset ? Int(min(UInt64(b.length), frame.header.offset - from)) : 0
                    if before > 0, try !window.copy(from: from, count: before, into: out + b.position) {
                        throw DWCPError.integrity("frame \(frame.header.sequence) (data, at stream offset \(frame.streamOffset)): back-reference to offset \(from) outside the window")
                    }
                    if before < b.length {
                        let source = Int(from + UInt64(before) - frame.header.offset)
                        (out + b.position + before).copyMemory(from: out + source, byteCount: b.length - before)
                        try DecodeWindow.fillUnread(frame.unread, of: source..<(source + b.length - before), frameStart: frame.header.offset,
                                                    into: out + b.position + before, readBaseline)
                    }
                }
                var pieces = frame.pieces
                if !frame.verified, let pageList {
                    pieces = BlockDecoder.pieces(out, frame.output.count, pageSize: pageList, frameOffset: frame.header.offset,
                                                 unchanged: frame.unchanged, trusted: trusted)
                }
                guard frame.verified || (pieces.map { PageListDigest.frameChecksum($0) } ?? Checksum.xxh3(out, frame.output.count)) == frame.header.decodedChecksum else {
                    throw DWCPError.integrity("frame \(frame.header.sequence) (data, at stream offset \(frame.streamOffset)): decoded checksum mismatch")
                }
                switch output {
                case .descriptor(let fd): try fd.writeAll(out, count: frame.output.count)
                case .sparse(let file): try file.write(out, count: frame.output.count)
                case .sink(let take): try take(out, frame.output.count, frame.unchanged)
                }
                if let pieces {
                    PageListDigest.update(digest, with: pieces)
                    // Pieces are pages of the output only while frames start on whole pages.
                    if frame.header.offset % UInt64(header.pageSize) != 0 { collected = nil }
                    collected?.append(contentsOf: pieces)
                } else {
                    digest.update(out, frame.output.count)
                }
                window.append(frame.output, at: frame.header.offset, unread: frame.unread)
                written += UInt64(frame.output.count)
                if let progress {
                    var s = DecodeStats()
                    s.bytesOut = base.bytesOut + written
                    progress(s)
                }
            })

        var sequence: UInt64 = 0
        var offset: UInt64 = 0
        var dataIndex: UInt64 = 0
        var end: EndPayload?
        do {
            while end == nil {
                let at = reader.offset
                var raw = [UInt8](repeating: 0, count: FrameHeader.encodedLength)
                try raw.withUnsafeMutableBytes {
                    try reader.readExactly($0.baseAddress!, FrameHeader.encodedLength, what: "frame \(sequence) header")
                }
                let frame = try raw.withUnsafeBytes { try FrameHeader.decode($0.baseAddress!, streamOffset: at) }
                let label = "frame \(sequence) (\(frame.kind), at stream offset \(at))"
                guard frame.sequence == sequence else {
                    throw DWCPError.integrity("\(label): sequence number \(frame.sequence), expected \(sequence) (frame lost, duplicated or reordered)")
                }
                if frame.kind.isData {
                    guard frame.decodedLength > 0 && Int(frame.decodedLength) <= maxBlock else {
                        throw DWCPError.integrity("\(label): decoded length \(frame.decodedLength) outside 1...\(maxBlock)")
                    }
                    guard frame.offset == offset else {
                        throw DWCPError.integrity("\(label): decoded offset \(frame.offset), expected \(offset)")
                    }
                    guard Int(frame.payloadLength) <= maxPayload else {
                        throw DWCPError.integrity("\(label): payload length \(frame.payloadLength) too large for block size \(maxBlock)")
                    }
                }
                let payload = frame.kind.isData ? payloads.take() : RawBuffer(capacity: Int(frame.payloadLength))
                try reader.readExactly(payload.unsafeBase, Int(frame.payloadLength), what: "\(label) payload")
                payload.count = Int(frame.payloadLength)
                switch frame.kind {
                case .data, .dataWithHistory:
                    try pipeline.submit(DecodeJob(header: frame, dataIndex: dataIndex, payload: payload, streamOffset: at))
                    dataIndex += 1
                    offset += UInt64(frame.decodedLength)
                    stats.frames += 1
                case .end:
                    guard Checksum.xxh3(payload.unsafeBase, payload.count) == frame.payloadChecksum else {
                        throw DWCPError.integrity("\(label): payload checksum mismatch")
                    }
                    end = try EndPayload.decode(payload.unsafeBytes)
                default:
                    guard frame.isSkippable else {
                        throw DWCPError.integrity("\(label): unknown mandatory frame kind 0x\(String(frame.kind.rawValue, radix: 16)) (written by a newer encoder?)")
                    }
                    guard Checksum.xxh3(payload.unsafeBase, payload.count) == frame.payloadChecksum else {
                        throw DWCPError.integrity("\(label): payload checksum mismatch")
                    }
                    stats.skippedFrames += 1
                    if frame.kind == .info, let onInfo {
                        onInfo(String(decoding: UnsafeRawBufferPointer(start: payload.unsafeBase, count: payload.count), as: UTF8.self))
                    }
                }
                sequence += 1
            }
        } catch {
            pipeline.abort(error)
            throw error
        }
        try pipeline.finish()
        let e = end!
        guard e.frameCount == sequence - 1 else {
            throw DWCPError.integrity("end frame counts \(e.frameCount) frames, stream had \(sequence - 1)")
        }
        guard e.totalLength == written else {
            throw DWCPError.integrity("end frame declares \(e.totalLength) bytes, decoded \(written)")
        }
        guard e.digest == digest.finalize() else {
            throw DWCPError.integrity("stream digest mismatch: end frame has \(e.digest), decoded bytes hash to \(digest.finalize())")
        }
        stats.bytesIn = reader.offset
        stats.bytesOut += written
        stats.streams += 1
        stats.outputDigest = e.digest
        stats.pageDigests = collected.map { PageDigests(pageSize: Int(header.pageSize), length: written, pieces: $0) }
        return stats
    }

    private func openBaseline(for header: StreamHeader) throws -> Baseline? {
        switch (header.baseline, baselinePath) {
        case (nil, nil):
            return nil
        case (nil, .some):
            return nil  // A self-contained stream needs no baseline; the option is harmless.
        case (.some(let id), nil):
            throw DWCPError.usage("stream is a delta against a baseline (\(id.length) bytes, XXH3-128 \(id.digest)); give it with --baseline FILE")
        case (.some(let id), .some(let path)):
            let (identity, length) = try resolveBaseline?(id) ?? (baselineIdentity, baselineLength)
            let b = try Baseline(opening: path, length: length)
            let found = try identity.map { BaselineIdentity(length: b.length, digest: $0.digest) }
                ?? b.identity(pageList: header.pageListChecksums ? Int(header.pageSize) : nil)
            guard found == id else {
                throw DWCPError.integrity("\(path): wrong baseline: stream was encoded against \(id.length) bytes with XXH3-128 \(id.digest), this file is \(found.length) bytes with \(found.digest)")
            }
            return b
        }
    }
}

/// Sequential reads from the encoded input with the stream offset tracked for error messages.
final class StreamReader {
    let fd: FileDescriptor
    private(set) var offset: UInt64 = 0
    private var prefix: [UInt8]

    init(_ fd: FileDescriptor, prefix: [UInt8] = []) {
        self.fd = fd
        self.prefix = prefix
    }

    func readUpTo(_ p: UnsafeMutableRawPointer, _ count: Int) throws -> Int {
        var n = 0
        if !prefix.isEmpty {
            n = min(count, prefix.count)
            prefix.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: n) }
            prefix.removeFirst(n)
        }
        if n < count { n += try fd.readFully(into: p + n, count: count - n) }
        offset += UInt64(n)
        return n
    }

    /// As `readUpTo`, but returns what is there now, waiting only for the first byte (0 only
    /// at the end): for a zstd stream, whose decoder takes input in any pieces, so bytes the
    /// writer flushed are decoded before more arrive.
    func readAvailable(_ p: UnsafeMutableRawPointer, _ count: Int) throws -> Int {
        if !prefix.isEmpty { return try readUpTo(p, min(count, prefix.count)) }
        let n = try fd.readSome(into: p, count: count)
        offset += UInt64(n)
        return n
    }

    /// Puts `bytes`, just read, back in front of what comes next.
    func unread(_ bytes: [UInt8]) {
        prefix = bytes + prefix
        offset -= UInt64(bytes.count)
    }

    func readExactly(_ p: UnsafeMutableRawPointer, _ count: Int, what: String) throws {
        let n = try readUpTo(p, count)
        if n < count {
            throw DWCPError.integrity("truncated stream: \(what) needs \(count) bytes at stream offset \(offset - UInt64(n)), input ended after \(n)")
        }
    }
}
