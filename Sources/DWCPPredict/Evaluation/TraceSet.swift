import DWCPSystem
#if canImport(Glibc)
import Glibc
#endif

/// A trace file read, parsed and binned: runs of observed bins split at long gaps.
public struct Trace {
    public var path: String
    /// Segments of 1-s bins; `nil` is a bin with no measurement. Split where more than `maxGap`
    /// bins in a row are missing.
    public var segments: [[Double?]]
    public var problems: [SampleProblem]

    public init(path: String, segments: [[Double?]], problems: [SampleProblem]) {
        self.path = path
        self.segments = segments
        self.problems = problems
    }
}

/// Loads the traces of a dataset (a directory, searched recursively for `*.jsonl`) and splits them
/// by session into training and test sets, so a model is never scored on traces it learned from.
public enum TraceSet {
    /// Every `.jsonl` file under `directory`, sorted (deterministic).
    public static func files(in directory: String) -> [String] {
        var out: [String] = []
        guard let dir = opendir(directory) else { return out }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name == "." || name == ".." { continue }
            let path = directory + "/" + name
            var st = stat()
            guard stat(path, &st) == 0 else { continue }
            if (st.st_mode & S_IFMT) == S_IFDIR {
                out += files(in: path)
            } else if name.hasSuffix(".jsonl") {
                out.append(path)
            }
        }
        return out.sorted()
    }

    /// True for the 60% of sessions used for training (FNV-1a of the file name: stable, no state).
    public static func isTraining(_ path: String, percent: Int = 60) -> Bool {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in name.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
        return Int(h % 100) < percent
    }

    /// Reads, parses and bins one trace file. Bad lines are collected as `problems`; a file that
    /// cannot be read, or holds a line over `LineInput.defaultMaxLine`, throws (`LineInput`'s
    /// error, naming the file).
    public static func load(_ path: String, maxGap: Int = 5) throws -> Trace {
        var parser = SampleParser()
        var binner = Binner(holeLimit: maxGap + 1)
        var bins: [Double?] = []
        var problems: [SampleProblem] = []
        try LineInput.read([path]) { _, _, line in
            do {
                if let sample = try parser.parse(line) { bins += binner.add(sample) }
            } catch let p as SampleProblem {
                problems.append(p)
            }
        }
        return Trace(path: path, segments: split(bins, maxGap: maxGap), problems: problems)
    }

    /// Splits at runs of more than `maxGap` missing bins; trims missing bins at segment ends.
    public static func split(_ bins: [Double?], maxGap: Int) -> [[Double?]] {
        var segments: [[Double?]] = []
        var current: [Double?] = []
        var missing = 0
        for b in bins {
            if b == nil {
                missing += 1
                if missing > maxGap, !current.isEmpty {
                    segments.append(current)
                    current = []
                }
                if !current.isEmpty { current.append(nil) }
            } else {
                missing = 0
                current.append(b)
            }
        }
        if !current.isEmpty { segments.append(current) }
        return segments.map { seg in
            var s = seg
            while s.last == .some(nil) { s.removeLast() }
            return s
        }
    }
}
