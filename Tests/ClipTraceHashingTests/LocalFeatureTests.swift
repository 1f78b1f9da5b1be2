import ClipTraceHashing
import TestSupport
import Testing

@Suite("Local features (corners + BRIEF)")
struct LocalFeatureTests {
    static func scene(seed: UInt64) -> [UInt8] { SyntheticScene.shapes(seed: seed, width: 320, height: 240) }

    static func features(_ pixels: [UInt8], region: PixelRegion, zoom: Double = 1, max: Int = 96) -> [LocalFeature] {
        pixels.withUnsafeBufferPointer {
            LocalFeatureExtractor(maxFeatures: max).features(pixels: $0, width: 320, height: 240, region: region, zoom: zoom)
        }
    }

    static let whole = PixelRegion(x: 0, y: 0, width: 320, height: 240)

    @Test("the same picture gives the same corners and descriptors, within the budget and the region")
    func deterministic() {
        let pixels = Self.scene(seed: 1)
        let first = Self.features(pixels, region: Self.whole, max: 64)
        #expect(first == Self.features(pixels, region: Self.whole, max: 64))
        #expect(first.count > 32 && first.count <= 64)
        #expect(first.allSatisfy { (0..<1).contains($0.x) && (0..<1).contains($0.y) })
    }

    @Test("a flat picture has no corners, and a region too small to describe gives none")
    func nothingToDescribe() {
        let flat = [UInt8](repeating: 128, count: 320 * 240)
        #expect(Self.features(flat, region: Self.whole).isEmpty)
        #expect(Self.features(Self.scene(seed: 2), region: PixelRegion(x: 0, y: 0, width: 12, height: 12)).isEmpty)
        #expect(Self.features(Self.scene(seed: 2), region: PixelRegion(x: 300, y: 0, width: 40, height: 40)).isEmpty)
    }

    /// A copy cropped to 82 % × 86 % off centre and stretched back: described at the query zoom, its corners
    /// find partners in the reference at the place the crop predicts, with close descriptors.
    @Test("corners survive an off-centre crop stretched back to the full frame")
    func cropKeepsCorners() {
        let pixels = Self.scene(seed: 3)
        let reference = Self.features(pixels, region: Self.whole, max: 64)
        let crop = PixelRegion(x: 45, y: 10, width: 262, height: 206)  // 82 % × 86 %, right and top
        let copy = Self.features(pixels, region: crop, zoom: 0.86)
        func pairs(with reference: [LocalFeature]) -> Int {
            copy.filter { corner in
                let x = (Float(crop.x) + corner.x * Float(crop.width)) / 320
                let y = (Float(crop.y) + corner.y * Float(crop.height)) / 240
                return reference.contains {
                    abs($0.x - x) < 0.02 && abs($0.y - y) < 0.02 && $0.descriptor.distance(to: corner.descriptor) <= 56
                }
            }.count
        }
        let paired = pairs(with: reference)
        #expect(paired >= 15, "only \(paired) of \(copy.count) corners found their reference partner")
        // Corners of rectangles look alike by descriptor alone; with the place they must be at, an unrelated
        // picture pairs hardly any.
        let chance = pairs(with: Self.features(Self.scene(seed: 4), region: Self.whole, max: 64))
        #expect(chance < paired / 3, "\(chance) chance pairs against \(paired)")
    }

    @Test("the mirrored description of a picture's corners is what the mirror image itself gives")
    func mirrored() {
        let pixels = Self.scene(seed: 5)
        var mirror = pixels
        for y in 0..<240 {
            for x in 0..<320 { mirror[y * 320 + x] = pixels[y * 320 + 319 - x] }
        }
        let extractor = LocalFeatureExtractor(maxFeatures: 64)
        _ = pixels.withUnsafeBufferPointer { extractor.features(pixels: $0, width: 320, height: 240, region: Self.whole) }
        let described = extractor.mirroredFeatures()
        let direct = Self.features(mirror, region: Self.whole, max: 64)
        #expect(described.count == direct.count)
        let same = direct.filter { corner in
            described.contains {
                abs($0.x - corner.x) < 0.5 / 256 && abs($0.y - corner.y) < 0.5 / 256
                    && $0.descriptor.distance(to: corner.descriptor) <= 4
            }
        }.count
        #expect(same >= direct.count * 9 / 10, "\(same) of \(direct.count) corners agree")
        // And it is not just the upright description again.
        let upright = Self.features(pixels, region: Self.whole, max: 64)
        #expect(zip(upright, described).filter { $0.descriptor == $1.descriptor }.count < upright.count / 4)
    }
}
