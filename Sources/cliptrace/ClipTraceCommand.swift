import ArgumentParser
import ClipTraceDecoding
import Logging
import ClipTraceCatalogue
import ClipTraceExtraction
import ClipTraceFingerprint
import ClipTraceHashing
import ClipTraceMatching
import ClipTracePostgres
import ClipTraceScanning
import Foundation

@main
struct ClipTraceCommand: AsyncParsableCommand {
    static let version = "0.2.0"

    static let configuration = CommandConfiguration(
        commandName: "cliptrace",
        abstract: "Prove who owns a video: register clips, then find them inside other recordings.",
        discussion: """
            Register your clips in a catalogue, then scan recordings or whole folders: ClipTrace reports which \
            registered clip appears where, on both timelines, with a score and evidence.

            The catalogue is --catalogue PATH, else $CLIPTRACE_CATALOGUE, else \
            $XDG_DATA_HOME/cliptrace/catalogue.sqlite, else $HOME/.local/share/cliptrace/catalogue.sqlite. Only \
            register creates it; a file that is not a ClipTrace catalogue is refused and never written, and \
            list, info and scan never change it. For many machines it is a PostgreSQL database instead \
            (postgres://USER@HOST:PORT/DATABASE): submit records scan jobs there, workers on any number of \
            machines run them, results prints what they found.

            No path given to ClipTrace is deleted or replaced, except the --output file it was asked to write.

            Exit codes: 0 success; 1 some files could not be processed (the others were); 2 nothing could be \
            done (unusable catalogue, unwritable output); 64 invalid command line.
            """,
        version: version,
        subcommands: [
            FingerprintCommand.self, RegisterCommand.self, ScanCommand.self, CompareCommand.self, ListCommand.self,
            InfoCommand.self, RemoveCommand.self, CheckCommand.self, WatchCommand.self, CatalogueCommand.self,
            MergeCommand.self, SubmitCommand.self, ResultsCommand.self, JobsCommand.self, WorkerCommand.self,
        ]
    )

    /// The arguments as the operating system passed them: a file name that is not valid UTF-8 keeps its bytes
    /// (see ``PathBytes``) instead of being decoded with replacement characters, which would name another file.
    /// When the process started, for the log's "seconds since launch".
    nonisolated(unsafe) static var launched = Date()

    static func main() async {
        launched = Date()
        // A reader that closes its end of a pipe (`| head`) makes writes fail with EPIPE, which ends the command
        // with status 2 and a sentence, instead of killing the process with SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
        let arguments = (1..<Int(CommandLine.argc)).compactMap { index -> String? in
            guard let argument = CommandLine.unsafeArgv[index] else { return nil }
            return PathBytes.string(fromBytes: UnsafeBufferPointer(start: UnsafeRawPointer(argument)
                .assumingMemoryBound(to: UInt8.self), count: strlen(argument)))
        }
        await main(arguments)
    }
}

/// Exit codes documented in `--help` and the README.
enum ExitStatus {
    static let partialFailure = ExitCode(1)
    static let fatal = ExitCode(2)
}

struct CatalogueOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "The catalogue: a SQLite file, or a PostgreSQL database as postgres://USER@HOST:PORT/DATABASE (password from PGPASSWORD or ~/.pgpass).",
        valueName: "PATH|URL"))
    var catalogue: String?

    /// --catalogue, else $CLIPTRACE_CATALOGUE, else the XDG data folder: $XDG_DATA_HOME, else $HOME/.local/share
    /// (the environment's HOME, which a user may point elsewhere, before the password database's).
    var resolvedPath: String {
        if let catalogue { return catalogue }
        let environment = ProcessInfo.processInfo.environment
        if let fromEnvironment = environment["CLIPTRACE_CATALOGUE"], !fromEnvironment.isEmpty { return fromEnvironment }
        let dataHome: String
        if let xdg = environment["XDG_DATA_HOME"], xdg.hasPrefix("/") {
            dataHome = xdg
        } else if let home = environment["HOME"], !home.isEmpty {
            dataHome = (home as NSString).appendingPathComponent(".local/share")
        } else {
            dataHome = (NSHomeDirectory() as NSString).appendingPathComponent(".local/share")
        }
        return (dataHome as NSString).appendingPathComponent("cliptrace/catalogue.sqlite")
    }

    func open(_ access: CatalogueAccess) throws -> any Catalogue {
        // SQLite (through GRDB) takes file names as UTF-8 text: bytes that are not UTF-8 would name another file.
        guard !PathBytes.hasInvalidBytes(resolvedPath) else {
            Terminal.error("The catalogue path \(resolvedPath) is not valid UTF-8, and SQLite takes file names as UTF-8; rename the file or give another name.")
            throw ExitStatus.fatal
        }
        do {
            if PostgresLocation.isURL(resolvedPath) { return try PostgresCatalogue(url: resolvedPath, access: access) }
            return try SQLiteCatalogue(path: resolvedPath, access: access)
        } catch {
            Terminal.error(Terminal.text(ClipScanner.sentence(for: error)))
            throw ExitStatus.fatal
        }
    }
}

extension Catalogue {
    /// How messages name the catalogue: its file, or its URL without secrets.
    var name: String {
        switch self {
        case let file as SQLiteCatalogue: file.path
        case let server as PostgresCatalogue: server.location.description
        case let shard as ShardedCatalogue: "\(shard.base.name) (shard \(shard.shard))"
        default: "the catalogue"
        }
    }

    /// The catalogue's file, when it is one (an output must never replace it).
    var file: String? { (self as? SQLiteCatalogue)?.path ?? (self as? ShardedCatalogue)?.base.file }
}

/// Where and how `scan` and `results` write their records.
struct ReportOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "Output format: jsonl, json, csv or html.")
    var format: ReportFormat = .jsonl

    @Option(name: .shortAndLong, help: ArgumentHelp("Write the report to this file instead of stdout.", valueName: "PATH"))
    var output: String?
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

    static func bootstrap(verbose: Bool, level: Logger.Level = .warning) {
        lock.withLock {
            guard !done else { return }
            done = true
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = verbose ? .debug : level
                return handler
            }
        }
    }
}
