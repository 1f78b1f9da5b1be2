import ClipTraceDecoding
import Foundation
import ClipTraceHashing

/// Finds the picture inside letterbox and pillarbox bars.
///
/// Bars are bars only when they look like bars, not like plain content: rows (or columns) of one colour across
/// the whole width that come in a pair of equal bars on opposite sides, or, in a video, a bar on one side that
/// ends at a sharp edge and stays still while the picture beside it moves. A dark sky or a white background at
/// one side of a picture is neither: it is kept, so a reference and its re-encoded copy are cut alike. (A
/// picture over a blurred copy of itself, a vertical repost's fill, is found by ``WindowDetector`` as a band.)
///
/// Per-frame estimates are noisy (a dark scene looks like a black bar), so ``ContentRectangleTracker``
/// smooths them with a running median over neighbouring samples.
public enum ContentRectangle {
    /// The smallest share of each side that counts as a picture; anything smaller means "frame is flat". A 16:9
    /// picture letterboxed in a 9:16 frame is 32 % of its height.
    static let minimumContentShare = 0.25
    /// Bars thinner than this share of the side are ignored (encoder edge noise).
    static let minimumBarShare = 0.02
    /// A flat row or column: its mean absolute deviation and its mean step between neighbours, in grey levels,
    /// stay below these (a compressed black bar deviates by one or two).
    static let flatDeviation = 3.0
    static let flatGradient = 1.5
    /// A bar is one colour: flat rows whose mean differs from the outermost row's by more than this end it (a sky
    /// darkening towards the top drifts; a bar does not).
    static let barColourDrift = 4.0
    /// A sharp edge: at least this share of the first row of the picture differs from the bar's colour by more
    /// than `edgeStep` grey levels; for a pair of bars, `pairedEdgeShare` at each (a uniform background around a
    /// central object, as music visualisers draw, touches its edges only where the object is widest).
    static let edgeShare = 0.25
    static let pairedEdgeShare = 0.15
    static let edgeStep = 10.0
    /// Two bars on opposite sides are a pair when their thicknesses differ by at most this share of the side.
    static let pairTolerance = 0.03

    /// Statistics of the lines (rows or columns) across one axis.
    package struct Lines {
        package var mean: [Double], deviation: [Double], gradient: [Double]
        var count: Int { mean.count }

        var isFlat: [Bool] { (0..<count).map { deviation[$0] < flatDeviation && gradient[$0] < flatGradient } }
    }

    package static func lines(_ pixels: UnsafeBufferPointer<UInt8>, width w: Int, height h: Int, rows: Bool) -> Lines {
        rows ? rowLines(pixels, width: w, height: h) : columnLines(pixels, width: w, height: h)
    }

    // The mean absolute deviation of a line of n pixels is Σ|n·p − Σp| / n²: computed in integers, exact, and
    // without a conversion to floating point per pixel (the two scans took 8 % of a reference's fingerprinting).

    static func rowLines(_ pixels: UnsafeBufferPointer<UInt8>, width w: Int, height h: Int) -> Lines {
        var lines = Lines(mean: [], deviation: [], gradient: [])
        lines.mean.reserveCapacity(h)
        lines.deviation.reserveCapacity(h)
        lines.gradient.reserveCapacity(h)
        let n = Int32(w)
        // 32-bit sums vectorise; a row's spread is summed in chunks that cannot overflow them.
        let chunk = max(1, Int(Int32.max) / (255 * max(1, w)))
        for y in 0..<h {
            let row = pixels.baseAddress! + y * w
            var sum: Int32 = 0, gradient: Int32 = 0
            for x in 0..<w { sum &+= Int32(row[x]) }
            for x in 1..<max(1, w) { gradient &+= Int32(abs(Int16(row[x]) &- Int16(row[x - 1]))) }
            var spread = 0
            for start in stride(from: 0, to: w, by: chunk) {
                var part: Int32 = 0
                for x in start..<min(w, start + chunk) { part &+= abs(n &* Int32(row[x]) &- sum) }
                spread += Int(part)
            }
            lines.mean.append(Double(sum) / Double(w))
            lines.deviation.append(Double(spread) / Double(w * w))
            lines.gradient.append(Double(gradient) / Double(max(1, w - 1)))
        }
        return lines
    }

    /// The same statistics down the columns, read row by row (memory in order, not one pixel per row).
    static func columnLines(_ pixels: UnsafeBufferPointer<UInt8>, width w: Int, height h: Int) -> Lines {
        var sums = [Int32](repeating: 0, count: w), gradients = [Int32](repeating: 0, count: w)
        var spreads = [Int](repeating: 0, count: w)
        let n = Int32(h)
        sums.withUnsafeMutableBufferPointer { sums in
            gradients.withUnsafeMutableBufferPointer { gradients in
                spreads.withUnsafeMutableBufferPointer { spreads in
                    for y in 0..<h {
                        let row = pixels.baseAddress! + y * w
                        for x in 0..<w { sums[x] &+= Int32(row[x]) }
                        if y > 0 {
                            let above = row - w
                            for x in 0..<w { gradients[x] &+= Int32(abs(Int16(row[x]) - Int16(above[x]))) }
                        }
                    }
                    // Summed in 32 bits over as many rows as cannot overflow, then added up.
                    let chunk = max(1, Int(Int32.max) / (255 * max(1, h)))
                    var parts = [Int32](repeating: 0, count: w)
                    parts.withUnsafeMutableBufferPointer { parts in
                        for start in stride(from: 0, to: h, by: chunk) {
                            for x in 0..<w { parts[x] = 0 }
                            for y in start..<min(h, start + chunk) {
                                let row = pixels.baseAddress! + y * w
                                for x in 0..<w { parts[x] &+= abs(n &* Int32(row[x]) &- sums[x]) }
                            }
                            for x in 0..<w { spreads[x] += Int(parts[x]) }
                        }
                    }
                }
            }
        }
        return Lines(mean: sums.map { Double($0) / Double(h) }, deviation: spreads.map { Double($0) / Double(h * h) },
                     gradient: gradients.map { Double($0) / Double(max(1, h - 1)) })
    }

    /// What one frame says: the picture with paired bars and fills cut (`paired`), and with bars on one side
    /// that end at a sharp edge cut too (`oneSided`), which only time can confirm (``ContentRectangleTracker``).
    struct Estimate {
        var paired: PixelRegion
        var oneSided: PixelRegion
        /// Paired bars without an edge to show for it (a dark scene): only stillness can confirm them.
        var pairedWithoutEdge: PixelRegion
    }

    /// The per-frame picture, bars on one side kept (a still cannot show that they stay still), or nil when the
    /// frame is too flat to tell.
    public static func detect(in image: LumaImage) -> PixelRegion? { estimate(in: image)?.paired }

    static func estimate(in image: LumaImage) -> Estimate? {
        let w = image.width, h = image.height
        guard w >= 16, h >= 16 else { return nil }
        return image.pixels.withUnsafeBufferPointer { pixels -> Estimate? in
            let rows = lines(pixels, width: w, height: h, rows: true)
            let columns = lines(pixels, width: w, height: h, rows: false)
            // A frame flat from edge to edge says nothing about bars.
            guard rows.isFlat.contains(false), columns.isFlat.contains(false) else { return nil }
            let vertical = bars(rows, pixels: pixels, width: w, height: h, alongRows: true)
            let horizontal = bars(columns, pixels: pixels, width: w, height: h, alongRows: false)
            func region(top: Int, bottom: Int, left: Int, right: Int) -> PixelRegion? {
                let x = left, y = top
                let width = w - x - right, height = h - y - bottom
                guard Double(width) >= minimumContentShare * Double(w), Double(height) >= minimumContentShare * Double(h)
                else { return nil }
                return PixelRegion(x: x, y: y, width: width, height: height)
            }
            guard let paired = region(top: vertical.paired.0, bottom: vertical.paired.1, left: horizontal.paired.0,
                                      right: horizontal.paired.1)
            else { return nil }
            let oneSided = region(top: vertical.sharp.0, bottom: vertical.sharp.1, left: horizontal.sharp.0,
                                  right: horizontal.sharp.1) ?? paired
            let pairedWithoutEdge = region(top: vertical.unsure.0, bottom: vertical.unsure.1, left: horizontal.unsure.0,
                                           right: horizontal.unsure.1) ?? paired
            return Estimate(paired: paired, oneSided: oneSided, pairedWithoutEdge: pairedWithoutEdge)
        }
    }

    /// Thickness of the bars at the start and the end of one axis: those that pair up, and those that either
    /// pair up or end at a sharp edge.
    package static func bars(_ lines: Lines, pixels: UnsafeBufferPointer<UInt8>, width w: Int, height h: Int, alongRows: Bool)
        -> (paired: (Int, Int), sharp: (Int, Int), unsure: (Int, Int))
    {
        let flat = lines.isFlat, count = lines.count
        // A frame flat from edge to edge says nothing about bars.
        guard flat.contains(false) else { return ((0, 0), (0, 0), (0, 0)) }
        func run(_ indices: some Sequence<Int>) -> Int {
            var length = 0
            var colour: Double? = nil
            for index in indices {
                guard flat[index] else { break }
                if let colour, abs(lines.mean[index] - colour) > barColourDrift { break }
                colour = colour ?? lines.mean[index]
                length += 1
            }
            return Double(length) >= minimumBarShare * Double(count) && length < count ? length : 0
        }
        let start = run(0..<count), end = run((0..<count).reversed())
        // The share of the first line of the picture that steps away from the bar's colour.
        func edge(bar: Int, atStart: Bool) -> Double {
            guard bar > 0 else { return 0 }
            let colour = lines.mean[atStart ? 0 : count - 1]
            let first = atStart ? bar : count - 1 - bar
            let length = alongRows ? w : h
            var stepped = 0
            for i in 0..<length {
                let v = Double(alongRows ? pixels[first * w + i] : pixels[i * w + first])
                if abs(v - colour) > edgeStep { stepped += 1 }
            }
            return Double(stepped) / Double(length)
        }
        let startEdge = edge(bar: start, atStart: true), endEdge = edge(bar: end, atStart: false)
        // A pair of equal bars of one colour, each ending where a picture starts across a good part of the frame
        // (a dark letterboxed scene steps away from black over less of it than a bright one).
        let pair = start > 0 && end > 0 && Double(abs(start - end)) <= pairTolerance * Double(count) + 1
            && abs(lines.mean[0] - lines.mean[count - 1]) <= 2 * barColourDrift
        let paired = pair && min(startEdge, endEdge) >= pairedEdgeShare
        return (paired ? (start, end) : (0, 0),
                (paired || startEdge >= edgeShare ? start : 0,
                 paired || endEdge >= edgeShare ? end : 0),
                pair ? (start, end) : (0, 0))
    }
}

/// Smooths per-frame content rectangles over time with a running median of each edge, so that one dark
/// frame does not change what is hashed. Holds `2 × radius + 1` frames: memory stays constant.
struct ContentRectangleTracker {
    let radius: Int
    private var window: [(frame: SampledFrame, estimate: ContentRectangle.Estimate?)] = []
    private var emitted = 0

    /// One-sided bars must stay this still (mean step between frames, grey levels) ...
    static let stillBar = 1.5
    /// ... while the picture beside them changes at least this much.
    static let movingPicture = 3.0

    init(radius: Int) {
        self.radius = radius
    }

    /// Adds a frame; returns the frames whose rectangle is now settled.
    mutating func push(_ frame: SampledFrame) -> [(SampledFrame, PixelRegion)] {
        window.append((frame, ContentRectangle.estimate(in: frame.image)))
        var out: [(SampledFrame, PixelRegion)] = []
        // Emit the frame at the centre once its right-hand neighbours are in.
        while emitted < window.count, window.count - emitted > radius {
            out.append(settle(index: emitted))
            emitted += 1
            trim()
        }
        return out
    }

    /// The time of the oldest frame still waiting for its neighbours, if any.
    var oldestWaitingTime: Double? { emitted < window.count ? window[emitted].frame.time : nil }

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
        let full = PixelRegion(x: 0, y: 0, width: frame.image.width, height: frame.image.height)
        // Without a majority of readable neighbours there is no evidence of bars.
        guard estimates.count * 2 > (upper - lower + 1) else { return (frame, full) }
        let paired = median(estimates.map(\.paired), in: full)
        // Bars on one side, or a pair without a clear edge (a dark letterboxed scene), count when they stay still
        // while the picture beside them moves: a letterbox bar is drawn once; a dark sky or a background around
        // a moving object changes with the content (or the content does not move at all, and nothing can be told).
        let neighbours = window[lower...upper].filter { $0.estimate != nil }
        var chosen: PixelRegion? = nil
        for kind in [\ContentRectangle.Estimate.oneSided, \ContentRectangle.Estimate.pairedWithoutEdge] {
            guard let region = median(neighbours.map { $0.estimate![keyPath: kind] }, in: full), region != paired,
                  region != full
            else { continue }
            // Judged on the frames that show these bars themselves (a copy starting or ending nearby does not).
            let showing = neighbours.filter { Self.nearlySame($0.estimate![keyPath: kind], region) }.map(\.frame)
            // Of two kinds of bars that both hold, the one that cuts more (a pair, rather than its sharper half).
            if isStill(outside: region, frames: showing), region.area < (chosen?.area ?? Int.max) { chosen = region }
        }
        if let chosen { return (frame, chosen) }
        return (frame, paired ?? full)
    }

    /// Every edge within two pixels.
    static func nearlySame(_ a: PixelRegion, _ b: PixelRegion) -> Bool {
        abs(a.x - b.x) <= 2 && abs(a.y - b.y) <= 2 && abs(a.x + a.width - b.x - b.width) <= 2
            && abs(a.y + a.height - b.y - b.height) <= 2
    }

    private func median(_ regions: [PixelRegion], in full: PixelRegion) -> PixelRegion? {
        func median(_ values: [Int]) -> Int { values.sorted()[values.count / 2] }
        let left = median(regions.map(\.x)), top = median(regions.map(\.y))
        let right = median(regions.map { full.width - $0.x - $0.width })
        let bottom = median(regions.map { full.height - $0.y - $0.height })
        let width = full.width - left - right, height = full.height - top - bottom
        guard width >= 8, height >= 8 else { return nil }
        return PixelRegion(x: left, y: top, width: width, height: height)
    }

    /// Whether the pixels outside `region` stay still across `frames` while those inside change.
    private func isStill(outside region: PixelRegion, frames: [SampledFrame]) -> Bool {
        guard frames.count >= 3, let first = frames.first?.image, let last = frames.last?.image,
              first.width == last.width, first.height == last.height
        else { return false }
        var outsideStep = 0.0, outsideCount = 0, insideStep = 0.0, insideCount = 0
        let middle = frames[frames.count / 2].image
        guard middle.width == first.width, middle.height == first.height else { return false }
        for (a, b) in [(first, middle), (middle, last)] {
            for y in stride(from: 0, to: a.height, by: 2) {
                for x in stride(from: 0, to: a.width, by: 2) {
                    let step = abs(Double(a.pixels[y * a.width + x]) - Double(b.pixels[y * a.width + x]))
                    let isInside = x >= region.x && x < region.x + region.width && y >= region.y && y < region.y + region.height
                    if isInside { insideStep += step; insideCount += 1 } else { outsideStep += step; outsideCount += 1 }
                }
            }
        }
        guard outsideCount > 0, insideCount > 0 else { return false }

        return outsideStep / Double(outsideCount) <= Self.stillBar && insideStep / Double(insideCount) >= Self.movingPicture
    }
}
