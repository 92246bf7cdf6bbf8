// libFuzzer entry point over the DWCP decoder, self-contained streams and deltas against a
// baseline alike. Built by `make fuzz` with `-sanitize=fuzzer,address`; every input must decode
// or fail with a DWCPError, never crash, hang or allocate without bound.
import DWCPCodec
import DWCPCore
import DWCPSystem
#if canImport(Glibc)
import Glibc
#endif

nonisolated(unsafe) private var inputFD: Int32 = -1
nonisolated(unsafe) private var outputFD: Int32 = -1

/// The baseline delta streams decode against (`DWCP_FUZZ_BASELINE`, the file `make fuzz`
/// encodes its delta seeds against), so mutations reach the baseline copies, XORs and literal
/// references with hostile offsets and lengths. Without a baseline a delta stream is refused
/// before its first frame. Its identities (over bytes, and over the 512-byte pages of the seeds
/// with page-list checksums) and its pages' digests are computed once; a stream naming another
/// baseline is refused.
nonisolated(unsafe) private let baseline: (path: String, identity: BaselineIdentity, pageIdentity: BaselineIdentity, pages: PageDigests)? = {
    guard let path = getenv("DWCP_FUZZ_BASELINE").map({ String(cString: $0) }) else { return nil }
    do {
        let b = try Baseline(opening: path)
        var bytes = [UInt8](repeating: 0, count: Int(b.length))
        try bytes.withUnsafeMutableBytes { try b.read(into: $0.baseAddress!, count: $0.count, at: 0) }
        let pages = PageDigests.Builder(pageSize: seedPageSize, previous: nil)
        bytes.withUnsafeBytes { _ = pages.take($0.baseAddress!, $0.count) }
        return (path, try b.identity(), try b.identity(pageList: seedPageSize), pages.finish())
    } catch {
        fatalError("DWCP_FUZZ_BASELINE: \(error)")
    }
}()

/// The page size `make fuzz` encodes its seeds with.
private let seedPageSize = 512

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<Int32>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> Int32) -> Int32

/// Checksums stop a fuzzer at the first frame. Inputs whose last byte is odd are "repaired"
/// first: the stream header's and every frame's header and payload checksums are recomputed, so
/// mutations reach the op parser, the decompressors and the back-reference logic. (The decoded
/// checksum is left alone: it is what must catch a semantically wrong frame.)
func repairChecksums(_ bytes: inout [UInt8]) {
    bytes.withUnsafeMutableBytes { raw in
        guard raw.count >= StreamHeader.encodedLength, let p = raw.baseAddress else { return }
        LittleEndian.store(Checksum.xxh3(p, 64), p, 64)
        var at = StreamHeader.encodedLength
        while at + FrameHeader.encodedLength <= raw.count {
            let h = p + at
            let length = Int(LittleEndian.load(UInt32.self, h, 4))
            let payloadEnd = at + FrameHeader.encodedLength + length
            if payloadEnd <= raw.count {
                LittleEndian.store(Checksum.xxh3(h + FrameHeader.encodedLength, length), h, 32)
            }
            LittleEndian.store(Checksum.xxh3(h, 48), h, 48)
            at = payloadEnd
        }
    }
}

func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    var bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let last = bytes.last, last & 1 == 1 { repairChecksums(&bytes) }
    if inputFD < 0 {
        var template = Array("/tmp/dwcp-fuzz-XXXXXX".utf8CString)
        inputFD = mkstemp(&template)
        unlink(template)
        outputFD = open("/dev/null", O_WRONLY)
    }
    ftruncate(inputFD, 0)
    _ = bytes.withUnsafeBytes { pwrite(inputFD, $0.baseAddress, $0.count, 0) }
    lseek(inputFD, 0, SEEK_SET)
    let decoder = StreamDecoder()
    decoder.threads = 1
    // dwcp-encode -d's setting: whatever follows an end frame is read as the next stream.
    decoder.concatenated = true
    decoder.baselinePath = baseline?.path
    if let baseline {
        decoder.resolveBaseline = { named in (named == baseline.pageIdentity ? baseline.pageIdentity : baseline.identity, nil) }
    }
    // Inputs of odd length decode as `dwcp-migrate receive` decodes a round: into a sink, with
    // the baseline's page digests trusted, so copies left unread are fuzzed too.
    let asRound = size % 2 == 1
    if asRound, let baseline { decoder.trustedBaselineDigests = (baseline.pageIdentity, baseline.pages) }
    let input = FileDescriptor(rawValue: inputFD, name: "fuzz")
    do {
        if asRound {
            _ = try decoder.decode(input, prefix: [], into: .sink { _, _, _ in })
        } else {
            _ = try decoder.decode(input, to: FileDescriptor(rawValue: outputFD, name: "null"))
        }
    } catch is DWCPError {
        // Expected for almost every input.
    } catch {
        fatalError("decoder threw a non-DWCP error: \(error)")
    }
    return 0
}


// libFuzzer's own driver. SwiftPM links an executable's entry point as `<module>_main` (and
// aliases `main` to it); built with -parse-as-library there is no Swift main, so this function is
// that entry point and hands control to libFuzzer.
@_cdecl("DecodeFuzzer_main")
func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv, { data, size in fuzzOneInput(data, size) })
}
