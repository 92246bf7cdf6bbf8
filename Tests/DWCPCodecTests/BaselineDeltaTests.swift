@testable import DWCPCodec
import DWCPCore
import DWCPSystem
import XCTest

final class BaselineDeltaTests: XCTestCase {
    /// Round 2 of an image: content moved by an unaligned amount, some pages edited in place,
    /// a run of new bytes inserted.
    func makeRounds() -> (baseline: [UInt8], next: [UInt8]) {
        var gen = TestData(seed: 11)
        let baseline = gen.memoryImage(pages: 800)
        var next = gen.bytes(777) + baseline        // everything shifted by 777 bytes
        for i in stride(from: 10_000, to: next.count - 8, by: 40_000) {   // sparse in-place edits
            next[i] = next[i] &+ 1
            next[i + 5] ^= 0xFF
        }
        next.insert(contentsOf: gen.bytes(5000), at: 1_500_000)
        return (baseline, next)
    }

    func testShiftedAndEditedContentIsFoundInTheBaseline() throws {
        let scratch = Scratch()
        let (baseline, next) = makeRounds()
        let basePath = scratch.write("baseline", baseline)
        let (stream, stats) = try Codec.encode(next, scratch: scratch) { $0.baselinePath = basePath }
        let (plain, _) = try Codec.encode(next, scratch: scratch, name: "plain")
        // Nearly everything is a copy, XOR or zero; only the inserted and prefixed bytes are new.
        XCTAssertGreaterThan(stats.baselineCopyBytes + stats.zeroBytes + stats.duplicateBytes + stats.xorBytes,
                             UInt64(next.count) * 95 / 100, "\(stats)")
        XCTAssertGreaterThan(stats.baselineCopyBytes, UInt64(next.count) / 2)
        XCTAssertLessThan(stream.count * 10, plain.count, "delta should be far smaller than a full round")
        let (output, error) = Codec.decode(stream, scratch: scratch, baseline: basePath)
        XCTAssertNil(error)
        XCTAssertEqual(output, next)
    }

    /// Moved content is counted as moved (the signal dwcp-migrate file stops searching by), and
    /// with the search off it is sent as new bytes: still decoded exactly, never found.
    func testMovedBytesAreCountedAndTheSearchCanBeTurnedOff() throws {
        let scratch = Scratch()
        let (baseline, next) = makeRounds()
        let basePath = scratch.write("baseline", baseline)
        let (_, searched) = try Codec.encode(next, scratch: scratch) { $0.baselinePath = basePath }
        XCTAssertGreaterThan(searched.movedBytes, UInt64(next.count) / 2, "everything shifted by 777 bytes")
        XCTAssertLessThanOrEqual(searched.movedBytes, searched.baselineCopyBytes)
        let (stream, inPlace) = try Codec.encode(next, scratch: scratch) {
            $0.baselinePath = basePath
            $0.searchMoved = false
        }
        XCTAssertEqual(inPlace.movedBytes, 0)
        XCTAssertLessThan(inPlace.baselineCopyBytes, searched.baselineCopyBytes / 4)
        let (output, error) = Codec.decode(stream, scratch: scratch, baseline: basePath)
        XCTAssertNil(error)
        XCTAssertEqual(output, next)

        var unmoved = baseline
        unmoved[5000] ^= 1
        let (_, stayed) = try Codec.encode(unmoved, scratch: scratch) { $0.baselinePath = basePath }
        XCTAssertEqual(stayed.movedBytes, 0, "in-place edits are not moves")
    }

    /// Pages found where the baseline had them never need the anchor index: it is built only
    /// when a page has to be looked for (here, content shifted by 777 bytes).
    func testAnchorIndexIsBuiltOnlyWhenAPageMustBeSearchedFor() throws {
        let scratch = Scratch()
        let (baseline, next) = makeRounds()
        let path = scratch.write("baseline", baseline)
        func encode(_ input: [UInt8]) throws -> (BaselineIndex, FrameContent) {
            let index = BaselineIndex(baseline: try Baseline(opening: path), pageSize: 4096, threads: 2)
            let matcher = DeltaMatcher(index: index, pageSize: 4096)
            var content = FrameContent(literal: RawBuffer(capacity: input.count))
            var shift: Int64 = 0
            try input.withUnsafeBytes { try matcher.encode($0.baseAddress!, start: 0, end: input.count, blockOffset: 0, shift: &shift, into: &content) }
            return (index, content)
        }
        var edited = baseline
        for i in stride(from: 100, to: edited.count, by: 50_000) { edited[i] ^= 0x5A }   // sparse in-place edits
        let (same, sameContent) = try encode(edited)
        XCTAssertFalse(same.isBuilt, "unchanged and edited-in-place pages need no index")
        XCTAssertGreaterThan(sameContent.stats.baselineCopyBytes, UInt64(baseline.count) * 9 / 10)
        let (shifted, shiftedContent) = try encode(next)
        XCTAssertTrue(shifted.isBuilt)
        XCTAssertGreaterThan(shiftedContent.stats.baselineCopyBytes, UInt64(next.count) / 2)
    }

    /// Seeded random rounds: blocks of the baseline moved by any shift, runs inserted and
    /// deleted, bytes edited, pattern fills (including a sampled word repeated) and zero runs,
    /// encoded with one to three threads, pages of 1, 4 or 16 KiB and small frames so blocks
    /// straddle them. Every stream decodes to its input exactly.
    func testRandomRoundsDecodeExactlyAgainstTheirBaseline() throws {
        let scratch = Scratch()
        let sampled = (UInt64(1)...).first { WordSample.selects($0) }!
        var moved: UInt64 = 0
        for seed in UInt64(1)...24 {
            var gen = TestData(seed: 1_000 + seed)
            var baseline = gen.memoryImage(pages: 24 + Int(gen.next() % 40))
            let fill = withUnsafeBytes(of: sampled) { Array($0) }
            baseline += Array([[UInt8]](repeating: fill, count: Int(gen.next() % 2_000)).joined())
            var next: [UInt8] = []
            while next.count < baseline.count {
                switch gen.next() % 6 {
                case 0, 1, 2:   // a block of the baseline, from anywhere (any shift)
                    let length = 1 + Int(gen.next() % 20_000)
                    let from = Int(gen.next() % UInt64(baseline.count))
                    var block = Array(baseline[from..<min(baseline.count, from + length)])
                    if gen.next() % 3 == 0, !block.isEmpty { block[Int(gen.next() % UInt64(block.count))] ^= 0x40 }
                    next += block
                case 3: next += gen.bytes(Int(gen.next() % 3_000))
                case 4: next += [UInt8](repeating: 0, count: Int(gen.next() % 9_000))
                default: next += [UInt8](repeating: UInt8(truncatingIfNeeded: gen.next()), count: Int(gen.next() % 5_000))
                }
            }
            let basePath = scratch.write("baseline", baseline)
            let threads = 1 + Int(seed % 3)
            let (stream, stats) = try Codec.encode(next, scratch: scratch) {
                $0.baselinePath = basePath
                $0.threads = threads
                $0.blockSize = 64 << 10
                $0.pageSize = [4096, 1024, 16384][Int(seed % 3)]
            }
            XCTAssertLessThan(stream.count, next.count / 2, "seed \(seed): \(stats)")
            moved += stats.movedBytes
            let (output, error) = Codec.decode(stream, scratch: scratch, baseline: basePath, threads: threads)
            XCTAssertNil(error, "seed \(seed)")
            XCTAssertEqual(output == next, true, "seed \(seed): \(output.count) bytes decoded of \(next.count)")
        }
        XCTAssertGreaterThan(moved, 0, "the rounds move content, found by its anchors")
    }

    func testDenseInPlaceEditsBecomeXOR() throws {
        let scratch = Scratch()
        var gen = TestData(seed: 12)
        let baseline = gen.bytes(4096 * 64)
        var next = baseline
        for i in stride(from: 0, to: next.count, by: 97) { next[i] = next[i] &+ 3 }  // every page edited
        let basePath = scratch.write("baseline", baseline)
        let (stream, stats) = try Codec.encode(next, scratch: scratch) { $0.baselinePath = basePath }
        XCTAssertGreaterThan(stats.xorBytes, UInt64(next.count) / 2, "\(stats)")
        XCTAssertLessThan(stream.count, next.count / 5)
        XCTAssertEqual(Codec.decode(stream, scratch: scratch, baseline: basePath).output, next)
    }

    /// A database page that gained a row: the bytes after the insertion point move down by the
    /// row's length and the page's last bytes fall off. The XOR with the old page is noise from
    /// the insertion point on, so such a page goes as literal with the old page as zstd reference,
    /// which costs the new row plus a few matches, not half a page.
    func testRowsInsertedInsidePagesAreEncodedAgainstTheOldPage() throws {
        let scratch = Scratch()
        var gen = TestData(seed: 13)
        let pages = 64
        let baseline = gen.bytes(4096 * pages)
        var next: [UInt8] = []
        for p in 0..<pages {
            let page = Array(baseline[(p * 4096)..<((p + 1) * 4096)])
            let at = 1024 + Int(gen.next() % 2048)                 // at least a quarter of the page stays
            let row = gen.bytes(24)
            next += Array((page[..<at] + row + page[at...]).prefix(4096))
        }
        let basePath = scratch.write("baseline", baseline)
        let (stream, stats) = try Codec.encode(next, scratch: scratch) { $0.baselinePath = basePath }
        XCTAssertEqual(stats.xorBytes, 0, "\(stats)")
        // Each page costs its 24 new bytes and a few matches; XOR would cost ~1.5 KiB a page.
        XCTAssertLessThan(stream.count, pages * 200, "\(stats)")
        XCTAssertEqual(Codec.decode(stream, scratch: scratch, baseline: basePath).output, next)
    }

    func testWrongOrMissingBaselineIsRefusedAndNothingIsWritten() throws {
        let scratch = Scratch()
        let (baseline, next) = makeRounds()
        let basePath = scratch.write("baseline", baseline)
        var other = baseline
        other[100] ^= 1
        let otherPath = scratch.write("other", other)
        let (stream, _) = try Codec.encode(next, scratch: scratch) { $0.baselinePath = basePath }

        let wrong = Codec.decode(stream, scratch: scratch, baseline: otherPath)
        XCTAssertEqual((wrong.error as? DWCPError)?.status, .integrity)
        XCTAssertTrue("\(wrong.error!)".contains("wrong baseline"), "\(wrong.error!)")
        XCTAssertEqual(wrong.output, [])

        let missing = Codec.decode(stream, scratch: scratch, baseline: nil)
        XCTAssertEqual((missing.error as? DWCPError)?.status, .usage)
        XCTAssertEqual(missing.output, [])
    }

    /// A caller that knows its baseline's identity (dwcp-migrate: the digest of the round that
    /// made it) spares the pass over the file on both ends. The encode's input digest is that
    /// identity; a known identity that differs from the stream's is refused like a computed one,
    /// and a baseline whose length differs from the identity given is an error, not a stream.
    func testAKnownBaselineIdentityStandsInForTheDigestPass() throws {
        let scratch = Scratch()
        let (baseline, next) = makeRounds()
        let basePath = scratch.write("baseline", baseline)
        let (whole, first) = try Codec.encode(baseline, scratch: scratch, name: "round0")
        XCTAssertEqual(Codec.decode(whole, scratch: scratch).output, baseline)
        let known = BaselineIdentity(length: first.bytesIn, digest: first.inputDigest)
        XCTAssertEqual(known, try Baseline(opening: basePath).identity(), "the round's input digest is its output's identity")

        let (stream, _) = try Codec.encode(next, scratch: scratch) {
            $0.baselinePath = basePath
            $0.baselineIdentity = known
        }
        let decoded = Codec.decode(stream, scratch: scratch, baseline: basePath, identity: known)
        XCTAssertNil(decoded.error)
        XCTAssertEqual(decoded.output, next)

        var stale = known
        stale.digest.low ^= 1
        let refused = Codec.decode(stream, scratch: scratch, baseline: basePath, identity: stale)
        XCTAssertTrue("\(refused.error.map { "\($0)" } ?? "")".contains("wrong baseline"))
        XCTAssertEqual(refused.output, [])

        var short = known
        short.length -= 1
        XCTAssertThrowsError(try Codec.encode(next, scratch: scratch) {
            $0.baselinePath = basePath
            $0.baselineIdentity = short
        })
    }

    /// Page digests of the baseline: built the same whatever pieces the stream comes in, they
    /// name exactly the pages that did not change, an encode that uses them makes the same
    /// stream as one that reads the baseline (given the input's digests too, one that copies
    /// every unchanged page from the baseline: no bigger), and digests that lie (a collision)
    /// are caught by the end digest instead of decoding to wrong bytes.
    func testPageDigestsSpareTheBaselineAndACollisionIsCaught() throws {
        let scratch = Scratch()
        var gen = TestData(seed: 5)
        let baseline = gen.memoryImage(pages: 600) + gen.bytes(1000)
        var next = baseline
        let edited: Set<Int> = [3, 4, 100, 333, 599]
        for page in edited { next[page * 4096 + 17] ^= 0x5A }
        func digests(_ bytes: [UInt8], pieces: [Int], previous: PageDigests?) -> (PageDigests, Set<Int>) {
            let b = PageDigests.Builder(pageSize: 4096, previous: previous)
            var same = Set<Int>()
            var at = 0, k = 0
            bytes.withUnsafeBytes { raw in
                while at < bytes.count {
                    let n = min(pieces[k % pieces.count], bytes.count - at)
                    for r in b.take(raw.baseAddress! + at, n) {
                        XCTAssertEqual((at + r.lowerBound) % 4096, 0)
                        for page in stride(from: at + r.lowerBound, to: at + r.upperBound, by: 4096) { same.insert(page / 4096) }
                    }
                    at += n
                    k += 1
                }
            }
            return (b.finish(), same)
        }
        let (whole, _) = digests(baseline, pieces: [1 << 20], previous: nil)
        let (odd, _) = digests(baseline, pieces: [1000, 70_001, 4096], previous: nil)
        let (_, sameAligned) = digests(next, pieces: [65536], previous: whole)
        XCTAssertEqual(sameAligned, Set(0..<600).subtracting(edited), "every whole unchanged page, nothing else")
        let (_, sameOdd) = digests(next, pieces: [1000, 70_001, 4096], previous: odd)
        XCTAssertTrue(sameOdd.isDisjoint(with: edited))
        XCTAssertGreaterThan(sameOdd.count, 500, "pages split between pieces are left to be compared")

        let basePath = scratch.write("baseline", baseline)
        let (reading, readStats) = try Codec.encode(next, scratch: scratch, name: "reading") { $0.baselinePath = basePath; $0.threads = 1 }
        let (hashing, hashStats) = try Codec.encode(next, scratch: scratch, name: "hashing") {
            $0.baselinePath = basePath
            $0.baselineDigests = whole
            $0.threads = 1
        }
        XCTAssertEqual(hashStats.baselineCopyBytes, readStats.baselineCopyBytes)
        XCTAssertEqual(hashStats.xorBytes, readStats.xorBytes)
        XCTAssertEqual(hashing.count, reading.count)
        XCTAssertEqual(Codec.decode(hashing, scratch: scratch, baseline: basePath).output, next)

        // The input's digests taken from a tap that computes them as the encoder reads (as
        // `dwcp-migrate file` does) instead of hashed again: the same stream, except that the
        // unchanged zero and repeated pages are copies from the baseline too (`BlockPlanner`).
        // Taken from a builder that was fed other bytes (the baseline), they lie, and the end
        // digest refuses the result.
        func encodeTapped(_ name: String, digests builder: PageDigests.Builder, tap: Bool) throws -> ([UInt8], EncodeStats) {
            let input = try FileDescriptor.openForReading(scratch.write(name, next))
            defer { input.close() }
            let output = try FileDescriptor.create(scratch.path(name + ".dwcp"), overwrite: true)
            defer { output.close() }
            let chain = InputChain([input])
            if tap { chain.tap = { p, n in _ = builder.take(p, n) } }
            var c = EncoderConfiguration()
            c.threads = 2
            c.baselinePath = basePath
            c.baselineDigests = whole
            c.inputDigests = builder
            let stats = try StreamEncoder(configuration: c).encode(chain, to: output)
            return (scratch.read(name + ".dwcp"), stats)
        }
        let (tapped, tapStats) = try encodeTapped("tapped", digests: PageDigests.Builder(pageSize: 4096, previous: whole), tap: true)
        let unchangedBytes = UInt64(600 - edited.count) * 4096
        XCTAssertGreaterThanOrEqual(tapStats.baselineCopyBytes, unchangedBytes)
        XCTAssertLessThan(readStats.baselineCopyBytes, unchangedBytes, "the image's zero and repeated pages")
        XCTAssertLessThanOrEqual(tapped.count, reading.count)
        XCTAssertEqual(Codec.decode(tapped, scratch: scratch, baseline: basePath).output, next)
        let stale = PageDigests.Builder(pageSize: 4096, previous: nil)
        baseline.withUnsafeBytes { _ = stale.take($0.baseAddress!, $0.count) }
        let (misled, _) = try encodeTapped("misled", digests: stale, tap: false)
        XCTAssertEqual((Codec.decode(misled, scratch: scratch, baseline: basePath).error as? DWCPError)?.status, .integrity)

        // Digests that claim the new pages were the old ones: the decoder's output is the
        // baseline's pages, and the end digest (over what the encoder read) refuses it.
        let (lying, _) = digests(next, pieces: [1 << 20], previous: nil)
        let (wrong, _) = try Codec.encode(next, scratch: scratch, name: "lying") {
            $0.baselinePath = basePath
            $0.baselineDigests = lying
        }
        let refused = Codec.decode(wrong, scratch: scratch, baseline: basePath)
        XCTAssertNotNil(refused.error)
        XCTAssertEqual((refused.error as? DWCPError)?.status, .integrity, "\(String(describing: refused.error))")
    }

    /// A pre-copy round of an image that did not change, zero and repeated pages and all: with
    /// the baseline's page digests and the input's, every page is one copy run from the
    /// baseline, one op a frame, where without them each stretch of zero or repeated pages was
    /// an op of its own between copies.
    func testAnUnchangedImageIsOneCopyAFrame() throws {
        let scratch = Scratch()
        var gen = TestData(seed: 11)
        let image = gen.memoryImage(pages: 1024)
        let basePath = scratch.write("baseline", image)
        let builder = PageDigests.Builder(pageSize: 4096, previous: nil)
        image.withUnsafeBytes { _ = builder.take($0.baseAddress!, $0.count) }
        let baselineDigests = builder.finish()
        func encode(_ name: String, digests: Bool) throws -> ([UInt8], EncodeStats) {
            let input = try FileDescriptor.openForReading(scratch.write(name, image))
            defer { input.close() }
            let output = try FileDescriptor.create(scratch.path(name + ".dwcp"), overwrite: true)
            defer { output.close() }
            let chain = InputChain([input])
            let tapped = PageDigests.Builder(pageSize: 4096, previous: baselineDigests)
            chain.tap = { p, n in _ = tapped.take(p, n) }
            var c = EncoderConfiguration()
            c.threads = 2
            c.blockSize = 256 << 10
            c.baselinePath = basePath
            if digests {
                c.baselineDigests = baselineDigests
                c.inputDigests = tapped
            }
            let stats = try StreamEncoder(configuration: c).encode(chain, to: output)
            return (scratch.read(name + ".dwcp"), stats)
        }
        let (plain, plainStats) = try encode("plain", digests: false)
        XCTAssertGreaterThan(plainStats.zeroBytes + plainStats.duplicateBytes, 0, "the image has zero and repeated pages")
        let (copied, stats) = try encode("copied", digests: true)
        XCTAssertEqual(stats.baselineCopyBytes, UInt64(image.count))
        XCTAssertEqual(stats.zeroBytes + stats.duplicateBytes + stats.literalBytes + stats.xorBytes, 0)
        // 16 frames of one copy op each: the 56-byte frame header, the 20-byte payload header
        // and a few bytes of op, beside the stream header and the end frame.
        XCTAssertLessThanOrEqual(copied.count, 72 + 16 * (56 + 20 + 8) + 56 + 32)
        XCTAssertLessThan(copied.count, plain.count)
        XCTAssertEqual(Codec.decode(copied, scratch: scratch, baseline: basePath).output, image)
    }

    func testDeltaFramesAreSizedByTheBaseline() {
        let mib: UInt64 = 1 << 20
        XCTAssertEqual(EncoderConfiguration.deltaBlockSize(baselineBytes: 0), 1 << 20)
        XCTAssertEqual(EncoderConfiguration.deltaBlockSize(baselineBytes: 90_000_000), 1 << 20)    // sqlite3
        XCTAssertEqual(EncoderConfiguration.deltaBlockSize(baselineBytes: 256 * mib - 1), 1 << 20)
        XCTAssertEqual(EncoderConfiguration.deltaBlockSize(baselineBytes: 256 * mib), 2 << 20)
        XCTAssertEqual(EncoderConfiguration.deltaBlockSize(baselineBytes: 536_875_008), 4 << 20)   // 512 MiB guest
        XCTAssertEqual(EncoderConfiguration.deltaBlockSize(baselineBytes: 1_105_044_664), 8 << 20) // node
        XCTAssertEqual(EncoderConfiguration.deltaBlockSize(baselineBytes: 1 << 40), 8 << 20)
    }

    /// A literal stretch offers zstd the baseline bytes it resembles and `referenceMargin` on each
    /// side; ranges that overlap or touch merge, others stay in order.
    func testLiteralReferencesWidenByTheMarginAndMerge() {
        let m = FrameContent.referenceMargin
        let page = [UInt8](repeating: 7, count: 4096)
        var content = FrameContent(literal: RawBuffer(capacity: 3 * 4096))
        page.withUnsafeBytes { p in
            content.literal(p.baseAddress!, 4096, resembling: 8192)
            content.literal(p.baseAddress!, 4096, resembling: 12288)
            content.literal(p.baseAddress!, 4096, resembling: 100)
        }
        XCTAssertEqual(content.refs, [BaselineRange(offset: UInt64(8192 - m), length: 2 * 4096 + 2 * m),
                                      BaselineRange(offset: 0, length: 100 + 4096 + m)])
        XCTAssertEqual(content.stats.literalBytes, 3 * 4096)
    }

    /// What is sent (and read back by the decoder) stays inside the baseline and the prefix buffer.
    func testReferenceRangesAreFittedToTheBaselineAndThePrefixRoom() {
        let r = { (o: UInt64, l: Int) in BaselineRange(offset: o, length: l) }
        XCTAssertEqual(BlockEncoder.fitted([r(0, 100), r(900, 300), r(1200, 50)], baselineLength: 1000, room: 1000),
                       [r(0, 100), r(900, 100)])
        XCTAssertEqual(BlockEncoder.fitted([r(0, 100), r(200, 300), r(600, 10)], baselineLength: 10_000, room: 250),
                       [r(0, 100), r(200, 150)])
    }
}
