import DWCPCodec
import DWCPCore
import DWCPSystem

/// Whether an image `dwcp-migrate receive -o` was building is exactly the round its
/// `RoundRecord` names, checked by reading it whole (`dwcp-migrate recover --verify`).
///
/// `recover` makes the files a complete round by their journal's rules; this proves the result
/// by the bytes. After a crash an operator can tell "the image is round 4 of the migration" from
/// "the image is something else" before restarting anything, and the crash soak
/// (`scripts/soak-image-crash.sh`) checks every kill so. The record's digest is the one the
/// round's stream ended with: over page digests for a round sent with page-list checksums (every
/// `dwcp-migrate file` round since format 1.2), over the bytes for one from an earlier build. The
/// record does not say which, so both are computed in the one pass and either may match (two
/// different 128-bit digests of one file matching by chance is not a case to plan for).
public enum RoundVerification: Equatable, Sendable {
    /// The image holds exactly round `round`'s `bytes` bytes.
    case verified(round: Int, bytes: UInt64)
    /// No record names a round: nothing to check the image against. A finished migration keeps
    /// none (its source heard the final round's verdict), nor does a first round sent raw or as
    /// plain zstd.
    case noRecord
    /// The record names round `round` and the image is not it (`reason` says how).
    case mismatch(round: Int, reason: String)

    /// Reads `files`' image and compares it with its round record; `pageSize` is the page size
    /// of the rounds' page-list checksums (the encoder's, 4096 unless changed).
    public static func check(_ files: ImageFiles, pageSize: Int = EncoderConfiguration().pageSize) throws -> RoundVerification {
        if files.isMarkedIncomplete { return .noRecord }
        // Any valid record, whatever the image's size: a record naming another size is a finding.
        guard let record = RoundRecord.load(from: files.roundRecord) else { return .noRecord }
        let expected = record.identity
        guard let size = FileDescriptor.size(ofFileAt: files.image) else {
            return .mismatch(round: record.round, reason: "\(files.image) cannot be read")
        }
        if files.isDevice ? size < expected.length : size != expected.length {
            return .mismatch(round: record.round, reason: "\(files.image) is \(size) bytes, round \(record.round) is \(expected.length)")
        }
        let found = try Baseline(opening: files.image, length: expected.length).identities(pageSize: pageSize)
        guard found.pageList == expected || found.bytes == expected else {
            return .mismatch(round: record.round, reason: "\(files.image) does not have round \(record.round)'s digest")
        }
        return .verified(round: record.round, bytes: expected.length)
    }
}
