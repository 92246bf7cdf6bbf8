import CZstd
import DWCPCore
import DWCPSystem

extension ZstdStream {
    /// A zstd context whose first frame is begun on a thread of its own, ahead of the stream
    /// that will take it (`compress(warmStart:)`).
    ///
    /// Why: a frame that references a large prefix (`ReferenceFiles`: a guest's kernel and
    /// initrd, 67 MB) builds its match tables over all of it on its first call: 0.44-0.47 s at
    /// level 6 with a 1 GiB long window on this machine (0.31 s of it the regular tables, the
    /// rest the long-distance ones; level 3: 0.18 s). Begun with the stream, that held a VM
    /// migration's first bytes back by as much. Begun as the migration starts, it overlaps
    /// QEMU's setup and the link probe, before the stream's settings are known: the caller
    /// guesses them, and a stream whose frame has other settings leaves this one unused (a
    /// later frame, after the plan changed, may still take it).
    public final class FrameStart: @unchecked Sendable {
        public let settings: Settings
        private let lock = ConditionLock()
        private var context: OpaquePointer?
        /// What the frame's first call put out (normally nothing).
        private var output: [UInt8] = []
        private var done = false
        private var taken = false
        private var thread: OSThread?

        /// Whether a stream took the context.
        public var wasTaken: Bool { lock.withLock { taken } }

        /// Starts building the frame on a new thread. `prefix` must stay valid until the
        /// context is taken, or this object is gone.
        public init(settings: Settings, jobSize: Int?, prefix: UnsafeRawBufferPointer?) {
            self.settings = settings
            thread = OSThread { [self] in
                var made: OpaquePointer?
                var out: [UInt8] = []
                if let cctx = ZSTD_createCCtx() {
                    do {
                        try ZstdStream.configure(cctx, settings, jobSize: jobSize, prefix: prefix)
                        out = try ZstdStream.begin(cctx)
                        made = cctx
                    } catch {
                        ZSTD_freeCCtx(cctx)  // the stream then makes its own and meets the error itself
                    }
                }
                lock.withLock {
                    context = made
                    output = out
                    done = true
                    lock.broadcast()
                }
            }
        }

        /// The begun context and what its first call put out, if it was begun with `wanted`
        /// (waiting for it to be ready); nil otherwise, or when it is taken already. The caller
        /// owns the context then (`ZSTD_freeCCtx`).
        func take(matching wanted: Settings) -> (context: OpaquePointer, output: [UInt8])? {
            guard wanted == settings else { return nil }
            return lock.withLock {
                while !done { lock.wait() }
                guard let c = context else { return nil }
                context = nil
                taken = true
                return (c, output)
            }
        }

        deinit {
            thread?.join()
            if let context { ZSTD_freeCCtx(context) }
        }
    }

    /// Applies `s` to a context at the start of a frame; with `prefix`, a frame with a long
    /// window references it (a prefix serves one frame: each frame references it anew). A frame
    /// without one does not: its matches reach back only the level's own window (a few MiB),
    /// short of most of a large prefix, and building its tables over all of it would cost time
    /// for nothing (the decoder, which references it for every frame, decodes such a frame the
    /// same).
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

    /// Begins a configured context's frame with no input (libzstd sizes and fills its tables
    /// then); returns what that put out.
    static func begin(_ cctx: OpaquePointer) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 1 << 10)
        let n = try out.withUnsafeMutableBytes { p -> Int in
            var inb = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
            var outb = ZSTD_outBuffer(dst: p.baseAddress, size: p.count, pos: 0)
            let r = ZSTD_compressStream2(cctx, &outb, &inb, ZSTD_e_continue)
            if ZSTD_isError(r) != 0 { throw DWCPError.failure("zstd: \(String(cString: ZSTD_getErrorName(r)))") }
            return outb.pos
        }
        return Array(out[..<n])
    }
}
