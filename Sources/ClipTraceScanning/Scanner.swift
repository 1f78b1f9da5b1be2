import ClipTraceAlignment
import ClipTraceCatalogue
import ClipTraceDecoding
import ClipTraceExtraction
import ClipTraceFingerprint
import ClipTraceMatching
import ClipTraceObservations
import Foundation
import Logging

/// The outcome of scanning one file.
public struct FileScanResult: Sendable {
    /// The path as given (or as found inside a folder).
    public var path: String
    /// Position in the input order.
    public var order: Int
    public var matches: [ScanMatch]
    /// One sentence when the file could not be scanned.
    public var error: String?
    public var warnings: [String]
    /// Seconds of video scanned.
    public var duration: Double
    /// Wall-clock seconds spent on this file.
    public var elapsed: Double
}

/// A match with the catalogue facts a report needs.
public struct ScanMatch: Sendable {
    public var match: Match
    public var clip: ClipRecord
    /// The copy was shown inside bars (letterbox, pillarbox, borders) that were cut away before matching.
    public var letterboxed = false

    public init(match: Match, clip: ClipRecord, letterboxed: Bool = false) {
        self.match = match
        self.clip = clip
        self.letterboxed = letterboxed
    }

    /// What the copy underwent, in words, from the evidence that found it: the view most of it came through
    /// (orientation, region), bars, speed, and "local features" when corners carry the score.
    public var transforms: [String] { Self.transforms(of: match, letterboxed: letterboxed) }

    public static func transforms(of match: Match, letterboxed: Bool) -> [String] {
        var out: [String] = []
        let view = match.view
        if view.orientation != .original { out.append(view.orientation.description) }
        if view.region != .content { out.append(view.region.description) }
        if view.part != .whole { out.append(view.part.description) }
        if letterboxed, view.region == .content { out.append("letterboxed") }
        if match.evidence == .corners { out.append(EvidenceKind.corners.description) }
        if abs(match.speed - 1) >= 0.025 { out.append(String(format: "speed %.2fx", match.speed)) }
        return out
    }
}

/// Progress of a batch.
public struct BatchProgress: Sendable {
    public var done: Int
    public var total: Int
    public var failed: Int
    public var current: String?
    public var secondsOfVideo: Double
}

/// Scans files against a catalogue, a bounded number at a time (one in, one out), one failure never stopping
/// the batch.
public struct ClipScanner: Sendable {
    public var jobs: Int
    public var extraction: ExtractionOptions
    public var matching: MatchingOptions
    public let matcher: CatalogueMatcher
    /// Per-file details at debug level (decode and match figures); silent unless the handler wants them.
    public var logger = Logger(label: "cliptrace.scanner")
    private let records: [Int64: ClipRecord]
    /// FFmpeg's threads were left to us: they share the cores with the files decoded at once.
    private let automaticThreads: Bool

    static func decoderThreads(filesAtOnce: Int) -> Int {
        max(1, ProcessInfo.processInfo.activeProcessorCount / max(1, filesAtOnce))
    }

    /// Clips of the catalogue whose fingerprint could not be read: they are not searched.
    public private(set) var damaged: [DamagedClip] = []

    /// Loads the catalogue's fingerprints into an in-memory index. A clip whose fingerprint is damaged is left
    /// out (see ``damaged``) and the others are searched.
    public init(catalogue: any Catalogue, jobs: Int = ProcessInfo.processInfo.activeProcessorCount,
                extraction: ExtractionOptions = .query, matching: MatchingOptions = MatchingOptions(),
                strategy: SearchStrategy = .auto, corners: CornerSearch = .auto) throws(CatalogueError)
    {
        let contents = try catalogue.loadFingerprints()
        let matcher = CatalogueMatcher(clips: Self.indexedClips(contents.clips), options: matching, strategy: strategy,
                                       corners: corners)
        self.init(matcher: matcher, records: contents.clips.map(\.0), jobs: jobs, extraction: extraction)
        damaged = contents.damaged
    }

    public init(matcher: CatalogueMatcher, records: [ClipRecord], jobs: Int, extraction: ExtractionOptions) {
        self.jobs = max(1, jobs)
        self.extraction = extraction
        automaticThreads = extraction.decoding.threads == 0
        if automaticThreads { self.extraction.decoding.threads = Self.decoderThreads(filesAtOnce: self.jobs) }
        self.matching = matcher.options
        self.matcher = matcher
        // Corners of the query are only worth taking when there are reference corners to meet.
        if !matcher.searchesCorners { self.extraction.cornersPerSecond = 0 }
        self.records = Dictionary(records.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// Scans one file. Never throws: failures become the result's `error`.
    public func scan(path: String, order: Int = 0) -> FileScanResult {
        let started = Date()
        do {
            let result = try Fingerprinter(options: extraction).extract(path: path)
            let observations = result.observations
            let fingerprinted = Date()
            let (found, notes) = matcher.search(observations)
            let matches = found.compactMap { match -> ScanMatch? in
                guard let record = records[match.clip.id] else { return nil }
                return ScanMatch(match: match, clip: record,
                                 letterboxed: observations.hadBars(from: match.queryStart, to: match.queryEnd))
            }
            for note in notes { logger.warning("\(note)", metadata: ["file": "\(path)"]) }
            logger.debug("fingerprinted and matched", metadata: [
                "file": "\(path)", "codec": "\(result.info.codec)",
                "size": "\(result.info.width)x\(result.info.height)", "frames": "\(observations.frames.count)",
                "views": "\(observations.frames.reduce(0) { $0 + $1.hashes.count })",
                "corner_frames": "\(observations.cornerFrames.count)",
                "decode_hash_seconds": "\(String(format: "%.2f", fingerprinted.timeIntervalSince(started)))",
                "match_seconds": "\(String(format: "%.3f", Date().timeIntervalSince(fingerprinted)))",
            ])
            return FileScanResult(path: path, order: order, matches: matches, error: nil, warnings: result.warnings,
                                  duration: observations.duration, elapsed: Date().timeIntervalSince(started))
        } catch {
            return FileScanResult(path: path, order: order, matches: [], error: Self.sentence(for: error), warnings: [],
                                  duration: 0, elapsed: Date().timeIntervalSince(started))
        }
    }

    /// Scans many inputs with at most `jobs` files in flight; results arrive in completion order.
    public func scan(
        _ entries: [MediaFiles.Entry], progress: (@Sendable (BatchProgress) -> Void)? = nil,
        onResult: (FileScanResult) throws -> Void
    ) async rethrows {
        // Fewer files than jobs: the decoders get the idle cores.
        var tuned = self
        if automaticThreads {
            tuned.extraction.decoding.threads = Self.decoderThreads(filesAtOnce: min(jobs, entries.count))
        }
        let scanner = tuned
        var progressState = BatchProgress(done: 0, total: entries.count, failed: 0, current: nil, secondsOfVideo: 0)
        var pending = entries.enumerated().makeIterator()
        try await withThrowingTaskGroup(of: FileScanResult.self) { group in
            func startNext() -> Bool {
                guard let (order, entry) = pending.next() else { return false }
                switch entry {
                case .file(let path):
                    group.addTask { await Self.offCooperativePool { scanner.scan(path: path, order: order) } }
                case .unusable(let path, let reason):
                    let sentence = Self.sentence(for: ScanError(message: reason, path: path))
                    group.addTask {
                        FileScanResult(path: path, order: order, matches: [], error: sentence, warnings: [],
                                       duration: 0, elapsed: 0)
                    }
                }
                return true
            }
            for _ in 0..<jobs where !startNext() { break }
            while let result = try await group.next() {
                progressState.done += 1
                if result.error != nil { progressState.failed += 1 }
                progressState.secondsOfVideo += result.duration
                progressState.current = result.path
                try onResult(result)
                progress?(progressState)
                _ = startNext()
            }
        }
    }

    /// Decoding is long, blocking CPU work: run it on its own thread so Swift's cooperative pool stays free.
    static func offCooperativePool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            let thread = Thread { continuation.resume(returning: work()) }
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    /// One human sentence for any error of the pipeline. A catalogue's path is named (a scan's error record
    /// already names its file).
    public static func sentence(for error: any Error) -> String {
        let message: String
        switch error {
        case let error as DecodingError: message = error.message
        case let error as CatalogueError:
            message = error.message.contains(error.path) ? error.message : "\(error.message) (\(error.path))"
        case let error as ScanError: message = error.message
        default: return "\(error)"
        }
        return message.prefix(1).uppercased() + message.dropFirst() + "."
    }

    /// The search index of a catalogue's clips.
    static func indexedClips(_ clips: [(ClipRecord, ReferenceFingerprint)]) -> [(IndexedClip, ReferenceFingerprint)] {
        clips.map { (IndexedClip(id: $0.0.id, title: $0.0.title, duration: $0.0.duration), $0.1) }
    }
}
