import DWCPCore
import DWCPSystem

extension LinkProbe {
    /// Pacing of the loss phase, as a fraction of the rate the burst measured: below the
    /// bottleneck, so no queue on the path fills.
    static let lossPacing = 0.8

    /// Loss counted on its own, after the burst measured the rate (`pacedLossSeconds`).
    ///
    /// A burst finds the path's rate by overfilling it: slow start (or BBR's startup) sends up
    /// to twice or three times what the bottleneck takes for a round trip or two, and the
    /// bottleneck's queue drops the excess. Those drops are the probe's own doing, yet counted
    /// over the burst they read as the path's loss: on a clean 100 Mbit/s token bucket, 2 % with
    /// a 1.3 ms round trip (so a metro link was "internet"), 11-13 % with 10 ms, 15 % with
    /// 50 ms. Paced at `lossPacing` of that rate, the path's queues drain and stay empty, and a
    /// segment retransmitted then was lost by the path itself. The first two round trips (as
    /// TCP smooths them, queueing included) only settle: the queue the burst left drains and
    /// its losses are repaired. Then retransmitted ÷ sent segments over `seconds`, after which
    /// the peer's count of the bytes is awaited as after the burst, so the connection can carry
    /// another measurement. Returns nil when that count did not come in time (the connection
    /// then carries no more).
    func pacedLoss(on socket: StreamSocket, bitsPerSecond rate: Double, seconds: Double,
                   block: RawBuffer, header raw: inout [UInt8]) throws -> (loss: Double, reusable: Bool) {
        let bytesPerSecond = rate * Self.lossPacing / 8
        socket.setMaxPacingRate(UInt64(bytesPerSecond))
        defer { socket.setMaxPacingRate(UInt64.max) }
        // About 10 ms of the paced rate may wait unsent: what is left at the end drains at once.
        let unsent = Int(min(Double(block.capacity), max(Double(16 << 10), bytesPerSecond * 0.01)))
        socket.setUnsentLimit(unsent)
        let smoothedRoundTrip = Double(socket.tcpInfo()?.rttMicroseconds ?? 0) / 1e6
        let settle = max(0.02, 2 * smoothedRoundTrip)
        let t0 = MonotonicClock.now()
        var from: (retransmits: UInt32, segments: UInt32)?
        while true {
            let elapsed = MonotonicClock.now() - t0
            if from == nil && elapsed >= settle { from = Self.segmentCounters(socket) }
            if elapsed >= settle + seconds { break }
            if !socket.waitUntilWritable(timeout: min(0.05, settle + seconds - elapsed)) { continue }
            try sendBurst(on: socket, block, length: unsent, header: &raw)
        }
        let loss = Self.loss(on: socket, since: from ?? (0, 0))
        try sendBurstDone(on: socket, header: &raw)
        do {
            try receiveBurstAnswer(on: socket, timeout: max(1, seconds), header: &raw)
            return (loss, true)
        } catch {
            return (loss, false)
        }
    }
}
