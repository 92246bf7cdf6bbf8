import DWCPCLI
import DWCPPredict

/// What an image-migration stream is: pre-copy round `n`, the final round, or the source giving up.
///
/// It travels in the DWCP stream's skippable info frame (docs/MIGRATE.md), so a round is still an
/// ordinary DWCP stream that `dwcp-encode -d` can decode.
public struct RoundLabel: Equatable, Sendable {
    /// A pre-copy round, the final round (after the freeze) or an abort (the destination discards its copy).
    public enum Kind: String, Sendable { case round, final, abort }
    public var kind: Kind
    public var round: Int

    public init(kind: Kind, round: Int) {
        self.kind = kind
        self.round = round
    }

    public var json: String {
        var j = JSONLine()
        j.add("dwcp_migrate", kind.rawValue)
        j.add("round", round)
        return j.text
    }

    /// Parses the label out of info-frame JSON; nil if the stream carries none.
    public static func parse(_ infos: [String]) -> RoundLabel? {
        for text in infos {
            guard let object = try? FlatJSON.parse(Substring(text)),
                  case .string(let k)? = object["dwcp_migrate"], let kind = Kind(rawValue: k),
                  case .number(let r)? = object["round"], r >= 0, r < 1e6 else { continue }
            return RoundLabel(kind: kind, round: Int(r))
        }
        return nil
    }
}
