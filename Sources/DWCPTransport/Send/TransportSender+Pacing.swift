import DWCPCore
import DWCPSystem
#if canImport(Glibc)
import Glibc
#endif

/// How many connections (`--streams auto`), how fast (`--max-rate`), and how long a
/// transfer without progress may last (`--resume-timeout`).
extension TransportSender {
    /// `--streams auto`: every second, compare the acknowledged rate with the best so far; while
    /// adding connections keeps raising it by 10% or more, add a quarter more (at least 2), up to
    /// `maxStreams`. One step without gain ends the search (more streams on a saturated link only
    /// add queueing).
    func growStreams() {
        var best = 0.0
        var lastBytes: UInt64 = 0
        var lastTime = MonotonicClock.now()
        pauseUnlessFinished(1)
        while true {
            let (bytes, done): (UInt64, Bool) = lock.withLock { (ackedBytes, failure != nil || finStatus != nil || inputDone) }
            if done { return }
            let now = MonotonicClock.now()
            let rate = Double(bytes - lastBytes) / max(now - lastTime, 1e-3)
            lastBytes = bytes
            lastTime = now
            if rate < best * 1.10 { return }
            best = rate
            let added: Bool = lock.withLock {
                guard streamCount < configuration.maxStreams else { return false }
                addStreams(upTo: streamCount + max(2, streamCount / 4))
                return true
            }
            if !added { return }
            pauseUnlessFinished(1)
        }
    }

    /// Applies a plan made once the transfer was under way (a migration that started before it
    /// knew its link's rate, and measured it on its own first round trips): the window becomes
    /// `window` (narrower or wider, but never wider than the handshake named: the receiver sized
    /// its buffers for that one) and connections are added up to `streams` (none is closed).
    /// Does nothing to a transfer that has ended.
    public func adjust(window: UInt64, streams: Int) {
        lock.withLock {
            windowLimit = max(UInt64(configuration.chunkSize), window)
            if streamCount > 0 && failure == nil && finStatus == nil && cancelling == nil { addStreams(upTo: streams) }
            lock.broadcast()
        }
    }

    /// Switches every connection, and any made from now on, to the congestion control `name`
    /// (`CleanPathSwitch`); a connection that refuses it keeps its own.
    public func setCongestionControl(_ name: String) {
        lock.withLock {
            congestionOverride = name
            for socket in sockets.values { try? socket.setCongestionControl(name) }
            stats.congestionControl = name
        }
    }

    /// Starts connections until there are `target` (at most `maxStreams`). Called with the lock
    /// held.
    func addStreams(upTo target: Int) {
        while streamCount < min(target, configuration.maxStreams) {
            let index = streamCount
            streamCount += 1
            liveStreams += 1
            addedThreads.append(OSThread { [unowned self] in self.streamLoop(index, nil) })
        }
    }

    /// Sleeps `seconds`, waking early when the transfer ends or fails.
    func pauseUnlessFinished(_ seconds: Double) {
        let deadline = MonotonicClock.now() + seconds
        lock.withLock {
            while failure == nil && finStatus == nil && MonotonicClock.now() < deadline { lock.waitForTimer(seconds: deadline - MonotonicClock.now()) }
        }
    }

    /// `--max-rate` over the live connections, re-set every 20 ms: while chunks remain to be
    /// taken each connection is paced at the rate ÷ their number; at the end, only those with
    /// bytes left (unsent in their socket, or a chunk being written) share the rate, and the
    /// others keep rate ÷ all. A fixed share of rate ÷ streams missed the rate both ways: the
    /// last chunks of a transfer sit in a few sockets, each held to its share (8 streams moved
    /// 20 MB at half of `--max-rate 40mbit`), and `--streams auto` added connections, each with
    /// a share of the starting count (6 streams exceeded the same rate by 37 %).
    func pace(_ rate: UInt64) {
        var applied: [Int: (socket: StreamSocket, rate: UInt64)] = [:]
        while true {
            let finished: Bool = lock.withLock {
                if failure == nil && finStatus == nil { lock.waitForTimer(seconds: 0.02) }
                if failure != nil || finStatus != nil { return true }
                // Under the lock: a connection closes its socket only after leaving `sockets`.
                // Until every chunk has been taken, every connection will have bytes again at once
                // (work stealing keeps them busy): an equal share each. Then only those with
                // bytes left share the rate.
                let tail = inputDone && queueHead >= queue.count && retransmit.isEmpty
                var waiting: [Int: Bool] = [:]
                for (index, socket) in sockets { waiting[index] = !tail || carrying.contains(index) || (socket.unsentBytes() ?? 0) > 0 }
                let busy = UInt64(max(1, waiting.values.filter { $0 }.count))
                let idle = UInt64(max(1, streamCount, sockets.count))
                var next: [Int: (socket: StreamSocket, rate: UInt64)] = [:]
                for (index, socket) in sockets {
                    let share = max(1, rate / (waiting[index]! ? busy : idle))
                    if applied[index]?.socket !== socket || applied[index]?.rate != share { socket.setMaxPacingRate(share) }
                    next[index] = (socket, share)
                }
                applied = next
                return false
            }
            if finished { return }
        }
    }

    /// Fails the transfer when the receiver has acknowledged nothing for longer than the resume
    /// timeout (plus a grace period) while data is outstanding: no progress is possible.
    func watchdog() {
        while true {
            let stalled: Int? = lock.withLock {
                // Wakes early when the transfer ends, so joining this thread costs nothing.
                if failure == nil && finStatus == nil { lock.waitForTimer(seconds: 0.2) }
                if failure != nil || finStatus != nil { return nil }
                let waiting = unackedBytes > 0 || (inputDone && endSent)
                return waiting && MonotonicClock.now() - lastAck > configuration.resumeTimeout + 10 ? stats.reconnects - reconnectsAtLastAck : nil
            }
            if let lost = stalled {
                // A chunk cut off with its connection is sent again whole: on a path that drops
                // connections sooner than a chunk crosses it, none ever arrives.
                let hint = lost >= max(2, streamCount)
                    ? " (\(lost) connections were lost meanwhile; a path that drops them this often may need a smaller chunk size than \(configuration.chunkSize >> 10) KiB)" : ""
                fail(DWCPError(.network, "\(configuration.endpoint): no acknowledgement for \(Int(configuration.resumeTimeout + 10)) s; giving up\(hint)"))
            }
            if lock.withLock({ failure != nil || finStatus != nil }) { return }
        }
    }
}
