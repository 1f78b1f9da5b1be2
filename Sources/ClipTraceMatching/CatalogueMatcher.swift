import ClipTraceFingerprint

/// How a catalogue is searched: every frame through ``HashIndex`` (direct), or seeds first through
/// ``SeedIndex`` and then the seeded clips directly (seeded). `auto` picks by catalogue size.
public enum SearchStrategy: String, CaseIterable, Hashable, Sendable {
    case auto, direct, seeded
}

/// Matches queries against a whole catalogue with the strategy that suits its size.
public struct CatalogueMatcher: Sendable {
    public let clips: [IndexedClip]
    public var options: MatchingOptions
    /// The strategy in use (never `auto`).
    public let strategy: SearchStrategy
    private let direct: HashIndex?
    private let seeds: SeedIndex?

    /// Above this many indexed frames (about 2 hours at 8 per second) `auto` seeds: the direct search reads
    /// posting lists that grow with the catalogue, the seeded one does not. With the mirror image searched
    /// through word neighbours, a 1-hour query took 1.4 s direct against 1 h of catalogue, 2.7 s against 3 h
    /// (seeded 1.8 s) and 6.1 s against 10 h (seeded 1.5 s); both give the same result on the evaluation.
    public static let seedingThreshold = 60_000

    public init(clips: [(IndexedClip, Fingerprint)], options: MatchingOptions = MatchingOptions(),
                strategy: SearchStrategy = .auto)
    {
        self.clips = clips.map(\.0)
        self.options = options
        var chosen = strategy
        if chosen == .auto {
            let frames = clips.reduce(0) { $0 + $1.1.frames.count }
            chosen = frames > Self.seedingThreshold ? .seeded : .direct
        }
        self.strategy = chosen
        if chosen == .seeded {
            seeds = SeedIndex(clips: clips, minimumQuality: options.minimumQuality)
            direct = nil
        } else {
            direct = HashIndex(clips: clips, minimumQuality: options.minimumQuality)
            seeds = nil
        }
    }

    public var frameCount: Int { direct?.frameCount ?? seeds?.frameCount ?? 0 }
    public var memoryBytes: Int { direct?.memoryBytes ?? seeds?.memoryBytes ?? 0 }

    public func match(_ query: Fingerprint) -> [Match] {
        if let direct { return Matcher(index: direct, options: options).match(query) }
        guard let seeds else { return [] }
        let seeded = seeds.seededClips(for: query, options: options)
        guard !seeded.isEmpty else { return [] }
        return Matcher(index: seeds.directIndex(of: seeded), options: options).match(query)
    }
}
