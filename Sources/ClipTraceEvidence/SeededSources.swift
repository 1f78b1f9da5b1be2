import ClipTraceAlignment
import ClipTraceFingerprint
import ClipTraceHashing
import ClipTraceObservations

/// Where each clip of a catalogue lives among some segments: per segment, the catalogue position of each of
/// its clip rows (-1 for a row whose clip was removed, or is held by an earlier segment), and the reverse.
public struct SegmentPlacement: Sendable {
    /// Per segment, per clip row: a position in the catalogue's clip list, or -1.
    public let positions: [[Int32]]
    /// Per catalogue position: its segment and clip row, or nil when no segment holds it.
    public let rows: [(segment: Int, row: Int)?]

    public init(positions: [[Int32]], clipCount: Int) {
        var rows = [(segment: Int, row: Int)?](repeating: nil, count: clipCount)
        var cleaned = positions
        for (segment, list) in positions.enumerated() {
            for (row, position) in list.enumerated() where position >= 0 {
                precondition(Int(position) < clipCount, "positions lie in the clip list")
                if rows[Int(position)] == nil { rows[Int(position)] = (segment, row) } else { cleaned[segment][row] = -1 }
            }
        }
        self.positions = cleaned
        self.rows = rows
    }

    /// One segment holding every clip of a list in its order.
    public static func identity(count: Int) -> SegmentPlacement {
        SegmentPlacement(positions: [(0..<count).map { Int32($0) }], clipCount: count)
    }
}

/// The seeded hash search, an evidence source for large catalogues: query frames first look up whole 24-bit
/// keys of their hashes (``KeyTables``) in every segment, and the clips reached by most frames are then
/// searched exactly, through a ``HashIndex`` built on the spot over their hashes: the votes, and so the
/// alignment, the scores and the timelines, are those of the direct search over those clips.
///
/// Seeding reads a share of the key tables that does not grow with the catalogue, so a query costs about the
/// same against 1,000 hours as against 10, and a segment mapped from a file is read only where a query looks.
public final class SeededHashSource: Sendable {
    public let segments: [HashSegment]
    public let placement: SegmentPlacement
    public let options: HashSearchOptions

    public init(segments: [HashSegment], placement: SegmentPlacement, options: HashSearchOptions = HashSearchOptions()) {
        precondition(segments.count == placement.positions.count, "one placement per segment")
        self.segments = segments
        self.placement = placement
        self.options = options
    }

    /// One in-memory segment over `clips`.
    public convenience init(clips: [ReferenceFingerprint], options: HashSearchOptions = HashSearchOptions()) {
        let entries = HashEntries(clips: clips, minimumQuality: options.minimumQuality)
        let rows = clips.indices.map { SegmentClip(id: Int64($0), identity: .init(high: 0, low: 0)) }
        self.init(segments: [HashSegment(clips: rows, entries: entries, minimumQuality: options.minimumQuality)],
                  placement: .identity(count: clips.count), options: options)
    }

    public var clipCount: Int { placement.rows.count }
    /// Indexed hashes of clips still in the catalogue.
    public var entryCount: Int {
        var total = 0
        for (segment, positions) in zip(segments, placement.positions) {
            for (row, position) in positions.enumerated() where position >= 0 { total += segment.entryCount(of: row) }
        }
        return total
    }
    /// Bytes the segments occupy (mapped or in memory); a query reads a small share of them.
    public var memoryBytes: Int { segments.reduce(0) { $0 + $1.storage.bytes.count } }

    /// What seeding found: the clips to search, strongest first, with the frames that led to each, and how
    /// many more were seeded but left out.
    public struct Seeding: Hashable, Sendable {
        public var clips: [Int]
        public var frames: [Int32]
        public var leftOut: Int
    }

    /// Clips that at least `minimumSeedFrames` sampled query frames lead to through a whole key (or one a bit
    /// away) and a distance within `maxDistance`, strongest first, at most `maxSeededClips`.
    public func seededClips(for query: QueryObservations) throws(IndexDamage) -> Seeding {
        let clipCount = self.clipCount
        var framesPerClip = [Int32](repeating: 0, count: clipCount)
        var lastFrame = [Int32](repeating: -1, count: clipCount)
        var damagedSegment: Int?
        // Every other frame: one seed brings a clip to the second stage, which then sees every frame, and a copy
        // long enough to report (a second or more) still offers several tries.
        for (frameIndex, frame) in query.frames.enumerated()
        where frameIndex % 2 == 0 && frame.quality >= options.minimumQuality {
            for viewHash in frame.hashes {
                let hash = viewHash.hash, part = viewHash.view.part.rawValue
                let radius = HashSearchOptions.searchesNeighbours(viewHash.view) ? options.wordRadius : 0
                let limit = part == 0 ? options.maxDistance : options.maxPartDistance
                for (index, segment) in segments.enumerated() {
                    let positions = placement.positions[index]
                    let intact = segment.keys.lookup(hash, radius: radius) { row in
                        guard let record = segment.record(row), record.clip < positions.count else {
                            damagedSegment = index
                            return
                        }
                        let clip = Int(positions[record.clip])
                        guard clip >= 0, lastFrame[clip] != Int32(frameIndex), record.part == part,
                              record.hash.distance(to: hash) <= limit
                        else { return }
                        lastFrame[clip] = Int32(frameIndex)
                        framesPerClip[clip] += 1
                    }
                    if !intact || damagedSegment != nil {
                        throw segment.storage.damage("the hash index's key tables or records")
                    }
                }
            }
        }
        let seeded = framesPerClip.indices.filter { framesPerClip[$0] >= options.minimumSeedFrames }
            .sorted { (framesPerClip[$0], -$0) > (framesPerClip[$1], -$1) }
        let kept = Array(seeded.prefix(options.maxSeededClips))
        return Seeding(clips: kept, frames: kept.map { framesPerClip[$0] },
                       leftOut: max(0, seeded.count - options.maxSeededClips))
    }

    /// The entries of some clips (catalogue positions), owners numbered by their place in `clips`.
    public func entries(of clips: [Int]) throws(IndexDamage) -> HashEntries {
        var entries = HashEntries()
        for (owner, clip) in clips.enumerated() {
            guard let (segment, row) = placement.rows[clip] else { continue }
            try segments[segment].appendEntries(of: row, owner: Int32(owner), to: &entries)
        }
        return entries
    }

    /// The candidates of `query` (see ``EvidenceCandidates``): those of the direct search over the seeded
    /// clips. When these clips are `wholeCatalogue`, only the closest of all are kept; otherwise every one that
    /// could be among the closest of the catalogue's seeded clips, whichever of these clips they turn out to be.
    public func candidates(for query: QueryObservations, wholeCatalogue: Bool = true) throws(IndexDamage) -> EvidenceCandidates {
        let seeding = try seededClips(for: query)
        var found = EvidenceCandidates()
        found.hashSeeds = zip(seeding.clips, seeding.frames).map { ClipSeed(clip: Int32($0), strength: $1) }
        found.hashSeeded = seeding.clips.count + seeding.leftOut
        guard !seeding.clips.isEmpty else { return found }
        let clips = seeding.clips.map { Int32($0) }
        let direct = HashIndex(entries: try entries(of: seeding.clips), options: options)
        found.hashes = direct.candidates(for: query, keepingEveryPrefix: !wholeCatalogue) { clips[Int($0)] }
        return found
    }
}

/// The seeded corner search, an evidence source for catalogues too large for a direct ``CornerIndex``: each
/// query corner looks up whole 24-bit keys of its descriptor in every segment; clips whose corners answer
/// several corners of one moment, at several moments, are then searched exactly by a ``CornerIndex`` built on
/// the spot over their corners.
public final class SeededCornerSource: Sendable {
    public let segments: [CornerSegment]
    public let placement: SegmentPlacement
    public let options: CornerSearchOptions

    /// The same segments searched with other settings (the reference spacing is not measured again).
    public func with(options: CornerSearchOptions) -> SeededCornerSource {
        SeededCornerSource(segments: segments, placement: placement, options: options, leadingFrames: leadingFrames,
                           referenceStep: referenceStep)
    }

    private init(segments: [CornerSegment], placement: SegmentPlacement, options: CornerSearchOptions,
                 leadingFrames: [LeadingFrames], referenceStep: Double) {
        self.segments = segments
        self.placement = placement
        self.options = options
        self.leadingFrames = leadingFrames
        self.referenceStep = referenceStep
    }

    public init(segments: [CornerSegment], placement: SegmentPlacement, options: CornerSearchOptions = CornerSearchOptions()) {
        precondition(segments.count == placement.positions.count, "one placement per segment")
        self.segments = segments
        self.placement = placement
        self.options = options
        var leading: [LeadingFrames] = []
        var left = EvidenceCandidates.spacingFrames
        var entries = CornerEntries()
        for position in placement.rows.indices where left > 0 {
            guard let (segment, row) = placement.rows[position] else { continue }
            entries = CornerEntries()
            // A damaged segment is reported by the search; the spacing then does without its clip.
            guard (try? segments[segment].appendFrames(of: row, owner: Int32(position), to: &entries)) != nil,
                  entries.frameCount > 0 else { continue }
            let times = Array(entries.frameTimes.prefix(left))
            leading.append(LeadingFrames(clip: Int32(position), times: times))
            left -= times.count
        }
        leadingFrames = leading
        var whole = EvidenceCandidates()
        whole.leadingCornerFrames = leading
        referenceStep = EvidenceCandidates.referenceStep([whole])
    }

    /// The spacing of the reference corner frames (for ``QueryTimeline/referenceStep``): the median gap over
    /// the first corner frames of the catalogue, clips in order, as for a direct ``CornerIndex``.
    public let referenceStep: Double
    /// The first corner frames of the catalogue, clips in order.
    public let leadingFrames: [LeadingFrames]

    public convenience init(clips: [ReferenceFingerprint], options: CornerSearchOptions = CornerSearchOptions()) {
        let rows = clips.indices.map { SegmentClip(id: Int64($0), identity: .init(high: 0, low: 0)) }
        self.init(segments: [CornerSegment(clips: rows, entries: CornerEntries(clips: clips))],
                  placement: .identity(count: clips.count), options: options)
    }

    public var clipCount: Int { placement.rows.count }
    public var cornerCount: Int {
        var total = 0
        for (segment, positions) in zip(segments, placement.positions) {
            for (row, position) in positions.enumerated() where position >= 0 { total += segment.cornerCount(of: row) }
        }
        return total
    }
    public var memoryBytes: Int { segments.reduce(0) { $0 + $1.storage.bytes.count } }

    /// What seeding found: clips to verify, strongest first, with the moments and corner pairs that led to
    /// each, and how many more were seeded but left out.
    public struct Seeding: Sendable {
        public var clips: [Int]
        public var moments: [Int32]
        public var pairs: [Int32]
        public var leftOut: Int
    }

    public func seededClips(for query: QueryObservations) throws(IndexDamage) -> Seeding {
        let clipCount = self.clipCount
        var momentsPerClip = [Int32](repeating: 0, count: clipCount)
        var pairsPerClip = [Int32](repeating: 0, count: clipCount)
        var pairsThisMoment = [Int32](repeating: 0, count: clipCount)
        var lastCorner = [Int32](repeating: -1, count: clipCount)
        var touched: [Int] = []
        var found: [Int32] = []
        var number = 0
        var lastTime: Double?
        func closeMoment() {
            for clip in touched {
                if pairsThisMoment[clip] >= Int32(options.minimumSeedPairs) { momentsPerClip[clip] += 1 }
                pairsPerClip[clip] += pairsThisMoment[clip]
                pairsThisMoment[clip] = 0
            }
            touched.removeAll(keepingCapacity: true)
        }
        for frame in query.cornerFrames {
            if let lastTime, abs(lastTime - frame.time) >= 1e-6 { closeMoment() }
            lastTime = frame.time
            for corner in frame.corners {
                defer { number += 1 }
                found.removeAll(keepingCapacity: true)
                for (index, segment) in segments.enumerated() {
                    let positions = placement.positions[index]
                    var damaged = false
                    let intact = segment.keys.lookup(corner.descriptor, radius: 0) { row in
                        guard let record = segment.corner(row) else {
                            damaged = true
                            return
                        }
                        let distance = record.descriptor.distance(to: corner.descriptor)
                        guard distance <= options.maxDescriptorDistance else { return }
                        let clipRow = segment.clipOfFrame(record.frame)
                        guard clipRow < positions.count else {
                            damaged = true
                            return
                        }
                        let clip = positions[clipRow]
                        guard clip >= 0 else { return }
                        found.append(clip)
                    }
                    if !intact || damaged { throw segment.storage.damage("the corner index's key tables or records") }
                }
                for clip in found where lastCorner[Int(clip)] != Int32(number) {
                    lastCorner[Int(clip)] = Int32(number)
                    if pairsThisMoment[Int(clip)] == 0 { touched.append(Int(clip)) }
                    pairsThisMoment[Int(clip)] += 1
                }
            }
        }
        closeMoment()
        let seeded = momentsPerClip.indices.filter { momentsPerClip[$0] > 0 }
            .sorted { (momentsPerClip[$0], pairsPerClip[$0], -$0) > (momentsPerClip[$1], pairsPerClip[$1], -$1) }
        let kept = Array(seeded.prefix(options.maxSeededClips))
        return Seeding(clips: kept, moments: kept.map { momentsPerClip[$0] }, pairs: kept.map { pairsPerClip[$0] },
                       leftOut: max(0, seeded.count - options.maxSeededClips))
    }

    /// The corner frames of some clips (catalogue positions), owners numbered by their place in `clips`.
    public func entries(of clips: [Int]) throws(IndexDamage) -> CornerEntries {
        var entries = CornerEntries()
        for (owner, clip) in clips.enumerated() {
            guard let (segment, row) = placement.rows[clip] else { continue }
            try segments[segment].appendFrames(of: row, owner: Int32(owner), to: &entries)
        }
        return entries
    }

    /// The candidates of `query` (see ``EvidenceCandidates``): those of a direct corner search over the seeded
    /// clips, with every one that could be among the catalogue's when these clips are not `wholeCatalogue`.
    public func candidates(for query: QueryObservations, wholeCatalogue: Bool = true) throws(IndexDamage) -> EvidenceCandidates {
        let seeding = try seededClips(for: query)
        var found = EvidenceCandidates()
        found.cornerSeeds = seeding.clips.indices.map {
            ClipSeed(clip: Int32(seeding.clips[$0]), strength: seeding.moments[$0], pairs: seeding.pairs[$0])
        }
        found.cornerSeeded = seeding.clips.count + seeding.leftOut
        found.leadingCornerFrames = leadingFrames
        guard !seeding.clips.isEmpty else { return found }
        let clips = seeding.clips.map { Int32($0) }
        let index = CornerIndex(entries: try entries(of: seeding.clips), options: options)
        found.corners = index.candidates(for: query, keepingEveryPrefix: !wholeCatalogue) { clips[Int($0)] }
        return found
    }
}
