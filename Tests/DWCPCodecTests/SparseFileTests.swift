import DWCPCodec
import DWCPSystem
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Sparse files both ways. Written (`SparseFileWriter`): writes of any size, zero and data
/// pages mixed at any offset, must read back as the same bytes, and whole zero pages must not
/// be allocated. Read (`InputChain` over `readFullySkippingHoles`): the same bytes as `read(2)`.
final class SparseFileTests: XCTestCase {
    func testRandomWritesReadBackAsTheStreamWithHolesForZeroPages() throws {
        let scratch = Scratch()
        for seed in 1...40 as ClosedRange<UInt64> {
            var gen = TestData(seed: seed)
            var stream = [UInt8]()
            let path = scratch.path("out-\(seed)")
            let fd = try FileDescriptor.create(path, overwrite: true)
            defer { fd.close() }
            // Some seeds start after a prefix written normally: the writer continues there.
            if seed % 3 == 0 { try fd.writeAll(Array("prefix".utf8)); stream += Array("prefix".utf8) }
            let writer = try XCTUnwrap(SparseFileWriter.atEndOf(fd))
            let writes = Int(gen.next() % 12)
            for _ in 0..<writes {
                let count = Int(gen.next() % 30_000)
                let zero = gen.next() % 2 == 0
                let bytes = (0..<count).map { i in zero ? 0 : UInt8(truncatingIfNeeded: gen.next() | UInt64(i & 1)) }
                if !bytes.isEmpty { try bytes.withUnsafeBytes { try writer.write($0.baseAddress!, count: $0.count) } }
                stream += bytes
            }
            try writer.finish()
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), Data(stream), "seed \(seed)")
            XCTAssertEqual(fd.currentOffset, UInt64(stream.count), "the offset is after the stream, as after write(2)")
            // Allocated: at most the file's 4 KiB blocks that hold a non-zero byte, and the
            // zero blocks that one write ended in and the next began (each write sees part).
            var st = stat()
            XCTAssertEqual(stat(path, &st), 0)
            let blocks = (stream.count + 4095) / 4096
            let dataBlocks = (0..<blocks).filter { b in stream[(b * 4096)..<min(stream.count, b * 4096 + 4096)].contains { $0 != 0 } }.count
            XCTAssertLessThanOrEqual(Int(st.st_blocks) * 512, (dataBlocks + writes + 1) * 4096, "seed \(seed)")
            XCTAssertEqual(Int(writer.holeBytes) % 4096, 0)
        }
    }

    /// Reading a sparse file by its holes (`readFullySkippingHoles`, the encoder's input) gives
    /// the same bytes as reading it, in reads of any size, and leaves the offset at the end.
    func testSparseInputReadsAsItsBytes() throws {
        let scratch = Scratch()
        for seed in 1...12 as ClosedRange<UInt64> {
            var gen = TestData(seed: seed)
            let path = scratch.path("sparse-\(seed)")
            let fd = try FileDescriptor.create(path, overwrite: true)
            var expected = [UInt8]()
            for _ in 0..<Int(1 + gen.next() % 8) {
                let gap = Int(gen.next() % 300_000)        // a hole, or zeros within a block
                let data = (0..<Int(gen.next() % 50_000)).map { _ in UInt8(truncatingIfNeeded: gen.next() | 1) }
                expected += [UInt8](repeating: 0, count: gap) + data
                if !data.isEmpty { try data.withUnsafeBytes { try fd.writeAll($0.baseAddress!, count: $0.count, at: UInt64(expected.count - data.count)) } }
            }
            let tail = Int(gen.next() % 200_000)            // ends in a hole
            expected += [UInt8](repeating: 0, count: tail)
            try fd.truncate(to: UInt64(expected.count))
            fd.close()
            let input = try FileDescriptor.openForReading(path)
            defer { input.close() }
            let chain = InputChain([input])
            var got = [UInt8]()
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: 1 << 20, alignment: 64)
            defer { buffer.deallocate() }
            while true {
                let want = Int(1 + gen.next() % 200_000)
                let n = try chain.read(into: buffer, count: want)
                got += UnsafeRawBufferPointer(start: buffer, count: n)
                if n < want { break }
            }
            XCTAssertEqual(got, expected, "seed \(seed)")
            XCTAssertEqual(input.currentOffset, UInt64(expected.count))
        }
    }

    func testOnlyWhereASkippedByteReadsAsZero() throws {
        let scratch = Scratch()
        let path = scratch.path("existing")
        FileManager.default.createFile(atPath: path, contents: Data(repeating: 1, count: 10_000))
        let overwrite = try FileDescriptor.openForWriting(path)
        defer { overwrite.close() }
        XCTAssertNil(SparseFileWriter.atEndOf(overwrite), "bytes of the file lie ahead")
        overwrite.seek(to: 10_000)
        XCTAssertNotNil(SparseFileWriter.atEndOf(overwrite), "at its end nothing lies ahead")
        let append = FileDescriptor(rawValue: open(path, O_WRONLY | O_APPEND), name: path)
        defer { append.close() }
        XCTAssertNil(SparseFileWriter.atEndOf(append), "O_APPEND ignores the offsets of pwrite")
        XCTAssertNil(SparseFileWriter.atEndOf(FileDescriptor(rawValue: open("/dev/null", O_WRONLY), name: "/dev/null")))
    }
}
