/// A PDQ hash with its quality score.
public struct PDQResult: Hashable, Sendable {
    public var hash: PDQHash
    /// Meta's 0–100 image-domain quality: the summed gradient of the 64×64 image. Below ~50 the frame is
    /// flat, dark or blurred and its hash says little.
    public var quality: Int

    public init(hash: PDQHash, quality: Int) {
        self.hash = hash
        self.quality = quality
    }
}

/// A rectangle in pixel coordinates.
public struct PixelRegion: Hashable, Sendable {
    public var x: Int
    public var y: Int
    public var width: Int
    public var height: Int

    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
    }

    public var area: Int { width * height }
}

/// Computes PDQ hashes, Meta's published algorithm written from its description:
/// luminance → two passes of a Jarosz (box) filter → 64×64 decimation → 16×16 DCT (DC excluded) →
/// bits above the median of the 256 coefficients; quality from the 64×64 gradients.
///
/// Holds scratch buffers so that hashing a frame allocates nothing: use one hasher per task.
public final class PDQHasher {
    static let dctSize = 16
    static let imageSize = 64

    /// The 16×64 DCT-II matrix, rows for frequencies 1…16 (DC excluded), as the reference builds it.
    private let dctMatrix: [Float]
    private var bufferA: [Float] = []
    private var bufferB: [Float] = []
    private var image64 = [Float](repeating: 0, count: 64 * 64)
    private var temp16x64 = [Float](repeating: 0, count: 16 * 64)
    private var dct16 = [Float](repeating: 0, count: 256)
    private var variantBuffer = [Float](repeating: 0, count: 256)
    private var sortBuffer = [Float](repeating: 0, count: 256)
    private var columnSums: [Float] = []
    /// The second filter pass at the sampled columns (`height` rows of 64), and where the 64×64 grid samples.
    private var sampledGrid: [Float] = []
    private var rowScratch: [Float] = []
    private var sampledRows = [Int](repeating: 0, count: 64), sampledColumns = [Int](repeating: 0, count: 64)

    public init() {
        var matrix = [Float](repeating: 0, count: 16 * 64)
        let scale = Float((2.0 / 64.0).squareRoot())
        for i in 0..<16 {
            for j in 0..<64 {
                let angle = (Double.pi / 2 / 64) * Double(i + 1) * Double(2 * j + 1)
                matrix[i * 64 + j] = scale * Float(cosine(angle))
            }
        }
        dctMatrix = matrix
    }

    /// Hashes a region of an 8-bit luminance image (row-major with the given row stride).
    public func hash(
        pixels: UnsafeBufferPointer<UInt8>, width: Int, height: Int, stride: Int? = nil, region: PixelRegion? = nil
    ) -> PDQResult {
        prepareDCT(pixels: pixels, width: width, height: height, stride: stride ?? width, region: region)
        return PDQResult(hash: hashFromDCT(.original), quality: quality())
    }

    /// Hashes a region in several dihedral orientations at the cost of one: the variants are derived from the DCT.
    public func hashes(
        pixels: UnsafeBufferPointer<UInt8>, width: Int, height: Int, stride: Int? = nil, region: PixelRegion? = nil,
        variants: [Dihedral]
    ) -> (quality: Int, hashes: [PDQHash]) {
        prepareDCT(pixels: pixels, width: width, height: height, stride: stride ?? width, region: region)
        return (quality(), variants.map { hashFromDCT($0) })
    }

    /// Hashes an 8-bit luminance array of `width * height` bytes.
    public func hash(luma: [UInt8], width: Int, height: Int, region: PixelRegion? = nil) -> PDQResult {
        luma.withUnsafeBufferPointer { hash(pixels: $0, width: width, height: height, region: region) }
    }

    /// Hashes floating-point luminance (0…255), as the reference's `pdqHash256FromFloatLuma` does.
    public func hash(floatLuma: [Float], width: Int, height: Int) -> PDQResult {
        filterAndDecimate(floatLuma: floatLuma, width: width, height: height)
        computeDCT()
        return PDQResult(hash: hashFromDCT(.original), quality: quality())
    }

    /// The filtered 64×64 image PDQ takes its DCT of (row-major), for `floatLuma` of `width * height`: what
    /// tests compare with a plain, full-size filter.
    package func decimated(floatLuma: [Float], width: Int, height: Int) -> [Float] {
        filterAndDecimate(floatLuma: floatLuma, width: width, height: height)
        return image64
    }

    /// Hashes floating-point luminance in several dihedral orientations at the cost of one.
    public func hashes(floatLuma: [Float], width: Int, height: Int, variants: [Dihedral]) -> (quality: Int, hashes: [PDQHash]) {
        filterAndDecimate(floatLuma: floatLuma, width: width, height: height)
        computeDCT()
        return (quality(), variants.map { hashFromDCT($0) })
    }

    // MARK: - Pipeline

    /// Copies `floatLuma` (`width * height`) into the working buffer and filters it down to ``image64``.
    private func filterAndDecimate(floatLuma: [Float], width: Int, height: Int) {
        precondition(floatLuma.count == width * height)
        ensureCapacity(width * height)
        bufferA.withUnsafeMutableBufferPointer { a in
            floatLuma.withUnsafeBufferPointer { source in
                a.baseAddress!.update(from: source.baseAddress!, count: width * height)
            }
        }
        filterAndDecimate(width: width, height: height)
    }

    private func ensureCapacity(_ count: Int) {
        if bufferA.count < count {
            bufferA = [Float](repeating: 0, count: count)
            bufferB = [Float](repeating: 0, count: count)
        }
    }

    private func prepareDCT(pixels: UnsafeBufferPointer<UInt8>, width: Int, height: Int, stride: Int, region: PixelRegion?) {
        let area = region ?? PixelRegion(x: 0, y: 0, width: width, height: height)
        precondition(area.x >= 0 && area.y >= 0 && area.width > 0 && area.height > 0
                     && area.x + area.width <= width && area.y + area.height <= height, "region outside the image")
        precondition(pixels.count >= (height - 1) * stride + width, "pixel buffer too small")
        ensureCapacity(area.area)
        bufferA.withUnsafeMutableBufferPointer { destination in
            let out = destination.baseAddress!
            let source = pixels.baseAddress!
            for row in 0..<area.height {
                let sourceRow = source + (area.y + row) * stride + area.x
                let outRow = out + row * area.width
                for column in 0..<area.width {
                    outRow[column] = Float(sourceRow[column])
                }
            }
        }
        filterAndDecimate(width: area.width, height: area.height)
        computeDCT()
    }

    /// Two passes of the Jarosz box filter along rows and columns, then sampling of the 64×64 grid.
    ///
    /// Only 64 of the second pass's columns and 64 of its rows are sampled, so it computes no more: its row
    /// filter runs every running sum but divides and stores at the 64 sampled columns alone, and its column
    /// filter runs down those 64 columns, dividing at the 64 sampled rows. Every sample sees the same additions
    /// in the same order as the full pass, so the image is the same to the bit, for about 60 % of the work.
    private func filterAndDecimate(width: Int, height: Int) {
        let windowAlongRows = Self.jaroszWindow(oldDimension: width, newDimension: Self.imageSize)
        let windowAlongColumns = Self.jaroszWindow(oldDimension: height, newDimension: Self.imageSize)
        for i in 0..<64 {
            sampledRows[i] = Int((Double(i) + 0.5) * Double(height) / 64)
            sampledColumns[i] = Int((Double(i) + 0.5) * Double(width) / 64)
        }
        if sampledGrid.count < height * 64 { sampledGrid = [Float](repeating: 0, count: height * 64) }
        if rowScratch.count < width { rowScratch = [Float](repeating: 0, count: width) }
        bufferA.withUnsafeMutableBufferPointer { a in
            bufferB.withUnsafeMutableBufferPointer { b in
                sampledGrid.withUnsafeMutableBufferPointer { grid in
                    let pa = a.baseAddress!, pb = b.baseAddress!
                    Self.boxRows(pa, pb, width: width, height: height, window: windowAlongRows)
                    Self.boxColumns(pb, pa, width: width, height: height, window: windowAlongColumns, sums: &columnSums)
                    sampledColumns.withUnsafeBufferPointer { columns in
                        rowScratch.withUnsafeMutableBufferPointer { scratch in
                            Self.boxRows(pa, sampledAt: columns, into: grid.baseAddress!, width: width, height: height,
                                         window: windowAlongRows, scratch: scratch.baseAddress!)
                        }
                    }
                    sampledRows.withUnsafeBufferPointer { rows in
                        image64.withUnsafeMutableBufferPointer { out in
                            Self.boxColumns(grid.baseAddress!, sampledAt: rows, into: out.baseAddress!, height: height,
                                            window: windowAlongColumns, sums: &columnSums)
                        }
                    }
                }
            }
        }
    }

    static func jaroszWindow(oldDimension: Int, newDimension: Int) -> Int {
        (oldDimension + 2 * newDimension - 1) / (2 * newDimension)
    }

    /// The reference's running-sum box filter as one walk over `length` positions, a window centred on each
    /// output and shrunk at the edges: `move(entering, leaving)` adds position `entering` to the sum and then
    /// takes `leaving` out (either may be nil), and `emit(out, count)` says output `out` is due, `count`
    /// positions summed. Every filter below is this walk with its own sums (one value, eight rows at once, or a
    /// whole row of columns) and its own outputs, so all of them add and subtract in the reference's order.
    @inline(__always)
    static func runningWindow(length: Int, window: Int, move: (_ entering: Int?, _ leaving: Int?) -> Void,
                              emit: (_ out: Int, _ count: Float) -> Void) {
        let half = (window + 2) / 2
        var left = 0, right = 0, out = 0
        var count: Float = 0
        for _ in 0..<max(0, half - 1) {
            move(right, nil); count += 1; right += 1
        }
        for _ in 0..<max(0, window - half + 1) {
            move(right, nil); count += 1
            emit(out, count)
            right += 1; out += 1
        }
        for _ in 0..<max(0, length - window) {
            move(right, left)
            emit(out, count)
            left += 1; right += 1; out += 1
        }
        for _ in 0..<max(0, half - 1) {
            move(nil, left); count -= 1
            emit(out, count)
            left += 1; out += 1
        }
    }

    /// ``box1D`` along eight rows at once (eight rows of `width` from `input`), one vector running sum whose lanes
    /// each do exactly the scalar filter's operations in the same order (bit for bit), while the eight chains
    /// of additions overlap instead of waiting on each other. `emit(out, mean)` gets each output's eight means.
    @inline(__always)
    static func boxEightRows(_ input: UnsafeMutablePointer<Float>, width: Int, window: Int,
                             emit: (_ out: Int, _ mean: () -> SIMD8<Float>) -> Void) {
        @inline(__always) func load(_ i: Int) -> SIMD8<Float> {
            SIMD8(input[i], input[width + i], input[2 * width + i], input[3 * width + i],
                  input[4 * width + i], input[5 * width + i], input[6 * width + i], input[7 * width + i])
        }
        var sum = SIMD8<Float>(repeating: 0)
        runningWindow(length: width, window: window, move: { entering, leaving in
            if let entering { sum += load(entering) }
            if let leaving { sum -= load(leaving) }
        }, emit: { out, count in
            emit(out) { sum / SIMD8(repeating: count) }
        })
    }

    /// ``box1D`` along every row, eight rows at a time (``boxEightRows``), the rest one by one.
    static func boxRows(_ input: UnsafeMutablePointer<Float>, _ output: UnsafeMutablePointer<Float>,
                        width: Int, height: Int, window: Int) {
        var row = 0
        while row + 8 <= height {
            let target = output + row * width
            boxEightRows(input + row * width, width: width, window: window) { out, mean in
                let value = mean()
                for lane in 0..<8 { target[lane * width + out] = value[lane] }
            }
            row += 8
        }
        while row < height {
            box1D(input + row * width, output + row * width, length: width, stride: 1, window: window)
            row += 1
        }
    }

    /// ``boxRows(_:_:width:height:window:)`` written only at the sampled columns (ascending; repeats allowed):
    /// row `y`'s value at `columns[k]` goes to `output[y * 64 + k]`, and only those are divided. Rows beyond
    /// the last full eight go through ``box1D`` into `scratch` (`width` floats).
    static func boxRows(_ input: UnsafeMutablePointer<Float>, sampledAt columns: UnsafeBufferPointer<Int>,
                        into output: UnsafeMutablePointer<Float>, width: Int, height: Int, window: Int,
                        scratch: UnsafeMutablePointer<Float>) {
        let sampleCount = columns.count
        var row = 0
        while row + 8 <= height {
            let target = output + row * sampleCount
            var next = 0
            boxEightRows(input + row * width, width: width, window: window) { out, mean in
                guard next < sampleCount, columns[next] == out else { return }
                let value = mean()
                repeat {
                    for lane in 0..<8 { target[lane * sampleCount + next] = value[lane] }
                    next += 1
                } while next < sampleCount && columns[next] == out
            }
            row += 8
        }
        while row < height {
            box1D(input + row * width, scratch, length: width, stride: 1, window: window)
            for k in 0..<sampleCount { output[row * sampleCount + k] = scratch[columns[k]] }
            row += 1
        }
    }

    /// The reference's running-sum box filter along one line of `length` values `stride` apart.
    @inline(__always)
    static func box1D(_ input: UnsafeMutablePointer<Float>, _ output: UnsafeMutablePointer<Float>,
                      length: Int, stride: Int, window: Int) {
        var sum: Float = 0
        runningWindow(length: length, window: window, move: { entering, leaving in
            if let entering { sum += input[entering * stride] }
            if let leaving { sum -= input[leaving * stride] }
        }, emit: { out, count in
            output[out * stride] = sum / count
        })
    }

    /// ``box1D`` down all `width` columns at once, row by row: each column's running sum sees the same additions
    /// and subtractions in the same order as a column-by-column pass (so the result is the same to the bit),
    /// but memory is read along rows instead of one pixel per row. `emit(out, count, sums)` is told when row
    /// `out` is due, with the columns' running sums (kept in `sums`, whose storage is reused between calls).
    @inline(__always)
    static func boxDownColumns(_ input: UnsafeMutablePointer<Float>, width: Int, height: Int, window: Int,
                               sums: inout [Float],
                               emit: (_ out: Int, _ count: Float, _ sums: UnsafeMutablePointer<Float>) -> Void) {
        if sums.count < width { sums = [Float](repeating: 0, count: width) }
        sums.withUnsafeMutableBufferPointer { sums in
            let sum = sums.baseAddress!
            for x in 0..<width { sum[x] = 0 }
            runningWindow(length: height, window: window, move: { entering, leaving in
                switch (entering, leaving) {
                case let (entering?, leaving?):
                    let r = input + entering * width, l = input + leaving * width
                    for x in 0..<width {
                        sum[x] += r[x]
                        sum[x] -= l[x]
                    }
                case let (entering?, nil):
                    let r = input + entering * width
                    for x in 0..<width { sum[x] += r[x] }
                case let (nil, leaving?):
                    let l = input + leaving * width
                    for x in 0..<width { sum[x] -= l[x] }
                case (nil, nil):
                    break
                }
            }, emit: { out, count in
                emit(out, count, sum)
            })
        }
    }

    /// ``box1D`` down every column (``boxDownColumns``), every row written.
    static func boxColumns(_ input: UnsafeMutablePointer<Float>, _ output: UnsafeMutablePointer<Float>,
                           width: Int, height: Int, window: Int, sums: inout [Float]) {
        boxDownColumns(input, width: width, height: height, window: window, sums: &sums) { out, count, sum in
            let o = output + out * width
            for x in 0..<width { o[x] = sum[x] / count }
        }
    }

    /// ``boxColumns(_:_:width:height:window:sums:)`` down the 64 columns of `input` (`height` rows of 64),
    /// written only at the sampled rows (ascending; repeats allowed): row `rows[i]` goes to `output[i * 64...]`.
    static func boxColumns(_ input: UnsafeMutablePointer<Float>, sampledAt rows: UnsafeBufferPointer<Int>,
                           into output: UnsafeMutablePointer<Float>, height: Int, window: Int, sums: inout [Float]) {
        var next = 0
        boxDownColumns(input, width: 64, height: height, window: window, sums: &sums) { out, count, sum in
            while next < rows.count, rows[next] == out {
                let o = output + next * 64
                for x in 0..<64 { o[x] = sum[x] / count }
                next += 1
            }
        }
    }

    /// B = D · A · Dᵀ with D the 16×64 DCT matrix.
    private func computeDCT() {
        dctMatrix.withUnsafeBufferPointer { d in
            image64.withUnsafeBufferPointer { a in
                temp16x64.withUnsafeMutableBufferPointer { t in
                    dct16.withUnsafeMutableBufferPointer { b in
                        let pd = d.baseAddress!, pa = a.baseAddress!, pt = t.baseAddress!, pb = b.baseAddress!
                        for i in 0..<16 {
                            let rowT = pt + i * 64
                            for j in 0..<64 { rowT[j] = 0 }
                            for k in 0..<64 {
                                let coefficient = pd[i * 64 + k]
                                let rowA = pa + k * 64
                                for j in 0..<64 { rowT[j] += coefficient * rowA[j] }
                            }
                        }
                        for i in 0..<16 {
                            let rowT = pt + i * 64
                            for j in 0..<16 {
                                let rowD = pd + j * 64
                                var sum: Float = 0
                                for k in 0..<64 { sum += rowT[k] * rowD[k] }
                                pb[i * 16 + j] = sum
                            }
                        }
                    }
                }
            }
        }
    }

    /// The hash of the image transformed by `variant`, from the DCT of the original image.
    /// Mirroring an axis negates the coefficients of odd frequency along it; transposing swaps the axes.
    private func hashFromDCT(_ variant: Dihedral) -> PDQHash {
        dct16.withUnsafeBufferPointer { source in
            variantBuffer.withUnsafeMutableBufferPointer { out in
                for i in 0..<16 {
                    for j in 0..<16 {
                        // Frequency k+1 is odd when index k is even: those flip sign under a mirror of that axis.
                        let a = source[i * 16 + j], aT = source[j * 16 + i]
                        let negI: Float = (i & 1) == 0 ? -1 : 1
                        let negJ: Float = (j & 1) == 0 ? -1 : 1
                        let value: Float
                        switch variant {
                        case .original: value = a
                        case .mirror: value = negJ * a
                        case .flipVertical: value = negI * a
                        case .rotate180: value = negI * negJ * a
                        case .transpose: value = aT
                        case .rotate90: value = negJ * aT
                        case .rotate270: value = negI * aT
                        case .antiTranspose: value = negI * negJ * aT
                        }
                        out[i * 16 + j] = value
                    }
                }
            }
        }
        // Threshold at the 128th smallest value (Torben's median as the reference computes it), selected in
        // place rather than sorted: the same value, in a third of the time.
        let median = sortBuffer.withUnsafeMutableBufferPointer { scratch in
            variantBuffer.withUnsafeBufferPointer { values in
                _ = scratch.initialize(from: values)
            }
            return OrderStatistics.select(127, in: scratch)
        }
        var hash = PDQHash.zero
        variantBuffer.withUnsafeBufferPointer { values in
            for k in 0..<256 where values[k] > median { hash.setBit(k) }
        }
        return hash
    }

    /// Meta's image-domain quality metric on the 64×64 image.
    private func quality() -> Int {
        // Eight gradients at a time: the same subtraction, product and quotient in each lane, then |d| truncated
        // as `abs(Int(d))` does: rounded to an integer by adding and taking away 2^23, one less where that went
        // up. Whole numbers up to 100 each sum exactly in a Float (at most 806,400 < 2^24), so the total is the
        // scalar loops' to the unit. (Swift's vector float-to-integer conversion goes lane by lane.)
        image64.withUnsafeBufferPointer { image in
            let base = UnsafeRawPointer(image.baseAddress!)
            @inline(__always) func load(_ index: Int) -> SIMD8<Float> {
                base.loadUnaligned(fromByteOffset: index * 4, as: SIMD8<Float>.self)
            }
            let magic = SIMD8<Float>(repeating: 8_388_608), one = SIMD8<Float>(repeating: 1)
            @inline(__always) func truncatedMagnitude(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
                let d = (a - b) * 100 / 255
                let size = d.replacing(with: -d, where: d .< 0)
                let rounded = (size + magic) - magic
                return rounded - one.replacing(with: 0, where: rounded .<= size)
            }
            var sums = SIMD8<Float>(repeating: 0)
            for i in 0..<63 {
                for j in stride(from: 0, to: 64, by: 8) {
                    sums += truncatedMagnitude(load(i * 64 + j), load((i + 1) * 64 + j))
                }
            }
            for i in 0..<64 {
                // 63 horizontal neighbours per row: seven vectors, then the last pair.
                for j in stride(from: 0, to: 56, by: 8) {
                    sums += truncatedMagnitude(load(i * 64 + j), load(i * 64 + j + 1))
                }
            }
            var gradientSum = Int(sums.sum())
            for i in 0..<64 {
                for j in 56..<63 {
                    gradientSum += abs(Int((image[i * 64 + j] - image[i * 64 + j + 1]) * 100 / 255))
                }
            }
            return min(100, gradientSum / 90)
        }
    }
}
