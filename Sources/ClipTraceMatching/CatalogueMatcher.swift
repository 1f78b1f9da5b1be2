import ClipTraceFingerprint

/// How a catalogue is searched: every frame through ``HashIndex`` (direct), or seeds first through
/// ``SeedIndex`` and then the seeded clips directly (seeded). `auto` picks by catalogue size.
public enum SearchStrategy: String, CaseIterable, Hashable, Sendable {
    case auto, direct, seeded
}

/// Whether the corner (local-feature) search for cropped copies runs: `auto` builds its index unless the
/// catalogue holds more than ``CatalogueMatcher/featureLimit`` corners.
public enum FeatureSearch: String, CaseIterable, Hashable, Sendable {
    case auto, on, off
}

/// Matches queries against a whole catalogue with the strategy that suits its size.
public struct CatalogueMatcher: Sendable {
    public let clips: [IndexedClip]
    public var options: MatchingOptions
    /// The strategy in use (never `auto`).
    public let strategy: SearchStrategy
    private let direct: HashIndex?
    private let seeds: SeedIndex?
    /// Corners of the references, for cropped copies; nil when no clip was registered with them.
    private let features: FeatureMatcher?

    /// Above this many indexed frames (about 2 hours at 8 per second) `auto` seeds: the direct search reads
    /// posting lists that grow with the catalogue, the seeded one does not. With the mirror image searched
    /// through word neighbours, a 1-hour query took 1.4 s direct against 1 h of catalogue, 2.7 s against 3 h
    /// (seeded 1.8 s) and 6.1 s against 10 h (seeded 1.5 s); both give the same result on the evaluation.
    public static let seedingThreshold = 60_000

    /// Reference corners above which `auto` leaves the corner search off. The corner index is direct and
    /// in memory, about 120 bytes per corner: 20 million corners are 2.4 GB, about 43 hours of reference at
    /// 64 corners twice a second.
    public static let featureLimit = 20_000_000

    /// Reference corners in the catalogue, whether or not their index was built.
    public let referenceFeatureCount: Int
    /// Whether queries are also searched by corners (see ``FeatureMatcher``).
    public var searchesLocalFeatures: Bool { features != nil }

    /// `localFeatures: .off` searches hashes only, as for a quick resemblance check.
    public init(clips: [(IndexedClip, Fingerprint)], options: MatchingOptions = MatchingOptions(),
                strategy: SearchStrategy = .auto, localFeatures: FeatureSearch = .auto)
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
        referenceFeatureCount = clips.reduce(0) { total, clip in
            total + clip.1.featureFrames.reduce(0) {
                $0 + ($1.region == .content && $1.orientation == .original ? $1.features.count : 0)
            }
        }
        let wanted = switch localFeatures {
        case .on: true
        case .off: false
        case .auto: referenceFeatureCount <= Self.featureLimit
        }
        features = wanted && referenceFeatureCount > 0 ? FeatureMatcher(clips: clips) : nil
    }

    public var frameCount: Int { direct?.frameCount ?? seeds?.frameCount ?? 0 }
    public var memoryBytes: Int { (direct?.memoryBytes ?? seeds?.memoryBytes ?? 0) + (features?.memoryBytes ?? 0) }

    public func match(_ query: Fingerprint) -> [Match] {
        let hashed = hashMatches(query)
        guard let features else { return hashed }
        return Self.merge(hashed: hashed, corners: features.match(query, matching: options))
    }

    /// Hash and corner matches together. Where both find the same stretch of the same clip (overlapping on
    /// both timelines), a confident hash
    /// match (≥ 0.5) wins: it is sampled three times as densely, so it places the copy more precisely. A
    /// weaker one (a cropped copy's hashes still half-agree) gives way to a stronger corner match.
    static func merge(hashed: [Match], corners: [Match]) -> [Match] {
        var hashed = hashed
        var extra: [Match] = []
        for found in corners {
            func overlaps(_ other: Match) -> Bool {
                other.clip.id == found.clip.id && other.queryStart < found.queryEnd && found.queryStart < other.queryEnd
                    && other.referenceStart < found.referenceEnd && found.referenceStart < other.referenceEnd
            }
            if hashed.contains(where: { overlaps($0) && ($0.score >= 0.5 || $0.score >= found.score) }) { continue }
            hashed.removeAll(where: overlaps)
            extra.append(found)
        }
        guard !extra.isEmpty else { return hashed }
        return (hashed + extra).sorted { ($0.queryStart, -$0.score, $0.clip.id) < ($1.queryStart, -$1.score, $1.clip.id) }
    }

    private func hashMatches(_ query: Fingerprint) -> [Match] {
        if let direct { return Matcher(index: direct, options: options).match(query) }
        guard let seeds else { return [] }
        let seeded = seeds.seededClips(for: query, options: options)
        guard !seeded.isEmpty else { return [] }
        return Matcher(index: seeds.directIndex(of: seeded), options: options).match(query)
    }
}
