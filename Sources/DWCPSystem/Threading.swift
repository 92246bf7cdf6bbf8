#if canImport(Glibc)
import Glibc
#endif

/// A pthread mutex with a condition variable: the one synchronisation primitive the pipelines use.
///
/// Heap-allocated so its address never moves (pthread objects must not be copied).
///
/// A second condition serves watchdogs: threads that wake on a timer or on the end of the work,
/// not on every change. `broadcast()` does not wake them (`waitForTimer`, `wakeTimers`): woken
/// by every broadcast, a watchdog woke thousands of times a second in a transfer at gigabytes
/// per second and fought the working threads for the mutex.
public final class ConditionLock: @unchecked Sendable {
    fileprivate let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let timerCond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    public init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(cond, nil)
        pthread_cond_init(timerCond, nil)
    }

    deinit {
        pthread_cond_destroy(cond)
        pthread_cond_destroy(timerCond)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        cond.deallocate()
        timerCond.deallocate()
    }

    public func lock() { pthread_mutex_lock(mutex) }
    public func unlock() { pthread_mutex_unlock(mutex) }
    /// Waits for a broadcast; the lock must be held.
    public func wait() { pthread_cond_wait(cond, mutex) }
    public func broadcast() { pthread_cond_broadcast(cond) }

    /// Waits for a broadcast or `seconds`, whichever comes first; the lock must be held.
    public func wait(seconds: Double) {
        var deadline = Self.deadline(seconds)
        pthread_cond_timedwait(cond, mutex, &deadline)
    }

    /// Waits for `wakeTimers()` or `seconds`, whichever comes first (not for `broadcast()`);
    /// the lock must be held.
    public func waitForTimer(seconds: Double) {
        var deadline = Self.deadline(seconds)
        pthread_cond_timedwait(timerCond, mutex, &deadline)
    }

    /// Wakes the threads in `waitForTimer` (the work ended or failed); the lock must be held.
    public func wakeTimers() { pthread_cond_broadcast(timerCond) }

    private static func deadline(_ seconds: Double) -> timespec {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let total = Double(now.tv_sec) + Double(now.tv_nsec) / 1e9 + max(0, seconds)
        return timespec(tv_sec: Int(total), tv_nsec: Int((total - Double(Int(total))) * 1e9))
    }

    @inline(__always)
    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}

/// A further condition variable on a `ConditionLock`'s mutex, for one kind of waiter.
///
/// Where threads wait for different things under one lock (`OrderedPipeline`: workers for jobs,
/// the consumer for the next result, the submitter for room), one condition per kind lets each
/// change wake only the thread that can use it. With a single broadcast every submitted block
/// woke every idle worker and the consumer, and each finished block woke the idle workers again:
/// a tenth of the reader thread's time in an unchanged image round went to those wake-ups.
public final class LockCondition: @unchecked Sendable {
    private let lock: ConditionLock
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    public init(_ lock: ConditionLock) {
        self.lock = lock
        pthread_cond_init(cond, nil)
    }

    deinit {
        pthread_cond_destroy(cond)
        cond.deallocate()
    }

    /// Waits for `signal` or `broadcast`; the lock must be held.
    public func wait() { pthread_cond_wait(cond, lock.mutex) }
    /// Wakes one waiter; the lock must be held.
    public func signal() { pthread_cond_signal(cond) }
    /// Wakes every waiter; the lock must be held.
    public func broadcast() { pthread_cond_broadcast(cond) }
}

/// A joinable OS thread running a closure.
public final class OSThread: @unchecked Sendable {
    private var handle = pthread_t()
    private var joined = false
    private final class Box { let body: () -> Void; init(_ b: @escaping () -> Void) { body = b } }

    /// Starts `body` on a new thread with an 8 MiB stack.
    public init(_ body: @escaping () -> Void) {
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        var attr = pthread_attr_t()
        pthread_attr_init(&attr)
        pthread_attr_setstacksize(&attr, 8 << 20)
        let rc = pthread_create(&handle, &attr, { arg in
            let box = Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue()
            box.body()
            return nil
        }, box)
        pthread_attr_destroy(&attr)
        precondition(rc == 0, "pthread_create failed: \(rc)")
    }

    /// Waits for the thread to finish; later calls return at once. Call from one thread only.
    public func join() {
        if joined { return }
        joined = true
        pthread_join(handle, nil)
    }

    /// Blocks SIGPIPE on the calling thread for good, so a write to a closed peer by a call
    /// that has no `MSG_NOSIGNAL` (`sendfile`, OpenSSL's writes) fails with EPIPE instead of
    /// killing a process that does not ignore the signal (a test runner, a program using the
    /// libraries; every command ignores it). The signal such a call raises is directed at this
    /// thread, so it stays pending here and reaches no other.
    public static func blockPipeSignal() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// Online CPUs (`sysconf(_SC_NPROCESSORS_ONLN)`), the default for `-T`.
    public static var processorCount: Int {
        max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    }
}
