/// A count of places taken, up to a limit given at each entry: what bounds the threads a stranger
/// can make a server hold (`StreamListener`'s handshakes, `ProbeResponder`'s sessions).
public final class Occupancy: @unchecked Sendable {
    private let lock = ConditionLock()
    private var taken = 0

    public init() {}

    /// Takes a place unless `limit` are taken (then the caller turns the newcomer away).
    public func enter(limit: Int) -> Bool {
        lock.withLock {
            guard taken < limit else { return false }
            taken += 1
            return true
        }
    }

    /// Gives back a place `enter` took.
    public func leave() { lock.withLock { taken -= 1 } }

    /// Places taken now.
    public var count: Int { lock.withLock { taken } }
}
