import DWCPSystem

/// Runs a function over a sequence of jobs on N worker threads and hands the results, in submission
/// order, to a consumer thread, with at most `maxInFlight` jobs between `submit` and the consumer.
///
/// This is the shape of both the encoder and the decoder: a reader that must be sequential, a
/// parallel middle (matching, compression, checksums), and a sequential writer; the in-flight bound
/// is what bounds memory (`maxInFlight` × the size of a job and its result).
public final class OrderedPipeline<Job, Output> {
    public typealias Work = (_ worker: Int, _ job: Job) throws -> Output
    public typealias Consume = (Output) throws -> Void

    private let lock: ConditionLock
    /// Workers wait here for a job, the consumer for the next result in order, the submitter
    /// (and `finish`) for jobs to be consumed: each change wakes only who can use it.
    private let jobQueued: LockCondition
    private let nextResultReady: LockCondition
    private let jobConsumed: LockCondition
    private var queue: [(Int, Job)?] = []
    private var queueHead = 0
    private var results: [Int: Result<Output, Error>] = [:]
    private var submitted = 0
    private var consumed = 0
    private var closed = false
    private var failure: Error?
    private let maxInFlight: Int
    private var threads: [OSThread] = []

    public init(workers: Int, maxInFlight: Int, work: @escaping Work, consume: @escaping Consume) {
        precondition(workers >= 1 && maxInFlight >= 1)
        self.maxInFlight = maxInFlight
        let lock = ConditionLock()
        self.lock = lock
        jobQueued = LockCondition(lock)
        nextResultReady = LockCondition(lock)
        jobConsumed = LockCondition(lock)
        for w in 0..<workers {
            threads.append(OSThread { [unowned self] in self.workerLoop(w, work) })
        }
        threads.append(OSThread { [unowned self] in self.consumerLoop(consume) })
    }

    /// Queues a job, blocking while `maxInFlight` jobs are unconsumed. Throws the first error any
    /// worker or the consumer raised (the pipeline is then draining and accepts nothing more).
    public func submit(_ job: Job) throws {
        lock.lock()
        defer { lock.unlock() }
        while submitted - consumed >= maxInFlight && failure == nil { jobConsumed.wait() }
        if let failure { throw failure }
        queue.append((submitted, job))
        submitted += 1
        jobQueued.signal()
    }

    /// Waits until every submitted job is consumed, stops the threads, and throws the first error.
    public func finish() throws {
        lock.lock()
        closed = true
        wakeAll()
        while consumed < submitted && failure == nil { jobConsumed.wait() }
        lock.unlock()
        for t in threads { t.join() }
        threads = []
        if let failure { throw failure }
    }

    /// Records a failure from outside the pipeline (e.g. the reader) so threads stop early.
    public func abort(_ error: Error) {
        lock.withLock {
            if failure == nil { failure = error }
            closed = true
            wakeAll()
        }
        for t in threads { t.join() }
        threads = []
    }

    /// The pipeline closed or failed: every waiter re-checks. Lock held.
    private func wakeAll() {
        jobQueued.broadcast()
        nextResultReady.broadcast()
        jobConsumed.broadcast()
    }

    private func workerLoop(_ index: Int, _ work: Work) {
        while true {
            lock.lock()
            while queueHead == queue.count && !closed && failure == nil { jobQueued.wait() }
            if failure != nil || queueHead == queue.count {
                lock.unlock()
                return
            }
            let (seq, job) = queue[queueHead]!
            queue[queueHead] = nil  // release the job's buffers as soon as a worker owns it
            queueHead += 1
            if queueHead > 64 && queueHead * 2 > queue.count {
                queue.removeFirst(queueHead)
                queueHead = 0
            }
            lock.unlock()
            let result = Result { try work(index, job) }
            lock.withLock {
                results[seq] = result
                // Only the result the consumer waits for is worth waking it for.
                if seq == consumed { nextResultReady.signal() }
            }
        }
    }

    private func consumerLoop(_ consume: Consume) {
        while true {
            lock.lock()
            while results[consumed] == nil && failure == nil && !(closed && consumed == submitted) { nextResultReady.wait() }
            if failure != nil || (closed && consumed == submitted && results[consumed] == nil) {
                lock.unlock()
                return
            }
            let result = results.removeValue(forKey: consumed)!
            lock.unlock()
            do {
                try consume(result.get())
                lock.withLock {
                    consumed += 1
                    jobConsumed.broadcast()
                }
            } catch {
                lock.withLock {
                    if failure == nil { failure = error }
                    wakeAll()
                }
                return
            }
        }
    }
}
