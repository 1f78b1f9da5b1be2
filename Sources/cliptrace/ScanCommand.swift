import ArgumentParser
import ClipTraceAlignment
import ClipTraceCatalogue
import ClipTraceExtraction
import ClipTraceMatching
import ClipTraceScanning
import Foundation
import Logging

extension ReportFormat: ExpressibleByArgument {}
extension SearchStrategy: ExpressibleByArgument {}
extension CornerSearch: ExpressibleByArgument {}

struct ScanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scan",
        abstract: "Find registered clips inside videos or folders of videos.",
        discussion: """
            Each PATH is a file or a folder (searched recursively for video and image files). Symbolic links inside \
            folders are followed, also out of the folder (--no-follow skips them); each real folder is visited and \
            each file scanned once, however many links lead to it. Files are scanned in parallel (--jobs); a file \
            that cannot be read gets an error record and the scan goes on.

            --output writes the report to a file, replaced only when the report is complete; it is never the \
            catalogue, a folder or one of the inputs. Devices and pipes (/dev/null, a FIFO) are written through.

            jsonl (default): one JSON object per match: query, reference, reference_id, query_start, query_end, \
            reference_start, reference_end (seconds), score (0-1, \(AlignmentOptions.decisionScore) = confident), and evidence fields; a file \
            without matches gets {"query":…, "reference":null, "matches":0}; a failed file {"query":…, "error":…}.
            json: one document with per-file results and a summary. csv: a header row, one row per match or error.
            html: one self-contained page (use with --output) with a card per match: both timelines, thumbnails of \
            query and reference at the start, middle and end of the match, score and transforms; failures at the end.

            Exit codes: 0 every file was scanned; 1 some files could not be scanned; 2 the catalogue or the output \
            could not be used.
            """)

    @OptionGroup var catalogueOptions: CatalogueOptions

    @OptionGroup var report: ReportOptions

    @Option(name: .long, help: "Ignore matches shorter than this many seconds of the query.")
    var minDuration: Double = MatchingOptions().minimumDuration

    @Option(name: .long, help: "Ignore matches scoring below this (0-1).")
    var minScore: Double = MatchingOptions().minimumScore

    @Option(name: .shortAndLong, help: "Files scanned at once (default: the number of cores).")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    @Flag(name: .long, help: "Two passes: keyframes everywhere, then a full decode only around what they resemble. Several times faster on long recordings with a keyframe every 1-2 s (livestreams), each copy found placed as the default scan places it; a copy that no keyframe shows well can be missed.")
    var fast = false

    @Option(name: .long, help: ArgumentHelp(
        "Catalogue search: direct (every frame), seeded (whole-key seeds, then the seeded clips directly; for large catalogues) or auto (seeded above \(ScanCommand.hours(frames: CatalogueMatcher.seedingThreshold)) hours of reference).",
        valueName: "auto|direct|seeded"))
    var index: SearchStrategy = .auto

    @Option(name: .long, help: ArgumentHelp(
        "Corner search for cropped copies: on, off (about a third less scan time), or auto (on, unless the index cannot be saved beside the catalogue and would hold more than \(CatalogueMatcher.inMemoryCornerLimit / 1_000_000) million corners in memory).",
        valueName: "auto|on|off"))
    var cropSearch: CornerSearch = .auto

    @Option(name: .long, help: "Give up on one file after this many seconds (0: no limit); it gets an error record.")
    var fileTimeout: Double = 3600

    @Flag(name: .long, help: "Build the search index in memory for this run instead of using (and updating) the one saved beside the catalogue (PATH.index).")
    var indexInMemory = false

    @Option(name: .long, help: ArgumentHelp("Search only shard K of N of the catalogue (clips with id mod N = K-1), with that shard's own saved index: what one worker of `cliptrace worker --shard K/N` searches.", valueName: "K/N"))
    var shard: String?

    @Option(name: .long, help: ArgumentHelp("With --shard: instead of a report, write each input's shard scan (the evidence of the shard's clips, before the steps that look across the catalogue) to FILE. `cliptrace merge` over every shard's FILE prints exactly the report of a scan of the whole catalogue.", valueName: "FILE"))
    var saveShard: String?

    @Flag(name: .long, help: "Inside folders, skip symbolic links (by default they are followed, also out of the folder; each real folder and file is still scanned once).")
    var noFollow = false

    @OptionGroup var outputOptions: OutputOptions

    @Argument(help: "Video files or folders to scan.")
    var paths: [String]

    /// Hours of reference that `frames` hashes (or `corners` corners) stand for at the default rates.
    static func hours(frames: Int) -> Int {
        Int((Double(frames) / ExtractionOptions.referenceSamplesPerSecond / 3600).rounded())
    }

    func validate() throws {
        if paths.isEmpty { throw ValidationError("Give at least one file or folder to scan.") }
        if jobs < 1 || jobs > 256 { throw ValidationError("--jobs must be between 1 and 256.") }
        if !(minDuration >= 0) { throw ValidationError("--min-duration must be zero or more seconds.") }
        if !(0...1).contains(minScore) { throw ValidationError("--min-score must be between 0 and 1.") }
        if !(fileTimeout >= 0) { throw ValidationError("--file-timeout must be zero or more seconds.") }
        if let shard, Shard(shard) == nil { throw ValidationError("--shard must be K/N with 1 ≤ K ≤ N, for example 1/4.") }
        if saveShard != nil {
            if shard == nil { throw ValidationError("--save-shard needs --shard K/N: it saves one shard's scans for `cliptrace merge`.") }
            if fast { throw ValidationError("--save-shard does not take --fast: a keyframe pass decides where to look from the whole catalogue's matches.") }
            if report.output != nil { throw ValidationError("--save-shard writes the shard's scans instead of a report: drop --output.") }
            if minScore != MatchingOptions().minimumScore || minDuration != MatchingOptions().minimumDuration {
                throw ValidationError("--min-score and --min-duration apply when the shards are merged: give them to `cliptrace merge`.")
            }
        }
    }

    func run() async throws {
        let logger = outputOptions.logger("cliptrace.scan")
        let whole = try catalogueOptions.open(.read)
        let catalogue: any Catalogue = shard.flatMap(Shard.init).map { ShardedCatalogue(whole, shard: $0) } ?? whole
        let expansion = MediaFiles.expansion(of: paths, followLinks: !noFollow)
        for (path, reason) in expansion.skipped { Terminal.warning("\(path): \(reason); skipped") }
        let entries = expansion.entries
        // The output is checked before any work: never a folder, the catalogue or one of the inputs.
        let inputs = entries.compactMap { entry -> String? in if case .file(let path) = entry { path } else { nil } }
        let sink = try OutputSink.opening(saveShard ?? report.output, catalogue: catalogue.file, inputs: inputs)
        var matching = MatchingOptions()
        matching.minimumDuration = minDuration
        matching.minimumScore = minScore
        let scanner: ClipScanner
        do {
            var extraction = ExtractionOptions.query
            extraction.decoding.timeLimit = fileTimeout > 0 ? fileTimeout : nil
            extraction.decoding.keyFramesOnly = fast
            let quiet = outputOptions.quiet
            var loaded = try ClipScanner(catalogue: catalogue, jobs: jobs, extraction: extraction, matching: matching,
                                         strategy: index, corners: cropSearch, persistIndex: !indexInMemory) { note in
                if !quiet { Terminal.info("cliptrace: \(note)") }
            }
            loaded.logger = logger
            scanner = loaded
        } catch {
            sink.abandon()
            Terminal.error(ClipScanner.sentence(for: error))
            throw ExitStatus.fatal
        }
        logger.info("search index ready", metadata: [
            "catalogue": "\(catalogue.name)", "clips": "\(scanner.matcher.clips.count)",
            "index": "\(scanner.index?.location ?? "in memory")",
            "strategy": "\(scanner.matcher.strategy.rawValue)", "index_entries": "\(scanner.matcher.frameCount)",
            "index_bytes": "\(scanner.matcher.memoryBytes)", "crop_search": "\(scanner.matcher.searchesCorners)",
            "opening_seconds": "\(String(format: "%.3f", scanner.index?.openingSeconds ?? 0))",
            "seconds_since_launch": "\(String(format: "%.3f", Date().timeIntervalSince(ClipTraceCommand.launched)))",
            "jobs": "\(jobs)", "decoder_threads": "\(scanner.decoderThreadsDescription)",
        ])
        if let note = scanner.matcher.cornerNote { Terminal.warning(note) }
        for damaged in scanner.damaged {
            Terminal.warning("clip \(damaged.record.id) \"\(damaged.record.title)\" is not searched: its fingerprint is damaged (\(damaged.problem)); `cliptrace remove \(damaged.record.id)` and register it again")
        }
        if scanner.matcher.clips.isEmpty {
            Terminal.warning("the catalogue \(catalogue.name) has no clips to search; nothing can match")
        }
        if saveShard != nil {
            try await saveShardScans(entries, scanner: scanner, shard: shard.flatMap(Shard.init) ?? .whole,
                                     catalogueName: whole.name, sink: sink)
            return
        }
        let writer = ReportWriter(format: report.format) { try sink.write($0) }
        let progress = ProgressLine(quiet: outputOptions.quiet)
        let started = Date()
        var scanned = 0, failed = 0, matchedFiles = 0, matchCount = 0, seconds = 0.0
        let verbose = outputOptions.verbose
        do {
            try await scanner.scan(entries, progress: { state in
                progress.update(done: state.done, total: state.total, current: state.current,
                                secondsOfVideo: state.secondsOfVideo)
            }) { result in
                scanned += 1
                seconds += result.duration
                if let error = result.error {
                    failed += 1
                    if verbose || !Terminal.isInteractive || outputOptions.quiet == false {
                        progress.finish()
                        Terminal.warning("\(result.path): \(error)")
                    }
                }
                if !result.matches.isEmpty { matchedFiles += 1 }
                matchCount += result.matches.count
                if verbose {
                    progress.finish()
                    for warning in result.warnings { logger.notice("\(warning)", metadata: ["file": "\(result.path)"]) }
                    logger.info("scanned", metadata: [
                        "file": "\(result.path)", "video_seconds": "\(String(format: "%.1f", result.duration))",
                        "elapsed": "\(String(format: "%.2f", result.elapsed))", "matches": "\(result.matches.count)",
                    ])
                }
                try writer.write(result)
            }
            let elapsed = Date().timeIntervalSince(started)
            if report.format == .html { progress.finish() }
            try writer.finish(summary: ScanSummary(
                files: scanned, failed: failed, matchedFiles: matchedFiles, matches: matchCount,
                secondsOfVideo: seconds, elapsed: elapsed, catalogue: catalogue.name,
                clips: scanner.matcher.clips.count))
            try sink.commit()
        } catch {
            progress.finish()
            sink.abandon()
            Terminal.error(Terminal.sentence(for: error))
            throw ExitStatus.fatal
        }
        progress.finish()
        let elapsed = Date().timeIntervalSince(started)
        if !outputOptions.quiet {
            Terminal.info(String(format: "scanned %d file(s), %.1f s of video in %.1f s: %d match(es) in %d file(s), %d failed",
                                 scanned, seconds, elapsed, matchCount, matchedFiles, failed))
        }
        if failed > 0 || !scanner.damaged.isEmpty { throw ExitStatus.partialFailure }
    }

    /// `--save-shard`: each input's shard scan, in completion order, to the file `cliptrace merge` reads.
    private func saveShardScans(_ entries: [MediaFiles.Entry], scanner: ClipScanner, shard: Shard,
                                catalogueName: String, sink: OutputSink) async throws {
        let progress = ProgressLine(quiet: outputOptions.quiet)
        let started = Date()
        var done = 0, failed = 0, seconds = 0.0
        do {
            try sink.write(ShardScanFile.header)
            try await scanner.gather(entries, shard: shard) { entry in
                var entry = entry
                entry.scan.catalogue = catalogueName
                done += 1
                seconds += entry.scan.duration
                if let error = entry.scan.error {
                    failed += 1
                    progress.finish()
                    Terminal.warning("\(entry.path): \(error)")
                }
                try sink.write(try ShardScanFile.record(path: entry.path, order: entry.order, scan: entry.scan))
                progress.update(done: done, total: entries.count, current: entry.path, secondsOfVideo: seconds)
            }
            try sink.commit()
        } catch {
            progress.finish()
            sink.abandon()
            Terminal.error(Terminal.sentence(for: error))
            throw ExitStatus.fatal
        }
        progress.finish()
        if !outputOptions.quiet {
            Terminal.info(String(format: "scanned %d file(s) against shard %@, %.1f s of video in %.1f s, %d failed: merge every shard's file with `cliptrace merge`",
                                 done, shard.description, seconds, Date().timeIntervalSince(started), failed))
        }
        if failed > 0 || !scanner.damaged.isEmpty { throw ExitStatus.partialFailure }
    }
}
