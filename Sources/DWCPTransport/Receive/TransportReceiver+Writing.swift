import DWCPCore
import DWCPSystem
#if canImport(Glibc)
import Glibc
#endif

/// Verified chunks to the output: in stream order through the reorder buffer, or each at its
/// place in a file, block device or /dev/null (`positional`), then checkpointed and acknowledged.
extension TransportReceiver {
    /// Leaves a positional output as writing in order would have: the file offset after the
    /// stream, and after a failure a regular file cut back to the chunks written in order (chunks
    /// written past a gap are not part of any verified stream).
    func finishPositional(_ output: FileDescriptor, _ start: UInt64) {
        let (failed, end): (Bool, UInt64) = lock.withLock {
            while writesInFlight > 0 { lock.wait() }
            return (failure != nil || verdict != Wire.verdictOK, start + written)
        }
        if failed && output.isRegularFile { try? output.truncate(to: end) }
        output.seek(to: end)
    }

    /// Zero pages at the end of what was written were skipped as holes (`sparseWrites`): the
    /// file gets its length before it is fsynced, so a checkpoint or a verdict never describes
    /// bytes the file does not hold.
    ///
    /// In `writeTurn`, as the positional writes are: the length is read, then set, and a chunk
    /// past `written` written in between (by a connection, out of order) would be cut off by
    /// the `ftruncate`, leaving a hole where its bytes were while the chunk counts as written.
    /// Found as a resumed `dwcp-recv` whose output read zeros for one 512 KiB chunk (2 runs in
    /// 82 of `testZeroPagesAreHolesInAFileOutputAlsoWhenResumed`'s steps, two at a time).
    func extendOverSkippedZeros(_ target: FileDescriptor, to written: UInt64) throws {
        guard sparseWrites, let start = positional?.start else { return }
        try writeTurn.withLock { try SparseFileWriter.extend(target, to: start + written) }
    }

    func writeLoop(_ output: FileDescriptor) {
        let digest = ChunkListDigest()
        for c in restored?.checksums ?? [] { digest.add(c) }
        // Resumable: the checksums of the chunks written since the last checkpoint (which
        // reached `checkpointedChunks`; only this thread changes it, under the lock).
        var uncheckpointed: [UInt64] = []
        // Acknowledgements are coalesced: one goes out once an eighth of the smaller window (the
        // sender's or ours, at most 4 MiB) was written since the last, or when the writer has
        // written everything received and nothing more arrives within `ackDelay` (a sender
        // waiting to send its end message is answered within a millisecond). At gigabytes per
        // second an acknowledgement per chunk cost a send here and a wake-up of the sender's
        // acknowledgement reader per chunk.
        let ackDelay = 0.001
        // What the last acknowledgement said, and how much was written when it went out.
        var acknowledged: UInt64 = restored?.chunks ?? 0
        var writtenWhenAcknowledged: UInt64 = restored?.bytes ?? 0
        var acksSent: UInt64 = 0
        // Where in-order chunks go: `output` unless `redirect` says otherwise.
        var target = output
        var redirected = false
        struct Acknowledgement { let next: UInt64; let written: UInt64; let peers: [StreamSocket] }
        func acknowledge(_ a: Acknowledgement) {
            // Resumable: nothing is acknowledged that a restarted receiver would not have.
            if let checkpoint, a.next > checkpointedChunks {
                do {
                    // A restarted receiver checks the file holds what the checkpoint says.
                    try extendOverSkippedZeros(target, to: a.written)
                    try target.syncData()
                    try checkpoint.record(session: lock.withLock { session ?? [] }, first: checkpointedChunks, checksums: uncheckpointed, bytes: a.written)
                } catch {
                    fail(error)
                    return
                }
                uncheckpointed.removeAll(keepingCapacity: true)
                lock.withLock { checkpointedChunks = a.next }
            }
            // Acknowledgements are cumulative and the sender takes them from any connection: one
            // connection per acknowledgement, in turn, is enough.
            if !a.peers.isEmpty { sendControl(a.peers[Int(acksSent % UInt64(a.peers.count))], .ack, a.next) }
            acksSent += 1
            acknowledged = a.next
            writtenWhenAcknowledged = a.written
        }
        while true {
            enum Step { case chunk(Held), flush(Acknowledgement), finished }
            let step: Step = lock.withLock {
                var ackDue: Double?
                while buffer[nextExpected]?.written != true && failure == nil && verdict == nil && !(end.map { nextExpected >= $0.chunks } ?? false) {
                    if nextExpected > acknowledged {
                        let now = MonotonicClock.now()
                        if let due = ackDue, now >= due {
                            return .flush(Acknowledgement(next: nextExpected, written: written, peers: Array(authenticated.values)))
                        }
                        if ackDue == nil { ackDue = now + ackDelay }
                        lock.wait(seconds: ackDue! - now)
                    } else {
                        lock.wait()
                    }
                }
                if let held = buffer[nextExpected], held.written { return .chunk(held) }
                return .finished
            }
            let held: Held
            switch step {
            case .flush(let acknowledgement):
                acknowledge(acknowledgement)
                continue
            case .chunk(let h):
                held = h
            case .finished:
                // Complete (or failed): check the end-to-end digest.
                let matched: Bool? = lock.withLock {
                    guard failure == nil, verdict == nil, let e = end else { return nil }
                    return e.length == written && e.chunks == nextExpected && e.digest == digest.finalize()
                }
                guard let matched else { return }
                // The sender's end may come before the last chunks were acknowledged (it goes out
                // once they have gone out): a resumable receiver checkpoints them before its
                // verdict, so one killed after the verdict still keeps the whole stream.
                if matched, checkpoint != nil {
                    let last = lock.withLock { Acknowledgement(next: nextExpected, written: written, peers: []) }
                    if last.next > acknowledged { acknowledge(last) }
                    if lock.withLock({ failure != nil }) { return }
                }
                var result: UInt64 = matched ? Wire.verdictOK : Wire.verdictCorrupt
                if matched {
                    // Durable before the sender hears it arrived: a file that cannot be
                    // fsynced (a disk error) is a failed transfer, not a success. The descriptor
                    // is the one the stream went to (`redirect` may have chosen another).
                    do {
                        // Zero pages at the end were skipped: the file gets its length first.
                        try extendOverSkippedZeros(target, to: lock.withLock { written })
                        if target.isRegularFile { try target.sync() }
                    } catch {
                        rejection = error
                        result = Wire.verdictRejected
                    }
                }
                if result == Wire.verdictOK {
                    // Outside the lock: accepting may take a while (a VM starting up).
                    do {
                        try onVerified?()
                        try acceptance?()
                    } catch {
                        rejection = error
                        result = Wire.verdictRejected
                    }
                }
                lock.withLock {
                    verdict = result
                    if let startedAt { stats.seconds = MonotonicClock.now() - startedAt }
                    lock.broadcast()
                    lock.wakeTimers()
                }
                return
            }
            // The chunks must tile the stream: each starts where the one before it ended. (In a
            // positional output this also proves that no two chunks were written over each other.)
            guard held.offset == written else {
                fail(DWCPError(.network, "chunk \(nextExpected) claims stream offset \(held.offset), but \(written) bytes precede it"))
                return
            }
            if let chunk = held.bytes {
                do {
                    var skip = 0
                    if let redirect, positional == nil, !redirected {
                        redirected = true
                        let r = try redirect(UnsafeRawBufferPointer(start: chunk.unsafeBase, count: chunk.count))
                        target = r.output
                        skip = min(max(0, r.skip), chunk.count)
                    }
                    try target.writeAll(chunk.unsafeBase + skip, count: chunk.count - skip)
                } catch {
                    fail(error)
                    return
                }
            }
            digest.add(held.checksum)
            if checkpoint != nil { uncheckpointed.append(held.checksum) }
            let size = UInt64(held.length)
            let (due, chunk): (Acknowledgement?, RawBuffer?) = lock.withLock {
                buffer[nextExpected] = nil
                bufferedBytes -= held.charge
                nextExpected += 1
                written += size
                lastProgress = MonotonicClock.now()
                lock.broadcast()
                let window = min(configuration.window, senderWindow ?? configuration.window)
                // A checkpoint costs an fdatasync of the output: fewer, larger ones.
                let every = checkpoint == nil ? min(UInt64(4 << 20), max(1, window / 8)) : min(UInt64(64 << 20), max(1, window / 4))
                let due = written - writtenWhenAcknowledged >= every
                let acknowledgement = due ? Acknowledgement(next: nextExpected, written: written, peers: Array(authenticated.values)) : nil
                return (acknowledgement, held.bytes)
            }
            // Only now may another connection reuse the buffer.
            if let chunk { pool(chunk.capacity).recycle(chunk) }
            if let due { acknowledge(due) }
            if let progress {
                progress(lock.withLock {
                    var s = stats
                    s.bytes = written
                    s.streams = authenticated.count
                    s.seconds = startedAt.map { MonotonicClock.now() - $0 } ?? 0
                    return s
                })
            }
        }
    }

    /// Puts a verified chunk where it goes: held for the writer, or written at its place in a
    /// positional output (then only its record is held). Returns false when the transfer failed
    /// (this connection ends); throws a failure that happened meanwhile.
    func place(_ chunk: RawBuffer, _ m: MessageHeader, pool: BufferPool) throws -> Bool {
        let charge = UInt64(pool.bufferCapacity)
        enum Placement { case held, write(FileDescriptor, UInt64), unneeded, misplaced, afterVerdict }
        let placement: Placement = try lock.withLock {
            // The stream is verified and its output final: a chunk now (on a connection kept
            // open for its sender's next transfer, which may send only `release`) is never
            // written, and ends the connection.
            if verdict != nil { return .afterVerdict }
            // Wait for room only with a chunk we still need. A resent copy of a chunk already
            // held (its first copy arrived before the connection dropped) must never wait:
            // while this thread waits it reads nothing more, and the chunk the writer needs next
            // may be queued behind it on this very connection. An honest sender keeps distinct
            // unacknowledged chunks within the window, so with this rule a connection never
            // waits forever.
            while m.sequence > nextExpected && buffer[m.sequence] == nil
                    && bufferedBytes + charge > configuration.window && failure == nil && verdict == nil {
                lock.wait()
            }
            if let failure { throw failure }
            guard m.sequence >= nextExpected && buffer[m.sequence] == nil else { return .unneeded }
            var held = Held(bytes: chunk, checksum: m.checksum, offset: m.offset, length: chunk.count, charge: charge, written: true)
            var placement = Placement.held
            if let (output, start) = positional {
                guard keepsStreamOrder(m.sequence, offset: m.offset, length: chunk.count, start: start) else { return .misplaced }
                (held.bytes, held.written) = (nil, false)
                writesInFlight += 1
                placement = .write(output, start)
            }
            buffer[m.sequence] = held
            bufferedBytes += charge
            lastProgress = MonotonicClock.now()
            lock.broadcast()
            return placement
        }
        switch placement {
        case .held:
            return true
        case .unneeded:
            pool.recycle(chunk)
            return true
        case .afterVerdict:
            pool.recycle(chunk)
            return false
        case .misplaced:
            pool.recycle(chunk)
            fail(DWCPError(.network, "chunk \(m.sequence) at stream offset \(m.offset) does not fit between the chunks around it"))
            return false
        case .write(let output, let start):
            // At its place while the bytes are still in this core's cache.
            let result = writeTurn.withLock {
                Result {
                    if sparseWrites {
                        _ = try SparseFileWriter.write(output, chunk.unsafeBase, count: chunk.count, at: start + m.offset)
                    } else {
                        try output.writeAll(chunk.unsafeBase, count: chunk.count, at: start + m.offset)
                    }
                }
            }
            pool.recycle(chunk)
            lock.withLock {
                writesInFlight -= 1
                if case .success = result { buffer[m.sequence]?.written = true }
                lock.broadcast()
            }
            if case .failure(let error) = result {
                fail(error)
                return false
            }
            return true
        }
    }

    /// Whether a chunk at stream bytes `offset ..< offset + length` can be chunk `sequence` of a
    /// stream whose chunks tile it in sequence order, given what is written and held: past the
    /// bytes written in order, after every held chunk before it and before every held chunk after
    /// it, flush against those next to it, and ending where a file offset can (`start` + end
    /// fits in `off_t`). Checked before a positional write, so no chunk is ever written over
    /// another or over bytes already written in order. Lock held.
    func keepsStreamOrder(_ sequence: UInt64, offset: UInt64, length: Int, start: UInt64) -> Bool {
        let (end, overflow) = offset.addingReportingOverflow(UInt64(length))
        if overflow || end > UInt64(Int64.max) - start || offset < written { return false }
        if sequence == nextExpected && offset != written { return false }
        for (s, held) in buffer {
            let heldEnd = held.offset + UInt64(held.length)
            let fits = s < sequence ? heldEnd <= offset && (sequence - s != 1 || heldEnd == offset)
                                    : end <= held.offset && (s - sequence != 1 || end == held.offset)
            if !fits { return false }
        }
        return true
    }
}
