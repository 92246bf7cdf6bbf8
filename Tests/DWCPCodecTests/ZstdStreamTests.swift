import DWCPCodec
import DWCPCore
import DWCPSystem
import XCTest

/// Plain zstd streams (`ZstdStream`): a frame started before its input (a migration's VM stream,
/// whose encoder sets up its tables while QEMU is still in its setup) decodes the same, and
/// `dwcp-encode`'s frames, which start with their first bytes, stay as `zstd` writes them.
final class ZstdStreamTests: XCTestCase {
    func compress(_ input: [UInt8], scratch: Scratch, startBeforeInput: Bool) throws -> [UInt8] {
        let name = startBeforeInput ? "early" : "plain"
        let inFD = try FileDescriptor.openForReading(scratch.write(name, input))
        defer { inFD.close() }
        let outFD = try FileDescriptor.create(scratch.path(name + ".zst"), overwrite: true)
        defer { outFD.close() }
        let stats = try ZstdStream.compress(InputChain([inFD]), to: outFD, level: 6, threads: 1, longWindowLog: 27,
                                            startBeforeInput: startBeforeInput, progress: nil)
        XCTAssertEqual(stats.bytesIn, UInt64(input.count))
        return scratch.read(name + ".zst")
    }

    /// Byte 4 of a zstd frame is its header descriptor: bits 7-6 say how many bytes name the
    /// content size, bit 5 that the frame is one segment (which names it too).
    func namesContentSize(_ frame: [UInt8]) -> Bool {
        frame[4] & 0xE0 != 0
    }

    func testAFrameStartedBeforeItsInputDecodesTheSame() throws {
        let scratch = Scratch()
        var gen = TestData(seed: 41)
        for input in [gen.text(100_000), [], gen.bytes(3 << 20) + gen.text(1 << 20)] {
            let early = try compress(input, scratch: scratch, startBeforeInput: true)
            let plain = try compress(input, scratch: scratch, startBeforeInput: false)
            for stream in [early, plain] {
                let (output, error) = Codec.decode(stream, scratch: scratch)
                XCTAssertNil(error)
                XCTAssertEqual(output, input)
            }
            // Started before anything was read, the frame cannot know its size; a frame begun
            // with a whole small input in hand names it (what `zstd` writes for it).
            XCTAssertFalse(namesContentSize(early), "the frame was not started before its input")
            if input.count <= 100_000 {
                XCTAssertTrue(namesContentSize(plain), "dwcp-encode's small frame lost its content size")
            }
        }
    }

    /// A stream compressed against reference files (`dwcp-migrate qemu --reference`) matches
    /// its copies of them where its frames have a long window and decodes only against the
    /// same files; a frame without the long window does not reference them (its matches could
    /// not reach them) and decodes with or without them.
    func testOnlyFramesWithALongWindowAreCompressedAgainstReferenceFiles() throws {
        let scratch = Scratch()
        var gen = TestData(seed: 43)
        let files = gen.bytes(1 << 20)
        let reference = try ReferenceFiles(paths: [scratch.write("kernel", files)])
        let input = Array(files[(512 << 10)...]) + gen.text(200_000) + Array(files[..<(512 << 10)])
        let inPath = scratch.write("guest", input)
        for longWindowLog in [27, nil] as [Int?] {
            let inFD = try FileDescriptor.openForReading(inPath)
            let outFD = try FileDescriptor.create(scratch.path("guest.zst"), overwrite: true)
            _ = try ZstdStream.compress(InputChain([inFD]), to: outFD, level: 3, threads: 1, longWindowLog: longWindowLog,
                                        startBeforeInput: true, prefix: reference.bytes, progress: nil)
            inFD.close()
            outFD.close()
            let stream = scratch.read("guest.zst")
            let (output, error) = Codec.decode(stream, scratch: scratch, zstdReference: reference)
            XCTAssertNil(error)
            XCTAssertTrue(output == input, "decoded stream differs")
            let (plainOutput, plainError) = Codec.decode(stream, scratch: scratch)
            if longWindowLog != nil {
                XCTAssertLessThan(stream.count, 200_000, "the copies of the file were not matched against it")
                XCTAssertNotNil(plainError, "a stream against the files decoded without them")
            } else {
                XCTAssertGreaterThan(stream.count, 1 << 20, "a frame without the long window matched the files")
                XCTAssertNil(plainError)
                XCTAssertTrue(plainOutput == input)
            }
        }
    }
}
