import ClipTraceAlignment
import ClipTraceCatalogue
import ClipTraceDecoding
import ClipTraceExtraction
import ClipTraceEvidence
import ClipTraceFingerprint
import ClipTraceIndex
import ClipTraceMatching
import ClipTraceObservations
import Foundation
import Logging

/// The outcome of scanning one file.
public struct FileScanResult: Sendable, Codable {
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

    public init(path: String, order: Int, matches: [ScanMatch], error: String?, warnings: [String], duration: Double,
                elapsed: Double) {
        self.path = path
        self.order = order
        self.matches = matches
        self.error = error
        self.warnings = warnings
        self.duration = duration
        self.elapsed = elapsed
    }
}

/// A match with the catalogue facts a report needs.
public struct ScanMatch: Sendable, Codable {
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
    /// Per-file details at debug level (decode and match figures); silent unless the handler wants them.
    public var logger = Logger(label: "cliptrace.scanner")
    let search: SearchHolder
    let records: [Int64: ClipRecord]
    /// FFmpeg's threads were left to us: they share the cores with the files decoded at once.
    private let automaticThreads: Bool

    /// The decoder threads a file gets, for logs: chosen per batch when automatic (a file alone gets more).
    public var decoderThreadsDescription: String {
        guard automaticThreads else { return "\(extraction.decoding.threads)" }
        let alone = Fingerprinter.decoderThreads(filesAtOnce: 1)
        return jobs == 1 ? "\(alone)" : "\(alone) for a file alone, \(extraction.decoding.threads) with \(jobs) at once"
    }

    /// Clips of the catalogue whose fingerprint could not be read: they are not searched.
    public private(set) var damaged: [DamagedClip] = []
    /// The saved index searched, when the catalogue has one (nil: an index built in memory from fingerprints).
    public var index: PersistedIndex? { search.current.index }
    /// The search in use.
    public var matcher: CatalogueMatcher { search.current.matcher }

    /// Opens the catalogue's saved search index (``PersistedIndex``), bringing it up to date or building it
    /// first when needed; `persistIndex` false keeps it in memory. A clip whose fingerprint is damaged is left
    /// out (see ``damaged``) and the others are searched. `log` hears what the index had to rebuild.
    public init(catalogue: any Catalogue, jobs: Int = ProcessInfo.processInfo.activeProcessorCount,
                extraction: ExtractionOptions = .query, matching: MatchingOptions = MatchingOptions(),
                strategy: SearchStrategy = .auto, corners: CornerSearch = .auto, persistIndex: Bool = true,
                log: @escaping @Sendable (String) -> Void = { _ in }) throws
    {
        let search = try SearchHolder(catalogue: catalogue, matching: matching, strategy: strategy, corners: corners,
                                      persist: persistIndex, log: log)
        let index = search.current.index!
        self.init(search: search, records: index.records, jobs: jobs, extraction: extraction)
        damaged = index.damaged
    }

    /// Searches with a matcher built elsewhere (in memory).
    public init(matcher: CatalogueMatcher, records: [ClipRecord], jobs: Int, extraction: ExtractionOptions) {
        self.init(search: SearchHolder(matcher: matcher), records: records, jobs: jobs, extraction: extraction)
    }

    private init(search: SearchHolder, records: [ClipRecord], jobs: Int, extraction: ExtractionOptions) {
        self.jobs = max(1, jobs)
        self.extraction = extraction
        automaticThreads = extraction.decoding.threads == 0
        if automaticThreads { self.extraction.decoding.threads = Fingerprinter.decoderThreads(filesAtOnce: self.jobs) }
        self.search = search
        let matcher = search.current.matcher
        self.matching = matcher.options
        // Corners of the query are only worth taking when there are reference corners to meet.
        if !matcher.searchesCorners { self.extraction.cornersPerSecond = 0 }
        self.records = Dictionary(records.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// Scans one file. Never throws: failures become the result's `error`.
    public func scan(path: String, order: Int = 0) -> FileScanResult {
        let started = Date()
        do {
            let searched = try extractAndSearch(path: path)
            let (result, found, notes, fingerprinted) = (searched.extraction, searched.matches, searched.notes,
                                                         searched.fingerprinted)
            let votes = searched.votes
            let observations = result.observations
            let matches = found.compactMap { match -> ScanMatch? in
                guard let record = records[match.clip.id] else { return nil }
                return ScanMatch(match: match, clip: record,
                                 letterboxed: observations.hadBars(from: match.queryStart, to: match.queryEnd))
            }
            for note in notes { logger.warning("\(note)", metadata: ["file": "\(path)"]) }
            logger.debug("fingerprinted and matched", metadata: [
                "file": "\(path)", "codec": "\(result.info.codec)",
                "size": "\(result.info.width)x\(result.info.height)", "frames": "\(observations.frames.count)",
                "corner_frames": "\(observations.cornerFrames.count)", "votes": "\(votes)",
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

    /// Seconds of query searched at a time while it is still being decoded.
    static let pieceSeconds = 10.0

    /// What one extraction and search of a file gave.
    private struct Searched {
        var extraction: Extraction
        var matches: [Match]
        var notes: [String]
        /// Votes the sources cast (for the log).
        var votes: Int
        /// When decoding and hashing ended (the search of the last piece, or of the whole, came after).
        var fingerprinted: Date
    }

    /// Extracts `path` and searches the catalogue: in one pass, or with `--fast` (keyframes only) in two.
    private func extractAndSearch(path: String) throws -> Searched {
        guard extraction.decoding.keyFramesOnly else { return try extractAndSearch(path: path, options: extraction) }
        return try twoPassSearch(path: path)
    }

    /// Candidates below the decision score are enough to decide where the second pass decodes: a copy seen in
    /// one or two keyframes scores low, and a stretch decoded for nothing only costs time.
    static let candidateScore = 0.0
    static let candidateLineWeight: Float = 0.1

    /// Keyframes everywhere, then a full decode only around what they found. The first pass decodes keyframes
    /// (a second or two apart in a livestream recording; most of the decoding is saved) and keeps every
    /// candidate segment, however weak; the second decodes each candidate with a keyframe interval and two
    /// seconds around it (the content rectangle and the window search settle over two seconds) and searches
    /// that as a full scan would. A copy no keyframe of which resembles its reference is missed.
    private func twoPassSearch(path: String) throws -> Searched {
        var relaxed = search.current.matcher.options.alignment
        relaxed.minimumScore = min(relaxed.minimumScore, Self.candidateScore)
        relaxed.minimumDuration = 0
        relaxed.minimumLineWeight = min(relaxed.minimumLineWeight, Self.candidateLineWeight)
        relaxed.minimumMoments = 1
        let first = try extractAndSearch(path: path, options: extraction, alignment: relaxed)
        let keyframes = first.extraction.observations
        let margin = keyframes.frameStep + 2
        var stretches: [ClosedRange<Double>] = []
        for match in first.matches.sorted(by: { $0.queryStart < $1.queryStart }) {
            let stretch = max(0, match.queryStart - margin)...min(keyframes.duration, match.queryEnd + margin)
            // Stretches closer than two keyframe intervals are decoded as one: a jump would decode that much again.
            if let last = stretches.last, stretch.lowerBound <= last.upperBound + 2 * keyframes.frameStep {
                stretches[stretches.count - 1] = last.lowerBound...max(last.upperBound, stretch.upperBound)
            } else {
                stretches.append(stretch)
            }
        }
        guard !stretches.isEmpty else { return Searched(extraction: first.extraction, matches: [], notes: first.notes,
                                                        votes: first.votes, fingerprinted: first.fingerprinted) }
        logger.debug("keyframe pass done", metadata: [
            "file": "\(path)", "keyframes": "\(keyframes.frames.count)", "candidates": "\(first.matches.count)",
            "stretches": "\(stretches.count)",
            // Where the second pass decodes: a copy outside them is one the keyframes missed.
            "stretch_ranges": "\(stretches.map { String(format: "%.1f-%.1f", $0.lowerBound, $0.upperBound) }.joined(separator: ","))",
            "stretch_seconds": "\(String(format: "%.1f", stretches.reduce(0) { $0 + $1.upperBound - $1.lowerBound }))",
            "duration": "\(String(format: "%.1f", keyframes.duration))",
        ])
        var dense = extraction
        dense.decoding.keyFramesOnly = false
        dense.decoding.stretches = stretches
        var second = try extractAndSearch(path: path, options: dense)
        // The first pass read the whole file: its warnings (damage, truncation) are the file's.
        second.extraction.warnings = first.extraction.warnings
        second.extraction.info = first.extraction.info
        second.notes = Array(Set(first.notes + second.notes)).sorted()
        return second
    }

    /// Extracts `path` with `options` and searches the catalogue, aligning with `alignment` (the catalogue's
    /// own by default). When every source votes moment by moment (the direct indexes of a small catalogue),
    /// each ten seconds are searched as soon as they are observed and then forgotten: the search overlaps the
    /// decoding, and memory stays flat however long the recording, with exactly the matches of one search of
    /// the whole. Otherwise the whole query is searched at the end.
    private func extractAndSearch(path: String, options: ExtractionOptions,
                                  alignment: ClipTraceAlignment.AlignmentOptions? = nil) throws -> Searched {
        func aligning(_ matcher: CatalogueMatcher) -> CatalogueMatcher {
            var matcher = matcher
            if let alignment { matcher.options.alignment = alignment }
            return matcher
        }
        let matcher = aligning(search.current.matcher)
        if matcher.searchesMomentByMoment {
            // Each piece is searched on its own thread while the next is decoded and observed: the search
            // fills the cores where decoding and observing leave them idle.
            var pieces: [QueryEvidence] = []
            let (result, damage) = try Self.extractInPieces(path: path, options: options) { piece throws(IndexDamage) in
                pieces.append(try matcher.evidence(for: piece))
            }
            if damage == nil {
                let fingerprinted = Date()
                // The pieces' votes, then the joined ones, are let go as soon as they are passed on: a long
                // recording's votes are held once, not three times, at the end of its scan.
                let evidence = matcher.evidence(joining: &pieces, of: result.observations)
                let (notes, voteCount) = (evidence.notes, evidence.votes.count)
                return Searched(extraction: result, matches: matcher.align(consume evidence, queryDuration: result.observations.duration),
                                notes: notes, votes: voteCount, fingerprinted: fingerprinted)
            }
            // Direct indexes live in memory and cannot be damaged while searched; should one be, the whole
            // query's search below repairs what can be repaired, as for a seeded index.
        }
        let result = try Fingerprinter(options: options).extract(path: path)
        let fingerprinted = Date()
        let evidence = try search.evidence(for: result.observations)
        // After a repair the search in use is another one: align with its clips.
        let (notes, voteCount) = (evidence.notes, evidence.votes.count)
        let found = aligning(search.current.matcher).align(consume evidence, queryDuration: result.observations.duration)
        return Searched(extraction: result, matches: found, notes: notes, votes: voteCount, fingerprinted: fingerprinted)
    }

    /// Extracts `path` ten seconds at a time, each piece handed to `work` on a thread of its own while the next
    /// is decoded (``PieceWork``): the extraction, and the damage that stopped the work, if any.
    static func extractInPieces(
        path: String, options: ExtractionOptions, work: @escaping (QueryObservations) throws(IndexDamage) -> Void
    ) throws -> (Extraction, IndexDamage?) {
        let pieces = PieceWork(work)
        let result: Extraction
        do {
            result = try Fingerprinter(options: options).extract(path: path, pieceSeconds: pieceSeconds) { piece in
                pieces.submit(piece)
            }
        } catch {
            _ = pieces.finish()
            throw error
        }
        return (result, pieces.finish())
    }

    /// What the catalogue's sources find in `query`, before alignment (a live stream's piece); a damaged index
    /// file found on the way is repaired first, as for ``scan(path:order:)``.
    public func evidence(for query: QueryObservations) throws -> QueryEvidence {
        try search.evidence(for: query)
    }

    /// The matches `evidence` supports, with their catalogue facts; `queryDuration` bounds the last segment.
    public func matches(in evidence: QueryEvidence, queryDuration: Double) -> [ScanMatch] {
        search.current.matcher.align(evidence, queryDuration: queryDuration).compactMap { match in
            records[match.clip.id].map { ScanMatch(match: match, clip: $0) }
        }
    }

    /// Scans many inputs with at most `jobs` files in flight; results arrive in completion order.
    public func scan(
        _ entries: [MediaFiles.Entry], progress: (@Sendable (BatchProgress) -> Void)? = nil,
        onResult: (FileScanResult) throws -> Void
    ) async rethrows {
        var progressState = BatchProgress(done: 0, total: entries.count, failed: 0, current: nil, secondsOfVideo: 0)
        try await batch(entries, work: { scanner, path, order in scanner.scan(path: path, order: order) },
                        unusable: { path, order, sentence in
                            FileScanResult(path: path, order: order, matches: [], error: sentence, warnings: [],
                                           duration: 0, elapsed: 0)
                        }) { result in
            progressState.done += 1
            if result.error != nil { progressState.failed += 1 }
            progressState.secondsOfVideo += result.duration
            progressState.current = result.path
            try onResult(result)
            progress?(progressState)
        }
    }

    /// Gathers many inputs as one shard (see ``gather(path:shard:)``) with at most `jobs` files in
    /// flight; each input's scan arrives with its path and place in `entries`, in completion order.
    public func gather(_ entries: [MediaFiles.Entry], shard: Shard,
                       onResult: ((path: String, order: Int, scan: ShardScan)) throws -> Void) async rethrows {
        try await batch(entries, work: { scanner, path, order in
            (path, order, scanner.gather(path: path, shard: shard))
        }, unusable: { path, order, sentence in
            var failed = ShardScan(error: sentence)
            failed.shard = shard
            return (path, order, failed)
        }, onResult: onResult)
    }

    /// Runs `work` over the entries' files with at most `jobs` in flight (one in as one comes out), each on its
    /// own thread; an unusable entry gets `unusable`'s result with a sentence.
    private func batch<Output: Sendable>(
        _ entries: [MediaFiles.Entry], work: @escaping @Sendable (ClipScanner, String, Int) -> Output,
        unusable: @escaping @Sendable (String, Int, String) -> Output, onResult: (Output) throws -> Void
    ) async rethrows {
        // Fewer files than jobs: the decoders get the idle cores.
        var tuned = self
        if automaticThreads {
            tuned.extraction.decoding.threads = Fingerprinter.decoderThreads(filesAtOnce: min(jobs, entries.count))
        }
        let scanner = tuned
        var pending = entries.enumerated().makeIterator()
        try await withThrowingTaskGroup(of: Output.self) { group in
            func startNext() -> Bool {
                guard let (order, entry) = pending.next() else { return false }
                switch entry {
                case .file(let path):
                    group.addTask { await Self.offCooperativePool { work(scanner, path, order) } }
                case .unusable(let path, let reason):
                    let sentence = Self.sentence(for: ScanError(message: reason, path: path))
                    group.addTask { unusable(path, order, sentence) }
                }
                return true
            }
            for _ in 0..<jobs where !startNext() { break }
            while let result = try await group.next() {
                try onResult(result)
                _ = startNext()
            }
        }
    }

    /// Decoding, index loading and database calls are long, blocking work: run it on its own thread so Swift's
    /// cooperative pool stays free.
    public static func offCooperativePool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread { continuation.resume(with: Result { try work() }) }
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    static func offCooperativePool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        // A work that cannot throw: the throwing form's error path is never taken.
        try! await offCooperativePool { () throws -> T in work() }
    }

    /// One human sentence for any error of the pipeline. A catalogue's path is named (a scan's error record
    /// already names its file).
    public static func sentence(for error: any Error) -> String {
        let message: String
        switch error {
        case let error as DecodingError: message = error.message
        case let error as CatalogueError:
            message = error.path.isEmpty || error.message.contains(error.path) ? error.message : "\(error.message) (\(error.path))"
        case let error as ScanError: message = error.message
        case let error as IndexDamage: message = "the search index is damaged and could not be rebuilt: \(error)"
        case let error as IndexFileError: message = "the search index could not be used: \(error)"
        default: return "\(error)"
        }
        return message.prefix(1).uppercased() + message.dropFirst() + "."
    }

    /// The search index of a catalogue's clips.
    static func indexedClips(_ clips: [(ClipRecord, ReferenceFingerprint)]) -> [(IndexedClip, ReferenceFingerprint)] {
        clips.map { (IndexedClip(id: $0.0.id, title: $0.0.title, duration: $0.0.duration), $0.1) }
    }
}

/// The matcher a scan searches with, replaced when a search finds a file of the saved index damaged: the
/// index is opened again without that file, which is rebuilt from the catalogue, and the search repeated.
/// No result ever comes from a damaged index.
final class SearchHolder: @unchecked Sendable {
    struct Current {
        var matcher: CatalogueMatcher
        var index: PersistedIndex?
        var generation: Int
    }

    private let lock = NSLock()
    private var state: Current
    private var discarded: Set<String> = []
    private let reopen: ((Set<String>) throws -> Current)?

    init(matcher: CatalogueMatcher) {
        state = Current(matcher: matcher, index: nil, generation: 0)
        reopen = nil
    }

    init(catalogue: any Catalogue, matching: MatchingOptions, strategy: SearchStrategy, corners: CornerSearch,
         persist: Bool, log: @escaping @Sendable (String) -> Void) throws {
        let settings = PersistedIndex.Settings(minimumQuality: matching.hash.minimumQuality, corners: corners != .off,
                                               persist: persist)
        // Building a matcher reads part of the index (a small catalogue's whole index): damage found there is
        // repaired at once, like damage found by a search.
        let reopen: (Set<String>) throws -> Current = { discarding in
            var discarded = discarding
            while true {
                let index = try PersistedIndex.open(catalogue: catalogue, settings: settings, discarding: discarded, log: log)
                // A shard searches the way a search of the whole catalogue would.
                let size = try (catalogue as? ShardedCatalogue).map {
                    CatalogueMatcher.CatalogueSize(try $0.base.clips().map { ($0.frameCount, $0.duration) })
                }
                do {
                    return Current(matcher: try index.matcher(options: matching, strategy: strategy, corners: corners,
                                                              size: size),
                                   index: index, generation: 0)
                } catch let damage as IndexDamage {
                    guard discarded.insert(damage.storage).inserted else { throw damage }
                }
            }
        }
        state = try reopen([])
        self.reopen = reopen
    }

    var current: Current { lock.withLock { state } }

    func search(_ query: QueryObservations) throws -> (matches: [Match], notes: [String]) {
        var attempt = current
        for _ in 0..<3 {
            do {
                return try attempt.matcher.search(query)
            } catch {
                attempt = try repair(after: error, in: attempt)
            }
        }
        return try attempt.matcher.search(query)
    }

    func evidence(for query: QueryObservations) throws -> QueryEvidence {
        var attempt = current
        for _ in 0..<3 {
            do {
                return try attempt.matcher.evidence(for: query)
            } catch {
                attempt = try repair(after: error, in: attempt)
            }
        }
        return try attempt.matcher.evidence(for: query)
    }

    /// The candidates of `query` and the matcher that gathered them (see ``CatalogueMatcher/candidates(for:wholeCatalogue:)``).
    func candidates(for query: QueryObservations, wholeCatalogue: Bool) throws -> (CatalogueMatcher, EvidenceCandidates) {
        var attempt = current
        for _ in 0..<3 {
            do {
                return (attempt.matcher, try attempt.matcher.candidates(for: query, wholeCatalogue: wholeCatalogue))
            } catch {
                attempt = try repair(after: error, in: attempt)
            }
        }
        return (attempt.matcher, try attempt.matcher.candidates(for: query, wholeCatalogue: wholeCatalogue))
    }

    /// Opens the index again without the damaged file, unless another search already did.
    private func repair(after damage: IndexDamage, in failed: Current) throws -> Current {
        guard let reopen else { throw damage }
        return try lock.withLock {
            if state.generation != failed.generation { return state }
            discarded.insert(damage.storage)
            var fresh = try reopen(discarded)
            fresh.generation = state.generation + 1
            state = fresh
            return fresh
        }
    }
}

/// Works through the pieces of one query in order on a thread of its own, at most two pieces ahead of the
/// caller (constant memory): what `work` does with each is what doing it on the caller's thread one piece
/// after another would do, and the first damaged index stops the work.
final class PieceWork: @unchecked Sendable {
    private let work: (QueryObservations) throws(IndexDamage) -> Void
    private let queue = DispatchQueue(label: "cliptrace.piece-work")
    private let room = DispatchSemaphore(value: 2)
    // Touched on `queue` only, and read after it has drained.
    private var damage: IndexDamage?

    init(_ work: @escaping (QueryObservations) throws(IndexDamage) -> Void) {
        self.work = work
    }

    /// Queues `piece`; waits while two pieces are already waiting or being worked on.
    func submit(_ piece: QueryObservations) {
        room.wait()
        queue.async {
            defer { self.room.signal() }
            guard self.damage == nil else { return }
            do throws(IndexDamage) {
                try self.work(piece)
            } catch {
                self.damage = error
            }
        }
    }

    /// Waits for the pieces queued so far: nil when all were worked on, or the damage that stopped the work.
    func finish() -> IndexDamage? {
        queue.sync { damage }
    }
}
