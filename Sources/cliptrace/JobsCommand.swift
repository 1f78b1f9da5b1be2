import ArgumentParser
import ClipTraceCatalogue
import ClipTracePostgres
import ClipTraceScanning
import Foundation

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
