import ClipTraceAlignment
import ClipTraceFingerprint
import ClipTraceHashing
import ClipTraceObservations

/// The catalogue index for large catalogues (hundreds to tens of thousands of hours), searched in two stages.
///
/// ``HashIndex`` reads a posting list of (catalogue frames ÷ 65,536) entries per 16-bit word and probe, so its
/// query time grows in step with the catalogue. Here each hash is cut into ten 24-bit keys instead; a key
/// lookup meets about (catalogue frames ÷ 16.7 million) unrelated entries, so seeding costs almost the same
/// for 100 or 10,000 hours. A copy shows up as query frames sharing a key with a reference frame. The hashes
/// that ``Matcher`` searches with word neighbours (the frame upright and mirrored, an upright window) also try
/// every key one bit away, so a frame 40 bits from its original still seeds six times in ten (exact keys
/// alone: one in six); every other query frame seeds, and a copied stretch has dozens of frames. Only the
/// clips seeded that way are then searched exactly as before, through a ``HashIndex`` built on the spot over
/// their frames: the votes, and so the alignment, the scores and the timelines, are those of the direct search.
///
/// Memory: the hash (32 B), time (4 B) and clip (4 B) of each indexed frame, and per key table one byte of the
/// key and a 4-byte entry number: 90 bytes per indexed frame, plus 2.6 MB of bucket offsets.
public final class SeedIndex: Sendable {
    public let clipCount: Int
    let hashes: [PDQHash]
    let owners: [Int32]
    let times: [Float]
    /// The ``PicturePart`` of each entry: a query half seeds only through reference halves of the same part.
    let parts: [UInt8]
    /// Entries of each clip, contiguous: clip `c` owns `clipStarts[c] ..< clipStarts[c + 1]`.
    let clipStarts: [Int]
    /// Per key table: entries sorted by key; bucket offsets by the key's top 16 bits, then its low 8 bits.
    let bucketOffsets: [[UInt32]]
    let lowBytes: [[UInt8]]
    let entries: [[UInt32]]
    public let options: HashSearchOptions

    package static let tableCount = 10
    static let keyBits = 24

    public var frameCount: Int { hashes.count }

    /// Resident bytes of the index structures.
    public var memoryBytes: Int {
        hashes.count * (MemoryLayout<PDQHash>.stride + 4 + 4 + 1 + Self.tableCount * 5)
            + Self.tableCount * 65_537 * 4 + clipStarts.count * 8
    }

    /// Indexes the usable frames of `clips`; a vote's clip is its position in this list.
    public convenience init(clips: [ReferenceFingerprint], options: HashSearchOptions = HashSearchOptions()) {
        self.init(clipCount: clips.count, entries: HashEntries(clips: clips, minimumQuality: options.minimumQuality),
                  options: options)
    }

    /// Whole-frame hashes only, from flat arrays (grouped by clip in order); `owners` are clip positions.
    public convenience init(clipCount: Int, hashes: [PDQHash], owners: [Int32], times: [Float],
                            options: HashSearchOptions = HashSearchOptions()) {
        self.init(clipCount: clipCount, entries: HashEntries(hashes: hashes, owners: owners, times: times), options: options)
    }

    /// Builds from flat arrays (one entry per indexed hash, grouped by clip in order), so a very large
    /// catalogue never has to exist as ``ReferenceFingerprint`` values too. `owners` are clip positions below
    /// `clipCount`.
    public init(clipCount: Int, entries flat: HashEntries, options: HashSearchOptions = HashSearchOptions()) {
        let hashes = flat.hashes, owners = flat.owners
        precondition(zip(owners, owners.dropFirst()).allSatisfy { $0 <= $1 }, "entries grouped by clip, in order")
        precondition(owners.allSatisfy { $0 >= 0 && Int($0) < clipCount }, "owners are clip positions")
        self.options = options
        self.clipCount = clipCount
        self.hashes = hashes
        self.owners = owners
        self.times = flat.times
        self.parts = flat.parts
        var starts = [Int](repeating: 0, count: clipCount + 1)
        for owner in owners { starts[Int(owner) + 1] += 1 }
        for clip in 0..<clipCount { starts[clip + 1] += starts[clip] }
        clipStarts = starts

        // Entries sorted by their 24-bit key (stable: in entry order within a key). Large catalogues use a
        // counting sort over all 16.7 million keys; small ones a comparison sort that does not touch them all.
        let count = hashes.count
        var allOffsets: [[UInt32]] = [], allLow: [[UInt8]] = [], allEntries: [[UInt32]] = []
        let counting = count >= 1 << 20
        var counts = [UInt32](repeating: 0, count: counting ? 1 << Self.keyBits + 1 : 0)
        for table in 0..<Self.tableCount {
            var low = [UInt8](repeating: 0, count: count)
            var sorted = [UInt32](repeating: 0, count: count)
            var buckets = [UInt32](repeating: 0, count: 65_537)
            if counting {
                for i in counts.indices { counts[i] = 0 }
                hashes.withUnsafeBufferPointer { hashes in
                    for hash in hashes { counts[Int(Self.key(hash, table)) + 1] += 1 }
                }
                for value in 0..<(1 << Self.keyBits) { counts[value + 1] += counts[value] }
                for high in 0...65_536 { buckets[high] = counts[min(high << 8, 1 << Self.keyBits)] }
                hashes.withUnsafeBufferPointer { hashes in
                    for entry in 0..<count {
                        let key = Int(Self.key(hashes[entry], table))
                        let position = Int(counts[key])
                        counts[key] += 1
                        sorted[position] = UInt32(entry)
                        low[position] = UInt8(key & 0xFF)
                    }
                }
            } else {
                let keyed = hashes.indices.map { UInt64(Self.key(hashes[$0], table)) << 32 | UInt64($0) }.sorted()
                for (position, item) in keyed.enumerated() {
                    sorted[position] = UInt32(truncatingIfNeeded: item)
                    low[position] = UInt8(truncatingIfNeeded: item >> 32)
                    buckets[Int(item >> 40) + 1] += 1
                }
                for high in 0..<65_536 { buckets[high + 1] += buckets[high] }
            }
            allOffsets.append(buckets)
            allLow.append(low)
            allEntries.append(sorted)
        }
        bucketOffsets = allOffsets
        lowBytes = allLow
        entries = allEntries
    }

    /// Bits `24·table ..< 24·table + 24` of the hash.
    @inline(__always)
    package static func key(_ hash: PDQHash, _ table: Int) -> UInt32 {
        let bit = table * keyBits
        let words = (hash.w0, hash.w1, hash.w2, hash.w3)
        func word(_ index: Int) -> UInt64 {
            switch index {
            case 0: words.0
            case 1: words.1
            case 2: words.2
            default: words.3
            }
        }
        let index = bit / 64, offset = bit % 64
        var value = word(index) >> UInt64(offset)
        if offset > 64 - keyBits, index < 3 { value |= word(index + 1) << UInt64(64 - offset) }
        return UInt32(truncatingIfNeeded: value) & (1 << UInt32(keyBits) - 1)
    }

    /// Calls `body(entry)` for every indexed frame sharing a whole key with `hash`, or (with `radius` 1) a key
    /// one bit away.
    @inline(__always)
    func lookup(_ hash: PDQHash, radius: Int, _ body: (Int) -> Void) {
        for table in 0..<Self.tableCount {
            let exact = Self.key(hash, table)
            guard radius > 0 else {
                lookup(key: exact, table: table, body)
                continue
            }
            // The exact key and its eight low-byte neighbours share one bucket: one pass over it instead of nine
            // binary searches (seeding is most of a large query's time). Then the sixteen high-bit neighbours.
            scanBucket(of: exact, table: table, body)
            for flip in 8..<Self.keyBits { lookup(key: exact ^ (1 << UInt32(flip)), table: table, body) }
        }
    }

    /// Entries in the bucket of `key`'s top 16 bits whose low byte is `key`'s or one bit away from it.
    @inline(__always)
    private func scanBucket(of key: UInt32, table: Int, _ body: (Int) -> Void) {
        let high = Int(key >> 8), low = UInt8(key & 0xFF)
        bucketOffsets[table].withUnsafeBufferPointer { offsets in
            lowBytes[table].withUnsafeBufferPointer { lows in
                entries[table].withUnsafeBufferPointer { entries in
                    for position in Int(offsets[high])..<Int(offsets[high + 1])
                    where (lows[position] ^ low).nonzeroBitCount <= 1 {
                        body(Int(entries[position]))
                    }
                }
            }
        }
    }

    @inline(__always)
    private func lookup(key: UInt32, table: Int, _ body: (Int) -> Void) {
        let high = Int(key >> 8), low = UInt8(key & 0xFF)
        bucketOffsets[table].withUnsafeBufferPointer { offsets in
            lowBytes[table].withUnsafeBufferPointer { lows in
                entries[table].withUnsafeBufferPointer { entries in
                    // Binary search for the first entry with this low byte, then walk while it holds.
                    var start = Int(offsets[high]), end = Int(offsets[high + 1])
                    while start < end {
                        let middle = (start + end) / 2
                        if lows[middle] < low { start = middle + 1 } else { end = middle }
                    }
                    let bucketEnd = Int(offsets[high + 1])
                    while start < bucketEnd, lows[start] == low {
                        body(Int(entries[start]))
                        start += 1
                    }
                }
            }
        }
    }

    /// What seeding found: the clips to search, strongest first, and how many more were seeded but left out.
    public struct Seeding: Hashable, Sendable {
        public var clips: [Int]
        public var leftOut: Int
    }

    /// Clips that at least `minimumSeedFrames` sampled query frames lead to through a whole key (or one a bit
    /// away) and a distance within `maxDistance`, strongest first, at most `maxSeededClips`.
    public func seededClips(for query: QueryObservations) -> Seeding {
        var framesPerClip = [Int32](repeating: 0, count: clipCount)
        var lastFrame = [Int32](repeating: -1, count: clipCount)
        hashes.withUnsafeBufferPointer { hashes in
            // Every other frame: one seed brings a clip to the second stage, which then sees every frame, and a
            // copy long enough to report (a second or more) still offers several tries. Seeding is most of a
            // large query's time: against 1,000 h this halves it.
            for (frameIndex, frame) in query.frames.enumerated()
            where frameIndex % 2 == 0 && frame.quality >= options.minimumQuality {
                for viewHash in frame.hashes {
                    let hash = viewHash.hash, part = viewHash.view.part.rawValue
                    let radius = HashSearchOptions.searchesNeighbours(viewHash.view) ? options.wordRadius : 0
                    lookup(hash, radius: radius) { entry in
                        let clip = Int(owners[entry])
                        guard lastFrame[clip] != Int32(frameIndex), parts[entry] == part,
                              hashes[entry].distance(to: hash) <= (part == 0 ? options.maxDistance : options.maxPartDistance)
                        else { return }
                        lastFrame[clip] = Int32(frameIndex)
                        framesPerClip[clip] += 1
                    }
                }
            }
        }
        let seeded = framesPerClip.indices.filter { framesPerClip[$0] >= options.minimumSeedFrames }
            .sorted { (framesPerClip[$0], -$0) > (framesPerClip[$1], -$1) }
        return Seeding(clips: Array(seeded.prefix(options.maxSeededClips)),
                       leftOut: max(0, seeded.count - options.maxSeededClips))
    }

    /// A direct index over the frames of some clips, for the exact second stage. Its owners are positions in
    /// `clipIndices`.
    public func directIndex(of clipIndices: [Int]) -> HashIndex {
        var entries = HashEntries()
        for (position, clip) in clipIndices.enumerated() {
            let range = clipStarts[clip]..<clipStarts[clip + 1]
            entries.hashes += hashes[range]
            entries.times += times[range]
            entries.parts += parts[range]
            entries.owners += repeatElement(Int32(position), count: range.count)
        }
        return HashIndex(entries: entries, options: options)
    }

    /// The votes of `query`: those of the direct search over the seeded clips.
    public func votes(for query: QueryObservations) -> (votes: [Vote], seeding: Seeding) {
        let seeding = seededClips(for: query)
        guard !seeding.clips.isEmpty else { return ([], seeding) }
        let clips = seeding.clips.map { Int32($0) }
        return (directIndex(of: seeding.clips).votes(for: query) { clips[Int($0)] }, seeding)
    }
}
