import ArgumentParser
import DWCPCore
import DWCPSystem
#if canImport(Glibc)
import Glibc
#endif

/// The `main` every DWCP executable uses: parses, runs, and maps every error to the toolkit's
/// exit-status table (`ExitStatus`) and diagnostic format.
///
/// swift-argument-parser exits 64 on usage errors; DWCP promises 2, so parsing is done here and
/// the mapping is explicit.
public enum CommandMain {
    public static func run<C: ParsableCommand>(_ command: C.Type, arguments: [String]? = nil) -> Never {
        Diagnostics.programName = C.configuration.commandName ?? "dwcp"
        SignalCleanup.install()
        var parsed: ParsableCommand
        do {
            parsed = try C.parseAsRoot(arguments)
        } catch {
            exitForParse(C.self, error)
        }
        do {
            try parsed.run()
            SignalCleanup.awaitInterruptHandler()
            exit(ExitStatus.ok.rawValue)
        } catch let e as DWCPError {
            // The failure an interruption caused is not the news: 128 + the signal is.
            SignalCleanup.awaitInterruptHandler()
            Diagnostics.error(e.message)
            if e.status == .usage { Diagnostics.emit("Try '\(helpCommand(for: type(of: parsed), under: C.self)) --help' for more information.\n") }
            exit(e.status.rawValue)
        } catch let e as SystemError where e.errno == EPIPE && e.what.hasPrefix("\(FileDescriptor.standardOutput.name):") {
            // The reader of standard output went away (`| head`): end quietly, as a process
            // killed by SIGPIPE would. A closed pipe or socket of our own (a decoder that
            // stopped, a QEMU that exited) is an error to report like any other.
            exit(128 + SIGPIPE)
        } catch let e as SystemError {
            SignalCleanup.awaitInterruptHandler()
            Diagnostics.error(e.description)
            exit(ExitStatus.failure.rawValue)
        } catch let e as ExitCode {
            exit(e.rawValue)
        } catch {
            exitForParse(C.self, error)
        }
    }

    private static func exitForParse<C: ParsableCommand>(_ command: C.Type, _ error: Error) -> Never {
        let code = C.exitCode(for: error)
        let message = C.fullMessage(for: error)
        if code == .success {
            // --help, --version, completion scripts: to stdout.
            if !message.isEmpty { try? FileDescriptor.standardOutput.writeAll(message + "\n") }
            exit(0)
        }
        if code.rawValue == 64 {
            let first = message.split(separator: "\n", omittingEmptySubsequences: true).first.map(String.init) ?? message
            let text = first.hasPrefix("Error: ") ? String(first.dropFirst(7)) : first
            Diagnostics.error(text)
            Diagnostics.emit("Try '\(helpCommand(inParserMessage: message)) --help' for more information.\n")
            exit(ExitStatus.usage.rawValue)
        }
        if !message.isEmpty { Diagnostics.error(message) }
        exit(code.rawValue)
    }

    /// The command whose `--help` a usage error points to: the subcommand that was run
    /// (`dwcp-rep keygen`), not only the tool.
    private static func helpCommand(for parsed: ParsableCommand.Type, under root: ParsableCommand.Type) -> String {
        guard parsed != root, let name = parsed.configuration.commandName else { return Diagnostics.programName }
        return "\(Diagnostics.programName) \(name)"
    }

    /// The same for a parse error, taken from the parser's own "See 'dwcp-rep keygen --help'
    /// for more information." line (it knows how far the arguments got).
    private static func helpCommand(inParserMessage message: String) -> String {
        for line in message.split(separator: "\n") {
            guard let open = line.firstRange(of: "See '"), let close = line.firstRange(of: " --help'") else { continue }
            guard open.upperBound <= close.lowerBound else { continue }
            let names = line[open.upperBound..<close.lowerBound]
            if names.hasPrefix(Diagnostics.programName) { return String(names) }
        }
        return Diagnostics.programName
    }
}
