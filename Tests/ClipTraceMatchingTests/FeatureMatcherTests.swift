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

    /// A query of `seeds` pictures half a second apart, each seen through `crop` at the query zoom.
    static func query(seeds: [UInt64], crop: PixelRegion) -> Fingerprint {
        let featureFrames = seeds.enumerated().map { index, seed in
            Fingerprint.FeatureFrame(time: Double(index) * 0.5, region: .content, zoom: 0.86,
                                     features: described(seed, region: crop, zoom: 0.86, max: 96))
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
        #expect(match.clip.id == 21 && match.region == .localFeatures)
        #expect(abs(match.queryStart - 2) <= 0.5 && abs(match.queryEnd - 7) <= 0.5)
        #expect(abs(match.referenceStart - 1) <= 0.5 && abs(match.referenceEnd - 6) <= 0.5)
        #expect(abs(match.speed - 1) < 0.01 && match.score >= 0.5)
    }

    @Test("unrelated pictures match nothing")
    func unrelated() {
        let query = Self.query(seeds: Array(400..<414), crop: PixelRegion(x: 20, y: 20, width: 270, height: 200))
        #expect(FeatureMatcher(clips: Self.clips).match(query).isEmpty)
    }

    @Test("corners shared by several clips at the same place (a channel logo, interface chrome) are dropped")
    func commonCornersDropped() {
        // Three clips showing the same picture: every corner is common, so nothing is indexed.
        let same = (0..<3).map { IndexedClip(id: Int64(30 + $0), title: "C\($0)", duration: 8) }
            .map { ($0, Self.reference(seeds: 500..<504)) }
        #expect(FeatureMatcher(clips: same).featureCount == 0)
        #expect(FeatureMatcher(clips: [same[0]]).featureCount > 0)
    }
}
