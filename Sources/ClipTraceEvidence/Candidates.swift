import ClipTraceAlignment
import ClipTraceObservations

/// A reference hash close to one query frame, before the catalogue-wide steps (the closest few per frame, and
/// the weight that falls with the number of clips among them).
public struct HashCandidate: Hashable, Sendable {
    /// The query frame (moment of the hash timeline).
    public var moment: Int32
    /// A position in the clip list the candidates are numbered by.
    public var clip: Int32
    /// The reference entry's place among its clip's entries of the same picture part: with the distance, the
    /// part and the clip's order, it ranks candidates exactly as one index over the whole catalogue does.
    public var entryInClip: UInt32
    public var distance: Int16
    /// The query view the closest distance came from (its part is the reference entry's part).
    public var view: View
    public var referenceTime: Float

    public init(moment: Int32, clip: Int32, entryInClip: UInt32, distance: Int16, view: View, referenceTime: Float) {
        self.moment = moment
        self.clip = clip
        self.entryInClip = entryInClip
        self.distance = distance
        self.view = view
        self.referenceTime = referenceTime
    }
}

/// A reference corner frame among the ones sharing most corners with one described query frame, and what
/// verifying it found, before the catalogue-wide steps (the few verified per frame, and the weight that falls
/// with the number of clips verified).
public struct CornerCandidate: Hashable, Sendable {
    /// The moment of the corner timeline.
    public var moment: Int32
    /// The described query frame: an index into the query's corner frames.
    public var described: Int32
    public var clip: Int32
    /// The reference corner frame's place among its clip's corner frames.
    public var frameInClip: UInt32
    public var referenceTime: Float
    /// Corners of the query frame paired with this reference frame.
    public var pairCount: Int32
    /// Corners one geometry explained, 0 when verification failed (the frame still took one of the places).
    public var inliers: Int32
    public var distance: Int16
    public var view: View

    public init(moment: Int32, described: Int32, clip: Int32, frameInClip: UInt32, referenceTime: Float,
                pairCount: Int32, inliers: Int32, distance: Int16, view: View) {
        self.moment = moment
        self.described = described
        self.clip = clip
        self.frameInClip = frameInClip
        self.referenceTime = referenceTime
        self.pairCount = pairCount
        self.inliers = inliers
        self.distance = distance
        self.view = view
    }
}

/// How strongly a seeded search's first stage led to one clip: frames (hashes), or moments then corner pairs.
public struct ClipSeed: Hashable, Sendable {
    public var clip: Int32
    public var strength: Int32
    public var pairs: Int32

    public init(clip: Int32, strength: Int32, pairs: Int32 = 0) {
        self.clip = clip
        self.strength = strength
        self.pairs = pairs
    }
}

/// The first corner frame times of one clip: the reference corner spacing is the median gap over the first
/// ``EvidenceCandidates/spacingFrames`` corner frames of the catalogue, clips in order.
public struct LeadingFrames: Hashable, Sendable {
    public var clip: Int32
    public var times: [Float]

    public init(clip: Int32, times: [Float]) {
        self.clip = clip
        self.times = times
    }
}

/// What the evidence sources found in a query against some clips of a catalogue, before every step that looks
/// across clips. The candidates of every part of a catalogue (shards) together hold everything those steps need,
/// so ``votes(_:hash:corners:)`` gives the votes a search of the whole catalogue gives, bit for bit; a search
/// of the whole catalogue goes through the same function with one part.
///
/// Clip numbers are positions in one clip list, in catalogue order (ids ascending); every part's candidates
/// must be numbered in that whole list before they are weighed together.
public struct EvidenceCandidates: Hashable, Sendable {
    /// By moment, each moment's candidates in the part's own order.
    public var hashes: [HashCandidate] = []
    /// The part's seeded clips (at most the seeded search's limit, strongest first), or nil for a direct search.
    public var hashSeeds: [ClipSeed]?
    /// Clips the part's seeding reached in all, kept or not.
    public var hashSeeded = 0
    /// By moment and described frame.
    public var corners: [CornerCandidate] = []
    public var cornerSeeds: [ClipSeed]?
    public var cornerSeeded = 0
    /// The part's first corner frames, clips in order, at most ``spacingFrames`` in all.
    public var leadingCornerFrames: [LeadingFrames] = []

    /// Corner frames the reference spacing is measured over.
    public static let spacingFrames = 4_096

    public init() {}

    /// Adds what another source found (each source fills its own kind's fields).
    public mutating func absorb(_ other: EvidenceCandidates) {
        hashes += other.hashes
        if let seeds = other.hashSeeds { hashSeeds = (hashSeeds ?? []) + seeds }
        hashSeeded += other.hashSeeded
        corners += other.corners
        if let seeds = other.cornerSeeds { cornerSeeds = (cornerSeeds ?? []) + seeds }
        cornerSeeded += other.cornerSeeded
        leadingCornerFrames += other.leadingCornerFrames
    }

    /// The same candidates with every clip number passed through `position`.
    public func renumbered(_ position: (Int32) -> Int32) -> EvidenceCandidates {
        var copy = self
        for index in copy.hashes.indices { copy.hashes[index].clip = position(copy.hashes[index].clip) }
        for index in copy.corners.indices { copy.corners[index].clip = position(copy.corners[index].clip) }
        copy.hashSeeds = copy.hashSeeds?.map { ClipSeed(clip: position($0.clip), strength: $0.strength, pairs: $0.pairs) }
        copy.cornerSeeds = copy.cornerSeeds?.map { ClipSeed(clip: position($0.clip), strength: $0.strength, pairs: $0.pairs) }
        copy.leadingCornerFrames = copy.leadingCornerFrames.map { LeadingFrames(clip: position($0.clip), times: $0.times) }
        return copy
    }

    /// The reference corner spacing over the parts: the median gap between consecutive corner frames of one
    /// clip, over the catalogue's first ``spacingFrames`` corner frames. 0 when there are none.
    public static func referenceStep(_ parts: [EvidenceCandidates]) -> Double {
        var leading = parts.flatMap(\.leadingCornerFrames)
        leading.sort { $0.clip < $1.clip }
        var gaps: [Float] = []
        var left = spacingFrames
        for clip in leading where left > 0 {
            let taken = min(left, clip.times.count)
            for frame in 1..<max(1, taken) { gaps.append(clip.times[frame] - clip.times[frame - 1]) }
            left -= taken
        }
        return CornerEntries.median(gaps) ?? 0
    }

    /// The seeded clips of the whole catalogue: the strongest of every part's, at most `limit`, or nil when the
    /// parts searched directly. Ties go to the clip first in the catalogue, as in one search of the whole.
    static func seeds(_ parts: [[ClipSeed]?], limit: Int) -> [Int32]? {
        guard parts.contains(where: { $0 != nil }) else { return nil }
        let all = parts.flatMap { $0 ?? [] }
            .sorted { ($0.strength, $0.pairs, -Int64($0.clip)) > ($1.strength, $1.pairs, -Int64($1.clip)) }
        return all.prefix(limit).map(\.clip)
    }

    /// The votes of a whole catalogue from the candidates of its parts (renumbered into one clip list), and
    /// the notes of the seeded searches' limits: the closest ``HashSearchOptions/candidatesPerFrame`` reference
    /// hashes of every query frame vote, weighted down by the number of clips among them; the
    /// ``CornerSearchOptions/framesVerified`` reference frames sharing most corners with every described frame
    /// are looked at, and those verified vote, weighted down by the number of clips verified at the moment.
    public static func votes(_ parts: [EvidenceCandidates], hash: HashSearchOptions, corners: CornerSearchOptions)
        -> (hashes: [Vote], corners: [Vote], notes: [String])
    {
        var notes: [String] = []
        let hashSeeds = seeds(parts.map(\.hashSeeds), limit: hash.maxSeededClips)
        if let hashSeeds {
            let seeded = parts.reduce(0) { $0 + $1.hashSeeded }
            if seeded > hashSeeds.count {
                notes.append("\(seeded) clips were seeded by hashes; only the \(hashSeeds.count) seeded by most frames were searched (the seeded search's limit)")
            }
        }
        let cornerSeeds = seeds(parts.map(\.cornerSeeds), limit: corners.maxSeededClips)
        if let cornerSeeds {
            let seeded = parts.reduce(0) { $0 + $1.cornerSeeded }
            if seeded > cornerSeeds.count {
                notes.append("\(seeded) clips were seeded by corners; only the \(cornerSeeds.count) reached at most moments were verified (the seeded search's limit)")
            }
        }
        return (HashIndex.weigh(parts.map(\.hashes), order: ClipOrder(seeds: hashSeeds), options: hash),
                CornerIndex.weigh(parts.map(\.corners), order: ClipOrder(seeds: cornerSeeds), options: corners),
                notes)
    }
}

/// The order clips rank in when candidates tie: catalogue order for a direct search, seeding rank for a seeded
/// one (whose clips outside the seeded set are not searched at all).
struct ClipOrder {
    private let rank: [Int32: Int32]?

    init(seeds: [Int32]?) {
        rank = seeds.map { Dictionary(uniqueKeysWithValues: $0.enumerated().map { ($1, Int32($0)) }) }
    }

    /// The clip's place, or nil when it is not searched.
    @inline(__always) func key(_ clip: Int32) -> Int32? {
        guard let rank else { return clip }
        return rank[clip]
    }
}

extension Array {
    /// Keeps the first `limit` elements of a ranked list; with `everyPrefix`, each element that is among the
    /// first `limit` of those whose owner's rank is at or above its own (every element a search of any prefix
    /// of the owners would keep). `counts` is scratch space, kept between calls to save allocations.
    mutating func keepFirst(_ limit: Int, everyPrefix: Bool, counts: inout [Int32], rank: (Element) -> Int) {
        guard everyPrefix else {
            if count > limit { removeLast(count - limit) }
            return
        }
        counts.removeAll(keepingCapacity: true)
        var kept = 0
        for index in indices {
            let owner = rank(self[index])
            if counts.count <= owner { counts += [Int32](repeating: 0, count: owner + 1 - counts.count) }
            let before = counts[...owner].reduce(0, +)
            counts[owner] += 1
            if before < limit {
                self[kept] = self[index]
                kept += 1
            }
        }
        removeLast(count - kept)
    }
}

/// Walks several lists sorted by one integer key together, one key at a time.
struct RunsByKey<Element> {
    private let lists: [[Element]]
    private var next: [Int]
    private let key: (Element) -> Int32

    init(_ lists: [[Element]], key: @escaping (Element) -> Int32) {
        self.lists = lists
        next = Array(repeating: 0, count: lists.count)
        self.key = key
    }

    /// The elements of the smallest key left, list by list, or nil at the end.
    mutating func nextRun(into run: inout [Element]) -> Int32? {
        run.removeAll(keepingCapacity: true)
        var smallest: Int32?
        for (list, index) in zip(lists, next) where index < list.count {
            let value = key(list[index])
            if smallest == nil || value < smallest! { smallest = value }
        }
        guard let smallest else { return nil }
        for listIndex in lists.indices {
            while next[listIndex] < lists[listIndex].count, key(lists[listIndex][next[listIndex]]) == smallest {
                run.append(lists[listIndex][next[listIndex]])
                next[listIndex] += 1
            }
        }
        return smallest
    }
}

extension HashIndex {
    /// The hash votes of the candidates of every part of a catalogue (see ``EvidenceCandidates/votes(_:hash:corners:)``).
    static func weigh(_ parts: [[HashCandidate]], order: ClipOrder, options: HashSearchOptions) -> [Vote] {
        var runs = RunsByKey(parts, key: \.moment)
        var run: [HashCandidate] = []
        var ranked: [(candidate: HashCandidate, clipKey: Int32)] = []
        var clips: [Int32] = []
        var out: [Vote] = []
        out.reserveCapacity(parts.reduce(0) { $0 + $1.count })
        while runs.nextRun(into: &run) != nil {
            ranked.removeAll(keepingCapacity: true)
            for candidate in run { if let key = order.key(candidate.clip) { ranked.append((candidate, key)) } }
            ranked.sort {
                ($0.candidate.distance, $0.candidate.view.part.rawValue, $0.clipKey, $0.candidate.entryInClip)
                    < ($1.candidate.distance, $1.candidate.view.part.rawValue, $1.clipKey, $1.candidate.entryInClip)
            }
            if ranked.count > options.candidatesPerFrame { ranked.removeLast(ranked.count - options.candidatesPerFrame) }
            // A query frame that resembles many different clips (black frame, logo, intro) is weak evidence.
            clips.removeAll(keepingCapacity: true)
            for item in ranked where !clips.contains(item.candidate.clip) { clips.append(item.candidate.clip) }
            let spread = Float(1) / Float(max(1, clips.count)).squareRoot()
            for (candidate, _) in ranked {
                let relative = Float(candidate.distance) / Float(options.maxDistance)
                out.append(Vote(clip: candidate.clip, moment: candidate.moment, referenceTime: Double(candidate.referenceTime),
                                weight: (1 - relative * relative) * spread, distance: candidate.distance,
                                label: VoteLabel(view: candidate.view, evidence: .hash)))
            }
        }
        return out
    }
}

extension CornerIndex {
    /// The corner votes of the candidates of every part of a catalogue (see ``EvidenceCandidates/votes(_:hash:corners:)``).
    static func weigh(_ parts: [[CornerCandidate]], order: ClipOrder, options: CornerSearchOptions) -> [Vote] {
        struct FrameKey: Hashable, Comparable {
            var clipKey: Int32, frame: UInt32
            static func < (a: Self, b: Self) -> Bool { (a.clipKey, a.frame) < (b.clipKey, b.frame) }
        }
        var runs = RunsByKey(parts, key: \.moment)
        var run: [CornerCandidate] = []
        var out: [Vote] = []
        while let moment = runs.nextRun(into: &run) {
            // Per described frame, the frames sharing most corners with it are looked at; the verified result
            // per reference frame is the first of the most inliers over the moment's views.
            var ranked: [(candidate: CornerCandidate, key: FrameKey)] = []
            for candidate in run { if let clipKey = order.key(candidate.clip) {
                ranked.append((candidate, FrameKey(clipKey: clipKey, frame: candidate.frameInClip)))
            } }
            ranked.sort {
                ($0.candidate.described, -$0.candidate.pairCount, $0.key.clipKey, $0.key.frame)
                    < ($1.candidate.described, -$1.candidate.pairCount, $1.key.clipKey, $1.key.frame)
            }
            var verified: [FrameKey: CornerCandidate] = [:]
            var start = 0
            while start < ranked.count {
                var end = start
                while end < ranked.count, ranked[end].candidate.described == ranked[start].candidate.described { end += 1 }
                for (candidate, key) in ranked[start..<min(end, start + options.framesVerified)] where candidate.inliers > 0 {
                    if let existing = verified[key], existing.inliers >= candidate.inliers { continue }
                    verified[key] = candidate
                }
                start = end
            }
            guard !verified.isEmpty else { continue }
            let clipsHit = Set(verified.values.map(\.clip)).count
            // The most corners any frame of each clip explained at this moment: a fixed camera's background
            // verifies at every time, and only what moves (more corners at the right time) tells them apart.
            var most: [Int32: Int32] = [:]
            for candidate in verified.values { most[candidate.clip] = max(most[candidate.clip] ?? 0, candidate.inliers) }
            for (_, candidate) in verified.sorted(by: { $0.key < $1.key }) {
                let weight = voteWeight(inliers: Int(candidate.inliers), clipBest: Int(most[candidate.clip] ?? 1),
                                        minimumInliers: options.minimumInliers, clipsHit: clipsHit)
                out.append(Vote(clip: candidate.clip, moment: moment, referenceTime: Double(candidate.referenceTime),
                                weight: weight, distance: candidate.distance,
                                label: VoteLabel(view: candidate.view, evidence: .corners)))
            }
        }
        return out
    }
}
