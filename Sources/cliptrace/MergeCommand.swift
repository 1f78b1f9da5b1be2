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

    @Option(name: .long, help: "Ignore matches shorter than this many seconds of the query.")
    var minDuration: Double = MatchingOptions().minimumDuration

    @Option(name: .long, help: "Ignore matches scoring below this (0-1).")
    var minScore: Double = MatchingOptions().minimumScore

    @Flag(name: .shortAndLong, help: "No summary line.")
    var quiet = false

    @Argument(help: "One shard scan file per shard.")
    var files: [String]

    func validate() throws {
        if files.isEmpty { throw ValidationError("Give the shard scan file of every shard.") }
        if !(minDuration >= 0) { throw ValidationError("--min-duration must be zero or more seconds.") }
        if !(0...1).contains(minScore) { throw ValidationError("--min-score must be between 0 and 1.") }
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
        // Each shard of one cut exactly once: a file twice, or shards of two cuts, would count clips twice.
        let cuts = shards.map { $0.first?.scan.shard ?? .whole }
        let count = cuts[0].count
        guard cuts.allSatisfy({ $0.count == count }), Set(cuts.map(\.index)).count == cuts.count else {
            Terminal.error("the files are not shards of one cut, each once (\(cuts.map(\.description).joined(separator: ", "))): give the file of every shard 1/N to N/N")
            throw ExitStatus.fatal
        }
        guard cuts.count == count || shards[0].isEmpty else {
            let missing = (0..<count).filter { index in !cuts.contains { $0.index == index } }
            Terminal.error("the files of shard(s) \(missing.map { "\($0 + 1)/\(count)" }.joined(separator: ", ")) are missing: the merge of some shards is not the whole catalogue's answer")
            throw ExitStatus.fatal
        }
        var options = MatchingOptions()
        options.minimumDuration = minDuration
        options.minimumScore = minScore
        // Never written over a shard file or one of the inputs they name.
        let sink = try OutputSink.opening(report.output, inputs: files + shards[0].map(\.path))
        let writer = ReportWriter(format: report.format) { try sink.write($0) }
        var failed = 0, matchedFiles = 0, matchCount = 0, seconds = 0.0
        do {
            for (index, first) in shards[0].enumerated() {
                let result = ShardScan.merge(shards.map { $0[index].scan }, path: first.path, order: first.order,
                                             options: options)
                if result.error != nil { failed += 1 }
                if !result.matches.isEmpty { matchedFiles += 1 }
                matchCount += result.matches.count
                seconds += result.duration
                try writer.write(result)
            }
            try writer.finish(summary: ScanSummary(
                files: inputs.count, failed: failed, matchedFiles: matchedFiles, matches: matchCount,
                secondsOfVideo: seconds, elapsed: shards.joined().reduce(0) { $0 + $1.scan.elapsed },
                catalogue: shards[0].first?.scan.catalogue ?? "", clips: clipsSearched(shards)))
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

    /// Clips searched over every shard: each shard's count from one of its scans that ran.
    private func clipsSearched(_ shards: [[ShardScanFile.Entry]]) -> Int {
        shards.reduce(0) { total, entries in total + (entries.first { $0.scan.error == nil }?.scan.clipsSearched ?? 0) }
    }
}
