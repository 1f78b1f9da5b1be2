/// A corner of a picture and a 256-bit binary descriptor (BRIEF) of the patch around it.
///
/// Whole-frame hashes such as PDQ need the copy framed as the original to within a percent or two: a copy
/// cropped by 10-20 % and stretched back sits 100-150 bits from its reference. Corners and their patches move
/// with the content instead, so a cropped copy keeps most of them, only shifted and scaled; the matcher then
/// looks for one shift and scale that explains many of them at once.
public struct LocalFeature: Hashable, Sendable {
    /// Position in the region it was taken from, as fractions of its width and height (0 ..< 1).
    public var x: Float
    public var y: Float
    /// 256 binary intensity comparisons around the corner, in the same 256-bit type as a PDQ hash.
    public var descriptor: PDQHash

    public init(x: Float, y: Float, descriptor: PDQHash) {
        self.x = x
        self.y = y
        self.descriptor = descriptor
    }
}

/// Finds corners (Harris) in a region of a luminance image and describes them with BRIEF.
///
/// The region is first resampled to a square of `side` × `zoom` pixels, whatever its size and aspect, so that
/// the same content gives the same patches on both sides: a reference and a copy stretched to another aspect
/// ratio meet in the same square. A query is also described at zooms below 1, because a copy cropped to 85 %
/// shows everything 1/0.85 times larger than its reference does, and BRIEF tolerates about a tenth of scale.
///
/// Not `Sendable`: it reuses its buffers; make one per task.
public final class LocalFeatureExtractor {
    /// Side of the square a region is resampled to at zoom 1.
    public static let side = 256
    /// Half the extent of the comparison pattern, in pixels; corners closer than this to an edge are skipped.
    static let patchRadius = 12
    /// The Harris response below which a peak is not a corner, on the 0-255 scale of the resampled square:
    /// flat or noisy pictures then give no corners at all rather than random ones.
    static let responseFloor: Float = 1e5
    /// Harris's k in det(M) - k·trace(M)², the value of the original paper.
    static let harrisK: Float = 0.04
    /// No sixteenth of the picture may give more than this share of the corners: corners spread over the
    /// picture survive a crop or an overlay on one side, and they pin one geometry down.
    static let maximumShareInOneCell = 1.0 / 6
    /// The comparison pairs (dx1, dy1, dx2, dy2), the same in every process: a fixed generator, not a random one.
    static let pattern: [(Int, Int, Int, Int)] = {
        var state: UInt64 = 0x5EED_C11F_7ACE_0001
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        // Isotropic Gaussian offsets (sigma = patch / 5, as in the BRIEF paper), clamped to the patch.
        func offset() -> Int {
            let u1 = max(Double(next() >> 11) / Double(1 << 53), 1e-12), u2 = Double(next() >> 11) / Double(1 << 53)
            let gaussian = (-2 * naturalLog(u1)).squareRoot() * cosine(2 * Double.pi * u2)
            let value = Int((gaussian * Double(2 * patchRadius + 1) / 5).rounded())
            return min(patchRadius, max(-patchRadius, value))
        }
        var pairs: [(Int, Int, Int, Int)] = []
        while pairs.count < 256 {
            let pair = (offset(), offset(), offset(), offset())
            if pair.0 == pair.2 && pair.1 == pair.3 { continue }
            pairs.append(pair)
        }
        return pairs
    }()

    public let maxFeatures: Int
    private var image: [Float] = []
    private var integral: [Double] = []
    private var response: [Float] = []
    private var harrisScratch: [Int: (xx: [Float], yy: [Float], xy: [Float], temp: [Float])] = [:]
    /// Corners of the last call, in pixels of its square, for ``mirroredFeatures()``.
    private var corners: [(x: Int, y: Int)] = []
    private var cornerSide = 0

    public init(maxFeatures: Int = 96) {
        self.maxFeatures = maxFeatures
    }

    /// Corners of `region` and their descriptors, strongest first, at most `maxFeatures`, spread over the
    /// region (no more than a sixth of them from one sixteenth of it).
    public func features(pixels: UnsafeBufferPointer<UInt8>, width: Int, height: Int, region: PixelRegion,
                         zoom: Double = 1) -> [LocalFeature]
    {
        corners.removeAll(keepingCapacity: true)
        cornerSide = 0
        // Zooms outside a quarter to four times the square are not a description anyone asked for.
        guard zoom.isFinite, zoom >= 0.25, zoom <= 4 else { return [] }
        let n = Int((Double(Self.side) * zoom).rounded())
        cornerSide = n
        guard region.width >= 16, region.height >= 16, region.x >= 0, region.y >= 0,
              region.x + region.width <= width, region.y + region.height <= height, n >= 4 * Self.patchRadius,
              pixels.count >= width * height
        else { return [] }
        resample(pixels: pixels, width: width, region: region, side: n)
        harrisResponse(side: n)
        buildIntegral(side: n)

        // Local maxima over 5 × 5 above an absolute floor: flat or noisy pictures give no corners at all.
        let margin = Self.patchRadius + 3
        let floor = Self.responseFloor
        var peaks: [(response: Float, x: Int, y: Int)] = []
        response.withUnsafeBufferPointer { r in
            let base = r.baseAddress!
            func consider(_ x: Int, _ y: Int) {
                let value = r[y * n + x]
                guard value > floor else { return }
                for dy in -2...2 {
                    for dx in -2...2 where dx != 0 || dy != 0 {
                        let other = r[(y + dy) * n + x + dx]
                        // Ties go to the first in raster order, so a plateau yields one corner.
                        if other > value || (other == value && (dy < 0 || (dy == 0 && dx < 0))) { return }
                    }
                }
                peaks.append((value, x, y))
            }
            let floors = SIMD8<Float>(repeating: floor)
            for y in margin..<(n - margin) {
                var x = margin
                // Eight at a time, only those above the floor and their left and right neighbours go on to
                // the full 5 × 5 test: most pixels are not even that.
                while x + 8 <= n - margin {
                    let centre = base + y * n + x
                    let value = Self.load(centre)
                    let candidates = (value .> floors) .& (value .> Self.load(centre - 1)) .& (value .>= Self.load(centre + 1))
                    if any(candidates) {
                        for lane in 0..<8 where candidates[lane] { consider(x + lane, y) }
                    }
                    x += 8
                }
                while x < n - margin {
                    consider(x, y)
                    x += 1
                }
            }
        }
        peaks.sort { ($0.response, $1.y, $1.x) > ($1.response, $0.y, $0.x) }
        let cap = max(1, Int(Double(maxFeatures) * Self.maximumShareInOneCell))
        var perCell = [Int](repeating: 0, count: 16)
        var out: [LocalFeature] = []
        out.reserveCapacity(maxFeatures)
        for peak in peaks where out.count < maxFeatures {
            let cell = (peak.y * 4 / n) * 4 + peak.x * 4 / n
            guard perCell[cell] < cap else { continue }
            perCell[cell] += 1
            corners.append((peak.x, peak.y))
            out.append(LocalFeature(x: (Float(peak.x) + 0.5) / Float(n), y: (Float(peak.y) + 0.5) / Float(n),
                                    descriptor: describe(x: peak.x, y: peak.y, side: n)))
        }
        return out
    }

    /// The corners of the last ``features(pixels:width:height:region:zoom:)`` call as they would be found in
    /// the mirror image (left-right): the same corners at 1 - x, described with the pattern mirrored. Costs
    /// only the descriptors, and lets a mirrored copy that is also cropped meet its upright reference.
    public func mirroredFeatures() -> [LocalFeature] {
        let n = cornerSide
        return corners.map { corner in
            LocalFeature(x: 1 - (Float(corner.x) + 0.5) / Float(n), y: (Float(corner.y) + 0.5) / Float(n),
                         descriptor: describe(x: corner.x, y: corner.y, side: n, mirrored: true))
        }
    }

    /// Area-average weights from `source` pixels to `target` ones: output `i` sums `weights[k] * pixel[start + k]`
    /// over its taps in order (enlarging blends neighbours). Kept between calls: regions rarely change size.
    private struct Taps {
        var source = 0, target = 0
        var starts: [Int] = [], firstWeight: [Int] = [], weights: [Float] = []

        init() {}

        init(source: Int, target: Int) {
            (self.source, self.target) = (source, target)
            let scale = Double(source) / Double(target)
            for i in 0..<target {
                var from = Double(i) * scale, to = Double(i + 1) * scale
                if scale < 1 {  // enlarging: a one-pixel footprint centred on the sample
                    let centre = (Double(i) + 0.5) * scale
                    from = max(0, centre - 0.5)
                    to = min(Double(source), centre + 0.5)
                }
                let first = Int(from), last = min(source - 1, Int((to - 1e-9).rounded(.down)))
                var w: [Float] = []
                for p in first...max(first, last) {
                    let overlap = min(to, Double(p + 1)) - max(from, Double(p))
                    w.append(Float(max(0, overlap)))
                }
                let total = w.reduce(0, +)
                starts.append(first)
                firstWeight.append(weights.count)
                weights.append(contentsOf: total > 0 ? w.map { $0 / total } : [1])
            }
            firstWeight.append(weights.count)
        }
    }

    private var columnTaps = Taps(), rowTaps = Taps()
    private var horizontal: [Float] = []

    /// Area-average resampling of the region to side × side (separable): rows first, then columns eight at a
    /// time, each lane summing in the scalar order.
    private func resample(pixels: UnsafeBufferPointer<UInt8>, width: Int, region: PixelRegion, side n: Int) {
        if columnTaps.source != region.width || columnTaps.target != n {
            columnTaps = Taps(source: region.width, target: n)
        }
        if rowTaps.source != region.height || rowTaps.target != n {
            rowTaps = Taps(source: region.height, target: n)
        }
        if horizontal.count < region.height * n { horizontal = [Float](repeating: 0, count: region.height * n) }
        if image.count != n * n { image = [Float](repeating: 0, count: n * n) }
        let columns = columnTaps, rows = rowTaps
        columns.starts.withUnsafeBufferPointer { starts in
            columns.firstWeight.withUnsafeBufferPointer { firstWeight in
                columns.weights.withUnsafeBufferPointer { weights in
                    horizontal.withUnsafeMutableBufferPointer { horizontal in
                        for y in 0..<region.height {
                            let row = pixels.baseAddress! + (region.y + y) * width + region.x
                            for x in 0..<n {
                                let start = starts[x]
                                var sum: Float = 0
                                for k in firstWeight[x]..<firstWeight[x + 1] {
                                    sum += weights[k] * Float(row[start + k - firstWeight[x]])
                                }
                                horizontal[y * n + x] = sum
                            }
                        }
                    }
                }
            }
        }
        rows.weights.withUnsafeBufferPointer { weights in
            image.withUnsafeMutableBufferPointer { image in
                horizontal.withUnsafeBufferPointer { horizontal in
                    let source = horizontal.baseAddress!, target = image.baseAddress!
                    for y in 0..<n {
                        let start = rows.starts[y], taps = rows.firstWeight[y]..<rows.firstWeight[y + 1]
                        var x = 0
                        while x + 8 <= n {
                            var sum = SIMD8<Float>(repeating: 0)
                            for k in taps {
                                sum += SIMD8(repeating: weights[k]) * Self.load(source + (start + k - taps.lowerBound) * n + x)
                            }
                            Self.store(sum, target + y * n + x)
                            x += 8
                        }
                        while x < n {
                            var sum: Float = 0
                            for k in taps { sum += weights[k] * source[(start + k - taps.lowerBound) * n + x] }
                            target[y * n + x] = sum
                            x += 1
                        }
                    }
                }
            }
        }
    }

    /// Harris corner response det(M) - 0.04 trace(M)^2 of the gradient products summed over 5 × 5.
    ///
    /// Eight columns at a time go through vector registers; each lane does the scalar formula's operations in
    /// the same order, so the responses are bit for bit those of the scalar loops (kept for the last columns).
    private func harrisResponse(side n: Int) {
        // Scratch kept between calls, one set per side (a query is described at several zooms in turn); what
        // the loops below do not write each time stays as zeroed once per side.
        let zeros = harrisScratch[n] == nil ? [Float](repeating: 0, count: n * n) : []
        var (xx, yy, xy, temp) = harrisScratch.removeValue(forKey: n) ?? (zeros, zeros, zeros, zeros)
        defer { harrisScratch[n] = (xx, yy, xy, temp) }
        if response.count != n * n { response = [Float](repeating: 0, count: n * n) }
        image.withUnsafeBufferPointer { image in
            xx.withUnsafeMutableBufferPointer { xx in
                yy.withUnsafeMutableBufferPointer { yy in
                    xy.withUnsafeMutableBufferPointer { xy in
                        temp.withUnsafeMutableBufferPointer { temp in
                            response.withUnsafeMutableBufferPointer { response in
                                Self.harris(image: image.baseAddress!, xx: xx.baseAddress!, yy: yy.baseAddress!,
                                            xy: xy.baseAddress!, temp: temp.baseAddress!,
                                            response: response.baseAddress!, side: n)
                            }
                        }
                    }
                }
            }
        }
    }

    @inline(__always) private static func load(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }

    @inline(__always) private static func store(_ value: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: value, as: SIMD8<Float>.self)
    }

    private static func harris(
        image: UnsafePointer<Float>, xx: UnsafeMutablePointer<Float>, yy: UnsafeMutablePointer<Float>,
        xy: UnsafeMutablePointer<Float>, temp: UnsafeMutablePointer<Float>, response: UnsafeMutablePointer<Float>,
        side n: Int
    ) {
        let half = SIMD8<Float>(repeating: 0.5)
        for y in 1..<(n - 1) {
            // The box sums below write the first and last columns: start them from zero again.
            let first = y * n, last = y * n + n - 1
            (xx[first], yy[first], xy[first], xx[last], yy[last], xy[last]) = (0, 0, 0, 0, 0, 0)
            var x = 1
            while x + 8 <= n - 1 {
                let i = y * n + x
                let gx = (load(image + i + 1) - load(image + i - 1)) * half
                let gy = (load(image + i + n) - load(image + i - n)) * half
                store(gx * gx, xx + i)
                store(gy * gy, yy + i)
                store(gx * gy, xy + i)
                x += 8
            }
            while x < n - 1 {
                let i = y * n + x
                let gx = (image[i + 1] - image[i - 1]) * 0.5, gy = (image[i + n] - image[i - n]) * 0.5
                xx[i] = gx * gx
                yy[i] = gy * gy
                xy[i] = gx * gy
                x += 1
            }
        }
        func boxSum(_ values: UnsafeMutablePointer<Float>) {
            for y in 0..<n {
                var x = 2
                while x + 8 <= n - 2 {
                    let v = values + y * n + x
                    let sum = load(v - 2) + load(v - 1) + load(v) + load(v + 1) + load(v + 2)
                    store(sum, temp + y * n + x)
                    x += 8
                }
                while x < n - 2 {
                    let i = y * n + x
                    temp[i] = values[i - 2] + values[i - 1] + values[i] + values[i + 1] + values[i + 2]
                    x += 1
                }
            }
            for y in 2..<(n - 2) {
                var x = 0
                while x + 8 <= n {
                    let t = temp + y * n + x
                    let sum = load(t - 2 * n) + load(t - n) + load(t) + load(t + n) + load(t + 2 * n)
                    store(sum, values + y * n + x)
                    x += 8
                }
                while x < n {
                    let i = y * n + x
                    values[i] = temp[i - 2 * n] + temp[i - n] + temp[i] + temp[i + n] + temp[i + 2 * n]
                    x += 1
                }
            }
        }
        boxSum(xx)
        boxSum(yy)
        boxSum(xy)
        let k = SIMD8<Float>(repeating: harrisK)
        var i = 0
        while i + 8 <= n * n {
            let a = load(xx + i), b = load(yy + i), c = load(xy + i)
            let trace = a + b
            store(a * b - c * c - k * trace * trace, response + i)
            i += 8
        }
        while i < n * n {
            let trace = xx[i] + yy[i]
            response[i] = xx[i] * yy[i] - xy[i] * xy[i] - harrisK * trace * trace
            i += 1
        }
    }

    private func buildIntegral(side n: Int) {
        let stride = n + 1
        if integral.count != stride * stride { integral = [Double](repeating: 0, count: stride * stride) }
        image.withUnsafeBufferPointer { image in
            integral.withUnsafeMutableBufferPointer { integral in
                for y in 0..<n {
                    var row = 0.0
                    for x in 0..<n {
                        row += Double(image[y * n + x])
                        integral[(y + 1) * stride + x + 1] = integral[y * stride + x + 1] + row
                    }
                }
            }
        }
    }

    /// The pattern as offsets into the integral image of a square of side `n` (upright and mirrored): the
    /// upper-left corner of each point's 5 × 5 box, relative to the corner's own, so that describing a corner
    /// is 256 pairs of four loads. Made once per side (the square's side changes only with the zoom).
    private var patternOffsets: (side: Int, upright: [Int32], mirrored: [Int32]) = (0, [], [])

    private func offsets(side n: Int, mirrored: Bool) -> [Int32] {
        if patternOffsets.side != n {
            let stride = n + 1
            func offsets(_ flip: Int) -> [Int32] {
                var out: [Int32] = []
                out.reserveCapacity(2 * Self.pattern.count)
                for (dx1, dy1, dx2, dy2) in Self.pattern {
                    let first: Int = (dy1 - 2) * stride + flip * dx1 - 2
                    let second: Int = (dy2 - 2) * stride + flip * dx2 - 2
                    out.append(Int32(first))
                    out.append(Int32(second))
                }
                return out
            }
            patternOffsets = (n, offsets(1), offsets(-1))
        }
        return mirrored ? patternOffsets.mirrored : patternOffsets.upright
    }

    /// BRIEF: each bit compares the 5 × 5 means at two points of the fixed pattern (smoothing first, as the
    /// descriptor's authors recommend, so single-pixel noise and compression do not flip bits).
    private func describe(x: Int, y: Int, side n: Int, mirrored: Bool = false) -> PDQHash {
        // In the mirror image a pattern offset dx lands where -dx lands in this one (see `offsets`).
        let stride = n + 1
        let pattern = offsets(side: n, mirrored: mirrored)
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        integral.withUnsafeBufferPointer { integral in
            pattern.withUnsafeBufferPointer { pattern in
                let centre = integral.baseAddress! + y * stride + x
                let down = 5 * stride, across = 5
                // The sum over a box from its upper-left corner in the integral image, in the same order of
                // operations as ever: the descriptors are bit for bit those of a box sum written out.
                @inline(__always) func boxSum(_ corner: UnsafePointer<Double>) -> Double {
                    corner[down + across] - corner[across] - corner[down] + corner[0]
                }
                for word in 0..<4 {
                    var bits: UInt64 = 0
                    for bit in 0..<64 {
                        let index = 2 * (word * 64 + bit)
                        let first = boxSum(centre + Int(pattern[index])), second = boxSum(centre + Int(pattern[index + 1]))
                        if first < second { bits |= UInt64(1) << UInt64(bit) }
                    }
                    switch word {
                    case 0: words.0 = bits
                    case 1: words.1 = bits
                    case 2: words.2 = bits
                    default: words.3 = bits
                    }
                }
            }
        }
        return PDQHash(w0: words.0, w1: words.1, w2: words.2, w3: words.3)
    }
}
