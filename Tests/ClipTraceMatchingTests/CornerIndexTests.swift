import ClipTraceAlignment
import ClipTraceEvidence
import ClipTraceFingerprint
import ClipTraceHashing
import ClipTraceMatching
import ClipTraceObservations
import TestSupport
import Testing

@Suite("Corner search (cropped copies)")
struct CornerIndexTests {
    static let width = 320, height = 240
    static let whole = PixelRegion(x: 0, y: 0, width: width, height: height)

    static func described(_ seed: UInt64, region: PixelRegion = whole, zoom: Double = 1, max: Int = 64) -> [LocalFeature] {
        SyntheticScene.shapes(seed: seed, width: width, height: height).withUnsafeBufferPointer {
            LocalFeatureExtractor(maxFeatures: max).features(pixels: $0, width: width, height: height, region: region,
                                                             zoom: zoom)
        }
    }

    /// A reference of `count` pictures half a second apart, every one a different scene.
    static func reference(seeds: Range<UInt64>) -> ReferenceFingerprint {
        let cornerFrames = seeds.enumerated().map { index, seed in
            ReferenceFingerprint.CornerFrame(time: Double(index) * 0.5, corners: described(seed))
        }
        return ReferenceFingerprint(duration: Double(seeds.count) * 0.5, frameRate: 25, width: width, height: height,
                                    rotation: 0, codec: "h264", sampleRate: 2, frames: [], cornerFrames: cornerFrames)
    }

    /// A query of `seeds` pictures half a second apart, each seen through `crop` at the query zoom, described
    /// upright and, as scan does, also as seen in a mirror; `mirrored` shows the pictures mirrored.
    static func query(seeds: [UInt64], crop: PixelRegion, mirrored: Bool = false) -> QueryObservations {
        var cornerFrames: [QueryObservations.CornerFrame] = []
        let extractor = LocalFeatureExtractor(maxFeatures: 96)
        for (index, seed) in seeds.enumerated() {
            var pixels = SyntheticScene.shapes(seed: seed, width: width, height: height)
            var region = crop
            if mirrored {
                let upright = pixels
                for y in 0..<height {
                    for x in 0..<width { pixels[y * width + x] = upright[y * width + width - 1 - x] }
                }
                region.x = width - crop.x - crop.width
            }
            let time = Double(index) * 0.5
            let features = pixels.withUnsafeBufferPointer {
                extractor.features(pixels: $0, width: width, height: height, region: region, zoom: 0.86)
            }
            cornerFrames.append(.init(time: time, view: .upright, zoom: 0.86, corners: features))
            cornerFrames.append(.init(time: time, view: View(orientation: .mirror, region: .content), zoom: 0.86,
                                      corners: extractor.mirroredFeatures()))
        }
        return QueryObservations(duration: Double(seeds.count) * 0.5, frameRate: 25, width: width, height: height,
                                 sampleRate: 6, frames: [], cornerFrames: cornerFrames)
    }

    static func match(_ query: QueryObservations, strategy: SearchStrategy = .direct) throws -> [Match] {
        try CatalogueMatcher(clips: clips, strategy: strategy, corners: .on).match(query)
    }

    static let clips = [
        (IndexedClip(id: 21, title: "A", duration: 8), reference(seeds: 100..<116)),
        (IndexedClip(id: 22, title: "B", duration: 8), reference(seeds: 200..<216)),
    ]

    @Test("an off-centre crop of a reference is found and placed on both timelines")
    func croppedCopy() throws {
        // 2 s of unrelated pictures, then A's pictures 2...11 (reference 1.0-5.5 s) cropped to 82 % × 86 %.
        let crop = PixelRegion(x: 45, y: 10, width: 262, height: 206)
        let query = Self.query(seeds: Array(300..<304) + Array(102..<112), crop: crop)
        let matches = try Self.match(query)
        let match = try #require(matches.first)
        #expect(matches.count == 1)
        #expect(match.clip.id == 21 && match.evidence == .corners && match.view == .upright)
        #expect(abs(match.queryStart - 2) <= 0.5 && abs(match.queryEnd - 7) <= 0.5)
        #expect(abs(match.referenceStart - 1) <= 0.5 && abs(match.referenceEnd - 6) <= 0.5)
        #expect(abs(match.speed - 1) < 0.01 && match.score >= 0.5)
    }

    @Test("a copy both mirrored and cropped is found through the mirrored description")
    func mirroredCroppedCopy() throws {
        let crop = PixelRegion(x: 10, y: 25, width: 265, height: 200)
        let query = Self.query(seeds: Array(300..<303) + Array(104..<114), crop: crop, mirrored: true)
        let matches = try Self.match(query)
        let match = try #require(matches.first)
        #expect(matches.count == 1)
        #expect(match.clip.id == 21 && match.view.orientation == .mirror && match.evidence == .corners)
        #expect(abs(match.queryStart - 1.5) <= 0.5 && abs(match.referenceStart - 2) <= 0.5)
    }

    @Test("unrelated pictures match nothing")
    func unrelated() throws {
        let query = Self.query(seeds: Array(400..<414), crop: PixelRegion(x: 20, y: 20, width: 270, height: 200))
        #expect(CornerIndex(clips: Self.clips.map(\.1)).votes(for: query).isEmpty)
        #expect(try Self.match(query).isEmpty)
        #expect(try Self.match(query, strategy: .seeded).isEmpty)
    }

    @Test("the seeded corner search finds what the direct one finds, on both timelines", arguments: [false, true])
    func seededEqualsDirect(_ mirrored: Bool) throws {
        let crop = PixelRegion(x: 45, y: 10, width: 262, height: 206)
        let query = Self.query(seeds: Array(300..<304) + Array(102..<112), crop: crop, mirrored: mirrored)
        let direct = try Self.match(query), seeded = try Self.match(query, strategy: .seeded)
        #expect(direct.count == 1 && direct.first?.clip.id == 21)
        #expect(seeded.map(\.clip.id) == direct.map(\.clip.id))
        #expect(seeded.map(\.queryStart) == direct.map(\.queryStart) && seeded.map(\.referenceStart) == direct.map(\.referenceStart))
        #expect(seeded.map(\.score) == direct.map(\.score))
    }

    @Test("pictures several clips share vote for each, weighted down by the number of clips verified at once")
    func sharedPicturesSpread() throws {
        // Three clips showing the same pictures (a series' intro, an interface): every one verifies, and each
        // vote weighs 1/√3 of what it weighs when one clip alone shows them.
        let same = (0..<3).map { _ in Self.reference(seeds: 500..<504) }
        let query = Self.query(seeds: Array(500..<504), crop: PixelRegion(x: 30, y: 20, width: 270, height: 200))
        let alone = CornerIndex(clips: [same[0]]).votes(for: query)
        let shared = CornerIndex(clips: same).votes(for: query)
        #expect(!alone.isEmpty && Set(shared.map(\.clip)) == [0, 1, 2])
        for vote in alone {
            let twin = try #require(shared.first { $0.clip == 0 && $0.moment == vote.moment && $0.referenceTime == vote.referenceTime })
            #expect(abs(twin.weight - vote.weight / Float(3).squareRoot()) < 1e-6)
        }
        let seeded = try SeededCornerSource(clips: same).collect(for: query).votes
        #expect(Set(seeded) == Set(shared))
    }

    @Test("corner votes carry their clip, moment, reference time and view")
    func votes() throws {
        let crop = PixelRegion(x: 30, y: 20, width: 270, height: 200)
        let query = Self.query(seeds: Array(104..<110), crop: crop)
        let votes = CornerIndex(clips: Self.clips.map(\.1)).votes(for: query)
        let timeline = CornerIndex.timeline(of: query)
        #expect(timeline.times == [0, 0.5, 1, 1.5, 2, 2.5] && timeline.step == 0.5)
        #expect(!votes.isEmpty && votes.allSatisfy { $0.label.evidence == .corners && $0.clip == 0 })
        for vote in votes {
            // Query moment k shows reference picture 4 + k, at 2 + k/2 seconds.
            #expect(abs(vote.referenceTime - (2 + 0.5 * Double(vote.moment))) < 0.01, "\(vote)")
            #expect(vote.weight > 0 && vote.weight <= 1 && vote.label.view == .upright)
        }
    }
}
