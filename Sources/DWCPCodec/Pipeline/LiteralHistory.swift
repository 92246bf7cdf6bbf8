import DWCPCore
import DWCPSystem

/// The tail of the literal stream (all data frames' literal sections, in order), handed from each
/// frame's worker to the next: the zstd prefix of `dataWithHistory` frames.
///
/// Frame k's tail is the last `length` bytes of (tail k−1 ++ literal k). Workers take frames in
/// order, and a worker publishes its tail before it compresses (encoder) or right after it
/// decompresses (decoder), so waiting for k−1 never waits on anything that waits on k. A failure
/// anywhere poisons the chain so no worker waits forever.
final class LiteralHistory: @unchecked Sendable {
    let length: Int
    private let lock = ConditionLock()
    private var tails: [UInt64: RawBuffer] = [:]
    private var poisoned = false
    private static let empty = RawBuffer(capacity: 0)

    init(length: Int) {
        self.length = length
    }

    /// The tail after data frame `index` (the empty tail before frame 0).
    func tail(before index: UInt64) throws -> RawBuffer {
        if index == 0 { return Self.empty }
        return try lock.withLock {
            while tails[index - 1] == nil && !poisoned { lock.wait() }
            if poisoned { throw DWCPError.integrity("an earlier frame failed; literal history unavailable") }
            return tails[index - 1]!
        }
    }

    /// Records frame `index`'s tail given the previous tail and this frame's literal bytes.
    func publish(_ index: UInt64, previous: RawBuffer, literal: UnsafeRawBufferPointer) {
        let tail = RawBuffer(capacity: length)
        let fromLiteral = min(length, literal.count)
        let fromPrevious = min(length - fromLiteral, previous.count)
        if fromPrevious > 0 {
            tail.unsafeBase.copyMemory(from: previous.unsafeBase + (previous.count - fromPrevious), byteCount: fromPrevious)
        }
        if fromLiteral > 0 {
            (tail.unsafeBase + fromPrevious).copyMemory(from: literal.baseAddress! + (literal.count - fromLiteral), byteCount: fromLiteral)
        }
        tail.count = fromPrevious + fromLiteral
        lock.withLock {
            tails[index] = tail
            if index >= 2 { tails[index - 2] = nil }   // nobody needs it any more
            lock.broadcast()
        }
    }

    func poison() {
        lock.withLock {
            poisoned = true
            lock.broadcast()
        }
    }
}
