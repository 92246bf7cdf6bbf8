import DWCPCore

/// What a block becomes before compression: its ops, the literal bytes they consume, the baseline
/// ranges offered to zstd as a reference prefix, and the byte accounting.
///
/// Appending merges neighbouring ops of the same kind so a run of pages costs one op.
struct FrameContent {
    var ops: [BlockOp] = []
    var refs: [BaselineRange] = []
    var stats = EncodeStats()
    let literal: RawBuffer
    /// The whole literal section when it is one run of the block itself (`wholeLiteral`): used
    /// where it lies instead of copied. A full round's frame with no zero or repeated page is all
    /// literal, and copying it cost 2 % of python3's encode.
    private var borrowed: UnsafeRawBufferPointer?

    /// The literal section: the bytes appended to `literal`, or the borrowed run.
    var literalBytes: UnsafeRawBufferPointer {
        borrowed ?? UnsafeRawBufferPointer(start: literal.unsafeBase, count: literal.count)
    }

    init(literal: RawBuffer) {
        self.literal = literal
        literal.count = 0
    }

    mutating func zero(_ n: Int) {
        if case .zero(let a)? = ops.last { ops[ops.count - 1] = .zero(length: a + n) } else { ops.append(.zero(length: n)) }
        stats.zeroBytes += UInt64(n)
    }

    mutating func back(_ n: Int, distance: UInt64) {
        ops.append(.copyBack(length: n, distance: distance))
        stats.duplicateBytes += UInt64(n)
    }

    mutating func copy(_ n: Int, from offset: UInt64) {
        if case .copyBaseline(let a, let o)? = ops.last, o + UInt64(a) == offset {
            ops[ops.count - 1] = .copyBaseline(length: a + n, baselineOffset: o)
        } else {
            ops.append(.copyBaseline(length: n, baselineOffset: offset))
        }
        stats.baselineCopyBytes += UInt64(n)
    }

    /// `n` bytes already written at the end of the literal buffer, as XOR against `offset`.
    mutating func xor(_ n: Int, against offset: UInt64) {
        precondition(borrowed == nil, "XOR bytes after wholeLiteral")
        if case .xorBaseline(let a, let o)? = ops.last, o + UInt64(a) == offset {
            ops[ops.count - 1] = .xorBaseline(length: a + n, baselineOffset: o)
        } else {
            ops.append(.xorBaseline(length: n, baselineOffset: offset))
        }
        literal.count += n
        stats.xorBytes += UInt64(n)
    }

    /// `n` literal bytes at `p` that are the frame's entire literal section; `p` must stay valid
    /// until the frame is assembled (it is the job's block).
    mutating func wholeLiteral(_ p: UnsafeRawPointer, _ n: Int) {
        precondition(literal.count == 0 && borrowed == nil, "wholeLiteral after other literal bytes")
        borrowed = UnsafeRawBufferPointer(start: p, count: n)
        ops.append(.literal(length: n))
        stats.literalBytes += UInt64(n)
    }

    /// Baseline bytes offered to zstd on each side of the bytes a literal stretch resembles. An
    /// edited database page is its old cells moved about, and cells near the page's edges may
    /// come from its neighbours. Delta rounds of the bench corpus with 2 KiB each side: sqlite3
    /// 2.361 → 2.262 MB (−4.2 %), node 40,669 → 39,716 bytes, guest RAM 8.976 → 8.916 MB,
    /// python3 −0.2 %, at the same speed. 1 KiB gained less on sqlite3, and 4 KiB lost there (a
    /// longer prefix gives zstd more far matches to pay offsets for).
    static let referenceMargin = 2048

    /// Appends `n` literal bytes from `p`, optionally noting the baseline bytes they resemble
    /// (`reference`, widened by `referenceMargin` each side; `BlockEncoder` clips the ranges to
    /// the baseline's end).
    mutating func literal(_ p: UnsafeRawPointer, _ n: Int, resembling reference: UInt64? = nil) {
        precondition(borrowed == nil, "literal bytes after wholeLiteral")
        (literal.unsafeBase + literal.count).copyMemory(from: p, byteCount: n)
        literal.count += n
        if case .literal(let a)? = ops.last { ops[ops.count - 1] = .literal(length: a + n) } else { ops.append(.literal(length: n)) }
        stats.literalBytes += UInt64(n)
        if let r = reference {
            let margin = UInt64(Self.referenceMargin)
            let start = r - min(r, margin)
            let end = r + UInt64(n) + margin
            if let last = refs.last, last.offset <= start, start <= last.offset + UInt64(last.length) {
                refs[refs.count - 1].length = Int(max(end, last.offset + UInt64(last.length)) - last.offset)
            } else {
                refs.append(BaselineRange(offset: start, length: Int(end - start)))
            }
        }
    }

    /// Where the next literal byte goes (for writing an XOR in place).
    var literalCursor: UnsafeMutableRawPointer { literal.unsafeBase + literal.count }
}
