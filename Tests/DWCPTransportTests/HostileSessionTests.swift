import DWCPCore
import DWCPSystem
@testable import DWCPTransport
import Foundation
import XCTest

/// Seeded hostile senders against a live receiver. Each case is a valid transfer (a random
/// stream cut into chunks, then `end`) sent over one authenticated connection with one thing
/// done to its messages: a field changed, a message dropped, repeated, moved or cut short, bytes
/// flipped, garbage inserted, each with or without its checksum sealed again (anyone can compute
/// an XXH3). Whatever was done, the receiver must end, within its idle timeout, in one of two
/// ways: success with exactly the stream written, or a network or integrity error with no more
/// than a prefix of the stream written, into a file (chunks written at their places) or a pipe
/// (in order). The one exception is a chunk whose bytes were changed and sealed again: a
/// receiver cannot know until the end's digest, so those bytes may be out already; the
/// transfer must still fail.
final class HostileSessionTests: XCTestCase {
    struct Message {
        var header: MessageHeader
        var payload: [UInt8]
        var bytes: [UInt8] {
            var h = [UInt8](repeating: 0, count: Wire.messageHeaderLength)
            header.store(to: &h)
            return h + payload
        }
        mutating func seal() { header.checksum = Checksum.xxh3(payload) }
    }

    enum Mutation: CaseIterable {
        case none, flipPayloadBit, flipPayloadBitSealed, flipHeaderBit, sequence, offset, offsetSealedLength,
             lengthLonger, lengthShorter, kind, drop, duplicate, swap, truncate, garbage, forgedDigest, endCounts

        /// Whether the receiver may write bytes that are not the stream's before it fails.
        var mayWriteForgedBytes: Bool { self == .flipPayloadBitSealed }
        /// Whether the transfer can still be the stream: a bit of a header's reserved bytes, a
        /// chunk sent twice, two chunks in another order.
        var mayStillSucceed: Bool { [.none, .flipHeaderBit, .duplicate, .swap].contains(self) }
    }

    /// A valid transfer: the stream, and its data messages followed by `end`.
    func transfer(_ rng: inout SplitMix) -> (stream: [UInt8], messages: [Message]) {
        let chunks = 1 + Int(rng.next() % 6)
        var stream: [UInt8] = []
        var messages: [Message] = []
        let digest = ChunkListDigest()
        for sequence in 0..<chunks {
            let length = 1 + Int(rng.next() % 3000)
            let payload = (0..<length).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            var m = Message(header: MessageHeader(kind: .data, length: UInt32(length), sequence: UInt64(sequence),
                                                  offset: UInt64(stream.count), checksum: 0), payload: payload)
            m.seal()
            digest.add(m.header.checksum)
            messages.append(m)
            stream += payload
        }
        let d = digest.finalize()
        var end = [UInt8](repeating: 0, count: 32)
        end.withUnsafeMutableBytes { raw in
            LittleEndian.store(UInt64(stream.count), raw.baseAddress!, 0)
            LittleEndian.store(UInt64(chunks), raw.baseAddress!, 8)
            LittleEndian.store(d.high, raw.baseAddress!, 16)
            LittleEndian.store(d.low, raw.baseAddress!, 24)
        }
        var e = Message(header: MessageHeader(kind: .end, length: 32, sequence: 0, offset: 0, checksum: 0), payload: end)
        e.seal()
        return (stream, messages + [e])
    }

    /// The bytes a hostile sender puts on the connection after its handshake.
    func mutate(_ messages: [Message], _ mutation: Mutation, _ rng: inout SplitMix) -> [UInt8] {
        var ms = messages
        let dataCount = ms.count - 1
        let i = Int(rng.next() % UInt64(dataCount))
        func pick(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }
        switch mutation {
        case .none: break
        case .flipPayloadBit, .flipPayloadBitSealed:
            let b = pick(ms[i].payload.count)
            ms[i].payload[b] ^= UInt8(1 << pick(8))
            if mutation == .flipPayloadBitSealed { ms[i].seal() }
        case .flipHeaderBit:
            var bytes = ms[i].bytes
            bytes[pick(Wire.messageHeaderLength)] ^= UInt8(1 << pick(8))
            return (ms[..<i].flatMap(\.bytes)) + bytes + ms[(i + 1)...].flatMap(\.bytes)
        case .sequence:
            ms[i].header.sequence = [ms[i].header.sequence + 1, ms[i].header.sequence &- 1, UInt64.max, 1 << 40][pick(4)]
        case .offset:
            ms[i].header.offset = [ms[i].header.offset + 1, ms[i].header.offset &- 1, UInt64.max - 10, 1 << 62][pick(4)]
        case .offsetSealedLength:
            // A chunk cut short and sealed again: the next one no longer starts where it ends.
            guard ms[i].payload.count > 1 else { break }
            ms[i].payload.removeLast()
            ms[i].header.length -= 1
            ms[i].seal()
        case .lengthLonger:
            ms[i].header.length = [ms[i].header.length + 1, UInt32(Wire.maxChunk), UInt32.max][pick(3)]
        case .lengthShorter:
            ms[i].header.length = UInt32(pick(Int(ms[i].header.length)))
        case .kind:
            ms[i].header = MessageHeader(kind: [.end, .ack, .fin, .ping, .burst, .burstDone, .cancel][pick(7)],
                                         length: ms[i].header.length, sequence: ms[i].header.sequence,
                                         offset: ms[i].header.offset, checksum: ms[i].header.checksum)
        case .drop:
            ms.remove(at: i)
        case .duplicate:
            ms.insert(ms[i], at: i + 1 + pick(ms.count - i))
        case .swap:
            ms.swapAt(i, pick(dataCount))
        case .truncate:
            let bytes = ms.flatMap(\.bytes)
            return Array(bytes[..<pick(bytes.count)])
        case .garbage:
            let at = pick(ms.count)  // before `end`: after it, nothing more is read
            let junk = (0..<(1 + pick(100))).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            return ms[..<at].flatMap(\.bytes) + junk + ms[at...].flatMap(\.bytes)
        case .forgedDigest:
            ms[dataCount].payload[16 + pick(16)] ^= UInt8(1 << pick(8))
            ms[dataCount].seal()
        case .endCounts:
            let field = pick(2) * 8
            ms[dataCount].payload.withUnsafeMutableBytes { raw in
                let v = LittleEndian.load(UInt64.self, raw.baseAddress!, field)
                LittleEndian.store([v + 1, v &- 1, UInt64.max][pick(3)], raw.baseAddress!, field)
            }
            ms[dataCount].seal()
        }
        return ms.flatMap(\.bytes)
    }

    /// Runs one case into a file or a pipe; returns the receiver's result and what it wrote.
    func run(_ bytes: [UInt8], intoFile: Bool, idleTimeout: Double, name: String) throws -> (Result<TransferStats, Error>, [UInt8]) {
        var config = ReceiverConfiguration()
        config.idleTimeout = idleTimeout
        config.handshakeTimeout = 2
        let path = NSTemporaryDirectory() + "hostile-\(getpid())"
        defer { if intoFile { unlink(path) } }
        var pipeEnds: [Int32] = [0, 0]
        let output: FileDescriptor
        if intoFile {
            output = try FileDescriptor.create(path, overwrite: true)
        } else {
            XCTAssertEqual(pipe(&pipeEnds), 0)
            output = FileDescriptor(rawValue: pipeEnds[1], name: "pipe")
        }
        final class Collected: @unchecked Sendable { var bytes: [UInt8] = [] }
        let piped = Collected()
        let drained = DispatchSemaphore(value: 0)
        let readEnd = pipeEnds[0]
        if !intoFile {
            Thread {
                var buffer = [UInt8](repeating: 0, count: 65536)
                while true {
                    let n = read(readEnd, &buffer, buffer.count)
                    if n <= 0 { break }
                    piped.bytes += buffer[..<n]
                }
                close(readEnd)
                drained.signal()
            }.start()
        }
        let receiver = try ReceiverOnAThread(to: output, configuration: config)
        let socket = try StreamSocket.connect(Endpoint(host: "127.0.0.1", port: receiver.port))
        defer { socket.close() }
        _ = try Handshake.client(socket, auth: SessionAuth(secret: nil), session: SessionAuth.nonce(), stream: 0,
                                 chunkSize: 1 << 20, streams: 1)
        try? socket.sendAll(bytes)
        socket.shutdownBoth()
        guard let (result, _) = receiver.wait(timeout: 20) else {
            XCTFail("\(name): the receiver did not end")
            throw DWCPError.failure("hung")
        }
        output.close()
        if intoFile { return (result, Array(FileManager.default.contents(atPath: path) ?? Data())) }
        drained.wait()
        return (result, piped.bytes)
    }

    func testHostileSessionsEndCleanlyWithTheStreamOrAPrefixOfIt() throws {
        var outcomes: [String: Int] = [:]
        for seed in 0..<UInt64(Mutation.allCases.count * 5) {
            var rng = SplitMix(seed: seed &* 0x9E37_79B9)
            let mutation = Mutation.allCases[Int(seed) % Mutation.allCases.count]
            let (stream, messages) = transfer(&rng)
            let bytes = mutate(messages, mutation, &rng)
            let intoFile = seed % 2 == 0
            let name = "seed \(seed), \(mutation), into a \(intoFile ? "file" : "pipe")"
            // A case that must fail mostly ends at the idle timeout (the connection is gone and no
            // sender comes back), so it is short; one that must succeed gets time to, on a busy machine.
            let (result, written) = try run(bytes, intoFile: intoFile, idleTimeout: [.none, .swap, .duplicate].contains(mutation) ? 5 : 0.2, name: name)
            switch result {
            case .success:
                XCTAssertTrue(written == stream, "\(name): succeeded with \(written.count) bytes that are not the \(stream.count) of the stream")
                XCTAssertTrue(mutation.mayStillSucceed || bytes == messages.flatMap(\.bytes), "\(name): succeeded")
                outcomes["ok", default: 0] += 1
            case .failure(let error):
                XCTAssertNotEqual(mutation, .none, "\(name): \(error)")
                let status = (error as? DWCPError)?.status
                XCTAssertTrue(status == .network || status == .integrity, "\(name): \(error)")
                if !mutation.mayWriteForgedBytes {
                    XCTAssertTrue(written.count <= stream.count && written == Array(stream[..<written.count]),
                                  "\(name): failed (\(error)) having written \(written.count) bytes that are not a prefix of the stream")
                }
                outcomes["\(status.map { "\($0)" } ?? "?")", default: 0] += 1
            }
        }
        // Both endings occur: the cases are not all refused before they reach the receiver's rules.
        XCTAssertGreaterThan(outcomes["ok", default: 0], 0, "\(outcomes)")
        XCTAssertGreaterThan(outcomes.count, 2, "\(outcomes)")
    }
}
