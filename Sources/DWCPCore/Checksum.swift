import CXXHash

/// Checksums of the DWCP format: XXH3 from Debian's libxxhash.
///
/// Why XXH3: it runs at memory speed, so checksumming every frame twice (encoded and decoded
/// bytes) and digesting the whole stream costs little next to compression. The calls go through
/// libxxhash's run-time dispatch, which uses AVX2 where the CPU has it (40 GB/s per core here,
/// against 17 for the SSE2 code the plain entry points run) and gives the same values.
/// CRC32C would need our own SIMD code, and a cryptographic hash would be the bottleneck. The
/// library is well kept and packaged by Debian (libxxhash-dev), so we do not write our own.
/// XXH3 is not cryptographic: it detects accidents (bit flips, truncation, wrong baseline), not
/// an adversary who can rewrite the stream. Transport authentication is a separate layer.
public enum Checksum {
    /// XXH3-64 of `bytes`.
    @inlinable
    public static func xxh3(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        dwcp_xxh3_64(bytes.baseAddress, bytes.count)
    }

    /// XXH3-64 of `count` bytes at `pointer`.
    @inlinable
    public static func xxh3(_ pointer: UnsafeRawPointer, _ count: Int) -> UInt64 {
        dwcp_xxh3_64(pointer, count)
    }

    /// XXH3-128 of `count` bytes at `pointer`.
    @inlinable
    public static func xxh3_128(_ pointer: UnsafeRawPointer, _ count: Int) -> Digest128 {
        let h = dwcp_xxh3_128(pointer, count)
        return Digest128(high: h.high64, low: h.low64)
    }

    /// XXH3-64 of a byte array.
    public static func xxh3(_ bytes: [UInt8]) -> UInt64 {
        bytes.withUnsafeBytes { xxh3($0) }
    }

    /// XXH3-64 of a text's UTF-8 bytes as 16 hex digits: the digest line of the toolkit's text
    /// files (`dwcp-rep` state, `dwcp-predict` models).
    public static func xxh3Hex(_ text: Substring) -> String {
        var copy = String(text)
        let hex = String(copy.withUTF8 { xxh3(UnsafeRawBufferPointer($0)) }, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}

/// A 128-bit digest (XXH3-128), used for whole-stream and baseline digests.
public struct Digest128: Hashable, Sendable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    public static let zero = Digest128(high: 0, low: 0)

    /// Canonical hex form: 32 lowercase digits, high half first (as `xxhsum -H2` prints).
    public var description: String {
        hex(high) + hex(low)
    }

    private func hex(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}

/// Streaming XXH3-128 over a sequence of buffers, for digests of whole streams.
///
/// A class because libxxhash's state is heap-allocated and opaque; one allocation per stream.
public final class StreamDigest {
    private let state: OpaquePointer

    public init() {
        state = XXH3_createState()
        XXH3_128bits_reset(state)
    }

    deinit { XXH3_freeState(state) }

    /// Adds `count` bytes at `pointer`.
    public func update(_ pointer: UnsafeRawPointer, _ count: Int) {
        if count > 0 { dwcp_xxh3_128_update(state, pointer, count) }
    }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        if let base = bytes.baseAddress { update(base, bytes.count) }
    }

    /// The digest of everything added so far (the state stays usable).
    public func finalize() -> Digest128 {
        let h = XXH3_128bits_digest(state)
        return Digest128(high: h.high64, low: h.low64)
    }
}
