import ArgumentParser
import ClipTraceMatching
import ClipTraceScanning
import Foundation

struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Merge the shard scans that `scan --shard K/N --save-shard FILE` saved into one report.",
        discussion: """
            Give one FILE per shard, all made from the same inputs (the same scan command line with --shard 1/N \
            to N/N, on one machine or several). The report is exactly the one `cliptrace scan` prints against the \
            whole catalogue: the steps that look across clips (the closest reference frames per query frame, the \
            weight that falls with the number of clips a moment resembles, the seeded clips) run over every \
            shard's evidence, then the one aligner.

            Exit codes: 0 every input was scanned; 1 some inputs could not be scanned; 2 a file could not be read \
            or the shards' files do not hold the same inputs.
            """)

    @OptionGroup var report: ReportOptions

    @Flag(name: .shortAndLong, help: "No summary line.")
    var quiet = false

    @Argument(help: "One shard scan file per shard.")
    var files: [String]

    func validate() throws {
        if files.isEmpty { throw ValidationError("Give the shard scan file of every shard.") }
    }

    func run() throws {
        var shards: [[ShardScanFile.Entry]] = []
        for file in files {
            do {
                let data = try Data(contentsOf: URL(fileURLWithPath: file))
                shards.append(try ShardScanFile.read(data).sorted { $0.order < $1.order })
            } catch {
                Terminal.error("\(Terminal.text(file)): \(Terminal.sentence(for: error))")
                throw ExitStatus.fatal
            }
        }
        let inputs = shards[0].map { [$0.order: $0.path] }
        for (file, entries) in zip(files, shards) where entries.map({ [$0.order: $0.path] }) != inputs {
            Terminal.error("\(Terminal.text(file)) holds other inputs than \(Terminal.text(files[0])): merge the files of one scan command line run once per shard")
            throw ExitStatus.fatal
        }
        let sink = try OutputSink.opening(report.output, inputs: files)
        let writer = ReportWriter(format: report.format) { try sink.write($0) }
        var failed = 0, matchedFiles = 0, matchCount = 0, seconds = 0.0
        do {
            for (index, first) in shards[0].enumerated() {
                let result = ShardScan.merge(shards.map { $0[index].scan }, path: first.path, order: first.order,
                                             options: MatchingOptions())
                if result.error != nil { failed += 1 }
                if !result.matches.isEmpty { matchedFiles += 1 }
                matchCount += result.matches.count
                seconds += result.duration
                try writer.write(result)
            }
            try writer.finish(summary: ScanSummary(
                files: inputs.count, failed: failed, matchedFiles: matchedFiles, matches: matchCount,
                secondsOfVideo: seconds, elapsed: shards.joined().reduce(0) { $0 + $1.scan.elapsed },
                catalogue: "\(files.count) shard(s)", clips: 0))
            try sink.commit()
        } catch {
            sink.abandon()
            Terminal.error(Terminal.sentence(for: error))
            throw ExitStatus.fatal
        }
        if !quiet {
            Terminal.info(String(format: "merged %d shard(s) of %d file(s): %d match(es) in %d file(s), %d failed",
                                 files.count, inputs.count, matchCount, matchedFiles, failed))
        }
        if failed > 0 { throw ExitStatus.partialFailure }
    }
}
