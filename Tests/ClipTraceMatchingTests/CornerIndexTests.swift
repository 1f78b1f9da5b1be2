import ClipTraceFingerprint
import ClipTraceHashing
@testable import ClipTraceMatching
import TestSupport
import Testing

@Suite("Corner matcher (cropped copies)")
struct FeatureMatcherTests {
    static let width = 320, height = 240
    static let whole = PixelRegion(x: 0, y: 0, width: width, height: height)

    static func described(_ seed: UInt64, region: PixelRegion = whole, zoom: Double = 1, max: Int = 64) -> [LocalFeature] {
        SyntheticScene.shapes(seed: seed, width: width, height: height).withUnsafeBufferPointer {
            LocalFeatureExtractor(maxFeatures: max).features(pixels: $0, width: width, height: height, region: region,
                                                             zoom: zoom)
        }
    }

    /// A reference of `count` pictures half a second apart, every one a different scene.
    static func reference(seeds: Range<UInt64>) -> Fingerprint {
        let featureFrames = seeds.enumerated().map { index, seed in
            Fingerprint.FeatureFrame(time: Double(index) * 0.5, region: .content, zoom: 1, features: described(seed))
        }
        return Fingerprint(duration: Double(seeds.count) * 0.5, frameRate: 25, width: width, height: height,
                           rotation: 0, codec: "h264", sampleRate: 2, frames: [], featureFrames: featureFrames)
    }

    /// A query of `seeds` pictures half a second apart, each seen through `crop` at the query zoom, described
    /// upright and, as scan does, also as seen in a mirror; `mirrored` shows the pictures mirrored.
    static func query(seeds: [UInt64], crop: PixelRegion, mirrored: Bool = false) -> Fingerprint {
        var featureFrames: [Fingerprint.FeatureFrame] = []
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
            featureFrames.append(.init(time: time, region: .content, zoom: 0.86, features: features))
            featureFrames.append(.init(time: time, region: .content, orientation: .mirror, zoom: 0.86,
                                       features: extractor.mirroredFeatures()))
        }
        return Fingerprint(duration: Double(seeds.count) * 0.5, frameRate: 25, width: width, height: height,
                           rotation: 0, codec: "h264", sampleRate: 6, frames: [], featureFrames: featureFrames)
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
        let matches = FeatureMatcher(clips: Self.clips).match(query)
        let match = try #require(matches.first)
        #expect(matches.count == 1)
        #expect(match.clip.id == 21 && match.region == .localFeatures && match.orientation == .original)
        #expect(abs(match.queryStart - 2) <= 0.5 && abs(match.queryEnd - 7) <= 0.5)
        #expect(abs(match.referenceStart - 1) <= 0.5 && abs(match.referenceEnd - 6) <= 0.5)
        #expect(abs(match.speed - 1) < 0.01 && match.score >= 0.5)
    }

    @Test("a copy both mirrored and cropped is found through the mirrored description")
    func mirroredCroppedCopy() throws {
        let crop = PixelRegion(x: 10, y: 25, width: 265, height: 200)
        let query = Self.query(seeds: Array(300..<303) + Array(104..<114), crop: crop, mirrored: true)
        let matches = FeatureMatcher(clips: Self.clips).match(query)
        let match = try #require(matches.first)
        #expect(matches.count == 1)
        #expect(match.clip.id == 21 && match.orientation == .mirror)
        #expect(abs(match.queryStart - 1.5) <= 0.5 && abs(match.referenceStart - 2) <= 0.5)
    }

    @Test("unrelated pictures match nothing")
    func unrelated() {
        let query = Self.query(seeds: Array(400..<414), crop: PixelRegion(x: 20, y: 20, width: 270, height: 200))
        #expect(FeatureMatcher(clips: Self.clips).match(query).isEmpty)
    }

    @Test("corners shared by three or more clips at the same place (a channel logo, interface chrome) are dropped")
    func commonCornersDropped() {
        // Three clips showing the same picture: every corner is common, so nothing is indexed.
        let same = (0..<3).map { IndexedClip(id: Int64(30 + $0), title: "C\($0)", duration: 8) }
            .map { ($0, Self.reference(seeds: 500..<504)) }
        #expect(FeatureMatcher(clips: same).featureCount == 0)
        // Two clips sharing pictures (a trailer and its show) keep them: both are evidence.
        let pair = FeatureMatcher(clips: Array(same.prefix(2)))
        #expect(pair.featureCount == 2 * FeatureMatcher(clips: [same[0]]).featureCount)
        #expect(FeatureMatcher(clips: [same[0]]).featureCount > 0)
    }

    @Test("a confident hash match wins over a corner match of the same stretch; a weak one gives way")
    func mergeRule() {
        func match(_ clip: Int64, _ start: Double, _ end: Double, _ score: Double,
                   _ region: Fingerprint.ProbeRegion) -> Match {
            Match(clip: IndexedClip(id: clip, title: "\(clip)", duration: 60), queryStart: start, queryEnd: end,
                  referenceStart: start, referenceEnd: end, score: score, speed: 1, matchedFrames: 10, queryFrames: 10,
                  meanDistance: 20, orientation: .original, region: region, evidence: [])
        }
        let confident = match(1, 0, 10, 0.9, .content), weak = match(1, 20, 30, 0.3, .window)
        let corners = [match(1, 1, 9, 1.0, .localFeatures), match(1, 21, 29, 0.95, .localFeatures),
                       match(2, 1, 9, 0.8, .localFeatures), match(1, 40, 45, 0.7, .localFeatures)]
        let merged = CatalogueMatcher.merge(hashed: [confident, weak], corners: corners)
        #expect(merged.map(\.clip.id) == [1, 2, 1, 1])
        #expect(merged.map(\.region) == [.content, .localFeatures, .localFeatures, .localFeatures])
        #expect(merged.map(\.queryStart) == [0, 1, 21, 40])
        #expect(CatalogueMatcher.merge(hashed: [confident, weak], corners: []) == [confident, weak])
    }
}
