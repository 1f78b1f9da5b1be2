import ClipTraceAlignment
import ClipTraceFingerprint
import ClipTraceHashing
import ClipTraceObservations

/// Settings of the hash search (``HashIndex``, ``SeedIndex``).
public struct HashSearchOptions: Hashable, Sendable {
    /// Frames below this PDQ quality are neither indexed nor searched: flat, dark or fading frames match anything.
    /// (Meta recommends 50 for still images; video has many soft frames that still place a copy, and below 20
    /// the hashes of black and faded frames began to match across the evaluation's clips.)
    public static let defaultMinimumQuality = 20

    /// Largest Hamming distance (of 256 bits) at which two frames can vote. Unrelated PDQ hashes sit 128 ± 8 bits
    /// apart, so 76 is six and a half standard deviations below chance, while heavily edited copies (overlays,
    /// a mirror under a banner) still reach their reference with part of their frames.
    public var maxDistance: Int
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

    public init(maxDistance: Int = 76, minimumQuality: Int = HashSearchOptions.defaultMinimumQuality,
                wordRadius: Int = 1, candidatesPerFrame: Int = 24, minimumSeedFrames: Int = 1, maxSeededClips: Int = 64) {
        self.maxDistance = maxDistance
        self.minimumQuality = minimumQuality
        self.wordRadius = wordRadius
        self.candidatesPerFrame = candidatesPerFrame
        self.minimumSeedFrames = minimumSeedFrames
        self.maxSeededClips = maxSeededClips
    }

    static let tiltNeighbours = true

    /// Whether a view's hash is searched with its words' one-bit neighbours: the content upright and mirrored,
    /// and a window seen upright. A mirrored copy with an overlay sat 30-60 bits from its reference, with no
    /// exact 16-bit word in most frames; a window is rescaled from a few hundred pixels, so its hash sits
    /// further from the original (40-50 bits on fine textures) than a re-encode does, and exact words alone
    /// find only half its frames. Rotations and whole-frame views keep exact words: neighbours cost 17 lookups
    /// per word, and for all eight orientations a 1-hour query against 100 h took 119 s instead of 8 (direct)
    /// and 9.6 s instead of 3 (seeded).
    @inline(__always)
    public static func searchesNeighbours(_ view: View) -> Bool {
        // A tilted view is a rescue with rough edges (the turned-back corners are guesses).
        if view.tilt != 0 { return tiltNeighbours }
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
/// catalogues seed first through ``SeedIndex``.
public final class HashIndex: Sendable {
    let index: BinaryCodeIndex
    /// Per indexed frame: its clip (a position in the clip list the index was built from) and time.
    let owners: [Int32]
    let times: [Float]
    public let options: HashSearchOptions

    public var frameCount: Int { index.count }
    /// Approximate resident bytes of the index.
    public var memoryBytes: Int { index.memoryBytes + owners.count * 8 }

    /// Indexes the usable frames of `clips`; a vote's clip is its position in this list.
    public convenience init(clips: [ReferenceFingerprint], options: HashSearchOptions = HashSearchOptions()) {
        let flat = Self.flatten(clips, minimumQuality: options.minimumQuality)
        self.init(hashes: flat.hashes, owners: flat.owners, times: flat.times, options: options)
    }

    /// From flat arrays, one entry per indexed hash; `owners` are clip positions.
    public init(hashes: [PDQHash], owners: [Int32], times: [Float], options: HashSearchOptions = HashSearchOptions()) {
        precondition(hashes.count == owners.count && hashes.count == times.count, "one owner and time per hash")
        index = BinaryCodeIndex(codes: hashes)
        self.owners = owners
        self.times = times
        self.options = options
    }

    /// Every indexed hash of the clips in order (frames of quality ≥ `minimumQuality`), with its clip and time.
    static func flatten(_ clips: [ReferenceFingerprint], minimumQuality: Int)
        -> (hashes: [PDQHash], owners: [Int32], times: [Float])
    {
        var hashes: [PDQHash] = [], owners: [Int32] = [], times: [Float] = []
        let total = clips.reduce(0) { $0 + $1.frames.count }
        hashes.reserveCapacity(total)
        owners.reserveCapacity(total)
        times.reserveCapacity(total)
        for (clipIndex, fingerprint) in clips.enumerated() {
            for frame in fingerprint.frames where frame.quality >= minimumQuality {
                hashes.append(frame.hash)
                owners.append(Int32(clipIndex))
                times.append(Float(frame.time))
            }
        }
        return (hashes, owners, times)
    }

    /// The moments hashes look at: every sampled frame, usable when its quality is high enough.
    public static func timeline(of query: QueryObservations, options: HashSearchOptions) -> QueryTimeline {
        QueryTimeline(times: query.frames.map(\.time), usable: query.frames.map { $0.quality >= options.minimumQuality },
                      step: query.frameStep)
    }

    /// The votes of `query`: per usable frame, the `candidatesPerFrame` closest reference frames over all its
    /// views. `clipOf` maps an owner to the clip number votes carry (the identity unless this index covers a
    /// subset of a catalogue).
    public func votes(for query: QueryObservations, clipOf: (Int32) -> Int32 = { $0 }) -> [Vote] {
        guard frameCount > 0, !query.frames.isEmpty else { return [] }
        var seen = [UInt32](repeating: 0, count: frameCount)
        var stamp: UInt32 = 0
        var out: [Vote] = []
        var best: [Int32: (distance: Int, view: Int)] = [:]
        for (frameIndex, frame) in query.frames.enumerated() where frame.quality >= options.minimumQuality {
            best.removeAll(keepingCapacity: true)
            for (viewIndex, viewHash) in frame.hashes.enumerated() {
                stamp &+= 1
                if stamp == 0 {  // wrapped: reset
                    for i in seen.indices { seen[i] = 0 }
                    stamp = 1
                }
                let radius = HashSearchOptions.searchesNeighbours(viewHash.view) ? options.wordRadius : 0
                index.search(viewHash.hash, maxDistance: options.maxDistance, wordRadius: radius, seen: &seen,
                             stamp: stamp) { entry, distance in
                    let key = Int32(entry)
                    if let existing = best[key], existing.distance <= distance { return }
                    best[key] = (distance, viewIndex)
                }
            }
            guard !best.isEmpty else { continue }
            var ranked = best.map { (entry: $0.key, distance: $0.value.distance, view: $0.value.view) }
            // Sorted whatever the dictionary's (per-process random) order, so that ties keep the same entries
            // and results repeat exactly from run to run.
            ranked.sort { ($0.distance, $0.entry) < ($1.distance, $1.entry) }
            if ranked.count > options.candidatesPerFrame { ranked.removeLast(ranked.count - options.candidatesPerFrame) }
            // A query frame that resembles many different clips (black frame, logo, intro) is weak evidence.
            let clipsHit = Set(ranked.map { owners[Int($0.entry)] }).count
            let spread = Float(1) / Float(max(1, clipsHit)).squareRoot()
            for item in ranked {
                let relative = Float(item.distance) / Float(options.maxDistance)
                out.append(Vote(clip: clipOf(owners[Int(item.entry)]), moment: Int32(frameIndex),
                                referenceTime: Double(times[Int(item.entry)]), weight: (1 - relative * relative) * spread,
                                distance: Int16(item.distance),
                                label: VoteLabel(view: frame.hashes[item.view].view, evidence: .hash)))
            }
        }
        return out
    }
}
