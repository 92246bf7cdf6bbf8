import CZstd
import DWCPCore
import DWCPSystem

/// Plain zstd streams (`--format zstd`), for interoperability with the real `zstd` CLI:
/// the output of `compress` is a standard zstd frame with a content checksum that `zstd -d` reads,
/// and the decoder accepts any zstd stream.
public enum ZstdStream {
    /// How one zstd frame of a stream is compressed.
    public struct Settings: Equatable, Sendable {
        public var level: Int
        public var threads: Int
        /// Long-distance matching over 2^n bytes; nil: off.
        public var longWindowLog: Int?

        public init(level: Int, threads: Int, longWindowLog: Int? = nil) {
            self.level = level
            self.threads = threads
            self.longWindowLog = longWindowLog
        }
    }

    /// Compresses `input` to `output` with libzstd's own worker threads.
    ///
    /// `longWindowLog` turns on long-distance matching over a window of 2^n bytes: what a VM's
    /// migration stream needs, since a page re-sent in a later pass is an earlier version of a
    /// page sent hundreds of megabytes before (independent frames cannot reach back that far).
    /// Jobs are then kept small (`jobSize`) so little data waits inside the compressor.
    ///
    /// Once `flushWhenIdle` returns true (a migration's source VM has stopped), input is taken
    /// as it comes and the output flushed whenever the input runs dry, so the switchover's last
    /// bytes leave at once instead of waiting for a full read or for the writer to close.
    ///
    /// `retune`, asked before every read, may return new settings: the frame under way is then
    /// ended and the rest of the input goes into a new frame compressed with them (a migration
    /// that started before it knew its link's rate). A zstd stream may hold any number of frames
    /// one after the other; `zstd -d` and `decompress` read them as one stream.
    ///
    /// `startBeforeInput` starts each frame before its first bytes are read: libzstd sizes and
    /// clears its tables on a frame's first call, 50-70 ms at level 6 with a 1 GiB long window
    /// (the long-distance hash table alone is 64 MiB), which then overlaps the wait for the input
    /// (a migration's QEMU in its setup) instead of holding the first bytes back. The frame then
    /// never names its content size, which a frame compressed in one call does (`dwcp-encode`
    /// leaves it off, so that a small input's frame stays as `zstd` writes it).
    ///
    /// `prefix` (`ReferenceFiles`) is referenced by every frame with a long window as content
    /// before its own, as `zstd --patch-from` does: the decoder must be given the same bytes.
    /// It must stay valid until this returns. Such a frame builds its match tables over the
    /// whole prefix on its first call (0.44-0.47 s for 67 MB at level 6 with a 1 GiB window):
    /// with `startBeforeInput`, before its first bytes are read.
    public static func compress(_ input: InputChain, to output: any ByteSink, level: Int, threads: Int,
                                longWindowLog: Int? = nil, jobSize: Int? = nil, startBeforeInput: Bool = false,
                                prefix: UnsafeRawBufferPointer? = nil,
                                flushWhenIdle: (() -> Bool)? = nil,
                                retune: (() -> Settings?)? = nil,
                                progress: ((EncodeStats) -> Void)?) throws -> EncodeStats {
        var settings = Settings(level: level, threads: threads, longWindowLog: longWindowLog)
        guard let cctx = ZSTD_createCCtx() else { throw DWCPError.failure("zstd: out of memory") }
        defer { ZSTD_freeCCtx(cctx) }
        try configure(cctx, settings, jobSize: jobSize, prefix: prefix)
        let inSize = ZSTD_CStreamInSize() * 4
        let outSize = ZSTD_CStreamOutSize() * 4
        let inBuf = RawBuffer(capacity: inSize)
        let outBuf = RawBuffer(capacity: outSize)
        var stats = EncodeStats()
        var frameIn: UInt64 = 0  // input bytes of the frame under way
        var finished = false
        var eager = false
        /// Feeds `n` input bytes with `mode` until zstd has taken them (and, for e_end or
        /// e_flush, put everything out).
        func compress(_ n: Int, _ mode: ZSTD_EndDirective) throws {
            var inb = ZSTD_inBuffer(src: inBuf.unsafeBase, size: n, pos: 0)
            while true {
                var outb = ZSTD_outBuffer(dst: outBuf.unsafeBase, size: outSize, pos: 0)
                let remaining = ZSTD_compressStream2(cctx, &outb, &inb, mode)
                if ZSTD_isError(remaining) != 0 { throw DWCPError.failure("zstd: \(String(cString: ZSTD_getErrorName(remaining)))") }
                try output.writeAll(outBuf.unsafeBase, count: outb.pos)
                stats.bytesOut += UInt64(outb.pos)
                // e_end and e_flush are done when nothing is left inside; e_continue when the
                // input is taken.
                if mode == ZSTD_e_continue ? inb.pos == inb.size : remaining == 0 { break }
            }
        }
        func account() {
            stats.codecMix["zstd-\(settings.level)", default: 0] += frameIn
            frameIn = 0
        }
        if startBeforeInput { try compress(0, ZSTD_e_continue) }
        while !finished {
            if let next = retune?(), next != settings {
                // End this frame (a frame already ended waits for input to start the next one)
                // and start the next with the new settings.
                if frameIn > 0 { try compress(0, ZSTD_e_end) }
                account()
                ZSTD_CCtx_reset(cctx, ZSTD_reset_session_only)
                settings = next
                try configure(cctx, settings, jobSize: jobSize, prefix: prefix)
                if startBeforeInput { try compress(0, ZSTD_e_continue) }
            }
            eager = eager || flushWhenIdle?() == true
            let n = eager ? try input.readAvailable(into: inBuf.unsafeBase, count: inSize)
                          : try input.read(into: inBuf.unsafeBase, count: inSize)
            stats.bytesIn += UInt64(n)
            stats.literalBytes += UInt64(n)
            frameIn += UInt64(n)
            let last = eager ? n == 0 : n < inSize
            let flush = eager && !last && !input.hasInputNow
            try compress(n, last ? ZSTD_e_end : flush ? ZSTD_e_flush : ZSTD_e_continue)
            if flush { output.flush() }
            progress?(stats)
            finished = last
        }
        account()
        return stats
    }

    /// Applies `s` to a context at the start of a frame; with `prefix`, a frame with a long
    /// window references it (a prefix serves one frame: each frame references it anew). A frame
    /// without one does not: its matches reach back only the level's own window (a few MiB),
    /// short of most of a large prefix, and building its tables over all of it would cost time
    /// for nothing (a decoder that references the prefix for every frame decodes such a frame
    /// the same).
    static func configure(_ cctx: OpaquePointer, _ s: Settings, jobSize: Int?, prefix: UnsafeRawBufferPointer?) throws {
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, Int32(clamping: s.level))
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1)
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_nbWorkers, Int32(s.threads > 1 ? s.threads : 0))
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_enableLongDistanceMatching, s.longWindowLog == nil ? 0 : 1)
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_windowLog, Int32(s.longWindowLog ?? 0))  // 0: the level's own
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_jobSize, Int32(s.threads > 1 ? jobSize ?? 0 : 0))  // 0: libzstd's default
        if let prefix, prefix.count > 0, s.longWindowLog != nil {
            let r = ZSTD_CCtx_refPrefix(cctx, prefix.baseAddress, prefix.count)
            if ZSTD_isError(r) != 0 { throw DWCPError.failure("zstd: reference prefix: \(String(cString: ZSTD_getErrorName(r)))") }
        }
    }

    /// Decompresses a zstd stream whose first bytes were already read; with `prefix`, every
    /// frame against it (what `compress(prefix:)` wrote).
    static func decompress(reader: StreamReader, alreadyRead: [UInt8], prefix: UnsafeRawBufferPointer? = nil,
                           write: (UnsafeRawPointer, Int) throws -> Void,
                           progress: ((DecodeStats) -> Void)?) throws -> DecodeStats {
        guard let dctx = ZSTD_createDCtx() else { throw DWCPError.failure("zstd: out of memory") }
        defer { ZSTD_freeDCtx(dctx) }
        ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, 31)
        /// A prefix serves one frame: referenced before the first and after each frame's end.
        func referencePrefix() throws {
            guard let prefix, prefix.count > 0 else { return }
            let r = ZSTD_DCtx_refPrefix(dctx, prefix.baseAddress, prefix.count)
            if ZSTD_isError(r) != 0 { throw DWCPError.failure("zstd: reference prefix: \(String(cString: ZSTD_getErrorName(r)))") }
        }
        try referencePrefix()
        let inSize = ZSTD_DStreamInSize()
        let outSize = ZSTD_DStreamOutSize()
        let inBuf = RawBuffer(capacity: max(inSize, alreadyRead.count))
        let outBuf = RawBuffer(capacity: outSize)
        var stats = DecodeStats()
        stats.format = "zstd"
        var pending = alreadyRead.count
        alreadyRead.withUnsafeBytes { inBuf.unsafeBase.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        var lastResult = 1
        while true {
            if pending == 0 {
                pending = try reader.readAvailable(inBuf.unsafeBase, inSize)
                if pending == 0 { break }
            }
            var inb = ZSTD_inBuffer(src: inBuf.unsafeBase, size: pending, pos: 0)
            // Until the input is taken and nothing decoded is left inside zstd: a filled output
            // buffer may leave some there (0 says the frame is complete and all out), and it
            // must come out before more input arrives.
            while true {
                var outb = ZSTD_outBuffer(dst: outBuf.unsafeBase, size: outSize, pos: 0)
                let r = ZSTD_decompressStream(dctx, &outb, &inb)
                if ZSTD_isError(r) != 0 {
                    throw DWCPError.integrity("zstd stream corrupt near input offset \(reader.offset): \(String(cString: ZSTD_getErrorName(r)))")
                }
                try write(outBuf.unsafeBase, outb.pos)
                stats.bytesOut += UInt64(outb.pos)
                lastResult = r
                if r == 0 { try referencePrefix() }
                if inb.pos == inb.size && (outb.pos < outb.size || r == 0) { break }
            }
            pending = 0
            progress?(stats)
        }
        guard lastResult == 0 else { throw DWCPError.integrity("truncated zstd stream at input offset \(reader.offset)") }
        stats.bytesIn = reader.offset
        return stats
    }
}
