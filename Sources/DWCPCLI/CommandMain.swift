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
            if e.status == .usage { Diagnostics.emit("Try '\(Diagnostics.programName) --help' for more information.\n") }
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
            Diagnostics.emit("Try '\(Diagnostics.programName) --help' for more information.\n")
            exit(ExitStatus.usage.rawValue)
        }
        if !message.isEmpty { Diagnostics.error(message) }
        exit(code.rawValue)
    }
}
