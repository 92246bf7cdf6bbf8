import ArgumentParser
import DWCPCore
import DWCPSystem
#if canImport(Glibc)
import Glibc
#endif

/// `-q`/`-v` and progress control, shared by every command.
public struct VerbosityOptions: ParsableArguments {
    @Flag(name: .shortAndLong, help: "Print errors only.")
    public var quiet = false

    @Flag(name: .shortAndLong, help: "More output: -v adds a summary and progress, -vv debug detail.")
    public var verbose: Int

    @Flag(inversion: .prefixedNo, help: "Force the progress line on or off (default: on when stderr is a terminal).")
    public var progress: Bool?

    public init() {}

    /// Applies the level to `Diagnostics`.
    public func apply() {
        Diagnostics.verbosity = quiet ? 0 : 1 + verbose
    }

    /// Whether to draw a progress line on stderr.
    public var showsProgress: Bool {
        if quiet { return false }
        return progress ?? FileDescriptor.standardError.isTerminal
    }
}

/// Where binary output goes: stdout by default, `-o FILE`, never a terminal, never over an
/// existing file without `-f` (and with it, replacing that file only once the output is
/// complete), and removed again if the command fails or is interrupted.
public struct OutputOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: ArgumentHelp("Write to FILE instead of standard output.", valueName: "FILE"))
    public var output: String?

    @Flag(name: .shortAndLong, help: "Overwrite an existing output file (replaced only once the output is complete); write binary data to a terminal.")
    public var force = false

    public init() {}

    /// Opens the destination. Arms removal of a created file on SIGINT/SIGTERM.
    ///
    /// Refuses a destination that is one of `inputs` (opened inputs, `-` included) or
    /// `readPaths` (files read later, such as a baseline): opening it would truncate it first.
    public func open(inputs: [FileDescriptor] = [], readPaths: [String] = []) throws -> OutputTarget {
        if let path = output, path != "-" {
            try OutputGuard.refuse(path, ifItIsOneOf: inputs, or: readPaths)
            // An existing regular file is replaced whole, by renaming a new file over it once the
            // output is complete: a failed or interrupted run must not cost the old copy. Where
            // no file can be created beside it (only the file is writable, not its directory),
            // it is truncated and written in place, as before.
            var st = stat()
            if force, stat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG,
               case let final = FileDescriptor.resolvedPath(path) ?? path,   // through a symlink, as writing would go
               let (fd, temporary) = try? FileDescriptor.createBeside(final, mode: st.st_mode & 0o7777) {
                SignalCleanup.removeOnInterrupt(temporary)
                return OutputTarget(fd: fd, path: final, removable: true, temporary: temporary)
            }
            let fd = try FileDescriptor.create(path, overwrite: force)
            // Only a regular file we are writing is ours to delete; never /dev/full or a FIFO.
            let removable = fd.sizeIfSeekable() != nil && fd.isRegularFile
            if removable { SignalCleanup.removeOnInterrupt(path) }
            return OutputTarget(fd: fd, path: path, removable: removable)
        }
        if FileDescriptor.standardOutput.isTerminal && !force {
            throw DWCPError.usage("refusing to write binary data to a terminal (redirect stdout, use -o FILE, or -f to force)")
        }
        FileDescriptor.standardOutput.enlargePipeBuffer()
        return OutputTarget(fd: .standardOutput, path: nil, removable: false)
    }
}

extension OutputOptions {
    /// An output that keeps nothing (`/dev/null`), for a command asked only to check its input
    /// (`dwcp-encode -t`).
    public static func discarding() throws -> OutputTarget {
        OutputTarget(fd: try FileDescriptor.create("/dev/null", overwrite: false), path: nil, removable: false)
    }

    /// Opens `-o FILE` for a transfer that outlives this process (`dwcp-recv --resume`): an
    /// existing FILE is continued (`continuing`, its state kept beside it) and opened as it is,
    /// else created under the usual rules. It is never deleted on failure or interrupt: what
    /// was written is what a restarted command continues from.
    public func openResumable(continuing: Bool) throws -> OutputTarget {
        guard let path = output, path != "-" else { throw DWCPError.usage("--resume needs -o FILE") }
        let fd = continuing ? try FileDescriptor.openForWriting(path) : try FileDescriptor.create(path, overwrite: force)
        guard fd.isRegularFile else {
            fd.close()
            throw DWCPError.usage("\(path): --resume needs a regular file")
        }
        return OutputTarget(fd: fd, path: path, removable: false)
    }
}

/// Keeps an output from destroying an input: `dwcp-encode img -o img -f` would truncate `img`
/// before reading it, and a failed run would then delete what is left.
public enum OutputGuard {
    /// Throws a usage error if `output` names the same file or block device as any of `inputs`
    /// or `paths` (by device and inode, so symlinks, hard links and `-` are caught too).
    public static func refuse(_ output: String, ifItIsOneOf inputs: [FileDescriptor] = [], or paths: [String] = []) throws {
        guard let target = StorageIdentity(path: output) else { return }
        let clash = inputs.contains { $0.storageIdentity == target }
            || paths.contains { ($0 == "-" ? FileDescriptor.standardInput.storageIdentity : StorageIdentity(path: $0)) == target }
        if clash { throw DWCPError.usage("\(output): is also an input; refusing to overwrite it") }
    }

    /// A text output (`-o` of `dwcp-rep`, `dwcp-place`): `path` created or truncated, unless it
    /// is one of the files in `reading`; standard output without a path.
    public static func openText(_ path: String?, reading: [String]) throws -> FileDescriptor {
        guard let path else { return .standardOutput }
        try refuse(path, or: reading)
        return try FileDescriptor.create(path, overwrite: true)
    }
}

/// An opened output: finish it on success, abandon it (delete a partial file) on failure.
public struct OutputTarget {
    public let fd: FileDescriptor
    public let path: String?
    /// A regular file this command created or truncated, so deleting it on failure is right.
    public let removable: Bool
    /// Where the bytes go until `commit` renames them over `path` (replacing an existing file).
    let temporary: String?
    private let state = State()

    /// `closed` is set once the descriptor is closed (by `finish`, even when close failed: Linux
    /// releases the number either way), so `abandon` never closes a number another open may have
    /// reused; `committed` once the output has its final name.
    private final class State: @unchecked Sendable {
        var closed = false
        var committed = false
    }

    init(fd: FileDescriptor, path: String?, removable: Bool, temporary: String? = nil) {
        self.fd = fd
        self.path = path
        self.removable = removable
        self.temporary = temporary
    }

    /// Gives a complete output its name and keeps it from removal on interrupt: a file written
    /// beside the one it replaces is renamed over it now. Called by `finish`, or earlier by a
    /// receiver whose sender is about to hear that the data arrived.
    public func commit() throws {
        guard path != nil, !state.committed else { return }
        if let temporary, let path {
            try renameDurably(temporary, path)
        }
        // After the rename: an interrupt in between unlinks a name that no longer exists.
        SignalCleanup.removeOnInterrupt(nil)
        state.committed = true
    }

    /// Closes a file output and commits it. Errors from close are reported (the caller then
    /// abandons the output: a failed close may have lost written data).
    public func finish() throws {
        guard path != nil else { return }
        state.closed = true
        if Glibc.close(fd.rawValue) != 0 {
            throw DWCPError.failure("\(fd.name): close: \(String(cString: strerror(errno)))")
        }
        try commit()
    }

    /// Writes a `--json` summary line where the toolkit's convention puts it: standard output when
    /// the data went to a file, standard error when standard output carries the data. A summary
    /// that cannot be written to standard output is an error (a script reading it must not see
    /// nothing and a success).
    public func emitJSON(_ line: JSONLine) throws {
        if path != nil {
            try FileDescriptor.standardOutput.writeAll(line.text + "\n")
        } else {
            Diagnostics.emit(line.text + "\n")
        }
    }

    /// Removes a partially written file; a file that was to replace another is removed and the
    /// other is left as it was.
    public func abandon() {
        guard let path else { return }
        SignalCleanup.removeOnInterrupt(nil)
        if !state.closed {
            state.closed = true
            fd.close()
        }
        if let temporary, !state.committed {
            unlink(temporary)
        } else if removable {
            unlink(path)
        }
    }
}

/// Opens the inputs named on the command line: none or `-` is standard input, which must not be a
/// terminal for binary input unless forced.
public enum InputFiles {
    public static func open(_ paths: [String], force: Bool) throws -> [FileDescriptor] {
        let list = paths.isEmpty ? ["-"] : paths
        return try list.map { path in
            if path == "-" {
                if FileDescriptor.standardInput.isTerminal && !force {
                    throw DWCPError.usage("refusing to read binary data from a terminal (redirect stdin or name a file)")
                }
                FileDescriptor.standardInput.enlargePipeBuffer()
                return .standardInput
            }
            return try FileDescriptor.openForReading(path)
        }
    }
}
