import ClipTraceAlignment
import ClipTraceEvidence
import ClipTraceFingerprint
import ClipTraceObservations

/// How a catalogue's hashes are searched: every frame through ``HashIndex`` (direct), or seeds first through
/// ``SeedIndex`` and then the seeded clips directly (seeded). `auto` picks by catalogue size.
public enum SearchStrategy: String, CaseIterable, Hashable, Sendable {
    case auto, direct, seeded
}

/// Whether the corner search (cropped copies) runs: `auto` builds its index unless the catalogue holds more
/// than ``CatalogueMatcher/cornerLimit`` corners.
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

    /// Above this many indexed frames (about 2 hours at 8 per second) `auto` seeds: the direct search reads
    /// posting lists that grow with the catalogue, the seeded one does not. With the mirror image searched
    /// through word neighbours, a 1-hour query took 1.4 s direct against 1 h of catalogue, 2.7 s against 3 h
    /// (seeded 1.8 s) and 6.1 s against 10 h (seeded 1.5 s); both give the same result on the evaluation.
    public static let seedingThreshold = 60_000

    /// Reference corners above which `auto` leaves the corner search off. The corner index is direct and
    /// in memory, about 120 bytes per corner: 20 million corners are 2.4 GB, about 43 hours of reference at
    /// 64 corners twice a second.
    public static let cornerLimit = 20_000_000

    /// Reference corners in the catalogue, whether or not their index was built.
    public let referenceCornerCount: Int

    /// Builds the sources over `clips` (a vote's clip is a position in this list).
    public init(clips: [(IndexedClip, ReferenceFingerprint)], options: MatchingOptions = MatchingOptions(),
                strategy: SearchStrategy = .auto, corners: CornerSearch = .auto) {
        let fingerprints = clips.map(\.1)
        var chosen = strategy
        if chosen == .auto {
            let frames = fingerprints.reduce(0) { $0 + $1.frames.count }
            chosen = frames > Self.seedingThreshold ? .seeded : .direct
        }
        var sources: [any EvidenceSource] = [
            chosen == .seeded ? SeedIndex(clips: fingerprints, options: options.hash)
                : HashIndex(clips: fingerprints, options: options.hash),
        ]
        let cornerCount = fingerprints.reduce(0) { $0 + $1.cornerCount }
        let wanted = switch corners {
        case .on: true
        case .off: false
        case .auto: cornerCount <= Self.cornerLimit
        }
        if wanted, cornerCount > 0 { sources.append(CornerIndex(clips: fingerprints, options: options.corners)) }
        self.init(clips: clips.map(\.0), sources: sources, options: options, strategy: chosen,
                  referenceCornerCount: cornerCount)
    }

    /// A matcher over sources built elsewhere (loaded from disk, say). Their clip numbers are positions in `clips`.
    public init(clips: [IndexedClip], sources: [any EvidenceSource], options: MatchingOptions,
                strategy: SearchStrategy, referenceCornerCount: Int) {
        precondition(Set(sources.map(\.kind)).count == sources.count, "one source per kind of evidence")
        self.clips = clips
        self.sources = sources
        self.options = options
        self.strategy = strategy
        self.referenceCornerCount = referenceCornerCount
    }

    /// Whether queries are also searched by corners.
    public var searchesCorners: Bool { sources.contains { $0.kind == .corners } }
    /// Indexed hashes.
    public var frameCount: Int {
        sources.reduce(0) { total, source in
            switch source {
            case let direct as HashIndex: total + direct.frameCount
            case let seeded as SeedIndex: total + seeded.frameCount
            default: total
            }
        }
    }
    public var memoryBytes: Int { sources.reduce(0) { $0 + $1.memoryBytes } }

    /// The query's matches, by query start.
    public func match(_ query: QueryObservations) -> [Match] { search(query).matches }

    /// The query's matches, and what the sources noted while searching (for the log).
    public func search(_ query: QueryObservations) -> (matches: [Match], notes: [String]) {
        var timelines = [QueryTimeline](repeating: .empty, count: EvidenceKind.allCases.count)
        var votes: [Vote] = []
        var notes: [String] = []
        for source in sources {
            timelines[Int(source.kind.rawValue)] = source.timeline(for: query)
            let collected = source.collect(for: query)
            votes += collected.votes
            notes += collected.notes
        }
        let segments = TemporalAligner(options: options.alignment).align(
            votes, timelines: timelines, queryDuration: query.duration, clipDurations: clips.map(\.duration))
        return (segments.map { Match(clip: clips[Int($0.clip)], segment: $0) }, notes)
    }
}
