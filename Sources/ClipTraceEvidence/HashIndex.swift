import ClipTraceAlignment
import ClipTraceFingerprint
import ClipTraceHashing
import ClipTraceObservations

/// Settings of the hash search (``HashIndex``, ``SeededHashSource``).
public struct HashSearchOptions: Hashable, Sendable {
    /// Frames below this PDQ quality are neither indexed nor searched: flat, dark or fading frames match anything.
    /// (Meta recommends 50 for still images; video has many soft frames that still place a copy, and below 20
    /// the hashes of black and faded frames began to match across the evaluation's clips.)
    public static let defaultMinimumQuality = 20

    /// Largest Hamming distance (of 256 bits) at which two frames can vote. Unrelated PDQ hashes sit 128 ± 8 bits
    /// apart, so 76 is six and a half standard deviations below chance, while heavily edited copies (overlays,
    /// a mirror under a banner) still reach their reference with part of their frames.
    public var maxDistance: Int
    /// The same for a half of the picture: a half of a user interface (a toolbar, a terminal) resembles the
    /// half of another more than whole pictures resemble each other, so halves must be closer.
    public var maxPartDistance: Int
    public var minimumQuality: Int
    /// For the upright content, its mirror image and an upright window (see ``searchesNeighbours(_:)``), probe
    /// each 16-bit word and its one-bit neighbours (1), or exact words only (0).
    public var wordRadius: Int
    /// Closest reference frames kept per query frame: enough for a copy of a slowly changing clip, whose
    /// neighbouring reference frames are all close, to keep the right one.
    public var candidatesPerFrame: Int
    /// Seeded search: query frames that must reach a clip through a whole key before the clip is matched.
    public var minimumSeedFrames: Int
    /// Seeded search: clips matched in the second stage at most, those seeded by most frames first. A query
    /// that seeds more (a compilation of a channel's clips) loses the weakest; the scan logs it.
    public var maxSeededClips: Int

    public init(maxDistance: Int = 76, maxPartDistance: Int = 56, minimumQuality: Int = HashSearchOptions.defaultMinimumQuality,
                wordRadius: Int = 1, candidatesPerFrame: Int = 24, minimumSeedFrames: Int = 1, maxSeededClips: Int = 64) {
        self.maxDistance = maxDistance
        self.maxPartDistance = maxPartDistance
        self.minimumQuality = minimumQuality
        self.wordRadius = wordRadius
        self.candidatesPerFrame = candidatesPerFrame
        self.minimumSeedFrames = minimumSeedFrames
        self.maxSeededClips = maxSeededClips
    }

    /// Whether a view's hash is searched with its words' one-bit neighbours: the content upright and mirrored,
    /// and a window seen upright. A mirrored copy with an overlay sat 30-60 bits from its reference, with no
    /// exact 16-bit word in most frames; a window is rescaled from a few hundred pixels, so its hash sits
    /// further from the original (40-50 bits on fine textures) than a re-encode does, and exact words alone
    /// find only half its frames. Rotations and whole-frame views keep exact words: neighbours cost 17 lookups
    /// per word, and for all eight orientations a 1-hour query against 100 h took 119 s instead of 8 (direct)
    /// and 9.6 s instead of 3 (seeded).
    @inline(__always)
    public static func searchesNeighbours(_ view: View) -> Bool {
        switch view.region {
        case .content: return view.orientation == .original || view.orientation == .mirror
        case .window: return view.orientation == .original
        case .fullFrame: return false
        }
    }
}

/// The direct hash search, an evidence source: every hash of every view of every usable query frame looks up
/// its near neighbours among the references' hashes (``BinaryCodeIndex``); the closest few per frame vote.
///
/// Query time grows with the catalogue (posting lists hold catalogue frames ÷ 65,536 entries), so large
/// catalogues seed first through ``SeededHashSource``.
public final class HashIndex: Sendable {
    /// One multi-index per part of the picture (``PicturePart``, by raw value): whole frames, then each half.
    /// A query half meets only reference halves of the same part.
    struct Slot: Sendable {
        let index: BinaryCodeIndex
        /// Per entry: its clip (a position in the clip list the index was built from) and time.
        let owners: [Int32]
        let times: [Float]
        /// Per owner: its first entry (an owner's entries are consecutive).
        let firstOfOwner: [Int32]

        init(index: BinaryCodeIndex, owners: [Int32], times: [Float]) {
            self.index = index
            self.owners = owners
            self.times = times
            var first = [Int32](repeating: 0, count: Int(owners.max() ?? -1) + 1)
            for (entry, owner) in owners.enumerated().reversed() { first[Int(owner)] = Int32(entry) }
            firstOfOwner = first
        }
    }
    let slots: [Slot]
    public let options: HashSearchOptions

    /// Indexed hashes of whole frames.
    public var frameCount: Int { slots[0].index.count }
    /// Indexed hashes of every part.
    public var entryCount: Int { slots.reduce(0) { $0 + $1.index.count } }
    /// Approximate resident bytes of the index.
    public var memoryBytes: Int { slots.reduce(0) { $0 + $1.index.memoryBytes + $1.owners.count * 8 } }

    /// Indexes the usable frames and halves of `clips`; a vote's clip is its position in this list.
    public convenience init(clips: [ReferenceFingerprint], options: HashSearchOptions = HashSearchOptions()) {
        self.init(entries: HashEntries(clips: clips, minimumQuality: options.minimumQuality), options: options)
    }

    /// From flat entries; their `owners` are clip positions.
    public init(entries: HashEntries, options: HashSearchOptions = HashSearchOptions()) {
        var slots: [Slot] = []
        for part in PicturePart.allCases {
            let chosen = entries.parts.indices.filter { entries.parts[$0] == part.rawValue }
            slots.append(Slot(index: BinaryCodeIndex(codes: chosen.map { entries.hashes[$0] }),
                              owners: chosen.map { entries.owners[$0] }, times: chosen.map { entries.times[$0] }))
        }
        self.slots = slots
        self.options = options
    }

    /// Whole-frame hashes only, from flat arrays; `owners` are clip positions.
    public convenience init(hashes: [PDQHash], owners: [Int32], times: [Float], options: HashSearchOptions = HashSearchOptions()) {
        self.init(entries: HashEntries(hashes: hashes, owners: owners, times: times), options: options)
    }

    /// The moments hashes look at: every sampled frame, usable when its quality is high enough.
    public static func timeline(of query: QueryObservations, options: HashSearchOptions) -> QueryTimeline {
        QueryTimeline(times: query.frames.map(\.time), usable: query.frames.map { $0.quality >= options.minimumQuality },
                      step: query.frameStep)
    }

    /// The votes of `query`: per usable frame, the `candidatesPerFrame` closest reference frames over all its
    /// views, weighted down by the number of clips among them.
    public func votes(for query: QueryObservations) -> [Vote] {
        Self.weigh([candidates(for: query)], order: ClipOrder(seeds: nil), options: options)
    }

    /// Per usable query frame, the closest reference entries over all its views, in the order of their distance,
    /// part, clip and place in the clip: the first `candidatesPerFrame`, or with `keepingEveryPrefix` each that
    /// is among the first `candidatesPerFrame` of the clips up to its own (owners are then seeding ranks, and the
    /// catalogue-wide seeded set, unknown here, is a prefix of them). `clipOf` maps an owner to the clip
    /// number candidates carry.
    public func candidates(for query: QueryObservations, keepingEveryPrefix: Bool = false,
                           clipOf: (Int32) -> Int32 = { $0 }) -> [HashCandidate] {
        guard entryCount > 0, !query.frames.isEmpty else { return [] }
        var seen = slots.map { [UInt32](repeating: 0, count: $0.index.count) }
        var stamp: UInt32 = 0
        var out: [HashCandidate] = []
        // Per reference entry (part << 32 | entry): the closest distance over the frame's views, and that view.
        var best: [Int64: (distance: Int, view: Int)] = [:]
        var ranked: [(key: Int64, distance: Int, view: Int)] = []
        var perOwner: [Int32] = []
        for (frameIndex, frame) in query.frames.enumerated() where frame.quality >= options.minimumQuality {
            best.removeAll(keepingCapacity: true)
            for (viewIndex, viewHash) in frame.hashes.enumerated() {
                let part = Int(viewHash.view.part.rawValue)
                guard slots[part].index.count > 0 else { continue }
                stamp &+= 1
                if stamp == 0 {  // wrapped: reset
                    for slot in seen.indices { for i in seen[slot].indices { seen[slot][i] = 0 } }
                    stamp = 1
                }
                let radius = HashSearchOptions.searchesNeighbours(viewHash.view) ? options.wordRadius : 0
                let limit = part == 0 ? options.maxDistance : options.maxPartDistance
                slots[part].index.search(viewHash.hash, maxDistance: limit, wordRadius: radius,
                                         seen: &seen[part], stamp: stamp) { entry, distance in
                    let key = Int64(part) << 32 | Int64(entry)
                    if let existing = best[key], existing.distance <= distance { return }
                    best[key] = (distance, viewIndex)
                }
            }
            guard !best.isEmpty else { continue }
            ranked.removeAll(keepingCapacity: true)
            for (key, value) in best { ranked.append((key, value.distance, value.view)) }
            // Sorted whatever the dictionary's (per-process random) order, so that ties keep the same entries
            // and results repeat exactly from run to run.
            ranked.sort { ($0.distance, $0.key) < ($1.distance, $1.key) }
            func owner(_ key: Int64) -> Int32 { slots[Int(key >> 32)].owners[Int(key & 0xFFFF_FFFF)] }
            let limit = options.candidatesPerFrame
            ranked.keepFirst(limit, everyPrefix: keepingEveryPrefix, counts: &perOwner) { Int(owner($0.key)) }
            for item in ranked {
                let slot = slots[Int(item.key >> 32)], entry = Int(item.key & 0xFFFF_FFFF)
                let clip = slot.owners[entry]
                out.append(HashCandidate(moment: Int32(frameIndex), clip: clipOf(clip),
                                         entryInClip: UInt32(entry - Int(slot.firstOfOwner[Int(clip)])),
                                         distance: Int16(item.distance), view: frame.hashes[item.view].view,
                                         referenceTime: slot.times[entry]))
            }
        }
        return out
    }
}

/// Every indexed hash of some clips as flat arrays, grouped by clip in order: whole frames of quality at least
/// the minimum, and the halves of such quality.
public struct HashEntries: Sendable {
    public var hashes: [PDQHash] = []
    /// The clip of each entry: a position in the clip list.
    public var owners: [Int32] = []
    public var times: [Float] = []
    /// The ``PicturePart`` raw value of each entry (0: the whole frame).
    public var parts: [UInt8] = []

    public var count: Int { hashes.count }

    /// Appends `other`'s entries, its owners moved up by `ownerOffset` (clips listed after this one's).
    public mutating func append(contentsOf other: HashEntries, ownerOffset: Int32) {
        hashes += other.hashes
        times += other.times
        parts += other.parts
        owners += other.owners.map { $0 + ownerOffset }
    }

    /// Room for about `count` entries, so that building a large index does not hold each array twice while it grows.
    public mutating func reserveCapacity(_ count: Int) {
        hashes.reserveCapacity(count)
        owners.reserveCapacity(count)
        times.reserveCapacity(count)
        parts.reserveCapacity(count)
    }

    public init() {}

    /// Whole-frame entries only.
    public init(hashes: [PDQHash], owners: [Int32], times: [Float]) {
        precondition(hashes.count == owners.count && hashes.count == times.count, "one owner and time per hash")
        self.hashes = hashes
        self.owners = owners
        self.times = times
        parts = [UInt8](repeating: 0, count: hashes.count)
    }

    public init(clips: [ReferenceFingerprint], minimumQuality: Int) {
        let total = clips.reduce(0) { $0 + $1.frames.count + 4 * $1.partFrames.count }
        hashes.reserveCapacity(total)
        owners.reserveCapacity(total)
        times.reserveCapacity(total)
        parts.reserveCapacity(total)
        for (clipIndex, fingerprint) in clips.enumerated() { append(fingerprint, owner: Int32(clipIndex), minimumQuality: minimumQuality) }
    }

    public mutating func append(_ fingerprint: ReferenceFingerprint, owner: Int32, minimumQuality: Int) {
        for frame in fingerprint.frames where frame.quality >= minimumQuality {
            append(frame.hash, owner: owner, time: Float(frame.time), part: .whole)
        }
        for frame in fingerprint.partFrames {
            for (index, part) in PicturePart.halves.enumerated() where frame.qualities[index] >= minimumQuality {
                append(frame.hashes[index], owner: owner, time: Float(frame.time), part: part)
            }
        }
    }

    public mutating func append(_ hash: PDQHash, owner: Int32, time: Float, part: PicturePart) {
        hashes.append(hash)
        owners.append(owner)
        times.append(time)
        parts.append(part.rawValue)
    }
}
