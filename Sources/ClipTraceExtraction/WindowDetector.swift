import ClipTraceDecoding
import ClipTraceHashing

/// Finds a picture shown inside another picture: a picture-in-picture window on a streamer's screen, or a
/// player inside a screen recording.
///
/// A window's border is a straight edge that stays put while the content around and inside it changes, so
/// the detector keeps a running mean of the horizontal and vertical gradient magnitudes over time and looks
/// for long, persistent, axis-aligned lines; pairs of them that enclose a large rectangle are the candidates.
/// When no such lines exist (an ordinary video) it returns nothing and costs only the gradient update.
package struct WindowDetector {
    /// Working resolution: the long side of the gradient maps. PDQ changes a lot when a window is off by a
    /// few percent, so the maps keep the analysis image's full resolution.
    static let workingSide = 512
    /// Smallest window side as a share of the frame side.
    static let minimumShare = 0.3
    /// Largest window area as a share of the frame: larger ones are the frame itself.
    static let maximumAreaShare = 0.9
    /// A line pixel's mean gradient, as a multiple of the picture's 75th-percentile gradient (and at least
    /// `minimumLineGradient` grey levels): a border drawn once stands out of any texture that moves.
    static let lineGradientFactor: Float = 2.5
    static let minimumLineGradient: Float = 10
    /// The share of each side of a candidate window that must be line pixels.
    static let minimumSideCoverage = 0.55
    /// Weight of a candidate's area in its score: between two equally well bordered windows, the larger.
    static let areaWeight = 0.1
    /// Steps in the motion map that mark a border: a change of this share of the busiest tenth's motion.
    static let motionStepShare: Float = 0.35
    /// Motion that counts a pixel as moving for the moving box: a low share of the busiest tenth's, so that a
    /// player's dimmed control bar still counts (its box must reach the player's edge; PDQ cannot take 8 % of crop).
    static let movingShare: Float = 0.15
    /// The moving box must cover this share of the frame: less is a detail, more is the frame itself.
    static let movingAreaShares = 0.15...0.85
    /// Candidate lines beyond this many per axis mean a busy texture, not a window.
    static let maximumLines = 32
    // The window search as a whole (borders from motion steps, duplicates within 1.5 %, the dimmed control
    // bar) took the public evaluation split from F1 0.909 to 0.947 and segment AP 0.799 to 0.887.

    private var width = 0, height = 0, scale = 1
    private var sourceWidth = 0, sourceHeight = 0
    private var meanGx: [Float] = []
    private var meanGy: [Float] = []
    /// Running mean of the absolute change between consecutive samples: where the picture moves.
    private var activity: [Float] = []
    private var previous: [Float] = []
    private var frames = 0
    private let smoothing: Float

    init(samplesPerSecond: Double) {
        // Time constant of about two seconds.
        smoothing = Float(min(0.5, max(0.05, 1 / (2 * samplesPerSecond))))
    }

    /// Adds a frame to the running gradient means.
    mutating func push(_ image: LumaImage) {
        if image.width != sourceWidth || image.height != sourceHeight { reset(for: image) }
        let w = width, h = height, s = scale, sw = sourceWidth
        let alpha = frames == 0 ? 1 : max(smoothing, 1 / Float(frames + 1))
        frames += 1
        image.pixels.withUnsafeBufferPointer { pixels in
            meanGx.withUnsafeMutableBufferPointer { gx in
                meanGy.withUnsafeMutableBufferPointer { gy in
                    // Subsample by `scale`; gradients between neighbouring subsampled pixels.
                    for y in 0..<h {
                        let row = pixels.baseAddress! + (y * s) * sw
                        let below = y + 1 < h ? pixels.baseAddress! + ((y + 1) * s) * sw : row
                        for x in 0..<w {
                            let here = Float(row[x * s])
                            let right = x + 1 < w ? Float(row[(x + 1) * s]) : here
                            let down = Float(below[x * s])
                            let i = y * w + x
                            gx[i] += alpha * (abs(right - here) - gx[i])
                            gy[i] += alpha * (abs(down - here) - gy[i])
                            if frames > 1 { activity[i] += smoothing * (abs(here - previous[i]) - activity[i]) }
                            previous[i] = here
                        }
                    }
                }
            }
        }
    }

    private mutating func reset(for image: LumaImage) {
        sourceWidth = image.width
        sourceHeight = image.height
        scale = max(1, (max(image.width, image.height) + Self.workingSide - 1) / Self.workingSide)
        width = image.width / scale
        height = image.height / scale
        meanGx = [Float](repeating: 0, count: width * height)
        meanGy = [Float](repeating: 0, count: width * height)
        activity = [Float](repeating: 0, count: width * height)
        previous = [Float](repeating: 0, count: width * height)
        frames = 0
    }

    /// Up to `limit` candidate windows in source-image pixels, best first.
    func windows(limit: Int = 2) -> [PixelRegion] {
        guard frames >= 2, width >= 32, height >= 32 else { return [] }
        let w = width, h = height
        // A line pixel: a strong persistent gradient, relative to this video's own gradient level.
        let gradients = meanGx + meanGy
        let typical = Self.kthSmallest(gradients, gradients.count * 3 / 4)
        let threshold = max(Self.minimumLineGradient, Self.lineGradientFactor * typical)
        // How much the busiest tenth of the picture moves: the scale for motion borders and the moving box.
        let activityHigh = frames >= 4 ? Self.kthSmallest(activity, activity.count * 9 / 10) : 0

        // A window on a moving textured background (a streamer's animated backdrop) has no persistent luminance
        // edge, but its border still separates two kinds of motion: steps in the activity map, averaged along
        // the border's direction so that the texture's own cells cancel out, mark it too.
        let activityEdges = activitySteps(high: activityHigh)
        let isColumnLine = (0..<(w * h)).map { meanGx[$0] >= threshold || activityEdges.columns[$0] }
        let isRowLine = (0..<(w * h)).map { meanGy[$0] >= threshold || activityEdges.rows[$0] }

        // Edge between column x and x+1 is in gx[x]; between row y and y+1 in gy[y]. Prefix counts of line
        // pixels make every side-coverage question O(1).
        var columnPrefix = [Int32](repeating: 0, count: w * (h + 1))  // [x * (h+1) + y]
        var rowPrefix = [Int32](repeating: 0, count: h * (w + 1))     // [y * (w+1) + x]
        for x in 0..<w {
            for y in 0..<h {
                columnPrefix[x * (h + 1) + y + 1] = columnPrefix[x * (h + 1) + y] + (isColumnLine[y * w + x] ? 1 : 0)
            }
        }
        for y in 0..<h {
            for x in 0..<w {
                rowPrefix[y * (w + 1) + x + 1] = rowPrefix[y * (w + 1) + x] + (isRowLine[y * w + x] ? 1 : 0)
            }
        }
        func verticalCoverage(_ x: Int, _ top: Int, _ bottom: Int) -> Double {
            let hits = columnPrefix[x * (h + 1) + bottom] - columnPrefix[x * (h + 1) + top]
            return Double(hits) / Double(max(1, bottom - top))
        }
        func horizontalCoverage(_ y: Int, _ left: Int, _ right: Int) -> Double {
            let hits = rowPrefix[y * (w + 1) + right] - rowPrefix[y * (w + 1) + left]
            return Double(hits) / Double(max(1, right - left))
        }
        // Candidate lines: columns / rows with a long run of line pixels.
        func longestRun(_ count: Int, _ isLine: (Int) -> Bool) -> Int {
            var best = 0, run = 0
            for i in 0..<count {
                if isLine(i) { run += 1; best = max(best, run) } else { run = 0 }
            }
            return best
        }
        let minimumColumnRun = Int(Self.minimumShare * Double(h))
        let minimumRowRun = Int(Self.minimumShare * Double(w))
        var columns: [Int] = [], rows: [Int] = []
        var columnRuns = [Int](repeating: 0, count: w), rowRuns = [Int](repeating: 0, count: h)
        for x in 1..<(w - 2) { columnRuns[x] = longestRun(h, { isColumnLine[$0 * w + x] }) }
        for y in 1..<(h - 2) { rowRuns[y] = longestRun(w, { isRowLine[y * w + $0] }) }
        // A blurred border spans two or three neighbouring lines: keep the strongest of each cluster.
        for x in 1..<(w - 2) where columnRuns[x] >= minimumColumnRun
            && columnRuns[x] >= columnRuns[x - 1] && columnRuns[x] > columnRuns[x + 1]
        {
            columns.append(x)
        }
        for y in 1..<(h - 2) where rowRuns[y] >= minimumRowRun && rowRuns[y] >= rowRuns[y - 1] && rowRuns[y] > rowRuns[y + 1] {
            rows.append(y)
        }
        let moving = activeRegion(high: activityHigh)
        guard !columns.isEmpty || !rows.isEmpty else { return moving.map { [toSource($0, inset: 0)] } ?? [] }
        // The frame's own edges can close a window that touches them.
        let columnChoices = Array(Set(columns + [-1, w - 1])).sorted()
        let rowChoices = Array(Set(rows + [-1, h - 1])).sorted()
        guard columnChoices.count <= Self.maximumLines, rowChoices.count <= Self.maximumLines else {
            return moving.map { [toSource($0, inset: 0)] } ?? []
        }

        // Integral image of motion: a player window moves inside and is still around it.
        var motion = [Double](repeating: 0, count: (w + 1) * (h + 1))
        for y in 0..<h {
            var rowSum = 0.0
            for x in 0..<w {
                rowSum += Double(activity[y * w + x])
                motion[(y + 1) * (w + 1) + x + 1] = motion[y * (w + 1) + x + 1] + rowSum
            }
        }
        let totalMotion = motion[(h + 1) * (w + 1) - 1]
        func motionShareInside(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int) -> Double {
            guard totalMotion > 0 else { return 0 }
            let inside = motion[y1 * (w + 1) + x1] - motion[y0 * (w + 1) + x1] - motion[y1 * (w + 1) + x0]
                + motion[y0 * (w + 1) + x0]
            return inside / totalMotion
        }
        var scored: [(score: Double, region: PixelRegion)] = []
        for (li, left) in columnChoices.enumerated() {
            for right in columnChoices[(li + 1)...] where Double(right - left) >= Self.minimumShare * Double(w) {
                for (ti, top) in rowChoices.enumerated() {
                    for bottom in rowChoices[(ti + 1)...] where Double(bottom - top) >= Self.minimumShare * Double(h) {
                        let areaShare = Double((right - left) * (bottom - top)) / Double(w * h)
                        guard areaShare <= Self.maximumAreaShare else { continue }
                        let x0 = left + 1, x1 = right + 1, y0 = top + 1, y1 = bottom + 1
                        // Sides on the frame border count as covered only if the opposite side is a real line.
                        let sides = [
                            left < 0 ? nil : verticalCoverage(left, y0, y1),
                            right >= w - 1 ? nil : verticalCoverage(right, y0, y1),
                            top < 0 ? nil : horizontalCoverage(top, x0, x1),
                            bottom >= h - 1 ? nil : horizontalCoverage(bottom, x0, x1),
                        ].compactMap { $0 }
                        guard sides.count >= 3, let weakest = sides.min(), weakest >= Self.minimumSideCoverage
                        else { continue }
                        let mean = sides.reduce(0, +) / Double(sides.count)
                        // Motion that differs across the border marks the real window: concentrated inside (a
                        // player on a still screen) or clearly less than around it (a window on a busy backdrop).
                        let concentration = abs(motionShareInside(max(0, x0), max(0, y0), min(w, x1), min(h, y1))
                            - areaShare)
                        let score = mean * Double(sides.count) / 4 + Self.areaWeight * areaShare + concentration
                        scored.append((score, PixelRegion(x: x0, y: y0, width: x1 - x0, height: y1 - y0)))
                    }
                }
            }
        }
        scored.sort { $0.score > $1.score }
        var picked: [PixelRegion] = []
        for candidate in scored where picked.count < limit {
            // Skip near-duplicates of a better window.
            if picked.contains(where: { sameWindow($0, candidate.region) }) { continue }
            picked.append(candidate.region)
        }
        if let moving, !picked.contains(where: { sameWindow($0, moving) }) { picked.append(moving) }
        // Back to source pixels, inset by one working pixel so the border line itself is not hashed (PDQ is
        // sensitive to a few percent of crop, so no more than that).
        return picked.map { toSource($0, inset: 1) }
            .filter { $0.x + $0.width <= sourceWidth && $0.y + $0.height <= sourceHeight }
    }

    /// Whether two windows would hash alike: every edge within 1.5 % of the frame side. PDQ moves by about
    /// 30 bits for a 1 % shift and 55 for 2 %, so a window that contains another with a margin of 5 % is a
    /// different probe, not a duplicate (a player's progress bar can end the lines 8 % above its real edge).
    static func nearlySame(_ a: PixelRegion, _ b: PixelRegion, width: Int, height: Int) -> Bool {
        let dx = max(abs(a.x - b.x), abs(a.x + a.width - b.x - b.width))
        let dy = max(abs(a.y - b.y), abs(a.y + a.height - b.y - b.height))
        return Double(dx) <= 0.015 * Double(width) && Double(dy) <= 0.015 * Double(height)
    }

    private func sameWindow(_ a: PixelRegion, _ b: PixelRegion) -> Bool {
        Self.nearlySame(a, b, width: width, height: height)
    }

    /// Steps in the motion map: `columns[i]` marks a vertical border between pixel i and i+1, `rows[i]` a
    /// horizontal one between i and the pixel below. The map is averaged over 7 pixels along the border and
    /// differenced across 2, so a fine moving texture on one side does not mark lines of its own.
    private func activitySteps(high: Float) -> (columns: [Bool], rows: [Bool]) {
        let w = width, h = height
        var columns = [Bool](repeating: false, count: w * h), rows = [Bool](repeating: false, count: w * h)
        guard frames >= 4, w >= 8, h >= 8 else { return (columns, rows) }
        guard high >= 4 else { return (columns, rows) }  // hardly anything moves: luminance edges suffice
        let threshold = max(4, Self.motionStepShare * high)
        let reach = 3
        // Vertical running sums for column borders, horizontal ones for row borders.
        var alongY = [Float](repeating: 0, count: w * h), alongX = [Float](repeating: 0, count: w * h)
        for x in 0..<w {
            for y in 0..<h {
                var sum: Float = 0
                for k in max(0, y - reach)...min(h - 1, y + reach) { sum += activity[k * w + x] }
                alongY[y * w + x] = sum / Float(min(h - 1, y + reach) - max(0, y - reach) + 1)
            }
        }
        for y in 0..<h {
            for x in 0..<w {
                var sum: Float = 0
                for k in max(0, x - reach)...min(w - 1, x + reach) { sum += activity[y * w + k] }
                alongX[y * w + x] = sum / Float(min(w - 1, x + reach) - max(0, x - reach) + 1)
            }
        }
        for y in 0..<h {
            for x in 1..<(w - 1) where abs(alongY[y * w + x + 1] - alongY[y * w + x - 1]) >= threshold {
                columns[y * w + x] = true
            }
        }
        for y in 1..<(h - 1) {
            for x in 0..<w where abs(alongX[(y + 1) * w + x] - alongX[(y - 1) * w + x]) >= threshold {
                rows[y * w + x] = true
            }
        }
        return (columns, rows)
    }

    /// The element a full sort would put at `k`, found by quickselect in linear time. The maps hold about
    /// 150,000 values and many equal ones (zeros where nothing moves), hence the three-way partition; three
    /// full sorts per search were most of the detector's time.
    package static func kthSmallest(_ input: [Float], _ k: Int) -> Float {
        precondition(k >= 0 && k < input.count)
        var values = input
        return values.withUnsafeMutableBufferPointer { values in
            var low = 0, high = values.count - 1
            while low < high {
                let a = values[low], b = values[(low + high) / 2], c = values[high]
                let pivot = max(min(a, b), min(max(a, b), c))  // median of three
                var below = low, index = low, above = high
                while index <= above {
                    if values[index] < pivot {
                        values.swapAt(below, index)
                        below += 1
                        index += 1
                    } else if values[index] > pivot {
                        values.swapAt(index, above)
                        above -= 1
                    } else {
                        index += 1
                    }
                }
                if k < below { high = below - 1 } else if k > above { low = above + 1 } else { return pivot }
            }
            return values[low]
        }
    }

    private func toSource(_ region: PixelRegion, inset: Int) -> PixelRegion {
        let x = min(sourceWidth - 1, (region.x + inset) * scale)
        let y = min(sourceHeight - 1, (region.y + inset) * scale)
        let width = min(sourceWidth - x, (region.width - 2 * inset) * scale)
        let height = min(sourceHeight - y, (region.height - 2 * inset) * scale)
        return PixelRegion(x: x, y: y, width: max(8, width), height: max(8, height))
    }

    /// The box where the picture moves while the rest stays still (a player inside a screen recording), or
    /// nil when motion is everywhere or nowhere.
    private func activeRegion(high: Float) -> PixelRegion? {
        guard frames >= 4 else { return nil }
        let w = width, h = height
        guard high >= 2 else { return nil }  // nothing moves
        // A low bar, so that dimmed parts of a player (a translucent control bar over the bottom 8 %) still
        // count as moving: the box must reach the player's real edge, since PDQ cannot take 8 % of crop.
        let threshold = max(2, Self.movingShare * high)
        var rowCounts = [Int](repeating: 0, count: h), columnCounts = [Int](repeating: 0, count: w)
        for y in 0..<h {
            for x in 0..<w where activity[y * w + x] >= threshold {
                rowCounts[y] += 1
                columnCounts[x] += 1
            }
        }
        func longestRun(_ counts: [Int], minimum: Int) -> (Int, Int)? {
            var best: (Int, Int)? = nil, start = -1
            for index in 0...counts.count {
                let active = index < counts.count && counts[index] >= minimum
                if active, start < 0 { start = index }
                if !active, start >= 0 {
                    if best == nil || index - start > best!.1 - best!.0 { best = (start, index) }
                    start = -1
                }
            }
            return best
        }
        guard let (top, bottom) = longestRun(rowCounts, minimum: max(2, w / 6)),
              let (left, right) = longestRun(columnCounts, minimum: max(2, h / 6))
        else { return nil }
        let region = PixelRegion(x: left, y: top, width: right - left, height: bottom - top)
        let share = Double(region.area) / Double(w * h)
        guard Self.movingAreaShares.contains(share), Double(region.width) >= Self.minimumShare * Double(w),
              Double(region.height) >= Self.minimumShare * Double(h)
        else { return nil }
        return region
    }
}
