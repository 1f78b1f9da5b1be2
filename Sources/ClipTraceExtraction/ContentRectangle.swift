import ClipTraceDecoding
import ClipTraceHashing

/// Finds the picture inside letterbox, pillarbox and screen-recording bars: rows and columns at the edges
/// that are flat (one colour, hardly any gradient) are cut away.
///
/// Per-frame estimates are noisy (a dark scene looks like a black bar), so ``ContentRectangleTracker``
/// smooths them with a running median over neighbouring samples.
public enum ContentRectangle {
    /// The smallest share of each side that counts as a picture; anything smaller means "frame is flat".
    static let minimumContentShare = 0.3
    /// Bars thinner than this share of the side are ignored (encoder edge noise).
    static let minimumBarShare = 0.02
    /// A flat row or column: its mean absolute deviation and its mean step between neighbours, in grey levels,
    /// stay below these (a compressed black bar deviates by one or two).
    static let flatDeviation = 3.0
    static let flatGradient = 1.5
    /// A bar is one colour: consecutive flat rows whose means differ by more than this end it.
    static let barColourDrift = 12.0

    /// The per-frame estimate, or nil when the frame is too flat to tell.
    public static func detect(in image: LumaImage) -> PixelRegion? {
        let w = image.width, h = image.height
        guard w >= 16, h >= 16 else { return nil }
        return image.pixels.withUnsafeBufferPointer { pixels -> PixelRegion? in
            // Per-row and per-column statistics: mean, and mean absolute deviation from it, and gradient.
            var rowMean = [Double](repeating: 0, count: h), rowFlat = [Bool](repeating: false, count: h)
            var columnSum = [Double](repeating: 0, count: w)
            for y in 0..<h {
                var sum = 0, gradient = 0
                let row = pixels.baseAddress! + y * w
                for x in 0..<w {
                    sum += Int(row[x])
                    columnSum[x] += Double(row[x])
                    if x > 0 { gradient += abs(Int(row[x]) - Int(row[x - 1])) }
                }
                let mean = Double(sum) / Double(w)
                var deviation = 0.0
                for x in 0..<w { deviation += abs(Double(row[x]) - mean) }
                rowMean[y] = mean
                rowFlat[y] = deviation / Double(w) < flatDeviation && Double(gradient) / Double(w - 1) < flatGradient
            }
            var columnMean = [Double](repeating: 0, count: w), columnFlat = [Bool](repeating: false, count: w)
            for x in 0..<w {
                let mean = columnSum[x] / Double(h)
                var deviation = 0.0, gradient = 0
                for y in 0..<h {
                    let value = Int(pixels[y * w + x])
                    deviation += abs(Double(value) - mean)
                    if y > 0 { gradient += abs(value - Int(pixels[(y - 1) * w + x])) }
                }
                columnMean[x] = mean
                columnFlat[x] = deviation / Double(h) < flatDeviation && Double(gradient) / Double(h - 1) < flatGradient
            }
            func barLength(_ flat: [Bool], _ means: [Double], indices: some Sequence<Int>) -> Int {
                var length = 0
                var colour: Double? = nil
                for index in indices {
                    guard flat[index] else { break }
                    if let colour, abs(means[index] - colour) > barColourDrift { break }
                    colour = colour ?? means[index]
                    length += 1
                }
                return length
            }
            var top = barLength(rowFlat, rowMean, indices: 0..<h)
            var bottom = barLength(rowFlat, rowMean, indices: (0..<h).reversed())
            var left = barLength(columnFlat, columnMean, indices: 0..<w)
            var right = barLength(columnFlat, columnMean, indices: (0..<w).reversed())
            if Double(top) < minimumBarShare * Double(h) { top = 0 }
            if Double(bottom) < minimumBarShare * Double(h) { bottom = 0 }
            if Double(left) < minimumBarShare * Double(w) { left = 0 }
            if Double(right) < minimumBarShare * Double(w) { right = 0 }
            let width = w - left - right, height = h - top - bottom
            guard Double(width) >= minimumContentShare * Double(w), Double(height) >= minimumContentShare * Double(h)
            else { return nil }
            return PixelRegion(x: left, y: top, width: width, height: height)
        }
    }
}

/// Smooths per-frame content rectangles over time with a running median of each edge, so that one dark
/// frame does not change what is hashed. Holds `2 × radius + 1` frames: memory stays constant.
struct ContentRectangleTracker {
    let radius: Int
    private var window: [(frame: SampledFrame, estimate: PixelRegion?)] = []
    private var emitted = 0

    init(radius: Int) {
        self.radius = radius
    }

    /// Adds a frame; returns the frames whose rectangle is now settled.
    mutating func push(_ frame: SampledFrame) -> [(SampledFrame, PixelRegion)] {
        window.append((frame, ContentRectangle.detect(in: frame.image)))
        var out: [(SampledFrame, PixelRegion)] = []
        // Emit the frame at the centre once its right-hand neighbours are in.
        while emitted < window.count, window.count - emitted > radius {
            out.append(settle(index: emitted))
            emitted += 1
            trim()
        }
        return out
    }

    /// Emits the frames still waiting at the end of the stream.
    mutating func finish() -> [(SampledFrame, PixelRegion)] {
        var out: [(SampledFrame, PixelRegion)] = []
        while emitted < window.count {
            out.append(settle(index: emitted))
            emitted += 1
        }
        window.removeAll()
        emitted = 0
        return out
    }

    private mutating func trim() {
        let drop = emitted - radius
        if drop > 0 {
            window.removeFirst(drop)
            emitted -= drop
        }
    }

    private func settle(index: Int) -> (SampledFrame, PixelRegion) {
        let frame = window[index].frame
        let lower = max(0, index - radius), upper = min(window.count - 1, index + radius)
        let estimates = window[lower...upper].compactMap { $0.estimate }
            .filter { $0.width > 0 }
        let full = PixelRegion(x: 0, y: 0, width: frame.image.width, height: frame.image.height)
        // Without a majority of readable neighbours there is no evidence of bars.
        guard estimates.count * 2 > (upper - lower + 1) else { return (frame, full) }
        func median(_ values: [Int]) -> Int { values.sorted()[values.count / 2] }
        let left = median(estimates.map(\.x))
        let top = median(estimates.map(\.y))
        let right = median(estimates.map { full.width - $0.x - $0.width })
        let bottom = median(estimates.map { full.height - $0.y - $0.height })
        let width = full.width - left - right, height = full.height - top - bottom
        guard width >= 8, height >= 8 else { return (frame, full) }
        return (frame, PixelRegion(x: left, y: top, width: width, height: height))
    }
}
