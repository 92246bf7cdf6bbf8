import DWCPCore

/// The messages of the DWCP transport protocol (docs/TRANSPORT.md). Fixed-size little-endian
/// headers, parsed in place; no I/O here.
public enum Wire {
    public static let helloMagic: UInt32 = 0x5054_5744       // "DWTP"
    public static let challengeMagic: UInt32 = 0x4354_5744   // "DWTC"
    public static let welcomeMagic: UInt32 = 0x5754_5744     // "DWTW"
    /// 2: the end digest is over the chunk checksums (`ChunkListDigest`), and HELLO carries the
    /// sender's window; 1 digested the bytes.
    public static let version: UInt8 = 2
    public static let helloLength = 64
    public static let challengeLength = 32
    public static let proofLength = 32
    public static let welcomeLength = 64
    public static let messageHeaderLength = 32
    /// Largest chunk a receiver accepts.
    public static let maxChunk = 16 << 20
    /// Largest `--window` either end accepts: memory held for a transfer is bounded by the
    /// window, and a path needs its bandwidth-delay product (10 Gbit/s over 200 ms is 250 MB).
    public static let maxWindow: UInt64 = 16 << 30
    /// Verdicts a `fin` message carries: the stream matched its length and digest,
    /// it did not, or it matched but the receiving application could not apply it.
    public static let verdictOK: UInt64 = 0
    public static let verdictCorrupt: UInt64 = 1
    public static let verdictRejected: UInt64 = 2
    /// The answer to a `cancel`: the receiver has ended the transfer. It tells the sender its
    /// cancel arrived (a connection the receiver dropped before reading it never carried it).
    public static let verdictCancelled: UInt64 = 3
    /// The receiver was interrupted and ended the transfer (`TransportReceiver.cancel`): its
    /// sender fails at once instead of reconnecting until its resume timeout.
    public static let verdictReceiverInterrupted: UInt64 = 4
    /// What the sender throws for `verdictRejected`, so callers can tell "the receiver refused
    /// the data" (it said so) from "no verdict arrived" (outcome unknown) by comparing errors.
    public static let rejected = DWCPError(.failure, "the receiver got every byte but could not apply them (see its diagnostics)")
    /// What the sender throws when a reconnection finds a receiver that lacks chunks it had
    /// acknowledged: a new receiver process, not the one this transfer started with. An
    /// application that can start the transfer over (`dwcp-migrate file` redoes the round)
    /// compares errors with it.
    public static let receiverRestarted = DWCPError(.network, "the receiver lost chunks it had acknowledged (it was restarted); this transfer cannot continue")
    /// What the sender's handshake throws when the receiver is serving another transfer. The
    /// first connection asks again until `--resume-timeout`: the receiver may be about to finish
    /// that transfer or give it up (`transferAbandoned`).
    public static let receiverBusy = DWCPError(.network, "the receiver is busy with another transfer")
    /// What a receiver fails its transfer with when it gives it up for another: every connection
    /// of the transfer has been gone for `abandonAfter` seconds and a sender that proved the
    /// shared secret starts a new session. Its source was killed or cut off; waiting for it up to
    /// `--idle-timeout` would hold off the source that replaced it. Only an authenticated sender
    /// can do this, so a stranger cannot end a transfer whose connections are briefly down
    /// (`ReceiverConfiguration.abandonsUndeliveredSessions` adds a transfer that delivered nothing).
    public static let transferAbandoned = DWCPError(.network, "this transfer's connections were gone and another sender started a transfer: given up for it")
    /// Seconds a transfer must have had no connection before a new session ends it.
    public static let abandonAfter = 1.0
    /// Longest reason a `cancel` message may carry; a longer one ends the connection before
    /// anything is allocated.
    public static let maxCancelReason = 1024
    /// How long a connection that sent `cancel` waits for the receiver's answer (`fin` 3) before
    /// it takes the cancel for lost.
    public static let cancelDeliverySeconds = 1.0

    /// `release` (header only), both ways: after `fin` 0 the sender asks to keep the connection
    /// for its next transfer, and the receiver answers before it hands the connection on
    /// (`ConnectionPool`). Nothing else follows it on the connection until the next HELLO.
    public static var releaseMessage: [UInt8] {
        var m = [UInt8](repeating: 0, count: messageHeaderLength)
        MessageHeader(kind: .release, length: 0, sequence: 0, offset: 0, checksum: 0).store(to: &m)
        return m
    }

    /// The `cancel` message (header and UTF-8 reason) a sender sends when its own side failed.
    public static func cancelMessage(reason: String) -> [UInt8] {
        var text = Array(reason.utf8)
        if text.count > maxCancelReason {
            // Cut at a character boundary, so the receiver never sees a broken one.
            var cut = reason.prefix(maxCancelReason)
            while cut.utf8.count > maxCancelReason - 3 { cut = cut.dropLast() }
            text = Array((cut + "...").utf8)
        }
        var m = [UInt8](repeating: 0, count: messageHeaderLength)
        MessageHeader(kind: .cancel, length: UInt32(text.count), sequence: 0, offset: 0, checksum: Checksum.xxh3(text)).store(to: &m)
        return m + text
    }

    /// What a receiver fails its transfer with when the sender cancels it.
    public static func cancelledBySender(reason: String) -> DWCPError {
        DWCPError(.failure, cancelledPrefix + reason)
    }

    /// What a sender fails with when its receiver ended the transfer because the receiver's
    /// own side failed (`cancel` from the receiver): a peer error, exit 4.
    public static func cancelledByReceiver(endpoint: String, reason: String) -> DWCPError {
        DWCPError(.network, "\(endpoint): the receiver failed and ended the transfer: \(reason)")
    }

    /// Whether `error` is a transfer its sender cancelled (`cancelledBySender`).
    public static func isCancelledBySender(_ error: Error) -> Bool {
        (error as? DWCPError).map { $0.status == .failure && $0.message.hasPrefix(cancelledPrefix) } ?? false
    }

    private static let cancelledPrefix = "the sender cancelled the transfer: "

    /// A received cancel reason as one printable line: control characters (a hostile sender's
    /// terminal escapes, newlines that would forge diagnostics) become `?`.
    public static func cancelReason(_ bytes: [UInt8]) -> String {
        String(String(decoding: bytes, as: UTF8.self).unicodeScalars.map { $0.properties.generalCategory == .control ? "?" : Character($0) })
    }
}

/// First message of every connection, client to server.
///
///     0 magic "DWTP" | 4 version | 5 flags | 6 stream index u16 | 8 session id (16) |
///     24 client nonce (16) | 40 chunk size u32 | 44 streams u16 | 46 rsvd | 48 sender's window u64 |
///     56 XXH3-64 of 0..<56
public struct Hello: Equatable {
    public static let authFlag: UInt8 = 1
    /// A `dwcp-detect` probe, not a transfer: answered by `ProbeResponder`, never joins a session.
    public static let probeFlag: UInt8 = 2
    /// The sender would keep this connection for its next transfer to the same receiver
    /// (`ConnectionPool`): after a `fin` 0 it sends `release`, and a receiver that answers
    /// `release` hands the connection to its next transfer instead of closing it.
    public static let keepFlag: UInt8 = 4
    public var flags: UInt8
    public var streamIndex: UInt16
    public var session: [UInt8]   // 16
    public var nonce: [UInt8]     // 16
    public var chunkSize: UInt32
    public var streams: UInt16
    /// Most bytes the sender keeps unacknowledged: the receiver acknowledges often enough for it.
    public var window: UInt64

    public init(flags: UInt8, streamIndex: UInt16, session: [UInt8], nonce: [UInt8], chunkSize: UInt32, streams: UInt16, window: UInt64) {
        self.flags = flags
        self.streamIndex = streamIndex
        self.session = session
        self.nonce = nonce
        self.chunkSize = chunkSize
        self.streams = streams
        self.window = window
    }

    public func encoded() -> [UInt8] {
        var b = [UInt8](repeating: 0, count: Wire.helloLength)
        b.withUnsafeMutableBytes { raw in
            let p = raw.baseAddress!
            LittleEndian.store(Wire.helloMagic, p, 0)
            p.storeBytes(of: Wire.version, toByteOffset: 4, as: UInt8.self)
            p.storeBytes(of: flags, toByteOffset: 5, as: UInt8.self)
            LittleEndian.store(streamIndex, p, 6)
            for i in 0..<16 { p.storeBytes(of: session[i], toByteOffset: 8 + i, as: UInt8.self) }
            for i in 0..<16 { p.storeBytes(of: nonce[i], toByteOffset: 24 + i, as: UInt8.self) }
            LittleEndian.store(chunkSize, p, 40)
            LittleEndian.store(streams, p, 44)
            LittleEndian.store(window, p, 48)
            LittleEndian.store(Checksum.xxh3(p, 56), p, 56)
        }
        return b
    }

    public static func decode(_ b: [UInt8]) throws -> Hello {
        guard b.count == Wire.helloLength else { throw DWCPError(.network, "short hello") }
        return try b.withUnsafeBytes { raw in
            let p = raw.baseAddress!
            guard LittleEndian.load(UInt32.self, p, 0) == Wire.helloMagic else { throw DWCPError(.network, "not a DWCP transport client (bad magic)") }
            guard p.load(fromByteOffset: 4, as: UInt8.self) == Wire.version else { throw DWCPError(.network, "unsupported transport version") }
            guard LittleEndian.load(UInt64.self, p, 56) == Checksum.xxh3(p, 56) else { throw DWCPError(.network, "corrupt hello") }
            return Hello(flags: p.load(fromByteOffset: 5, as: UInt8.self), streamIndex: LittleEndian.load(UInt16.self, p, 6),
                         session: Array(b[8..<24]), nonce: Array(b[24..<40]),
                         chunkSize: LittleEndian.load(UInt32.self, p, 40), streams: LittleEndian.load(UInt16.self, p, 44),
                         window: LittleEndian.load(UInt64.self, p, 48))
        }
    }
}

/// Server's answer to a hello: its nonce. `0 magic "DWTC" | 4 nonce (16) | 20 rsvd`
public struct Challenge: Equatable {
    public var nonce: [UInt8]
    public init(nonce: [UInt8]) { self.nonce = nonce }

    public func encoded() -> [UInt8] {
        var b = [UInt8](repeating: 0, count: Wire.challengeLength)
        b.withUnsafeMutableBytes { LittleEndian.store(Wire.challengeMagic, $0.baseAddress!, 0) }
        b.replaceSubrange(4..<20, with: nonce)
        return b
    }

    public static func decode(_ b: [UInt8]) throws -> Challenge {
        guard b.count == Wire.challengeLength,
              b.withUnsafeBytes({ LittleEndian.load(UInt32.self, $0.baseAddress!, 0) }) == Wire.challengeMagic else {
            throw DWCPError(.network, "peer is not a dwcp-recv (bad challenge)")
        }
        return Challenge(nonce: Array(b[4..<20]))
    }
}

/// Server's verdict after the client's proof.
///
///     0 magic "DWTW" | 4 status | 5 rsvd | 8 next expected chunk u64 | 16 window bytes u64 |
///     24 rsvd | 32 server proof (32)
public struct Welcome: Equatable {
    /// The receiver's answer to a handshake.
    public enum Status: UInt8 { case ok = 0, authenticationFailed = 1, busy = 2 }
    public var status: Status
    public var nextExpected: UInt64
    public var window: UInt64
    public var proof: [UInt8]

    public init(status: Status, nextExpected: UInt64, window: UInt64, proof: [UInt8]) {
        self.status = status
        self.nextExpected = nextExpected
        self.window = window
        self.proof = proof
    }

    public func encoded() -> [UInt8] {
        var b = [UInt8](repeating: 0, count: Wire.welcomeLength)
        b.withUnsafeMutableBytes { raw in
            let p = raw.baseAddress!
            LittleEndian.store(Wire.welcomeMagic, p, 0)
            p.storeBytes(of: status.rawValue, toByteOffset: 4, as: UInt8.self)
            LittleEndian.store(nextExpected, p, 8)
            LittleEndian.store(window, p, 16)
        }
        b.replaceSubrange(32..<64, with: proof)
        return b
    }

    public static func decode(_ b: [UInt8]) throws -> Welcome {
        guard b.count == Wire.welcomeLength else { throw DWCPError(.network, "short welcome") }
        return try b.withUnsafeBytes { raw in
            let p = raw.baseAddress!
            guard LittleEndian.load(UInt32.self, p, 0) == Wire.welcomeMagic,
                  let status = Status(rawValue: p.load(fromByteOffset: 4, as: UInt8.self)) else {
                throw DWCPError(.network, "peer is not a dwcp-recv (bad welcome)")
            }
            return Welcome(status: status, nextExpected: LittleEndian.load(UInt64.self, p, 8),
                           window: LittleEndian.load(UInt64.self, p, 16), proof: Array(b[32..<64]))
        }
    }
}

/// Header of a message after the handshake.
///
///     0 type | 1 rsvd (3) | 4 payload length u32 | 8 sequence u64 | 16 offset u64 | 24 XXH3-64 of payload
///
/// Client to server: `data` (a chunk of the stream), `end` (payload: total length u64, chunk
/// count u64, `ChunkListDigest` hi, lo) and `cancel` (payload: a UTF-8 reason). Server to
/// client, header only: `ack` (`sequence` = the next chunk the receiver needs: everything before
/// it is written) and `fin` (`sequence`: one of the `Wire.verdict…` values).
public struct MessageHeader: Equatable {
    /// `cancel` (client to server): the sender's own side failed (its input, or the application
    /// feeding it), so the transfer can never complete; payload: the reason, UTF-8, at most
    /// `Wire.maxCancelReason` bytes.
    public enum Kind: UInt8 { case data = 1, end = 2, ack = 3, fin = 4, ping = 5, burst = 6, burstDone = 7, cancel = 8, release = 9 }
    public var kind: Kind
    public var length: UInt32
    public var sequence: UInt64
    public var offset: UInt64
    public var checksum: UInt64

    public init(kind: Kind, length: UInt32, sequence: UInt64, offset: UInt64, checksum: UInt64) {
        self.kind = kind
        self.length = length
        self.sequence = sequence
        self.offset = offset
        self.checksum = checksum
    }

    public func store(to p: UnsafeMutableRawPointer) {
        p.storeBytes(of: kind.rawValue, toByteOffset: 0, as: UInt8.self)
        for i in 1..<4 { p.storeBytes(of: UInt8(0), toByteOffset: i, as: UInt8.self) }
        LittleEndian.store(length, p, 4)
        LittleEndian.store(sequence, p, 8)
        LittleEndian.store(offset, p, 16)
        LittleEndian.store(checksum, p, 24)
    }

    public static func decode(_ p: UnsafeRawPointer) throws -> MessageHeader {
        guard let kind = Kind(rawValue: p.load(fromByteOffset: 0, as: UInt8.self)) else {
            throw DWCPError(.network, "unknown message type \(p.load(fromByteOffset: 0, as: UInt8.self))")
        }
        let h = MessageHeader(kind: kind, length: LittleEndian.load(UInt32.self, p, 4), sequence: LittleEndian.load(UInt64.self, p, 8),
                              offset: LittleEndian.load(UInt64.self, p, 16), checksum: LittleEndian.load(UInt64.self, p, 24))
        guard Int(h.length) <= Wire.maxChunk else { throw DWCPError(.network, "message length \(h.length) exceeds \(Wire.maxChunk)") }
        return h
    }
}
