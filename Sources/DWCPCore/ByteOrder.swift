/// Little-endian loads and stores at byte offsets of raw memory.
///
/// The wire format is little-endian throughout; these helpers do unaligned accesses so headers can
/// be parsed in place from any buffer position.
public enum LittleEndian {
    @inlinable
    public static func load<T: FixedWidthInteger>(_ type: T.Type, _ base: UnsafeRawPointer, _ offset: Int) -> T {
        T(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    @inlinable
    public static func store<T: FixedWidthInteger>(_ value: T, _ base: UnsafeMutableRawPointer, _ offset: Int) {
        base.storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self)
    }
}

/// LEB128 variable-length unsigned integers, as used by the op list of data frames.
///
/// Values below 128 take one byte; a full 64-bit value takes at most ten.
public enum VarInt {
    /// Largest encoding of a 64-bit value.
    public static let maxLength = 10

    /// Appends `value` to `bytes`.
    @inlinable
    public static func append(_ value: UInt64, to bytes: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    /// Reads a value at `cursor` within `[base, base+end)`, advancing the cursor.
    /// Returns nil on truncation or an over-long encoding (more than ten bytes or overflow).
    @inlinable
    public static func read(_ base: UnsafeRawPointer, _ cursor: inout Int, _ end: Int) -> UInt64? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while cursor < end {
            let byte = base.load(fromByteOffset: cursor, as: UInt8.self)
            cursor += 1
            if shift == 63 && byte > 1 { return nil }
            result |= UInt64(byte & 0x7f) << shift
            if byte < 0x80 { return result }
            shift += 7
            if shift > 63 { return nil }
        }
        return nil
    }
}
