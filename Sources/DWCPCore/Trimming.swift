extension StringProtocol {
    /// Without leading and trailing spaces.
    public func trimmingSpaces() -> String { trimming([" "]) }

    /// Without leading and trailing characters from `characters` (e.g. `[" ", "\t", "\r"]` for
    /// lines of CSV, TSV or key files written on other systems).
    public func trimming(_ characters: Set<Character>) -> String {
        var s = Substring(self)
        while let f = s.first, characters.contains(f) { s.removeFirst() }
        while let l = s.last, characters.contains(l) { s.removeLast() }
        return String(s)
    }

    /// Padded with spaces on the right to `width` characters (text tables).
    public func padded(to width: Int) -> String {
        count >= width ? String(self) : String(self) + String(repeating: " ", count: width - count)
    }

    /// Padded with spaces on the left to `width` characters (right-aligned table columns).
    public func leftPadded(to width: Int) -> String {
        count >= width ? String(self) : String(repeating: " ", count: width - count) + String(self)
    }
}
