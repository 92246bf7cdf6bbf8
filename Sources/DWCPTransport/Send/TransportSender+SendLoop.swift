import DWCPCore
import DWCPSystem
#if canImport(Glibc)
import Glibc
#endif

/// One connection's sending: take the next chunk (work stealing), read and checksum it if it
/// is still in the file, write it, and end the stream once everything has gone out.
extension TransportSender {
    /// Sends until the transfer is complete (true) or the connection fails (false).
    func sendLoop(_ index: Int, _ socket: StreamSocket, _ inFlight: inout [UInt64]) -> Bool {
        var header = [UInt8](repeating: 0, count: Wire.messageHeaderLength)
        // `send(file:)`: this connection reads the file chunks it sends first, to checksum them.
        let own = file.map { _ in RawBuffer(capacity: configuration.chunkSize) }
        // Whether the message being sent has begun to leave: after a failure of the input
        // mid-message the connection can carry nothing more.
        var begun = false
        while true {
            enum Next { case chunk(UInt64, Chunk), end([UInt8]), cancel(Error), done, lost }
            let next: Next = lock.withLock {
                while true {
                    if failure != nil || finStatus != nil { return .done }
                    if let cancelling { return .cancel(cancelling) }
                    // The ack reader saw this connection die. Leave now even with nothing to
                    // send: its unacknowledged chunks are requeued only once this loop returns,
                    // and with a full window nothing else would ever wake it (a stall that hit
                    // migrations after connection drops).
                    if sockets[index] !== socket { return .lost }
                    if let s = retransmit.popLast() {
                        if s >= ackedThrough, let c = retained[s] {
                            sending.insert(s)
                            carrying.insert(index)
                            return .chunk(s, c)
                        }
                        continue
                    }
                    if queueHead < queue.count {
                        let s = queue[queueHead]
                        queueHead += 1
                        // The reader waits while the read-ahead is full; it is woken once half
                        // of it drained, and refills it in one go (a wake-up per chunk cost more
                        // than the reading at gigabytes per second).
                        if queue.count - queueHead == readAhead / 2 { lock.broadcast() }
                        if queueHead > 4096 { queue.removeFirst(queueHead); queueHead = 0 }
                        if let c = retained[s] {
                            sending.insert(s)
                            carrying.insert(index)
                            return .chunk(s, c)
                        }
                        continue
                    }
                    // The end goes out as soon as every chunk has gone out (and so has its
                    // checksum, which the digest needs), not once every chunk is acknowledged:
                    // the receiver holds it until the chunks still on their way are written, and
                    // a transfer ends a round trip sooner. Chunks a dropped connection loses
                    // are resent by the others meanwhile, and the receiver waits for them.
                    if inputDone && !endSent && digested == stats.chunks {
                        endSent = true
                        endOwner = index
                        return .end(endPayload())
                    }
                    if inputDone && endSent && endOwner != index && ackedThrough == stats.chunks { return .done }
                    lock.wait()
                }
            }
            do {
                switch next {
                case .done:
                    return lock.withLock { finStatus != nil || failure != nil || (endSent && endOwner != index) }
                case .lost:
                    return false
                case .cancel(let error):
                    try socket.sendAll(Wire.cancelMessage(reason: "\(error)"))
                    // The receiver answers `fin` "cancelled" (the ack reader records it). A
                    // connection it dropped first never carried the cancel (a chunk ahead of it
                    // failed its checksum: the file changed under `sendfile`), and is dialled
                    // again, with nothing ahead of the cancel this time.
                    let delivered: Bool = lock.withLock {
                        let deadline = MonotonicClock.now() + Wire.cancelDeliverySeconds
                        while !cancelDelivered && sockets[index] === socket && failure == nil && MonotonicClock.now() < deadline {
                            lock.wait(seconds: deadline - MonotonicClock.now())
                        }
                        return cancelDelivered
                    }
                    if delivered { fail(error) }
                    return delivered
                case .chunk(let seq, let chunk):
                    defer {
                        lock.withLock {
                            _ = sending.remove(seq)
                            _ = carrying.remove(index)
                            // The last chunks out: a connection may now send the end.
                            if inputDone && queueHead == queue.count { lock.broadcast() }
                        }
                    }
                    // In flight from the first byte: if the send fails half-way it must be resent.
                    inFlight.append(seq)
                    begun = false
                    try sendChunk(seq, chunk, on: socket, header: &header, own: own, begun: &begun)
                    if inFlight.count > 1024 {
                        let acked = lock.withLock { ackedThrough }
                        inFlight.removeAll { $0 < acked }
                    }
                case .end(let payload):
                    MessageHeader(kind: .end, length: UInt32(payload.count), sequence: 0, offset: 0,
                                  checksum: Checksum.xxh3(payload)).store(to: &header)
                    try socket.sendAll(header)
                    try socket.sendAll(payload)
                    // Wait for the verdict (the ack loop records it) or a failure of this socket.
                    let verdict: Bool = lock.withLock {
                        while finStatus == nil && failure == nil && sockets[index] === socket && endSent && endOwner == index { lock.wait() }
                        return finStatus != nil
                    }
                    if verdict { return true }
                    if lock.withLock({ failure != nil }) { return true }
                    return false
                }
            } catch let e as DWCPError where e.status != .network {
                // Not the connection: the input (a file that changed or shrank while being sent).
                // Usually found before the chunk's header went out (it is read first), and then
                // this connection, between two messages, can still carry the `cancel`.
                _ = lock.withLock { startCancelling(e) }
                if begun { return false }
                continue
            } catch {
                return false
            }
        }
    }

    /// Writes chunk `seq`, header then bytes, to `socket`. A chunk in memory goes from its buffer.
    /// A file chunk's first send reads it into `own` for its checksum, recorded before any byte
    /// leaves (so a resend after this connection fails can check its re-read), then `sendfile`s
    /// it; a resend reads it again and checks it against that checksum.
    func sendChunk(_ seq: UInt64, _ chunk: Chunk, on socket: StreamSocket, header: inout [UInt8], own: RawBuffer?, begun: inout Bool) throws {
        func sendHeader(_ checksum: UInt64, more: Bool = false) throws {
            begun = true
            MessageHeader(kind: .data, length: UInt32(chunk.length), sequence: seq, offset: chunk.offset,
                          checksum: checksum).store(to: &header)
            try socket.sendAll(header, more: more)
        }
        if let buffer = chunk.buffer {
            try sendHeader(chunk.checksum!)
            try socket.sendAll(buffer.unsafeBase, buffer.count)
        } else if let checksum = chunk.checksum {
            let copy = try reread(chunk)
            defer { pool.recycle(copy) }
            try sendHeader(checksum)
            try socket.sendAll(copy.unsafeBase, copy.count)
        } else {
            let own = own!
            let checksum = try readAndChecksum(chunk, into: own)
            lock.withLock {
                retained[seq]?.checksum = checksum
                recordChecksum(seq, checksum)
            }
            if socket.canSendFile {
                try sendHeader(checksum, more: true)
                try socket.sendFile(file!.rawValue, offset: fileStart + chunk.offset, count: chunk.length)
            } else {
                try sendHeader(checksum)
                try socket.sendAll(own.unsafeBase, chunk.length)
            }
        }
    }

    /// The `end` message's payload: length, chunk count, digest. Lock held, and only once every
    /// chunk was acknowledged, so every checksum is in the digest.
    func endPayload() -> [UInt8] {
        precondition(digested == stats.chunks)
        let d = digest.finalize()
        var end = [UInt8](repeating: 0, count: 32)
        end.withUnsafeMutableBytes { raw in
            LittleEndian.store(stats.bytes, raw.baseAddress!, 0)
            LittleEndian.store(stats.chunks, raw.baseAddress!, 8)
            LittleEndian.store(d.high, raw.baseAddress!, 16)
            LittleEndian.store(d.low, raw.baseAddress!, 24)
        }
        return end
    }

    /// Reads a file chunk again to resend it, and checks that it still has the checksum it was
    /// first sent with.
    func reread(_ chunk: Chunk) throws -> RawBuffer {
        let copy = pool.take()
        do {
            guard try readAndChecksum(chunk, into: copy) == chunk.checksum else {
                throw DWCPError.failure("\(file!.name): bytes \(chunk.offset)..<\(chunk.offset + UInt64(chunk.length)) changed while being sent")
            }
        } catch {
            pool.recycle(copy)
            throw error
        }
        return copy
    }

    /// Reads a file chunk into `buffer` and returns its checksum; throws `.failure` if the file
    /// now ends before the chunk does (it was truncated while being sent).
    func readAndChecksum(_ chunk: Chunk, into buffer: RawBuffer) throws -> UInt64 {
        let file = file!
        buffer.count = try file.readFully(into: buffer.unsafeBase, count: chunk.length, at: fileStart + chunk.offset)
        guard buffer.count == chunk.length else {
            throw DWCPError.failure("\(file.name): ends at byte \(fileStart + chunk.offset + UInt64(buffer.count)), short of the size it had when the transfer started: it shrank while being sent")
        }
        return Checksum.xxh3(buffer.unsafeBase, buffer.count)
    }
}
