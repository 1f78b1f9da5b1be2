import ArgumentParser
import Logging
import ClipTraceCatalogue
import ClipTraceExtraction
import ClipTraceFingerprint
import ClipTraceHashing
import ClipTraceMatching
import ClipTraceScanning
import Foundation

@main
struct ClipTraceCommand: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "cliptrace",
        abstract: "Prove who owns a video: register clips, then find them inside other recordings.",
        discussion: """
            Register your clips in a catalogue, then scan recordings or whole folders: ClipTrace reports which \
            registered clip appears where, on both timelines, with a score and evidence.

            The catalogue is --catalogue PATH, else $CLIPTRACE_CATALOGUE, else \
            $XDG_DATA_HOME/cliptrace/catalogue.sqlite (~/.local/share/cliptrace/catalogue.sqlite).

            Exit codes: 0 success; 1 some files could not be processed (the others were); 2 nothing could be \
            done (unusable catalogue, unwritable output); 64 invalid command line.
            """,
        version: version,
        subcommands: [
            FingerprintCommand.self, RegisterCommand.self, ScanCommand.self, CompareCommand.self, ListCommand.self,
            InfoCommand.self, RemoveCommand.self,
        ]
    )
}

/// Exit codes documented in `--help` and the README.
enum ExitStatus {
    static let partialFailure = ExitCode(1)
    static let fatal = ExitCode(2)
}

struct CatalogueOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The catalogue file (SQLite).", valueName: "PATH"))
    var catalogue: String?

    var resolvedPath: String {
        if let catalogue { return catalogue }
        if let fromEnvironment = ProcessInfo.processInfo.environment["CLIPTRACE_CATALOGUE"], !fromEnvironment.isEmpty {
            return fromEnvironment
        }
        let environment = ProcessInfo.processInfo.environment
        let dataHome = environment["XDG_DATA_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (NSHomeDirectory() as NSString).appendingPathComponent(".local/share")
        return (dataHome as NSString).appendingPathComponent("cliptrace/catalogue.sqlite")
    }

    func open(create: Bool) throws -> SQLiteCatalogue {
        do {
            return try SQLiteCatalogue(path: resolvedPath, create: create)
        } catch {
            Terminal.error(ClipScanner.sentence(for: error))
            throw ExitStatus.fatal
        }
    }
}

struct OutputOptions: ParsableArguments {
    @Flag(name: .shortAndLong, help: "No progress line.")
    var quiet = false

    @Flag(name: .shortAndLong, help: "Log each file's details on stderr (swift-log, level debug).")
    var verbose = false

    /// A logger for `label`; the first call sets up swift-log for the process (stderr, debug with --verbose).
    func logger(_ label: String) -> Logger {
        Logs.bootstrap(verbose: verbose)
        return Logger(label: label)
    }
}

/// swift-log's stderr handler, set up once per process: quiet (warnings only) unless --verbose.
enum Logs {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var done = false

    static func bootstrap(verbose: Bool) {
        lock.withLock {
            guard !done else { return }
            done = true
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = verbose ? .debug : .warning
                return handler
            }
        }
    }
}
