import ClipTraceAlignment
import ClipTraceEvidence
import ClipTraceFingerprint
import ClipTraceObservations
import Foundation

/// How a catalogue is searched: every query hash and corner through a direct index of all clips (direct), or
/// by whole keys first and then the clips they lead to directly (seeded: ``SeededHashSource``,
/// ``SeededCornerSource``). `auto` picks by catalogue size, for hashes and corners apart.
public enum SearchStrategy: String, CaseIterable, Hashable, Sendable {
    case auto, direct, seeded
}

/// Whether the corner search (cropped copies) runs: `auto` runs it whenever the catalogue has corners, unless
/// its index would have to be built in memory for more than ``CatalogueMatcher/inMemoryCornerLimit`` corners.
public enum CornerSearch: String, CaseIterable, Hashable, Sendable {
    case auto, on, off
}

/// Searches a catalogue: each evidence source looks at the query and votes, the votes of all of them go to one
/// ``TemporalAligner``, and its segments become ``Match``es of catalogue clips.
public struct CatalogueMatcher: Sendable {
    public let clips: [IndexedClip]
    public var options: MatchingOptions
    /// The hash strategy in use (never `auto`).
    public let strategy: SearchStrategy
    let sources: [any EvidenceSource]

    /// Above this many reference frames (about 2 hours at 8 per second; for a saved index, the frames its
    /// clips' records count, so that a shard decides as the whole catalogue does) `auto` seeds: the direct search reads
    /// posting lists that grow with the catalogue, the seeded one does not. With the mirror image searched
    /// through word neighbours, a 1-hour query took 1.4 s direct against 1 h of catalogue, 2.7 s against 3 h
    /// (seeded 1.8 s) and 6.1 s against 10 h (seeded 1.5 s); both give the same result on the evaluation.
    public static let seedingThreshold = 60_000

    /// Above this many reference corners (about 12 hours at 44 corners a second) `auto` seeds the corner
    /// search of a catalogue held in memory: a direct corner index holds about 120 bytes per corner in memory
    /// and its posting lists grow with the catalogue. A saved index decides by ``cornerSeedingSeconds``.
    public static let cornerSeedingThreshold = 2_000_000
    /// The same limit in seconds of reference, for a catalogue known by its records (a shard decides from
    /// the whole catalogue's, so that every shard searches the way one search of the whole does).
    public static let cornerSeedingSeconds = 45_000.0

    /// What decides how `auto` searches a catalogue known by its records: its frames and seconds in all.
    public struct CatalogueSize: Hashable, Sendable {
        public var frames: Int
        public var seconds: Double

        public init(frames: Int, seconds: Double) {
            self.frames = frames
            self.seconds = seconds
        }

        public init(_ records: some Sequence<(frames: Int, seconds: Double)>) {
            var size = CatalogueSize(frames: 0, seconds: 0)
            for record in records {
                size.frames += record.frames
                size.seconds += record.seconds
            }
            self = size
        }

        /// Whether `auto` seeds the hash search: more frames than ``CatalogueMatcher/seedingThreshold``.
        public var seedsHashes: Bool { frames > CatalogueMatcher.seedingThreshold }
        /// Whether `auto` seeds the corner search: more than ``CatalogueMatcher/cornerSeedingSeconds``.
        public var seedsCorners: Bool { seconds > CatalogueMatcher.cornerSeedingSeconds }
    }

    /// Corners above which `auto` leaves the corner search off when its index must be built in memory (no
    /// persisted index): 30 million corners are about 3 GB to build, some 190 hours of reference. A persisted
    /// index has no such limit.
    public static let inMemoryCornerLimit = 30_000_000

    /// Reference corners in the catalogue, whether or not the corner search runs.
    public let referenceCornerCount: Int
    /// Why the corner search is off, when `auto` turned it off.
    public let cornerNote: String?

    /// Builds the sources in memory over `clips` (a vote's clip is a position in this list).
    public init(clips: [(IndexedClip, ReferenceFingerprint)], options: MatchingOptions = MatchingOptions(),
                strategy: SearchStrategy = .auto, corners: CornerSearch = .auto) {
        let fingerprints = clips.map(\.1)
        var chosen = strategy
        if chosen == .auto {
            let frames = fingerprints.reduce(0) { $0 + $1.frames.count }
            chosen = frames > Self.seedingThreshold ? .seeded : .direct
        }
        var sources: [any EvidenceSource] = [
            chosen == .seeded ? SeededHashSource(clips: fingerprints, options: options.hash)
                : HashIndex(clips: fingerprints, options: options.hash),
        ]
        let cornerCount = fingerprints.reduce(0) { $0 + $1.cornerCount }
        var note: String?
        let wanted: Bool
        switch corners {
        case .on: wanted = true
        case .off: wanted = false
        case .auto:
            wanted = cornerCount <= Self.inMemoryCornerLimit
            if !wanted {
                note = "the corner search (cropped copies) is off: \(cornerCount) reference corners are too many for an index built in memory; use --crop-search on, or a catalogue whose index can be saved next to it"
            }
        }
        if wanted, cornerCount > 0 {
            let seeded = strategy == .seeded || (strategy == .auto && cornerCount > Self.cornerSeedingThreshold)
            sources.append(seeded ? SeededCornerSource(clips: fingerprints, options: options.corners)
                : CornerIndex(clips: fingerprints, options: options.corners))
        }
        self.init(clips: clips.map(\.0), sources: sources, options: options, strategy: chosen,
                  referenceCornerCount: cornerCount, cornerNote: note)
    }

    /// Searches segments (of a persisted index) whose clip rows `hashPlacement` and `cornerPlacement` place in
    /// `clips`. Small catalogues are searched directly: their hashes and corners are read into memory once;
    /// `auto` decides by `size`, the size of the whole catalogue `clips` belong to.
    public init(clips: [IndexedClip], hashes: SeededHashSource, corners: SeededCornerSource?, size: CatalogueSize,
                options: MatchingOptions = MatchingOptions(), strategy: SearchStrategy = .auto,
                cornerSearch: CornerSearch = .auto) throws(IndexDamage) {
        precondition(hashes.clipCount == clips.count && (corners?.clipCount ?? clips.count) == clips.count,
                     "placements over the same clip list")
        var chosen = strategy
        let everyClip = Array(clips.indices)
        if chosen == .auto { chosen = size.seedsHashes ? .seeded : .direct }
        // The sources search with the matcher's settings, which also weigh what they find.
        var sources: [any EvidenceSource] = [
            chosen == .seeded ? SeededHashSource(segments: hashes.segments, placement: hashes.placement, options: options.hash)
                : HashIndex(entries: try hashes.entries(of: everyClip), options: options.hash),
        ]
        let cornerCount = corners?.cornerCount ?? 0
        if let corners, cornerSearch != .off, cornerCount > 0 {
            let seeded = strategy == .seeded || (strategy == .auto && size.seedsCorners)
            sources.append(seeded ? corners.with(options: options.corners)
                : CornerIndex(entries: try corners.entries(of: everyClip), options: options.corners))
        }
        self.init(clips: clips, sources: sources, options: options, strategy: chosen, referenceCornerCount: cornerCount)
    }

    /// A matcher over sources built elsewhere. Their clip numbers are positions in `clips`.
    public init(clips: [IndexedClip], sources: [any EvidenceSource], options: MatchingOptions,
                strategy: SearchStrategy, referenceCornerCount: Int, cornerNote: String? = nil) {
        precondition(Set(sources.map(\.kind)).count == sources.count, "one source per kind of evidence")
        self.clips = clips
        self.sources = sources
        self.options = options
        self.strategy = strategy
        self.referenceCornerCount = referenceCornerCount
        self.cornerNote = cornerNote
    }

    /// Whether queries are also searched by corners.
    public var searchesCorners: Bool { sources.contains { $0.kind == .corners } }
    /// Indexed hashes (whole frames and halves).
    public var frameCount: Int {
        sources.reduce(0) { total, source in
            switch source {
            case let direct as HashIndex: total + direct.entryCount
            case let seeded as SeededHashSource: total + seeded.entryCount
            default: total
            }
        }
    }
    public var memoryBytes: Int { sources.reduce(0) { $0 + $1.memoryBytes } }

    /// The query's matches, by query start.
    public func match(_ query: QueryObservations) throws(IndexDamage) -> [Match] { try search(query).matches }

    /// The query's matches, and what the sources noted while searching (for the log).
    public func search(_ query: QueryObservations) throws(IndexDamage) -> (matches: [Match], notes: [String]) {
        let found = try evidence(for: query)
        return (align(found, queryDuration: query.duration), found.notes)
    }

    /// What every source found in `query`, before alignment. A live stream's watcher collects this once per
    /// piece of stream and aligns the pieces of a sliding window together (``QueryEvidence/appending(_:)``).
    public func evidence(for query: QueryObservations) throws(IndexDamage) -> QueryEvidence {
        let found = try candidates(for: query, wholeCatalogue: true)
        return Self.evidence(from: [found], timelines: timelines(for: query), options: options)
    }

    /// Per ``EvidenceKind``, the moments its source looks at (empty for a kind not searched).
    public func timelines(for query: QueryObservations) -> [QueryTimeline] {
        var timelines = [QueryTimeline](repeating: .empty, count: EvidenceKind.allCases.count)
        for source in sources { timelines[Int(source.kind.rawValue)] = source.timeline(for: query) }
        return timelines
    }

    /// What every source gathered in `query` before the steps that look across the catalogue. A matcher over
    /// one shard of a catalogue (not `wholeCatalogue`) keeps every candidate those steps could keep, so that
    /// ``evidence(from:timelines:options:)`` over every shard's candidates gives the evidence of the whole.
    public func candidates(for query: QueryObservations, wholeCatalogue: Bool) throws(IndexDamage) -> EvidenceCandidates {
        // The sources search at once, each on its own core (the hash and the corner search take similar time).
        let results = SourceResults(count: sources.count)
        DispatchQueue.concurrentPerform(iterations: sources.count) { index in
            results.set(index, Result { () throws(IndexDamage) in
                try sources[index].candidates(for: query, wholeCatalogue: wholeCatalogue)
            })
        }
        var found = EvidenceCandidates()
        for index in sources.indices { found.absorb(try results.get(index).get()) }
        return found
    }

    /// The evidence of a whole catalogue from the candidates of its parts, each numbered in the whole
    /// catalogue's clip list (ids ascending), and the query's timelines: the catalogue-wide steps of every
    /// source, then hash votes before corner votes as ``evidence(for:)`` gives them.
    public static func evidence(from parts: [EvidenceCandidates], timelines: [QueryTimeline],
                                options: MatchingOptions) -> QueryEvidence {
        let found = EvidenceCandidates.votes(parts, hash: options.hash, corners: options.corners)
        var votes = found.hashes
        votes.reserveCapacity(found.hashes.count + found.corners.count)
        votes += found.corners
        return QueryEvidence(timelines: timelines, votes: votes, notes: found.notes)
    }

    /// Whether every source's votes of a moment depend on that moment alone (the direct indexes of small
    /// catalogues): a long query can then be searched piece by piece while it is still being decoded, and
    /// forgotten as it goes, with exactly the votes of the whole (``evidence(joining:of:)``).
    public var searchesMomentByMoment: Bool { sources.allSatisfy(\.votesMomentByMoment) }

    /// The evidence of `whole` from that of its pieces: consecutive runs of its frames (and their corner
    /// frames), in order, each searched with ``evidence(for:)``. Only for a matcher that
    /// ``searchesMomentByMoment``. The timelines are the whole's own, so `whole` needs its frames' times and
    /// qualities and its corner frames' times, not their hashes or corners; votes come in the order a search
    /// of the whole gives them (source by source, moment by moment), so the alignment is the same too. Each
    /// piece's votes are released as soon as they are copied, so a long recording's votes are never held twice.
    public func evidence(joining pieces: inout [QueryEvidence], of whole: QueryObservations) -> QueryEvidence {
        precondition(searchesMomentByMoment, "pieces are joined only for sources that vote moment by moment")
        var timelines = [QueryTimeline](repeating: .empty, count: EvidenceKind.allCases.count)
        for source in sources { timelines[Int(source.kind.rawValue)] = source.timeline(for: whole) }
        // Where each kind's votes start in the joined list: the sources' kinds in order.
        var counts = [Int](repeating: 0, count: EvidenceKind.allCases.count)
        for piece in pieces { for vote in piece.votes { counts[Int(vote.label.evidence.rawValue)] += 1 } }
        var next = [Int](repeating: 0, count: EvidenceKind.allCases.count)
        var total = 0
        for source in sources {
            next[Int(source.kind.rawValue)] = total
            total += counts[Int(source.kind.rawValue)]
        }
        let wanted = Set(sources.map(\.kind))
        var offsets = [Int32](repeating: 0, count: EvidenceKind.allCases.count)
        var notes: [String] = []
        // Written in place as the pieces are let go, never filled first: a long recording's votes are resident
        // about once, not twice, while they are joined (two hours of 720p copies: 19 MB of them).
        var written = 0
        let votes = [Vote](unsafeUninitializedCapacity: total) { buffer, initialized in
            for index in pieces.indices {
                for var vote in pieces[index].votes where wanted.contains(vote.label.evidence) {
                    let kind = Int(vote.label.evidence.rawValue)
                    vote.moment += offsets[kind]
                    (buffer.baseAddress! + next[kind]).initialize(to: vote)
                    next[kind] += 1
                    written += 1
                }
                for kind in offsets.indices where kind < pieces[index].timelines.count {
                    offsets[kind] += Int32(pieces[index].timelines[kind].times.count)
                }
                notes += pieces[index].notes
                pieces[index] = QueryEvidence()
            }
            precondition(written == total, "each source's kind is counted once")
            initialized = total
        }
        pieces.removeAll()
        return QueryEvidence(timelines: timelines, votes: votes, notes: notes)
    }

    /// The matches the evidence supports: one alignment of all its votes. `queryDuration` bounds the last segment.
    /// Evidence handed over (`consume`) lets its votes go once the aligner has sorted them by clip.
    public func align(_ evidence: consuming QueryEvidence, queryDuration: Double) -> [Match] {
        Self.align(evidence, clips: clips, options: options, queryDuration: queryDuration)
    }

    /// The matches of `evidence`, whose votes number clips by their place in `clips`.
    public static func align(_ evidence: consuming QueryEvidence, clips: [IndexedClip], options: MatchingOptions,
                             queryDuration: Double) -> [Match] {
        let timelines = evidence.timelines
        let votes = evidence.votes
        evidence = QueryEvidence()
        let segments = TemporalAligner(options: options.alignment).align(
            votes, timelines: timelines, queryDuration: queryDuration, clipDurations: clips.map(\.duration))
        return segments.map { Match(clip: clips[Int($0.clip)], segment: $0) }
    }
}

/// Votes of every kind of evidence about a stretch of query, with the moments they refer to: what the sources
/// emit and the aligner consumes, in pieces that can be joined.
public struct QueryEvidence: Sendable {
    /// Per ``EvidenceKind/rawValue``: the moments that kind looked at.
    public var timelines: [QueryTimeline]
    public var votes: [Vote]
    public var notes: [String]

    public init(timelines: [QueryTimeline] = [], votes: [Vote] = [], notes: [String] = []) {
        self.timelines = timelines
        self.votes = votes
        self.notes = notes
    }

    /// This evidence followed by `later` (whose moments all come after this one's).
    public func appending(_ later: QueryEvidence) -> QueryEvidence { Self.joined([self, later]) }

    /// Pieces in stream order joined into one: moments are concatenated per kind and each piece's votes
    /// renumbered to match.
    public static func joined(_ pieces: [QueryEvidence]) -> QueryEvidence {
        let kinds = pieces.map(\.timelines.count).max() ?? 0
        var times = [[Double]](repeating: [], count: kinds)
        var usable = [[Bool]](repeating: [], count: kinds)
        var steps = [Double](repeating: 0, count: kinds)
        var referenceSteps = [Double](repeating: 0, count: kinds)
        var votes: [Vote] = []
        votes.reserveCapacity(pieces.reduce(0) { $0 + $1.votes.count })
        var notes: [String] = []
        for piece in pieces {
            let offsets = (0..<kinds).map { Int32(times[$0].count) }
            for (kind, timeline) in piece.timelines.enumerated() where !timeline.times.isEmpty {
                if times[kind].isEmpty { steps[kind] = timeline.step }
                referenceSteps[kind] = max(referenceSteps[kind], timeline.referenceStep)
                times[kind] += timeline.times
                usable[kind] += timeline.usable
            }
            for var vote in piece.votes {
                vote.moment += offsets[Int(vote.label.evidence.rawValue)]
                votes.append(vote)
            }
            notes += piece.notes
        }
        let timelines = (0..<kinds).map { kind in
            times[kind].isEmpty ? QueryTimeline.empty
                // The step of the whole: a short piece may hold too few moments to tell its own.
                : QueryTimeline(times: times[kind], usable: usable[kind],
                                step: pieces.count > 1 ? QueryObservations.medianGap(times[kind]) ?? steps[kind] : steps[kind],
                                referenceStep: referenceSteps[kind])
        }
        return QueryEvidence(timelines: timelines, votes: votes, notes: notes)
    }
}

/// What each source of one search found, filled from several threads, each index once.
private final class SourceResults: @unchecked Sendable {
    private let lock = NSLock()
    private var results: [Result<EvidenceCandidates, IndexDamage>?]

    init(count: Int) { results = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ result: Result<EvidenceCandidates, IndexDamage>) { lock.withLock { results[index] = result } }

    func get(_ index: Int) -> Result<EvidenceCandidates, IndexDamage> { lock.withLock { results[index]! } }
}
