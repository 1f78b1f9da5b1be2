import ClipTraceHashing
import Foundation
import Testing

@Suite("PDQ hash core")
struct PDQTests {
    @Test("matches Meta's reference bit for bit on synthetic images")
    func goldenSynthetic() throws {
        let golden = try GoldenVectors.load()
        #expect(golden.synthetic.count >= 5)
        let hasher = PDQHasher()
        for vector in golden.synthetic {
            let pixels = SyntheticImage.make(vector.kind, width: vector.width, height: vector.height)
            let result = hasher.hash(luma: pixels, width: vector.width, height: vector.height)
            let expected = try #require(PDQHash(hexString: vector.hash))
            #expect(result.hash == expected,
                    "\(vector.kind) \(vector.width)x\(vector.height): \(result.hash) vs \(vector.hash), \(result.hash.distance(to: expected)) bits")
            #expect(result.quality == vector.quality)
        }
    }

    /// Meta's names for its eight variants (the C++ `hashRotate90` ... `hashFlipMinus1`, as the golden file
    /// keys them) and the variant of ours each is. Meta turns the other way (its rotate90 is a quarter turn
    /// counter-clockwise, our ``Dihedral/rotate90`` clockwise), and its flipX flips about the x axis (top to
    /// bottom: our ``Dihedral/flipVertical``), flipY about the y axis (our left-right ``Dihedral/mirror``).
    static let metaNames: [String: Dihedral] = [
        "original": .original, "rotate90": .rotate270, "rotate180": .rotate180, "rotate270": .rotate90,
        "flipX": .flipVertical, "flipY": .mirror, "flipPlus1": .transpose, "flipMinus1": .antiTranspose,
    ]

    @Test("each of the eight dihedral variants equals the reference's variant of the same transform, bit for bit")
    func goldenDihedral() throws {
        let golden = try GoldenVectors.load()
        let hasher = PDQHasher()
        for vector in golden.synthetic {
            let pixels = SyntheticImage.make(vector.kind, width: vector.width, height: vector.height)
            let ours = pixels.withUnsafeBufferPointer {
                hasher.hashes(pixels: $0, width: vector.width, height: vector.height, variants: Dihedral.allCases).hashes
            }
            #expect(vector.dihedral.count == 8)
            for (name, hex) in vector.dihedral {
                let expected = try #require(PDQHash(hexString: hex))
                let variant = try #require(Self.metaNames[name], "unknown variant name \(name)")
                let distance = ours[variant.rawValue].distance(to: expected)
                #expect(distance == 0, "Meta's \(name) of \(vector.kind) \(vector.width)x\(vector.height) vs our \(variant): \(distance) bits")
            }
        }
    }

    @Test("a variant derived from the DCT is within 16 bits of the hash of the transformed pixels (their resampling differs) and far from the original's",
          arguments: Dihedral.allCases)
    func variantsMatchTransformedImages(_ variant: Dihedral) {
        let width = 120, height = 90
        // "blocks" has no symmetry, so every variant changes the hash.
        let pixels = SyntheticImage.make("blocks", width: width, height: height)
        let transformed = Self.apply(variant, to: pixels, width: width, height: height)
        let hasher = PDQHasher()
        let derived = pixels.withUnsafeBufferPointer {
            hasher.hashes(pixels: $0, width: width, height: height, variants: [variant]).hashes[0]
        }
        let direct = hasher.hash(luma: transformed.pixels, width: transformed.width, height: transformed.height).hash
        #expect(derived.distance(to: direct) <= 16, "\(variant): \(derived.distance(to: direct)) bits apart")
        if variant != .original {
            let original = hasher.hash(luma: pixels, width: width, height: height).hash
            #expect(original.distance(to: direct) > 40, "\(variant) should change the hash")
        }
    }

    @Test("hex form is Meta's layout and round-trips")
    func hexRoundTrip() throws {
        let hash = PDQHash(w0: 0x0123_4567_89AB_CDEF, w1: 0xFEDC_BA98_7654_3210, w2: .max, w3: 0x8000_0000_0000_0001)
        let hex = hash.hexString
        #expect(hex.count == 64)
        // Word 15 (the top 16 bits of w3) comes first.
        #expect(hex.hasPrefix("8000"))
        #expect(hex.hasSuffix("cdef"))
        #expect(PDQHash(hexString: hex) == hash)
        #expect(PDQHash(hexString: "xyz") == nil)
        #expect(PDQHash(hexString: String(repeating: "g", count: 64)) == nil)
    }

    @Test("flat images have quality 0 and distinct images are far apart")
    func qualityAndDistance() {
        let hasher = PDQHasher()
        let flat = hasher.hash(luma: [UInt8](repeating: 128, count: 100 * 100), width: 100, height: 100)
        #expect(flat.quality == 0)
        let a = hasher.hash(luma: SyntheticImage.make("rings", width: 200, height: 150), width: 200, height: 150)
        let b = hasher.hash(luma: SyntheticImage.make("blocks", width: 200, height: 150), width: 200, height: 150)
        #expect(a.quality > 50)
        #expect(a.hash.distance(to: b.hash) > 60)
        // Hashing is deterministic, and a hasher carries nothing from one image to the next.
        let again = PDQHasher().hash(luma: SyntheticImage.make("rings", width: 200, height: 150), width: 200, height: 150)
        #expect(again == a)
        // Half the bits are set: they are the coefficients above the median.
        #expect(a.hash.populationCount == 128)
    }

    @Test("hashing a region equals hashing the cropped image")
    func regionEqualsCrop() {
        let width = 200, height = 150
        let pixels = SyntheticImage.make("blocks", width: width, height: height)
        let region = PixelRegion(x: 20, y: 10, width: 150, height: 120)
        var cropped: [UInt8] = []
        for y in region.y..<(region.y + region.height) {
            cropped.append(contentsOf: pixels[(y * width + region.x)..<(y * width + region.x + region.width)])
        }
        let hasher = PDQHasher()
        let viaRegion = hasher.hash(luma: pixels, width: width, height: height, region: region)
        let viaCrop = hasher.hash(luma: cropped, width: region.width, height: region.height)
        #expect(viaRegion == viaCrop)
    }

    static func apply(_ variant: Dihedral, to pixels: [UInt8], width: Int, height: Int)
        -> (pixels: [UInt8], width: Int, height: Int)
    {
        let outWidth = variant.swapsAxes ? height : width, outHeight = variant.swapsAxes ? width : height
        var out = [UInt8](repeating: 0, count: pixels.count)
        for y in 0..<outHeight {
            for x in 0..<outWidth {
                // Source coordinates of output pixel (x, y).
                let (sx, sy): (Int, Int)
                switch variant {
                case .original: (sx, sy) = (x, y)
                case .mirror: (sx, sy) = (width - 1 - x, y)
                case .flipVertical: (sx, sy) = (x, height - 1 - y)
                case .rotate180: (sx, sy) = (width - 1 - x, height - 1 - y)
                case .transpose: (sx, sy) = (y, x)
                case .rotate90: (sx, sy) = (y, height - 1 - x)
                case .rotate270: (sx, sy) = (width - 1 - y, x)
                case .antiTranspose: (sx, sy) = (width - 1 - y, height - 1 - x)
                }
                out[y * outWidth + x] = pixels[sy * width + sx]
            }
        }
        return (out, outWidth, outHeight)
    }
}

@Suite("PDQ filter")
struct PDQFilterTests {
    /// Meta's reference filter as written: the running-sum box filter of `box1D`, along every row and then
    /// every column of the whole image, twice, then the 64×64 samples.
    static func plainDecimation(_ image: [Float], width: Int, height: Int) -> [Float] {
        func box(_ values: [Float], window: Int) -> [Float] {
            let half = (window + 2) / 2
            var output = [Float](repeating: 0, count: values.count)
            var sum: Float = 0, count: Float = 0, left = 0, right = 0, out = 0
            for _ in 0..<max(0, half - 1) { sum += values[right]; count += 1; right += 1 }
            for _ in 0..<max(0, window - half + 1) {
                sum += values[right]; count += 1
                output[out] = sum / count
                right += 1; out += 1
            }
            for _ in 0..<max(0, values.count - window) {
                sum += values[right]; sum -= values[left]
                output[out] = sum / count
                left += 1; right += 1; out += 1
            }
            for _ in 0..<max(0, half - 1) {
                sum -= values[left]; count -= 1
                output[out] = sum / count
                left += 1; out += 1
            }
            return output
        }
        let rowWindow = (width + 127) / 128, columnWindow = (height + 127) / 128
        var pixels = image
        for _ in 0..<2 {
            for y in 0..<height {
                pixels.replaceSubrange(y * width..<(y + 1) * width,
                                       with: box(Array(pixels[y * width..<(y + 1) * width]), window: rowWindow))
            }
            for x in 0..<width {
                let column = box((0..<height).map { pixels[$0 * width + x] }, window: columnWindow)
                for y in 0..<height { pixels[y * width + x] = column[y] }
            }
        }
        var samples = [Float](repeating: 0, count: 64 * 64)
        for i in 0..<64 {
            for j in 0..<64 {
                samples[i * 64 + j] = pixels[Int((Double(i) + 0.5) * Double(height) / 64) * width
                    + Int((Double(j) + 0.5) * Double(width) / 64)]
            }
        }
        return samples
    }

    @Test("the filter computed at the sampled rows and columns alone equals the full-size filter, bit for bit",
          arguments: [(1, 1), (5, 3), (7, 70), (8, 8), (64, 64), (40, 30), (177, 99), (320, 180), (129, 301), (512, 288), (1000, 700)])
    func sampledFilterIsExact(_ size: (Int, Int)) {
        let (width, height) = size
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15 &+ UInt64(width * 7919 + height)
        let image = (0..<(width * height)).map { _ -> Float in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(state >> 56)
        }
        let decimated = PDQHasher().decimated(floatLuma: image, width: width, height: height)
        let expected = Self.plainDecimation(image, width: width, height: height)
        #expect(decimated.map(\.bitPattern) == expected.map(\.bitPattern), "\(width)×\(height)")
    }
}

extension PDQFilterTests {
    @Test("the quality summed eight gradients at a time is the scalar definition's, at every level from flat to busy")
    func vectorQualityIsExact() {
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        var levels: Set<Int> = []
        for amplitude in stride(from: Float(0), through: 14, by: 1) {
            let (width, height) = (96, 80)
            let image = (0..<(width * height)).map { index -> Float in
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                let x = Float(index % width), y = Float(index / width)
                let wave: Float = sin(x / 5) * cos(y / 7)
                let noise: Float = Float(state >> 40) / Float(1 << 24) - 0.5
                return 128 + amplitude * (wave + noise)
            }
            let hasher = PDQHasher()
            let grid = hasher.decimated(floatLuma: image, width: width, height: height)
            func gradient(_ a: Int, _ b: Int) -> Int {
                let difference: Float = grid[a] - grid[b]
                return abs(Int(difference * 100 / 255))
            }
            var sum = 0
            for i in 0..<63 { for j in 0..<64 { sum += gradient(i * 64 + j, (i + 1) * 64 + j) } }
            for i in 0..<64 { for j in 0..<63 { sum += gradient(i * 64 + j, i * 64 + j + 1) } }
            let quality = hasher.hash(floatLuma: image, width: width, height: height).quality
            #expect(quality == min(100, sum / 90), "amplitude \(amplitude)")
            levels.insert(quality)
        }
        #expect(levels.count >= 10, "the images should span many quality levels: \(levels.sorted())")
    }
}
