/// Answers, for ranges asked in increasing order, whether one of a list of sorted, disjoint
/// ranges covers each: one pass over the list however many are asked.
///
/// A decoded frame comes with the byte ranges it copied from the baseline at their own offset
/// (`DecodedOutput.sink`); both the decoder's page-list checksum (which takes a covered page's
/// digest from what it knows) and `dwcp-migrate receive`'s journal (which skips comparing a
/// covered page) walk a frame page by page asking this.
public struct RangeCover {
    private let ranges: [Range<Int>]
    private var next = 0

    /// `ranges` sorted and disjoint, as `appendMerging` keeps them.
    public init(_ ranges: [Range<Int>]) {
        self.ranges = ranges
    }

    /// Whether one range covers all of `r`; `r` must not start before the range asked before.
    public mutating func covers(_ r: Range<Int>) -> Bool {
        while next < ranges.count && ranges[next].upperBound <= r.lowerBound { next += 1 }
        return next < ranges.count && ranges[next].lowerBound <= r.lowerBound && r.upperBound <= ranges[next].upperBound
    }
}
