import DWCPCodec
import DWCPCore
import DWCPSystem
import XCTest

/// Streams whose checksums and digests are taken over page digests (`PageListDigest`,
/// docs/FORMAT.md "Page-list checksums"), and a destination that verifies the pages it holds by
/// the digests it keeps instead of reading them.
final class PageListTests: XCTestCase {
    /// The header's version and flag, the round trip, and the end digest, which must be the
    /// baseline identity a later delta against the output names (`Baseline.identity(pageList:)`).
    func testPageListStreamsRoundTripAndTheirDigestIsThePageListIdentity() throws {
        let scratch = Scratch()
        var gen = TestData(seed: 41)
        let image = gen.memoryImage(pages: 300)  // zero and repeated pages: back-references too
        for (name, input) in [("empty", [UInt8]()), ("one", [UInt8(7)]), ("partial", gen.bytes(3 * 4096 + 17)), ("image", image)] {
            for deduplicate in [false, true] {
                let (stream, stats) = try Codec.encode(input, scratch: scratch, name: name) {
                    $0.pageListChecksums = true
                    $0.blockSize = 64 << 10
                    $0.deduplicate = deduplicate
                }
                let header = try stream.withUnsafeBytes { try StreamHeader.decode(UnsafeRawBufferPointer(rebasing: $0[0..<72])) }
                XCTAssertTrue(header.pageListChecksums)
                XCTAssertEqual(stream[5], StreamHeader.pageListMinorVersion)
                XCTAssertEqual(header.window, deduplicate ? 128 << 20 : 0, "no references back without deduplication")
                let decoded = Codec.decode(stream, scratch: scratch)
                XCTAssertNil(decoded.error, "\(name): \(String(describing: decoded.error))")
                XCTAssertEqual(decoded.output, input, name)
                let identity = try Baseline(opening: scratch.path(name)).identity(pageList: 4096)
                XCTAssertEqual(stats.inputDigest, identity.digest, "\(name): the end digest is the output's page-list identity")
                if !input.isEmpty { XCTAssertNotEqual(stats.inputDigest, try Baseline(opening: scratch.path(name)).identity().digest) }
                if name == "image" && deduplicate { XCTAssertGreaterThan(stats.duplicateBytes, 0, "back-references checked in order") }
            }
        }
        // Without the option nothing changes: version 1.1, digests over bytes.
        let (plain, plainStats) = try Codec.encode(image, scratch: scratch, name: "plain")
        XCTAssertEqual(plain[5], StreamHeader.minorVersion)
        XCTAssertEqual(plainStats.inputDigest, try Baseline(opening: scratch.path("plain")).identity().digest)
    }

    /// A page-list stream read as if its checksums were over bytes, or the reverse, fails: the
    /// flag decides how every frame is verified.
    func testTheFlagDecidesHowFramesAreVerified() throws {
        let scratch = Scratch()
        var gen = TestData(seed: 42)
        let input = gen.memoryImage(pages: 40)
        for pageList in [false, true] {
            var (stream, _) = try Codec.encode(input, scratch: scratch) { $0.pageListChecksums = pageList; $0.blockSize = 16 << 10 }
            stream.withUnsafeMutableBytes { raw in
                let p = raw.baseAddress!
                LittleEndian.store(LittleEndian.load(UInt32.self, p, 24) ^ StreamHeader.pageListFlag, p, 24)
                LittleEndian.store(Checksum.xxh3(p, 64), p, 64)
            }
            let (output, error) = Codec.decode(stream, scratch: scratch)
            XCTAssertEqual((error as? DWCPError)?.status, .integrity)
            XCTAssertTrue("\(error!)".contains("decoded checksum mismatch"), "\(error!)")
            XCTAssertEqual(output, [], "no frame verified")
        }
        // A flag this reader does not know is refused before any frame.
        var (stream, _) = try Codec.encode(input, scratch: scratch) { $0.pageListChecksums = true }
        stream.withUnsafeMutableBytes { raw in
            let p = raw.baseAddress!
            LittleEndian.store(LittleEndian.load(UInt32.self, p, 24) | 4, p, 24)
            LittleEndian.store(Checksum.xxh3(p, 64), p, 64)
        }
        let refused = Codec.decode(stream, scratch: scratch)
        XCTAssertTrue("\(refused.error!)".contains("does not know"), "\(refused.error!)")
    }

    /// The destination's case: a delta round against the image it holds, decoded into a sink
    /// with the digests it kept of that image. Pages copied unchanged are verified by those
    /// digests and never read: a page of the file changed behind the digests' back goes unseen
    /// with them and fails the round without them. Digests that lie fail it too, and the
    /// collected digests are the new image's.
    func testTrustedDigestsVerifyUnchangedPagesWithoutReadingThem() throws {
        let scratch = Scratch()
        var gen = TestData(seed: 44)
        var round = try RoundFixture(scratch: scratch, gen: &gen)
        let stream = try round.encode(deduplicate: false)
        let straight = round.receive(stream, trusted: round.held)
        XCTAssertNil(straight.error, "\(String(describing: straight.error))")
        XCTAssertTrue(straight.image == round.next, "the round rebuilt")
        let kept = try XCTUnwrap(straight.stats?.pageDigests)
        let expected = RoundFixture.digests(round.next, previous: nil)
        for page in 0..<round.pages {
            XCTAssertEqual(kept.digest(at: UInt64(page * 4096)), expected.digest(at: UInt64(page * 4096)), "page \(page)")
        }

        // A page of the file that the round leaves unchanged, changed behind the digests' back.
        let untouched = (0..<round.pages).first { p in
            !round.edited.contains(p) && !round.baseline[p * 4096..<(p + 1) * 4096].allSatisfy { $0 == 0 }
        }!
        var altered = round.baseline
        altered[untouched * 4096 + 5] ^= 0xFF
        scratch.write("image", altered)
        let blind = round.receive(stream, trusted: round.held)
        XCTAssertNil(blind.error, "with the digests the page is verified by its digest")
        XCTAssertTrue(blind.handed[untouched * 4096..<(untouched + 1) * 4096] != altered[untouched * 4096..<(untouched + 1) * 4096],
                      "and never read")
        XCTAssertEqual((round.receive(stream, trusted: nil).error as? DWCPError)?.status, .integrity,
                       "without them it is read and caught")
        scratch.write("image", round.baseline)

        // Digests that lie about one unchanged page: the frame's checksum refuses the round.
        let liar = RoundFixture.digests(altered, previous: nil)
        let refused = round.receive(stream, trusted: liar)
        XCTAssertEqual((refused.error as? DWCPError)?.status, .integrity)
        XCTAssertTrue("\(refused.error!)".contains("decoded checksum mismatch"), "\(refused.error!)")

        // Digests of another image are not used at all: the identity they are given with decides.
        let decoder = StreamDecoder()
        decoder.baselinePath = round.basePath
        decoder.baselineIdentity = round.identity
        decoder.trustedBaselineDigests = (BaselineIdentity(length: round.identity.length, digest: Digest128(high: 1, low: 2)), liar)
        let fd = try FileDescriptor.openForReading(stream)
        defer { fd.close() }
        XCTAssertNoThrow(try decoder.decode(fd, prefix: [], into: .sink { _, _, _ in }))
    }

    /// Changed pages that repeat pages the round leaves unchanged, in the same frame and in
    /// earlier ones: with duplicate elimination they are back-references into bytes the decoder
    /// left unread, which it then reads from the baseline.
    func testBackReferencesIntoUnreadPagesReadTheBaseline() throws {
        let scratch = Scratch()
        var gen = TestData(seed: 45)
        var round = try RoundFixture(scratch: scratch, gen: &gen)
        let sources = (0..<round.pages).filter { p in
            !round.edited.contains(p) && Set(round.baseline[p * 4096..<(p + 1) * 4096]).count > 16
        }
        // Each copy lands after its source: 64 pages on (same 256 KiB frame) or 200 on (a later one).
        for (k, source) in sources.prefix(40).enumerated() {
            let target = source + (k % 2 == 0 ? 1 : 200)
            guard target < round.pages, !sources.prefix(40).contains(target) else { continue }
            round.next.replaceSubrange(target * 4096..<(target + 1) * 4096, with: round.baseline[source * 4096..<(source + 1) * 4096])
            round.edited.append(target)
        }
        let stream = try round.encode(deduplicate: true)
        XCTAssertGreaterThan(round.lastStats!.duplicateBytes, 8 * 4096, "the copies are back-references")
        let received = round.receive(stream, trusted: round.held)
        XCTAssertNil(received.error, "\(String(describing: received.error))")
        XCTAssertTrue(received.image == round.next, "the round rebuilt")
        XCTAssertTrue(received.handed != round.next, "some unchanged bytes were left unread")
    }
}

/// A pre-copy round as `dwcp-migrate file` sends it: an image the destination holds, the image
/// now (25 random pages rewritten), the round encoded with the tap's page digests and page-list
/// checksums, and the destination's decode into a sink.
private struct RoundFixture {
    let scratch: Scratch
    let pages = 600
    let baseline: [UInt8]
    var next: [UInt8]
    var edited: [Int] = []
    let basePath: String
    let held: PageDigests
    let identity: BaselineIdentity
    var lastStats: EncodeStats?

    init(scratch: Scratch, gen: inout TestData) throws {
        self.scratch = scratch
        baseline = gen.memoryImage(pages: pages)
        next = baseline
        for _ in 0..<25 {
            let page = Int(gen.next() % UInt64(pages))
            edited.append(page)
            next.replaceSubrange(page * 4096..<(page + 1) * 4096, with: gen.bytes(4096))
        }
        basePath = scratch.write("image", baseline)
        held = Self.digests(baseline, previous: nil)
        identity = try Baseline(opening: basePath).identity(pageList: 4096)
    }

    static func digests(_ bytes: [UInt8], previous: PageDigests?) -> PageDigests {
        let b = PageDigests.Builder(pageSize: 4096, previous: previous)
        bytes.withUnsafeBytes { _ = b.take($0.baseAddress!, $0.count) }
        return b.finish()
    }

    /// Encodes `next` against the image; returns the stream's path.
    mutating func encode(deduplicate: Bool) throws -> String {
        let tap = PageDigests.Builder(pageSize: 4096, previous: held)
        let input = try FileDescriptor.openForReading(scratch.write("next", next))
        defer { input.close() }
        let chain = InputChain([input])
        chain.tap = { p, n in _ = tap.take(p, n) }
        var c = EncoderConfiguration()
        c.threads = 2
        c.blockSize = 256 << 10
        c.deduplicate = deduplicate
        c.baselinePath = basePath
        c.baselineIdentity = identity
        c.baselineDigests = held
        c.inputDigests = tap
        c.pageListChecksums = true
        let path = scratch.path("round.dwcp")
        let out = try FileDescriptor.create(path, overwrite: true)
        defer { out.close() }
        let stats = try StreamEncoder(configuration: c).encode(chain, to: out)
        XCTAssertEqual(stats.inputDigest, try Baseline(opening: scratch.path("next")).identity(pageList: 4096).digest)
        lastStats = stats
        return path
    }

    /// Decodes `stream` into a sink as the destination does: the image it rebuilds (unchanged
    /// ranges taken from what it holds, as its journal does), the bytes it was handed as they
    /// were (unchanged ranges included), and the decoder's result.
    func receive(_ stream: String, trusted: PageDigests?) -> (image: [UInt8], handed: [UInt8], stats: DecodeStats?, error: Error?) {
        var image = baseline
        var handed: [UInt8] = []
        let decoder = StreamDecoder()
        decoder.threads = 2
        decoder.baselinePath = basePath
        decoder.baselineIdentity = identity
        decoder.collectPageDigests = true
        if let trusted { decoder.trustedBaselineDigests = (identity, trusted) }
        let fd = try! FileDescriptor.openForReading(stream)
        defer { fd.close() }
        do {
            let stats = try decoder.decode(fd, prefix: [], into: .sink { p, n, unchanged in
                let offset = handed.count
                handed += UnsafeRawBufferPointer(start: p, count: n)
                var i = 0
                for r in unchanged + [n..<n] {
                    if i < r.lowerBound {
                        image.withUnsafeMutableBytes { ($0.baseAddress! + offset + i).copyMemory(from: p + i, byteCount: r.lowerBound - i) }
                    }
                    i = r.upperBound
                }
            })
            return (image, handed, stats, nil)
        } catch {
            return (image, handed, nil, error)
        }
    }
}
