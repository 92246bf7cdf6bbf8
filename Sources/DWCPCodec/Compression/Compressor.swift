import CBrotli
import CLZ4
import CZstd
import DWCPCore

/// Per-thread compression state for literal sections: one zstd context reused across frames
/// (creating one per frame would dominate small frames), and the dispatch to lz4 and brotli.
///
/// Not thread-safe: each pipeline worker owns one.
public final class Compressor {
    private let cctx: OpaquePointer

    public init() {
        cctx = ZSTD_createCCtx()
    }

    deinit { ZSTD_freeCCtx(cctx) }

    /// What one call produced: its length, and the setting (for zstd, the search) it used, as
    /// `--stats` names it.
    public struct Compressed: Equatable {
        public var length: Int
        public var label: String
    }

    /// Compresses `src` into `dst` (capacity `dstCapacity`). Returns nil when the output would
    /// not be smaller than `dstCapacity` (the caller then stores raw bytes). `prefix` is a
    /// reference the decoder will also have (zstd only).
    public func compress(_ setting: CodecSetting, src: UnsafeRawBufferPointer, dst: UnsafeMutableRawPointer,
                         dstCapacity: Int, prefix: UnsafeRawBufferPointer? = nil) -> Compressed? {
        guard src.count > 0, dstCapacity > 0 else { return nil }
        switch setting.codec {
        case .none:
            return nil
        case .zstd:
            ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters)
            let prefixBytes = prefix?.count ?? 0
            let search = ZstdSearch.choose(setting, section: src, hasPrefix: prefixBytes > 0)
            search.apply(to: cctx, span: prefixBytes + src.count, hasPrefix: prefixBytes > 0)
            ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 0)
            if let prefix, prefixBytes > 0 { ZSTD_CCtx_refPrefix(cctx, prefix.baseAddress, prefixBytes) }
            let n = ZSTD_compress2(cctx, dst, dstCapacity, src.baseAddress, src.count)
            if ZSTD_isError(n) != 0 { return nil }
            return Compressed(length: n, label: search.label)
        case .lz4:
            let n: Int32
            if setting.level >= 3 {
                n = LZ4_compress_HC(src.baseAddress!.assumingMemoryBound(to: CChar.self),
                                    dst.assumingMemoryBound(to: CChar.self), Int32(src.count), Int32(clamping: dstCapacity),
                                    Int32(min(setting.level, 12)))
            } else {
                let acceleration = setting.level < 0 ? Int32(clamping: -setting.level) : 1
                n = LZ4_compress_fast(src.baseAddress!.assumingMemoryBound(to: CChar.self),
                                      dst.assumingMemoryBound(to: CChar.self), Int32(src.count), Int32(clamping: dstCapacity),
                                      acceleration)
            }
            return n > 0 ? Compressed(length: Int(n), label: setting.description) : nil
        case .brotli:
            var encodedSize = dstCapacity
            let ok = BrotliEncoderCompress(Int32(setting.level), 22, BROTLI_MODE_GENERIC, src.count,
                                           src.baseAddress!.assumingMemoryBound(to: UInt8.self), &encodedSize,
                                           dst.assumingMemoryBound(to: UInt8.self))
            return ok == BROTLI_TRUE && encodedSize < dstCapacity ? Compressed(length: encodedSize, label: setting.description) : nil
        }
    }
}

/// Limits shared by the zstd compressor and decompressor.
public enum ZstdLimits {
    /// Largest window (prefix + frame) either side uses: 256 MiB.
    public static let maxWindowLog = 28
}

/// Per-thread decompression state, the mirror of `Compressor`. Every call decompresses into a
/// buffer of exactly the declared size and fails unless the result fills it exactly, so hostile
/// input can neither overflow nor under-fill the output.
public final class Decompressor {
    private let dctx: OpaquePointer

    public init() {
        dctx = ZSTD_createDCtx()
        ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, Int32(ZstdLimits.maxWindowLog))
    }

    deinit { ZSTD_freeDCtx(dctx) }

    public func decompress(_ codec: CodecID, src: UnsafeRawBufferPointer, dst: UnsafeMutableRawPointer, dstLength: Int,
                           prefix: UnsafeRawBufferPointer? = nil) throws {
        switch codec {
        case .none:
            guard src.count == dstLength else { throw DWCPError.integrity("stored literal section is \(src.count) bytes, expected \(dstLength)") }
            if dstLength > 0 { dst.copyMemory(from: src.baseAddress!, byteCount: dstLength) }
        case .zstd:
            ZSTD_DCtx_reset(dctx, ZSTD_reset_session_only)
            if let prefix, prefix.count > 0 { ZSTD_DCtx_refPrefix(dctx, prefix.baseAddress, prefix.count) }
            let n = ZSTD_decompressDCtx(dctx, dst, dstLength, src.baseAddress, src.count)
            if ZSTD_isError(n) != 0 {
                throw DWCPError.integrity("zstd: \(String(cString: ZSTD_getErrorName(n)))")
            }
            guard n == dstLength else { throw DWCPError.integrity("zstd literal section decoded to \(n) bytes, expected \(dstLength)") }
        case .lz4:
            let n = LZ4_decompress_safe(src.baseAddress?.assumingMemoryBound(to: CChar.self),
                                        dst.assumingMemoryBound(to: CChar.self), Int32(clamping: src.count), Int32(clamping: dstLength))
            guard n == Int32(dstLength) else { throw DWCPError.integrity("lz4 literal section is corrupt (decoded \(n) of \(dstLength) bytes)") }
        case .brotli:
            var decodedSize = dstLength
            let r = BrotliDecoderDecompress(src.count, src.baseAddress?.assumingMemoryBound(to: UInt8.self), &decodedSize,
                                            dst.assumingMemoryBound(to: UInt8.self))
            guard r == BROTLI_DECODER_RESULT_SUCCESS, decodedSize == dstLength else {
                throw DWCPError.integrity("brotli literal section is corrupt")
            }
        }
    }
}
