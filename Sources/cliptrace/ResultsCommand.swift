import ArgumentParser
import ClipTraceCatalogue
import ClipTracePostgres
import ClipTraceScanning
import ClipTraceWorkers
import Foundation

struct ResultsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "results",
        abstract: "Print a batch's scan records (the same records scan prints), as its jobs complete.",
        discussion: """
            An input is printed once every shard has scanned it; the shards' evidence is weighed and aligned \
            together into exactly the answer a scan against the whole catalogue gives. Without --wait, the inputs finished so far are printed (json \
            and html need the whole batch: use --wait).

            Exit codes: 0 every input was scanned; 1 some inputs could not be scanned (or, without --wait, some are \
            not finished); 2 the catalogue or the output could not be used.
            """)

    @OptionGroup var catalogueOptions: CatalogueOptions

    @OptionGroup var report: ReportOptions

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
        if !wait, report.format == .json || report.format == .html {
            let left = (info.counts[.queued] ?? 0) + (info.counts[.running] ?? 0)
            if left > 0 {
                Terminal.error("batch \(batch) is not finished (\(left) job(s) queued or running); \(report.format.rawValue) needs every result: add --wait")
                throw ExitStatus.partialFailure
            }
        }
        let sink = try OutputSink.opening(report.output)
        let writer = ReportWriter(format: report.format) { try sink.write($0) }
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
