/// The objects of one kind at work in this process right now, held weakly: what a signal
/// handler's thread reaches to wind them up (`TransportSender.cancelAll`), whichever library
/// started them.
public final class LiveObjects<T: AnyObject>: @unchecked Sendable {
    private final class Weak { weak var object: T?; init(_ o: T) { object = o } }
    private let lock = ConditionLock()
    private var objects: [ObjectIdentifier: Weak] = [:]

    public init() {}

    public func add(_ object: T) { lock.withLock { objects[ObjectIdentifier(object)] = Weak(object) } }

    public func remove(_ object: T) { _ = lock.withLock { objects.removeValue(forKey: ObjectIdentifier(object)) } }

    /// Those still alive.
    public var all: [T] { lock.withLock { objects.values.compactMap { $0.object } } }
}
