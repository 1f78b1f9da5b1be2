import ArgumentParser
import ClipTraceCatalogue
import ClipTraceExtraction
import ClipTraceFingerprint
import ClipTraceMatching
import ClipTracePostgres
import ClipTraceScanning
import ClipTraceWorkers
import Foundation
import Logging

extension CatalogueOptions {
    /// The catalogue, which must be on a PostgreSQL server (the job queue lives there).
    func openServer(_ access: CatalogueAccess, for command: String) throws -> PostgresCatalogue {
        guard PostgresLocation.isURL(resolvedPath) else {
            Terminal.error("\(command) needs a catalogue on a PostgreSQL server (--catalogue postgres://USER@HOST:PORT/DATABASE or $CLIPTRACE_CATALOGUE); \(resolvedPath) is a file. On one machine, use cliptrace scan")
            throw ExitStatus.fatal
        }
        guard let catalogue = try open(access) as? PostgresCatalogue else { throw ExitStatus.fatal }
        return catalogue
    }
}

struct SubmitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Queue files for the workers to scan; prints the batch id.",
        discussion: """
            Each PATH is a file or folder on storage that every worker mounts at the same path (folders are expanded \
            here, as scan does), or an http(s) URL that FFmpeg can read. One job per input and shard is recorded in \
            the catalogue's database in one transaction; `cliptrace results BATCH --wait` prints the records scan \
            would print, as the jobs complete.

            --shards defaults to the shard count of the workers running now (1 when none runs).
            """)

    @OptionGroup var catalogueOptions: CatalogueOptions

    @Option(name: .long, help: "Shards each input is scanned against (one job per shard).")
    var shards: Int?

    @Flag(name: .long, help: "Inside folders, skip symbolic links.")
    var noFollow = false

    @Flag(name: .shortAndLong, help: "Print only the batch id.")
    var quiet = false

    @Argument(help: "Video files, folders or http(s) URLs.")
    var inputs: [String]

    func validate() throws {
        if inputs.isEmpty { throw ValidationError("Give at least one file, folder or URL to scan.") }
        if let shards, !(1...1024).contains(shards) { throw ValidationError("--shards must be between 1 and 1024.") }
    }

    func run() throws {
        let catalogue = try catalogueOptions.openServer(.create, for: "submit")
        let queue = JobQueue(catalogue: catalogue)
        var jobs: [JobQueue.Input] = []
        let cwd = FileManager.default.currentDirectoryPath
        var local: [String] = []
        for input in inputs {
            let lower = input.lowercased()
            if lower.hasPrefix("http://") || lower.hasPrefix("https://") {
                jobs.append(JobQueue.Input(input: input, display: input))
            } else {
                local.append(input)
            }
        }
        if !local.isEmpty {
            let expansion = MediaFiles.expansion(of: local, followLinks: !noFollow)
            for (path, reason) in expansion.skipped { Terminal.warning("\(path): \(reason); skipped") }
            for entry in expansion.entries {
                let path: String
                switch entry {
                case .file(let file): path = file
                case .unusable(let file, _): path = file
                }
                let absolute = path.hasPrefix("/") ? path : (cwd as NSString).appendingPathComponent(path)
                jobs.append(JobQueue.Input(input: absolute, display: path))
            }
        }
        if jobs.isEmpty {
            Terminal.error("nothing to submit: no video file among the inputs")
            throw ExitStatus.fatal
        }
        do {
            var shardCount = shards
            let counts = Set(try queue.workers(seenWithin: 60).map(\.shard.count))
            if shardCount == nil {
                if counts.count > 1 {
                    Terminal.error("the running workers disagree on the shard count (\(counts.sorted().map(String.init).joined(separator: ", "))); say which with --shards")
                    throw ExitStatus.fatal
                }
                shardCount = counts.first ?? 1
            }
            if !quiet, !counts.contains(shardCount!) {
                Terminal.warning("no running worker serves \(shardCount!) shard(s) (start cliptrace worker --shard K/\(shardCount!)); the jobs wait until one does")
            }
            let batch = try queue.submit(jobs, shards: shardCount!, submittedBy: "\(ProcessInfo.processInfo.hostName) \(PostgresLocation.loginName())")
            try Terminal.writeResults("\(batch)\n")
            if !quiet {
                Terminal.info("cliptrace: batch \(batch): \(jobs.count) input(s) × \(shardCount!) shard(s) queued; cliptrace results \(batch) --wait")
            }
        } catch {
            Terminal.error(ClipScanner.sentence(for: error))
            throw ExitStatus.fatal
        }
    }
}

struct ResultsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "results",
        abstract: "Print a batch's scan records (the same records scan prints), as its jobs complete.",
        discussion: """
            An input is printed once every shard has scanned it; the shards' matches are merged into the answer a \
            scan against the whole catalogue gives. Without --wait, the inputs finished so far are printed (json \
            and html need the whole batch: use --wait).

            Exit codes: 0 every input was scanned; 1 some inputs could not be scanned (or, without --wait, some are \
            not finished); 2 the catalogue or the output could not be used.
            """)

    @OptionGroup var catalogueOptions: CatalogueOptions

    @Option(name: .shortAndLong, help: "Output format: jsonl, json, csv or html.")
    var format: ReportFormat = .jsonl

    @Option(name: .shortAndLong, help: ArgumentHelp("Write the report to this file instead of stdout.", valueName: "PATH"))
    var output: String?

    @Flag(name: .long, help: "Wait until every job of the batch is done.")
    var wait = false

    @Flag(name: .shortAndLong, help: "No progress line.")
    var quiet = false

    @Argument(help: "The batch id that submit printed.")
    var batch: Int64

    func run() async throws {
        let catalogue = try catalogueOptions.openServer(.read, for: "results")
        let queue = JobQueue(catalogue: catalogue)
        let info: JobQueue.BatchInfo
        do {
            guard let found = try queue.batch(batch) else {
                Terminal.error("there is no batch \(batch) in \(catalogue.name); `cliptrace jobs` lists the batches")
                throw ExitStatus.fatal
            }
            info = found
        } catch let error as CatalogueError {
            Terminal.error(ClipScanner.sentence(for: error))
            throw ExitStatus.fatal
        }
        if !wait, format == .json || format == .html {
            let left = (info.counts[.queued] ?? 0) + (info.counts[.running] ?? 0)
            if left > 0 {
                Terminal.error("batch \(batch) is not finished (\(left) job(s) queued or running); \(format.rawValue) needs every result: add --wait")
                throw ExitStatus.partialFailure
            }
        }
        let sink = try OutputSink.opening(output)
        let writer = ReportWriter(format: format) { try sink.write($0) }
        let progress = ProgressLine(quiet: quiet)
        let started = Date()
        var printed = Set<Int>()
        var failed = 0, matchedFiles = 0, matchCount = 0, seconds = 0.0
        var lastWorkerCheck = Date()
        var transientFailures = 0
        do {
            while true {
                let fetched = Result { () throws(CatalogueError) in try queue.finishedInputs(batch: batch, excluding: printed) }
                guard case .success(let finished) = fetched else {
                    guard case .failure(let error) = fetched, wait, error.code == .cannotOpen, transientFailures < 30 else {
                        _ = try fetched.get()
                        continue
                    }
                    // The server restarting or the network failing for a moment does not end hours of waiting.
                    transientFailures += 1
                    progress.finish()
                    Terminal.warning("\(ClipScanner.sentence(for: error)) Trying again.")
                    try await Task.sleep(for: .seconds(min(10, Double(transientFailures))))
                    continue
                }
                transientFailures = 0
                for position in finished.keys.sorted() {
                    let result = ShardResults.merge(finished[position]!)
                    printed.insert(position)
                    if result.error != nil { failed += 1 }
                    if !result.matches.isEmpty { matchedFiles += 1 }
                    matchCount += result.matches.count
                    seconds += result.duration
                    try writer.write(result)
                    progress.update(done: printed.count, total: info.inputs, current: result.path, secondsOfVideo: seconds)
                }
                if printed.count >= info.inputs || !wait { break }
                if Date().timeIntervalSince(lastWorkerCheck) > 30 {
                    lastWorkerCheck = Date()
                    let serving = (try? queue.workers(seenWithin: 60).filter { $0.shard.count == info.shardCount }.count) ?? 1
                    if serving == 0 {
                        progress.finish()
                        Terminal.warning("no running worker serves this batch's \(info.shardCount) shard(s); start cliptrace worker --shard K/\(info.shardCount)")
                    }
                }
                try await Task.sleep(for: .milliseconds(printed.isEmpty ? 500 : 250))
            }
            progress.finish()
            let clips = (try? catalogue.clips().count) ?? 0
            try writer.finish(summary: ScanSummary(
                files: printed.count, failed: failed, matchedFiles: matchedFiles, matches: matchCount,
                secondsOfVideo: seconds, elapsed: Date().timeIntervalSince(started), catalogue: catalogue.name,
                clips: clips))
            try sink.commit()
        } catch {
            progress.finish()
            sink.abandon()
            Terminal.error(Terminal.sentence(for: error))
            throw ExitStatus.fatal
        }
        if printed.count < info.inputs {
            if !quiet { Terminal.info("cliptrace: batch \(batch): \(printed.count) of \(info.inputs) input(s) finished so far") }
            throw ExitStatus.partialFailure
        }
        if failed > 0 { throw ExitStatus.partialFailure }
    }
}

struct JobsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs", abstract: "Show the job queue: queued, running, done and failed jobs, batches and workers.")

    @OptionGroup var catalogueOptions: CatalogueOptions

    @Option(name: .long, help: "Only this batch.")
    var batch: Int64?

    @Flag(name: .long, help: "One JSON object.")
    var json = false

    func run() throws {
        let catalogue = try catalogueOptions.openServer(.read, for: "jobs")
        let queue = JobQueue(catalogue: catalogue)
        do {
            let counts = try queue.counts(batch: batch)
            let batches = try batch.map { try queue.batch($0).map { [$0] } ?? [] } ?? queue.batches()
            let workers = try queue.workers(seenWithin: 60)
            var text = ""
            if json {
                struct Report: Encodable {
                    var queued, running, done, failed: Int
                    var batches: [[String: Int64]]
                    var workers: [[String: String]]
                }
                let report = Report(
                    queued: counts[.queued] ?? 0, running: counts[.running] ?? 0, done: counts[.done] ?? 0,
                    failed: counts[.failed] ?? 0,
                    batches: batches.map { info in
                        ["id": info.id, "inputs": Int64(info.inputs), "shards": Int64(info.shardCount),
                         "queued": Int64(info.counts[.queued] ?? 0), "running": Int64(info.counts[.running] ?? 0),
                         "done": Int64(info.counts[.done] ?? 0), "failed": Int64(info.counts[.failed] ?? 0)]
                    },
                    workers: workers.map { ["name": $0.name, "shard": $0.shard.description, "host": $0.host] })
                text = try ReportWriter.json(report) + "\n"
            } else {
                text = "queued \(counts[.queued] ?? 0)\trunning \(counts[.running] ?? 0)\tdone \(counts[.done] ?? 0)\tfailed \(counts[.failed] ?? 0)\n"
                if !batches.isEmpty {
                    text += "\nbatch\tinputs\tshards\tqueued\trunning\tdone\tfailed\tsubmitted\n"
                    let formatter = ISO8601DateFormatter()
                    for info in batches {
                        text += "\(info.id)\t\(info.inputs)\t\(info.shardCount)\t\(info.counts[.queued] ?? 0)\t\(info.counts[.running] ?? 0)\t\(info.counts[.done] ?? 0)\t\(info.counts[.failed] ?? 0)\t\(formatter.string(from: info.submittedAt))\n"
                    }
                }
                text += "\nworkers seen in the last minute: \(workers.count)\n"
                for worker in workers {
                    text += "  \(Terminal.text(worker.name))\tshard \(worker.shard)\t\(Terminal.text(worker.host))\n"
                }
            }
            try Terminal.writeResults(text)
        } catch let error as CatalogueError {
            Terminal.error(ClipScanner.sentence(for: error))
            throw ExitStatus.fatal
        }
    }
}

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

struct CatalogueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "catalogue", abstract: "Move a catalogue between SQLite and PostgreSQL.",
        subcommands: [CopyCommand.self])

    struct CopyCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "copy",
            abstract: "Copy every clip of one catalogue into another (SQLite file or postgres:// URL), losslessly.",
            discussion: """
                Each clip keeps its id, title, owner, source, registration date and fingerprint bytes; a clip \
                whose file is already in TO is left as it is there, and a clip whose id is taken in TO by another \
                file gets a new id (said on stderr). FROM is only read; TO is created when missing. Each clip is \
                copied in its own transaction: an interrupted copy run again completes it.
                """)

        @Argument(help: "The catalogue to read.")
        var from: String

        @Argument(help: "The catalogue to copy into.")
        var to: String

        @Flag(name: .shortAndLong, help: "No progress line.")
        var quiet = false

        func run() throws {
            let source = try CatalogueOptions.parse(["--catalogue", from]).open(.read)
            let destination = try CatalogueOptions.parse(["--catalogue", to]).open(.create)
            let progress = ProgressLine(quiet: quiet)
            var copied = 0, present = 0, renumbered = 0, damaged = 0
            do {
                let records = try source.clips()
                var done = 0
                try source.forEachFingerprint(ids: records.map(\.id)) { record, result in
                    done += 1
                    switch result {
                    case .failure(let damage):
                        damaged += 1
                        progress.finish()
                        Terminal.warning("clip \(record.id) \"\(record.title)\" not copied: its fingerprint is damaged (\(damage.problem))")
                    case .success(let fingerprint):
                        let clip = NewClip(title: record.title, owner: record.owner, sourcePath: record.sourcePath,
                                           source: record.source, sha256: record.sha256, size: record.size,
                                           fingerprint: fingerprint)
                        switch try destination.importClip(clip, as: record) {
                        case .registered(let new):
                            copied += 1
                            if new.id != record.id {
                                renumbered += 1
                                progress.finish()
                                Terminal.warning("clip \(record.id) \"\(record.title)\" is clip \(new.id) in \(destination.name): its id was taken")
                            }
                        case .alreadyRegistered:
                            present += 1
                        }
                    }
                    progress.update(done: done, total: records.count, current: record.title, secondsOfVideo: 0)
                }
            } catch {
                progress.finish()
                Terminal.error(ClipScanner.sentence(for: error))
                throw ExitStatus.fatal
            }
            progress.finish()
            if !quiet {
                Terminal.info("cliptrace: copied \(copied) clip(s) from \(source.name) to \(destination.name); \(present) already there, \(renumbered) renumbered, \(damaged) damaged")
            }
            if damaged > 0 { throw ExitStatus.partialFailure }
        }
    }
}

