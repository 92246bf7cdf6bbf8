import DWCPCore
import DWCPSystem

/// Reads several inputs one after another as one byte stream, like `cat`: the encoder's input.
public final class InputChain {
    private var inputs: [FileDescriptor]
    private var current = 0
    /// Bytes read so far (for progress).
    public private(set) var bytesRead: UInt64 = 0
    /// Sees every byte read, in order, before the encoder does: `dwcp-migrate file` keeps its
    /// copy of what each round sent this way, without a second pass over a changing image.
    public var tap: ((UnsafeRawPointer, Int) throws -> Void)?

    /// Per input: a regular file, whose holes are filled with zeros rather than read.
    private let sparse: [Bool]

    public init(_ inputs: [FileDescriptor]) {
        self.inputs = inputs
        sparse = inputs.map { $0.isRegularFileOfKnownLength }
    }

    /// Fills up to `count` bytes; returns fewer only at the end of the last input.
    public func read(into p: UnsafeMutableRawPointer, count: Int) throws -> Int {
        var done = 0
        while done < count && current < inputs.count {
            let input = inputs[current]
            let n = sparse[current] ? try input.readFullySkippingHoles(into: p + done, count: count - done)
                                    : try input.readFully(into: p + done, count: count - done)
            done += n
            if done < count { current += 1 }
        }
        bytesRead += UInt64(done)
        if let tap, done > 0 { try tap(p, done) }
        return done
    }

    /// Reads what is there now, waiting only for the first byte (one `read(2)` from a pipe or
    /// socket); returns 0 only at the end of the last input.
    public func readAvailable(into p: UnsafeMutableRawPointer, count: Int) throws -> Int {
        while current < inputs.count {
            let input = inputs[current]
            let n = sparse[current] ? try input.readFullySkippingHoles(into: p, count: count)
                                    : try input.readSome(into: p, count: count)
            if n > 0 {
                bytesRead += UInt64(n)
                if let tap { try tap(p, n) }
                return n
            }
            current += 1
        }
        return 0
    }

    /// Whether a read would return at once (input waiting, or an input's end).
    public var hasInputNow: Bool {
        current >= inputs.count || sparse[current] || inputs[current].hasInputNow
    }

    /// Total size when every input is a regular file (for ETA), else nil.
    public var knownTotalSize: UInt64? {
        var total: UInt64 = 0
        for fd in inputs {
            guard let s = fd.sizeIfSeekable() else { return nil }
            total += s
        }
        return total
    }
}
