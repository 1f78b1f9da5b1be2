import ArgumentParser
import ClipTraceCatalogue
import ClipTracePostgres
import ClipTraceScanning
import Foundation

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
