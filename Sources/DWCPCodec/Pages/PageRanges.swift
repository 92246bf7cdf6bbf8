/// Byte ranges of a frame or a read with something in common (copied from the baseline in place,
/// unchanged by digest), kept as few, sorted, non-adjacent runs: callers append them in order.
extension Array where Element == Range<Int> {
    /// Appends `r`, which starts at or after the last range's end, merging it into that range
    /// when they touch.
    mutating func appendMerging(_ r: Range<Int>) {
        if let last = self.last, last.upperBound == r.lowerBound {
            self[count - 1] = last.lowerBound..<r.upperBound
        } else {
            append(r)
        }
    }
}
