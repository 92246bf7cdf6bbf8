import XCTest
import Glibc
import DWCPCore
import DWCPSystem

/// The in-process pipe between `dwcp-migrate`'s encoder and sender: every byte arrives once and
/// in order whatever the limit does meanwhile, the writer never runs past the limit, reads are
/// whole unless the writer flushed or finished, and a reader that leaves fails the writer.
final class ByteQueueTests: XCTestCase {
    private func pattern(_ count: Int, seed: UInt64) -> [UInt8] {
        var random = SplitMix(seed: seed)
        return (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) }
    }

    func testBytesArriveInOrderWhileTheLimitChanges() throws {
        for seed in UInt64(1)...8 {
            let input = pattern(3 << 20, seed: seed)
            let queue = ByteQueue(name: "test", capacity: 256 << 10, limit: 8 << 10)
            var random = SplitMix(seed: seed &* 31)
            let writes = (0..<64).map { _ in Int(random.next() % 200_000) + 1 }
            var limits = (0..<64).map { _ in Int(random.next() % (300 << 10)) + 1 }
            let writer = OSThread {
                var at = 0
                var turn = 0
                while at < input.count {
                    let n = min(writes[turn % writes.count], input.count - at)
                    input.withUnsafeBytes { try! queue.writeAll($0.baseAddress! + at, count: n) }
                    at += n
                    turn += 1
                }
                queue.closeWriting()
            }
            let changer = OSThread {
                for l in limits {
                    queue.limit = l
                    usleep(200)
                }
            }
            var output: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 50_000)
            var mostQueued = 0
            while true {
                mostQueued = max(mostQueued, queue.queued)
                let n = chunk.withUnsafeMutableBytes { queue.read(into: $0.baseAddress!, count: $0.count) }
                if n == 0 { break }
                output += chunk[..<n]
            }
            writer.join()
            changer.join()
            limits.append(8 << 10)
            XCTAssertTrue(output == input, "seed \(seed): \(output.count) bytes out of \(input.count), or out of order")
            XCTAssertLessThanOrEqual(mostQueued, min(256 << 10, limits.max()!), "seed \(seed): the writer ran past the limit")
        }
    }

    func testReadsAreWholeUnlessFlushedOrEnded() throws {
        let queue = ByteQueue(name: "test", capacity: 1 << 20, limit: 1 << 20)
        var buffer = [UInt8](repeating: 0, count: 4096)
        try queue.writeAll([UInt8](repeating: 1, count: 10_000))
        XCTAssertEqual(buffer.withUnsafeMutableBytes { queue.read(into: $0.baseAddress!, count: 4096) }, 4096)
        XCTAssertEqual(buffer.withUnsafeMutableBytes { queue.read(into: $0.baseAddress!, count: 4096) }, 4096)
        // 1,808 bytes left and no flush: the read waits for more.
        let waited = expectation(description: "short read after the flush")
        var got = -1
        let reader = OSThread {
            got = buffer.withUnsafeMutableBytes { queue.read(into: $0.baseAddress!, count: 4096) }
            waited.fulfill()
        }
        usleep(100_000)
        XCTAssertEqual(got, -1, "a read came back short without a flush")
        queue.flush()
        wait(for: [waited], timeout: 5)
        reader.join()
        XCTAssertEqual(got, 1808)
        // Written after the flush and not flushed: waits again, then the end gives the rest, then 0.
        try queue.writeAll([UInt8](repeating: 2, count: 100))
        queue.closeWriting()
        XCTAssertEqual(buffer.withUnsafeMutableBytes { queue.read(into: $0.baseAddress!, count: 4096) }, 100)
        XCTAssertEqual(buffer.withUnsafeMutableBytes { queue.read(into: $0.baseAddress!, count: 4096) }, 0)
    }

    func testALoweredLimitHoldsTheWriterUntilTheReaderCatchesUp() throws {
        let queue = ByteQueue(name: "test", capacity: 1 << 20, limit: 1 << 20)
        try queue.writeAll([UInt8](repeating: 7, count: 600 << 10))
        queue.limit = 64 << 10
        var wrote = false
        let writer = OSThread {
            try? queue.writeAll([UInt8](repeating: 8, count: 1))
            wrote = true
        }
        usleep(100_000)
        XCTAssertFalse(wrote, "the writer went on with 600 KiB queued and a limit of 64 KiB")
        var buffer = [UInt8](repeating: 0, count: 600 << 10)
        XCTAssertEqual(buffer.withUnsafeMutableBytes { queue.read(into: $0.baseAddress!, count: $0.count) }, 600 << 10)
        writer.join()
        XCTAssertTrue(wrote)
        XCTAssertEqual(queue.queued, 1)
    }

    func testAReaderThatLeavesFailsTheWriter() throws {
        let queue = ByteQueue(name: "test queue", capacity: 64 << 10, limit: 64 << 10)
        var failure: Error?
        let writer = OSThread {
            do { try queue.writeAll([UInt8](repeating: 0, count: 1 << 20)) } catch { failure = error }
        }
        usleep(50_000)
        queue.closeReading()
        writer.join()
        let error = try XCTUnwrap(failure as? SystemError, "a write to a queue nobody reads must fail")
        XCTAssertEqual(error.errno, EPIPE)
    }
}
