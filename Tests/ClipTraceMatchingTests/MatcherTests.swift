import ClipTraceFingerprint
import ClipTraceHashing
@testable import ClipTraceMatching
import TestSupport
import Testing

@Suite("Temporal matcher")
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

    static func fingerprint(_ frames: [(Double, PDQHash, Int)]) -> Fingerprint {
        Fingerprint(duration: (frames.last?.0 ?? 0) + 0.25, frameRate: 25, width: 320, height: 240, rotation: 0,
                    codec: "h264", sampleRate: 4, frames: frames.map { .init(time: $0.0, hash: $0.1, quality: $0.2) })
    }

    static let referenceA = referenceHashes(count: 160, seed: 1)  // 40 s at 4 samples/s
    static let referenceB = referenceHashes(count: 120, seed: 2)

    static func index() -> HashIndex {
        HashIndex(clips: [
            (IndexedClip(id: 11, title: "A", duration: 40), fingerprint(referenceA.enumerated().map { (Double($0) / 4, $1, 90) })),
            (IndexedClip(id: 12, title: "B", duration: 30), fingerprint(referenceB.enumerated().map { (Double($0) / 4, $1, 90) })),
        ])
    }

    /// A query: `prefix` seconds of unrelated frames, then reference A from `start` for `length` seconds at
    /// `speed`, each frame with `noise` flipped bits, then unrelated frames.
    static func query(prefix: Double, start: Double, length: Double, speed: Double = 1, noise: Int = 20,
                      seed: UInt64 = 9) -> Fingerprint
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
        return fingerprint(frames)
    }

    @Test("a copy embedded at a known offset is found on both timelines")
    func embeddedCopy() throws {
        let matches = Matcher(index: Self.index()).match(Self.query(prefix: 12, start: 3, length: 20))
        let match = try #require(matches.first)
        #expect(matches.count == 1)
        #expect(match.clip.title == "A")
        #expect(abs(match.queryStart - 12) <= 0.5 && abs(match.queryEnd - 32) <= 0.5)
        #expect(abs(match.referenceStart - 3) <= 0.5 && abs(match.referenceEnd - 23) <= 0.5)
        #expect(match.score > 0.9)
        #expect(match.matchedFrames >= 70)
    }

    @Test("speed changes of 0.8x-1.25x are fitted as a slope", arguments: [0.8, 0.9, 1.1, 1.25])
    func speed(_ speed: Double) throws {
        let matches = Matcher(index: Self.index()).match(Self.query(prefix: 5, start: 4, length: 16, speed: speed))
        let match = try #require(matches.max { $0.score < $1.score })
        #expect(abs(match.speed - speed) < 0.06)
        #expect(abs(match.queryStart - 5) <= 0.5 && abs(match.queryEnd - 21) <= 0.75)
        #expect(abs(match.referenceStart - 4) <= 0.5)
        #expect(abs(match.referenceEnd - (4 + 16 * speed)) <= 0.75)
    }

    @Test("unrelated content matches nothing")
    func negative() {
        var generator = SplitMix(seed: 77)
        let frames = (0..<200).map { (Double($0) / 4, Self.random(&generator), 90) }
        #expect(Matcher(index: Self.index()).match(Self.fingerprint(frames)).isEmpty)
    }

    @Test("flat, low-quality frames never match even when their hashes are identical")
    func lowQuality() {
        let flat = PDQHash.zero
        let reference = Self.fingerprint((0..<40).map { (Double($0) / 4, flat, 0) })
        let index = HashIndex(clips: [(IndexedClip(id: 1, title: "black", duration: 10), reference)])
        #expect(index.frameCount == 0)
        let query = Self.fingerprint((0..<40).map { (Double($0) / 4, flat, 5) })
        #expect(Matcher(index: index).match(query).isEmpty)
    }

    @Test("the same reference twice in one query gives two matches")
    func twice() throws {
        var first = Self.query(prefix: 2, start: 2, length: 8, seed: 1)
        let second = Self.query(prefix: 0, start: 25, length: 8, seed: 2)
        let shift = first.duration + 5
        first.frames += second.frames.map { .init(time: $0.time + shift, hash: $0.hash, quality: $0.quality) }
        first.duration += shift
        let matches = Matcher(index: Self.index()).match(first).filter { $0.score >= 0.5 }
        #expect(matches.count == 2)
        #expect(matches.map { ($0.referenceStart / 5).rounded() } == [0, 5])
    }

    @Test("the index finds near neighbours and skips far ones")
    func indexSearch() {
        let index = Self.index()
        #expect(index.frameCount == 280)
        let query = Self.fingerprint([(0, Self.referenceB[50], 90)])
        let candidates = Matcher(index: index).collectCandidates(query)
        #expect(candidates.contains { $0.distance == 0 })
    }

    static var clips: [(IndexedClip, Fingerprint)] {
        [(IndexedClip(id: 11, title: "A", duration: 40), fingerprint(referenceA.enumerated().map { (Double($0) / 4, $1, 90) })),
         (IndexedClip(id: 12, title: "B", duration: 30), fingerprint(referenceB.enumerated().map { (Double($0) / 4, $1, 90) }))]
    }

    @Test("seeded search: the ten 24-bit keys cover the first 240 bits, each bit once")
    func seedKeys() {
        var covered = [Int](repeating: 0, count: 256)
        for bit in 0..<256 {
            var words: [UInt64] = [0, 0, 0, 0]
            words[bit / 64] = 1 << UInt64(bit % 64)
            let hash = PDQHash(w0: words[0], w1: words[1], w2: words[2], w3: words[3])
            covered[bit] = (0..<SeedIndex.tableCount).filter { SeedIndex.key(hash, $0) != 0 }.count
        }
        #expect(covered[0..<240].allSatisfy { $0 == 1 } && covered[240...].allSatisfy { $0 == 0 })
        #expect(SeedIndex.key(PDQHash(w0: ~0, w1: ~0, w2: ~0, w3: ~0), 2) == 0xFF_FFFF)
    }

    @Test("seeded search finds what the direct search finds, on both timelines", arguments: [0, 12, 20])
    func seededEqualsDirect(_ noise: Int) throws {
        let query = Self.query(prefix: 12, start: 3, length: 20, noise: noise)
        let direct = CatalogueMatcher(clips: Self.clips, strategy: .direct).match(query)
        let seeded = CatalogueMatcher(clips: Self.clips, strategy: .seeded).match(query)
        let best = try #require(seeded.max { $0.score < $1.score })
        #expect(best.clip.title == "A")
        #expect(abs(best.queryStart - 12) <= 0.5 && abs(best.referenceStart - 3) <= 0.5)
        #expect(seeded.map(\.queryStart) == direct.map(\.queryStart))
        #expect(seeded.map(\.score) == direct.map(\.score))
    }

    @Test("seeded search matches nothing on unrelated content and seeds no clip")
    func seededNegative() {
        var generator = SplitMix(seed: 77)
        let query = Self.fingerprint((0..<400).map { (Double($0) / 4, Self.random(&generator), 90) })
        let seeds = SeedIndex(clips: Self.clips)
        #expect(seeds.seededClips(for: query, options: MatchingOptions()).isEmpty)
        #expect(CatalogueMatcher(clips: Self.clips, strategy: .seeded).match(query).isEmpty)
        #expect(CatalogueMatcher(clips: Self.clips).strategy == .direct, "small catalogues are searched directly")
    }
}
