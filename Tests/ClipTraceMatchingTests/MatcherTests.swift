import ClipTraceAlignment
import ClipTraceEvidence
import ClipTraceFingerprint
import ClipTraceHashing
import ClipTraceMatching
import ClipTraceObservations
import TestSupport
import Testing

/// The hash indexes (direct and seeded) and the catalogue search on synthetic hashes shaped like real video.
@Suite("Hash search")
struct MatcherTests {
    /// A reference whose consecutive frames drift slowly, like real video: each frame differs from the
    /// previous in a few bits, and every few seconds a "cut" starts a new scene.
    static func referenceHashes(count: Int, seed: UInt64) -> [PDQHash] {
        var generator = SplitMix(seed: seed)
        var current = random(&generator)
        return (0..<count).map { index in
            if index % 20 == 0 { current = random(&generator) } else { current = flip(current, bits: 6, &generator) }
            return current
        }
    }

    static func random(_ generator: inout SplitMix) -> PDQHash {
        PDQHash(w0: generator.next(), w1: generator.next(), w2: generator.next(), w3: generator.next())
    }

    static func flip(_ hash: PDQHash, bits: Int, _ generator: inout SplitMix) -> PDQHash {
        var words = [hash.w0, hash.w1, hash.w2, hash.w3]
        for _ in 0..<bits {
            let bit = Int(generator.next() % 256)
            words[bit / 64] ^= 1 << UInt64(bit % 64)
        }
        return PDQHash(w0: words[0], w1: words[1], w2: words[2], w3: words[3])
    }

    /// `hash` with exactly `bits` distinct bits flipped, all outside its first 64 bits: the index's 16-bit words
    /// there still match exactly, so the index meets the hash as a candidate and only the distance decides.
    static func flipOutsideFirstWord(_ hash: PDQHash, bits: Int, _ generator: inout SplitMix) -> PDQHash {
        var words = [hash.w0, hash.w1, hash.w2, hash.w3]
        var positions = Set<Int>()
        while positions.count < bits { positions.insert(64 + Int(generator.next() % 192)) }
        for bit in positions { words[bit / 64] ^= 1 << UInt64(bit % 64) }
        return PDQHash(w0: words[0], w1: words[1], w2: words[2], w3: words[3])
    }

    static func fingerprint(_ frames: [(Double, PDQHash, Int)]) -> ReferenceFingerprint {
        ReferenceFingerprint(duration: (frames.last?.0 ?? 0) + 0.25, frameRate: 25, width: 320, height: 240,
                             rotation: 0, codec: "h264", sampleRate: 4,
                             frames: frames.map { .init(time: $0.0, hash: $0.1, quality: $0.2) })
    }

    /// A query observation with only the upright content view per frame.
    static func observations(_ frames: [(Double, PDQHash, Int)]) -> QueryObservations {
        QueryObservations(duration: (frames.last?.0 ?? 0) + 0.25, frameRate: 25, width: 320, height: 240,
                          sampleRate: 4, frames: frames.map {
                              .init(time: $0.0, quality: $0.2, hashes: [.init(view: .upright, hash: $0.1)])
                          })
    }

    static let referenceA = referenceHashes(count: 160, seed: 1)  // 40 s at 4 samples/s
    static let referenceB = referenceHashes(count: 120, seed: 2)

    static var clips: [(IndexedClip, ReferenceFingerprint)] {
        [(IndexedClip(id: 11, title: "A", duration: 40), fingerprint(referenceA.enumerated().map { (Double($0) / 4, $1, 90) })),
         (IndexedClip(id: 12, title: "B", duration: 30), fingerprint(referenceB.enumerated().map { (Double($0) / 4, $1, 90) }))]
    }

    static func matcher() -> CatalogueMatcher { CatalogueMatcher(clips: clips, strategy: .direct) }

    /// A query: `prefix` seconds of unrelated frames, then reference A from `start` for `length` seconds at
    /// `speed`, each frame with `noise` flipped bits, then unrelated frames.
    static func query(prefix: Double, start: Double, length: Double, speed: Double = 1, noise: Int = 20,
                      seed: UInt64 = 9) -> QueryObservations
    {
        var generator = SplitMix(seed: seed)
        var frames: [(Double, PDQHash, Int)] = []
        var time = 0.0
        while time < prefix { frames.append((time, random(&generator), 90)); time += 0.25 }
        var offset = 0.0
        while offset < length {
            let referenceTime = start + offset * speed
            let hash = referenceA[min(referenceA.count - 1, Int((referenceTime * 4).rounded()))]
            frames.append((prefix + offset, flip(hash, bits: noise, &generator), 90))
            offset += 0.25
        }
        time = prefix + length
        for _ in 0..<20 { frames.append((time, random(&generator), 90)); time += 0.25 }
        return observations(frames)
    }

    @Test("a copy embedded at a known offset is found on both timelines")
    func embeddedCopy() throws {
        let matches = try Self.matcher().match(Self.query(prefix: 12, start: 3, length: 20))
        let match = try #require(matches.first)
        #expect(matches.count == 1)
        #expect(match.clip.title == "A")
        #expect(abs(match.queryStart - 12) <= 0.5 && abs(match.queryEnd - 32) <= 0.5)
        #expect(abs(match.referenceStart - 3) <= 0.5 && abs(match.referenceEnd - 23) <= 0.5)
        #expect(match.score > 0.9)
        #expect(match.matchedMoments >= 70 && match.evidence == .hash && match.view == .upright)
    }

    @Test("speed changes of 0.8x-1.25x are fitted as a slope", arguments: [0.8, 0.9, 1.1, 1.25])
    func speed(_ speed: Double) throws {
        let matches = try Self.matcher().match(Self.query(prefix: 5, start: 4, length: 16, speed: speed))
        let match = try #require(matches.max { $0.score < $1.score })
        #expect(abs(match.speed - speed) < 0.06)
        #expect(abs(match.queryStart - 5) <= 0.5 && abs(match.queryEnd - 21) <= 0.75)
        #expect(abs(match.referenceStart - 4) <= 0.5)
        #expect(abs(match.referenceEnd - (4 + 16 * speed)) <= 0.75)
    }

    @Test("unrelated content matches nothing")
    func negative() throws {
        var generator = SplitMix(seed: 77)
        let frames = (0..<200).map { (Double($0) / 4, Self.random(&generator), 90) }
        #expect(try Self.matcher().match(Self.observations(frames)).isEmpty)
    }

    @Test("flat, low-quality frames never match even when their hashes are identical")
    func lowQuality() throws {
        let flat = PDQHash.zero
        let reference = Self.fingerprint((0..<40).map { (Double($0) / 4, flat, 0) })
        let index = HashIndex(clips: [reference])
        #expect(index.frameCount == 0)
        let query = Self.observations((0..<40).map { (Double($0) / 4, flat, 5) })
        #expect(index.votes(for: query).isEmpty)
        #expect(try CatalogueMatcher(clips: [(IndexedClip(id: 1, title: "black", duration: 10), reference)]).match(query).isEmpty)
    }

    @Test("the same reference twice in one query gives two matches")
    func twice() throws {
        var first = Self.query(prefix: 2, start: 2, length: 8, seed: 1)
        let second = Self.query(prefix: 0, start: 25, length: 8, seed: 2)
        let shift = first.duration + 5
        first.frames += second.frames.map {
            .init(time: $0.time + shift, quality: $0.quality, hashes: $0.hashes)
        }
        first.duration += shift
        let matches = try Self.matcher().match(first).filter(\.isConfident)
        #expect(matches.count == 2)
        #expect(matches.map { ($0.referenceStart / 5).rounded() } == [0, 5])
    }

    @Test("the index finds near neighbours and skips far ones")
    func indexSearch() throws {
        let index = HashIndex(clips: Self.clips.map(\.1))
        #expect(index.frameCount == 280)
        var generator = SplitMix(seed: 31)
        // Frame 50 of B itself; hashes 70 and 90 bits from frame 70 of B, on either side of the 76-bit limit,
        // both sharing B's first 64 bits so that the index meets them and only the distance can exclude one.
        let limit = HashSearchOptions().maxDistance
        let near = Self.referenceB[50]
        let inside = Self.flipOutsideFirstWord(Self.referenceB[70], bits: 70, &generator)
        let far = Self.flipOutsideFirstWord(Self.referenceB[70], bits: 90, &generator)
        #expect(inside.distance(to: Self.referenceB[70]) == 70 && far.distance(to: Self.referenceB[70]) == 90)
        #expect(70 <= limit && 90 > limit)
        let votes = index.votes(for: Self.observations([(0, near, 90), (0.25, far, 90), (0.5, inside, 90)]))
        let exact = try #require(votes.first { $0.moment == 0 && $0.distance == 0 })
        #expect(exact.clip == 1 && exact.referenceTime == 12.5)
        #expect(votes.allSatisfy { Int($0.distance) <= limit })
        #expect(votes.contains { $0.moment == 2 && $0.clip == 1 && $0.referenceTime == 17.5 && $0.distance == 70 },
                "a frame 70 bits away, within the limit, did not vote")
        #expect(!votes.contains { $0.moment == 1 && $0.clip == 1 && $0.referenceTime == 17.5 },
                "a frame 90 bits away voted")
        #expect(votes.filter { $0.moment == 0 }.count <= HashSearchOptions().candidatesPerFrame)
    }

    @Test("compact word tables find the same entries, in the same order, as full ones", arguments: [0, 1])
    func compactWordTables(wordRadius: Int) {
        var generator = SplitMix(seed: 7)
        // Clusters of near codes, so that words repeat and some share their top 12 bits with another word.
        let centres = (0..<40).map { _ in
            PDQHash(w0: generator.next(), w1: generator.next(), w2: generator.next(), w3: generator.next())
        }
        let codes = (0..<3_000).map { index in
            Self.flipOutsideFirstWord(centres[index % centres.count], bits: index % 50, &generator)
        }
        let compact = BinaryCodeIndex(codes: codes), full = BinaryCodeIndex(codes: codes, compactLimit: 0)
        #expect(compact.memoryBytes < full.memoryBytes / 4)
        var seen = [UInt32](repeating: 0, count: codes.count)
        var stamp: UInt32 = 0
        for query in centres + codes.prefix(200) {
            var found: [[Int]] = []
            for index in [compact, full] {
                stamp += 1
                var entries: [Int] = []
                index.search(query, maxDistance: 64, wordRadius: wordRadius, seen: &seen, stamp: stamp) { entry, distance in
                    entries.append(entry * 1_000 + distance)
                }
                found.append(entries)
            }
            #expect(found[0] == found[1])
            #expect(!found[0].isEmpty)
        }
    }

    @Test("seeded search: the ten 24-bit keys cover the first 240 bits, each bit once")
    func seedKeys() {
        var covered = [Int](repeating: 0, count: 256)
        for bit in 0..<256 {
            var words: [UInt64] = [0, 0, 0, 0]
            words[bit / 64] = 1 << UInt64(bit % 64)
            let hash = PDQHash(w0: words[0], w1: words[1], w2: words[2], w3: words[3])
            covered[bit] = (0..<HashSegment.tableCount).filter { KeyTables.key(hash, $0) != 0 }.count
        }
        #expect(covered[0..<240].allSatisfy { $0 == 1 } && covered[240...].allSatisfy { $0 == 0 })
        #expect(KeyTables.key(PDQHash(w0: ~0, w1: ~0, w2: ~0, w3: ~0), 2) == 0xFF_FFFF)
    }

    @Test("seeded search finds what the direct search finds, on both timelines", arguments: [0, 12, 20])
    func seededEqualsDirect(_ noise: Int) throws {
        let query = Self.query(prefix: 12, start: 3, length: 20, noise: noise)
        let direct = try CatalogueMatcher(clips: Self.clips, strategy: .direct).match(query)
        let seeded = try CatalogueMatcher(clips: Self.clips, strategy: .seeded).match(query)
        let best = try #require(seeded.max { $0.score < $1.score })
        #expect(best.clip.title == "A")
        #expect(abs(best.queryStart - 12) <= 0.5 && abs(best.referenceStart - 3) <= 0.5)
        #expect(seeded.map(\.queryStart) == direct.map(\.queryStart))
        #expect(seeded.map(\.score) == direct.map(\.score))
    }

    @Test("seeded search matches nothing on unrelated content and seeds no clip")
    func seededNegative() throws {
        var generator = SplitMix(seed: 77)
        let query = Self.observations((0..<400).map { (Double($0) / 4, Self.random(&generator), 90) })
        let seeds = SeededHashSource(clips: Self.clips.map(\.1))
        #expect(try seeds.seededClips(for: query).clips.isEmpty)
        #expect(try CatalogueMatcher(clips: Self.clips, strategy: .seeded).match(query).isEmpty)
        #expect(CatalogueMatcher(clips: Self.clips).strategy == .direct, "small catalogues are searched directly")
    }

    @Test("the seeded search's clip limit leaves the weakest out and says so")
    func seededLimit() throws {
        // Seven clips all showing reference A: every one is seeded; a limit of three keeps three.
        let clips = (0..<7).map { _ in Self.clips[0].1 }
        var options = HashSearchOptions()
        options.maxSeededClips = 3
        let query = Self.query(prefix: 2, start: 3, length: 10)
        let collected = try SeededHashSource(clips: clips, options: options).collect(for: query)
        #expect(Set(collected.votes.map(\.clip)).count == 3)
        #expect(collected.notes.count == 1 && collected.notes[0].contains("7 clips were seeded"), "\(collected.notes)")
        #expect(try SeededHashSource(clips: clips).collect(for: query).notes.isEmpty)
    }

    @Test("the reported view is the one the votes came through, whatever each frame's list of views")
    func viewFromVotes() throws {
        // The copy shows through an upright window. The first frame also has whole-frame views (bars were seen
        // there only), so the window's position in each frame's list of views changes from frame to frame:
        // the matcher used to name the view at the most common position of the first frame ("full-frame").
        var generator = SplitMix(seed: 4)
        var frames: [QueryObservations.Frame] = []
        for index in 0..<40 {
            let copied = Self.flip(Self.referenceA[index + 8], bits: 12, &generator)
            func views(_ region: ViewRegion, _ upright: PDQHash?) -> [QueryObservations.ViewHash] {
                Dihedral.allCases.map {
                    .init(view: View(orientation: $0, region: region),
                          hash: $0 == .original ? (upright ?? Self.random(&generator)) : Self.random(&generator))
                }
            }
            var hashes = views(.content, nil)
            if index == 0 { hashes += views(.fullFrame, nil) }
            hashes += views(.window, copied)
            frames.append(.init(time: Double(index) / 4, quality: 90, hashes: hashes))
        }
        let query = QueryObservations(duration: 10, frameRate: 25, width: 320, height: 240, sampleRate: 4,
                                      frames: frames)
        let match = try #require(try Self.matcher().match(query).first)
        #expect(match.view == View(orientation: .original, region: .window), "\(match.view)")
        #expect(match.clip.title == "A" && abs(match.referenceStart - 2) <= 0.5)
    }
}
