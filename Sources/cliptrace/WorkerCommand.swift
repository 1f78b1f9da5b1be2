import ArgumentParser
import ClipTraceCatalogue
import ClipTracePostgres
import ClipTraceScanning
import ClipTraceWorkers
import Foundation
import Logging

struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Scan queued jobs against one shard of a PostgreSQL catalogue, until SIGTERM.",
        discussion: """
            The worker loads its shard's search index (saved under $XDG_CACHE_HOME/cliptrace/index, else \
            ~/.cache/cliptrace/index, and brought up to date with the catalogue), then claims jobs of its shard. A \
            claim is a lease the worker renews; if the worker dies, the job returns to the queue when the lease \
            runs out and another worker scans it. A clip registered while the worker runs is searched by the next \
            job it claims.

            SIGTERM or SIGINT: no new claims; the jobs in hand get --grace seconds to finish, then go back to the \
            queue. A second signal exits at once (the leases then run out).
            """)

    @OptionGroup var catalogueOptions: CatalogueOptions

    @Option(name: .long, help: ArgumentHelp("This worker's shard K of N (clips with id mod N = K-1).", valueName: "K/N"))
    var shard: String = "1/1"

    @Option(name: .shortAndLong, help: "Jobs scanned at once (default: the number of cores).")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(name: .long, help: "Decoder threads per job (0: share the cores out, as scan does).")
    var threads: Int = 0

    @Option(name: .long, help: "Seconds a claimed job stays this worker's without renewal.")
    var lease: Double = 60

    @Option(name: .long, help: "After SIGTERM, seconds the jobs in hand may take to finish before they are given back.")
    var grace: Double = 30

    @Option(name: .long, help: "Longest pause between looks at the queue when no notification arrives (seconds).")
    var pollInterval: Double = 2

    @Option(name: .long, help: "The worker's name in the queue (default: host name and process id; unique).")
    var name: String?

    @Option(name: .long, help: "Give up on one file after this many seconds (0: no limit); it gets an error record.")
    var fileTimeout: Double = 3600

    @OptionGroup var outputOptions: OutputOptions

    func validate() throws {
        if Shard(shard) == nil { throw ValidationError("--shard must be K/N with 1 ≤ K ≤ N, for example 1/4.") }
        if jobs < 1 || jobs > 256 { throw ValidationError("--jobs must be between 1 and 256.") }
        if threads < 0 || threads > 64 { throw ValidationError("--threads must be between 0 and 64.") }
        if !(lease >= 2) { throw ValidationError("--lease must be at least 2 seconds.") }
        if !(grace >= 0) { throw ValidationError("--grace must be zero or more seconds.") }
        if !(pollInterval > 0 && pollInterval <= 3600) { throw ValidationError("--poll-interval must be between 0 and 3600 seconds.") }
    }

    func run() async throws {
        Logs.bootstrap(verbose: outputOptions.verbose, level: outputOptions.quiet ? .warning : .info)
        let logger = Logger(label: "cliptrace.worker")
        let catalogue = try catalogueOptions.openServer(.write, for: "worker")
        var options = WorkerOptions()
        options.shard = Shard(shard)!
        options.jobs = jobs
        options.lease = lease
        options.grace = grace
        options.pollInterval = pollInterval
        if let name { options.name = name }
        options.extraction.decoding.threads = threads
        options.extraction.decoding.timeLimit = fileTimeout > 0 ? fileTimeout : nil
        let worker = ScanWorker(catalogue: catalogue, options: options, logger: logger)
        let signals = StopSignals { worker.stop() }
        do {
            try await worker.run()
        } catch {
            Terminal.error(ClipScanner.sentence(for: error))
            throw ExitStatus.fatal
        }
        withExtendedLifetime(signals) {}
    }
}
