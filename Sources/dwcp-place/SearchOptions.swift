import ArgumentParser
import DWCPCLI
import DWCPCore
import DWCPPlace
import DWCPSystem
#if canImport(Glibc)
import Glibc
#endif

/// Options of the batch algorithms shared by placing and evaluating.
struct SearchOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Seed for the item shuffle and the local search (same seed, same result).", valueName: "N"))
    var seed: UInt64 = 1

    @Option(help: ArgumentHelp("Local search steps per attempt to empty a node (0: no local search).", valueName: "N"))
    var searchSteps: Int = 1000

    @Option(help: ArgumentHelp("Nodes the local search tries to empty per level before it stops.", valueName: "N"))
    var searchAttempts: Int = 4

    func check() throws {
        if searchSteps < 0 { throw ValidationError("--search-steps must be 0 or more") }
        if searchAttempts < 1 { throw ValidationError("--search-attempts must be at least 1") }
    }

    func options(deadline: Double?) -> PackingAlgorithm.Options {
        PackingAlgorithm.Options(seed: seed, steps: searchSteps, attempts: searchAttempts, deadline: deadline)
    }
}

/// `--algorithms a,b,c`.
enum AlgorithmList {
    static func parse(_ text: String?) throws -> [PackingAlgorithm]? {
        guard let text else { return nil }
        return try text.split(separator: ",").map {
            guard let a = PackingAlgorithm(rawValue: String($0)) else {
                throw ValidationError("unknown algorithm '\($0)' (\(PackingAlgorithm.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return a
        }
    }
}

/// Finds `.vbp` files under the given paths, in a stable order.
enum InstanceFiles {
    static func find(_ paths: [String]) throws -> [String] {
        var out: [String] = []
        for p in paths {
            var st = stat()
            guard stat(p, &st) == 0 else { throw DWCPError.failure("\(p): \(String(cString: strerror(errno)))") }
            guard (st.st_mode & S_IFMT) == S_IFDIR else {
                out.append(p)
                continue
            }
            // A directory named on purpose and holding nothing is a mistake, not an empty result.
            let found = walk(p)
            if found.isEmpty { throw DWCPError.failure("\(p): no .vbp instance files") }
            out += found
        }
        return out
    }

    private static func walk(_ dir: String) -> [String] {
        guard let d = opendir(dir) else { return [] }
        defer { closedir(d) }
        var files: [String] = []
        var dirs: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name.hasPrefix(".") { continue }
            let path = dir + "/" + name
            if e.pointee.d_type == UInt8(DT_DIR) { dirs.append(path) } else if name.hasSuffix(".vbp") { files.append(path) }
        }
        return files.sorted() + dirs.sorted().flatMap { walk($0) }
    }

    /// `…/class1_20_3_0.vbp` → `class1_20_3_0` (how the bounds table names instances).
    static func name(_ path: String) -> String {
        var base = path.split(separator: "/").last.map(String.init) ?? path
        for ext in [".vbp", ".csv", ".jsonl"] where base.hasSuffix(ext) { base.removeLast(ext.count) }
        return base
    }
}

/// A whole request file as an evaluation instance; any bad line fails the evaluation.
enum RequestFile {
    static func load(_ path: String, space: ResourceSpace, phases: Set<String>?, nodes: [NodeSpec]) throws -> [PreparedRequest] {
        var reader = RequestReader(space: space, phases: phases)
        let cluster = Cluster(space: space, nodes: nodes)
        var out: [PreparedRequest] = []
        for (i, line) in try FileDescriptor.readText(path).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            do {
                if case .place(let r)? = try reader.parse(line) { out.append(try cluster.prepare(r)) }
            } catch let e as PlacementInputError {
                throw PlacementInputError("\(path):\(i + 1): \(e)")
            }
        }
        return out
    }
}
