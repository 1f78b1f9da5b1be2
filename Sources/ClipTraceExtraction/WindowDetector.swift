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
    /// Smallest window side as a share of the side of the area searched (the content, or a parent window).
    /// A streamer's picture-in-picture goes down to a quarter of the width.
    static let minimumShare = 0.2
    /// Largest window area as a share of the frame: larger ones are the frame itself.
    static let maximumAreaShare = 0.9
    /// A line pixel's mean gradient, as a multiple of the picture's 75th-percentile gradient (and at least
    /// `minimumLineGradient` grey levels): a border drawn once stands out of any texture that moves.
    static let lineGradientFactor: Float = 2.5
    static let minimumLineGradient: Float = 10
    /// The share of each side of a candidate window that must be line pixels.
    static let minimumSideCoverage = 0.55
    /// A band has only two sides, so each must be a clearer line.
    static let minimumBandCoverage = 0.7
    /// ... and its inside must be this much sharper than what surrounds it (a blurred fill), or move this much
    /// differently (a share of the area's motion beyond the band's share of its area).
    static let bandSharpnessRatio = 1.5
    static let bandMotionContrast = 0.1
    /// Weight of a candidate's area in its score: between two equally well bordered windows, the larger.
    static let areaWeight = 0.1
    /// Steps in the motion map that mark a border: a change of this share of the busiest tenth's motion.
    static let motionStepShare: Float = 0.35
    /// Motion that counts a pixel as moving for the moving box: a low share of the busiest tenth's, so that a
    /// player's dimmed control bar still counts (its box must reach the player's edge; PDQ cannot take 8 % of crop).
    static let movingShare: Float = 0.15
    /// The moving box must cover this share of the frame: less is a detail, more is the frame itself.
    static let movingAreaShares = 0.15...0.85
    /// Candidate lines kept per axis, the longest: a busy texture offers many short ones.
    static let maximumLines = 24
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
    /// Motion is measured between each frame and its companion (``pushCompanion(_:)``): keyframes seconds apart
    /// differ everywhere, inside a window and around it alike. A frame that got no companion (an all-intra
    /// stream, an open group of pictures whose next frame is not a reference) is compared with the next frame.
    private let pairedMotion: Bool
    private var hadCompanion = false
    /// The maps of the last window search, whose arrays the next one reuses.
    private var lastMaps: Maps?

    init(samplesPerSecond: Double, pairedMotion: Bool = false) {
        // Time constant of about two seconds.
        smoothing = Float(min(0.5, max(0.05, 1 / (2 * samplesPerSecond))))
        self.pairedMotion = pairedMotion
    }

    /// Adds the motion between the frame pushed last and `image`, a fraction of a second after it.
    mutating func pushCompanion(_ image: LumaImage) {
        guard pairedMotion, frames > 0, image.width == sourceWidth, image.height == sourceHeight else { return }
        hadCompanion = true
        let w = width, h = height, s = scale, sw = sourceWidth, smoothing = self.smoothing
        image.pixels.withUnsafeBufferPointer { pixels in
            activity.withUnsafeMutableBufferPointer { activity in
                previous.withUnsafeBufferPointer { previous in
                    for y in 0..<h {
                        let row = pixels.baseAddress! + (y * s) * sw
                        let activityRow = activity.baseAddress! + y * w, previousRow = previous.baseAddress! + y * w
                        for x in 0..<w {
                            activityRow[x] += smoothing * (abs(Float(row[x &* s]) - previousRow[x]) - activityRow[x])
                        }
                    }
                }
            }
        }
    }

    /// Adds a frame to the running gradient means.
    mutating func push(_ image: LumaImage) {
        if image.width != sourceWidth || image.height != sourceHeight { reset(for: image) }
        let w = width, h = height, s = scale, sw = sourceWidth
        let alpha = frames == 0 ? 1 : max(smoothing, 1 / Float(frames + 1))
        frames += 1
        let updatesActivity = frames > 1 && !(pairedMotion && hadCompanion), smoothing = self.smoothing
        hadCompanion = false
        image.pixels.withUnsafeBufferPointer { pixels in
            meanGx.withUnsafeMutableBufferPointer { gx in
                meanGy.withUnsafeMutableBufferPointer { gy in
                    activity.withUnsafeMutableBufferPointer { activity in
                        previous.withUnsafeMutableBufferPointer { previous in
                            // Subsample by `scale`; gradients between neighbouring subsampled pixels. The last
                            // column has no right neighbour (its horizontal gradient is 0), the last row no lower one.
                            for y in 0..<h {
                                let row = pixels.baseAddress! + (y * s) * sw
                                let below = y + 1 < h ? pixels.baseAddress! + ((y + 1) * s) * sw : row
                                let gxRow = gx.baseAddress! + y * w, gyRow = gy.baseAddress! + y * w
                                let activityRow = activity.baseAddress! + y * w, previousRow = previous.baseAddress! + y * w
                                // At full resolution, eight pixels at a time with each lane's operations those
                                // of the scalar loop (the last column, without a right neighbour, stays scalar).
                                let vectorEnd = s == 1 ? (w - 1) / 8 * 8 : 0
                                if vectorEnd > 0 {
                                    Self.pushEight(row: row, below: below, gx: gxRow, gy: gyRow, activity: activityRow,
                                                   previous: previousRow, count: vectorEnd, alpha: alpha,
                                                   smoothing: smoothing, updatesActivity: updatesActivity)
                                }
                                for x in vectorEnd..<w {
                                    let here = Float(row[x &* s])
                                    let right = x &+ 1 < w ? Float(row[(x &+ 1) &* s]) : here
                                    let down = Float(below[x &* s])
                                    gxRow[x] += alpha * (abs(right - here) - gxRow[x])
                                    gyRow[x] += alpha * (abs(down - here) - gyRow[x])
                                    if updatesActivity {
                                        activityRow[x] += smoothing * (abs(here - previousRow[x]) - activityRow[x])
                                    }
                                    previousRow[x] = here
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// ``push(_:)``'s update of `count` pixels (a multiple of 8, each with a right neighbour) of a row at full
    /// resolution, eight at a time.
    @inline(__always)
    private static func pushEight(
        row: UnsafePointer<UInt8>, below: UnsafePointer<UInt8>, gx: UnsafeMutablePointer<Float>,
        gy: UnsafeMutablePointer<Float>, activity: UnsafeMutablePointer<Float>, previous: UnsafeMutablePointer<Float>,
        count: Int, alpha: Float, smoothing: Float, updatesActivity: Bool
    ) {
        @inline(__always) func bytes(_ p: UnsafePointer<UInt8>) -> SIMD8<Float> {
            // Bytes widened, then made floats exactly: 2^23 + v has v in its low mantissa bits.
            let wide = SIMD8<UInt32>(truncatingIfNeeded: UnsafeRawPointer(p).loadUnaligned(as: SIMD8<UInt8>.self))
            return unsafeBitCast(wide | SIMD8(repeating: 0x4B00_0000), to: SIMD8<Float>.self) - SIMD8(repeating: 8_388_608)
        }
        @inline(__always) func load(_ p: UnsafeMutablePointer<Float>) -> SIMD8<Float> {
            UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
        }
        @inline(__always) func store(_ value: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
            UnsafeMutableRawPointer(p).storeBytes(of: value, as: SIMD8<Float>.self)
        }
        // |v| by clearing the sign bit: exactly `abs`.
        @inline(__always) func magnitude(_ v: SIMD8<Float>) -> SIMD8<Float> {
            unsafeBitCast(unsafeBitCast(v, to: SIMD8<UInt32>.self) & SIMD8(repeating: 0x7FFF_FFFF), to: SIMD8<Float>.self)
        }
        let alphas = SIMD8<Float>(repeating: alpha), smoothings = SIMD8<Float>(repeating: smoothing)
        var x = 0
        while x < count {
            let here = bytes(row + x), right = bytes(row + x + 1), down = bytes(below + x)
            let oldX = load(gx + x), oldY = load(gy + x)
            store(oldX + alphas * (magnitude(right - here) - oldX), gx + x)
            store(oldY + alphas * (magnitude(down - here) - oldY), gy + x)
            if updatesActivity {
                let oldActivity = load(activity + x)
                store(oldActivity + smoothings * (magnitude(here - load(previous + x)) - oldActivity), activity + x)
            }
            store(here, previous + x)
            x += 8
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

    /// Up to `limit` candidate windows in source-image pixels, best first, then up to `limit` windows found
    /// inside them (a picture-in-picture inside a screen-recorded player), then the moving box. `area` (source
    /// pixels) is where to look, the content rectangle when bars were cut: sizes are judged against it, so a
    /// window in a letterboxed 16:9 picture inside a 9:16 frame counts by the picture's size, not the frame's.
    mutating func windows(limit: Int = 2, within area: PixelRegion? = nil) -> [PixelRegion] {
        guard frames >= 2, width >= 32, height >= 32 else { return [] }
        var maps = lastMaps ?? Maps()
        lastMaps = nil  // the maps' arrays stay uniquely held while rebuilt
        maps.build(from: self)
        defer { lastMaps = maps }
        let moving = activeRegion(high: maps.activityHigh)
        var box = Box(x0: 0, y0: 0, x1: width, y1: height)
        if let area {
            let candidate = Box(x0: max(0, area.x / scale), y0: max(0, area.y / scale),
                                x1: min(width, (area.x + area.width) / scale), y1: min(height, (area.y + area.height) / scale))
            if candidate.width >= 32, candidate.height >= 32 { box = candidate }
        }
        var picked: [PixelRegion] = []
        func pick(_ candidates: [(score: Double, region: PixelRegion)], upTo count: Int) -> [PixelRegion] {
            var added: [PixelRegion] = []
            for candidate in candidates where added.count < count {
                // Skip near-duplicates of a better window.
                if (picked + added).contains(where: { sameWindow($0, candidate.region) }) { continue }
                added.append(candidate.region)
            }
            return added
        }
        let outer = pick(search(in: box, maps: maps), upTo: limit)
        picked += outer
        // A window inside a window: the best one inside each, judged against its parent's size.
        for parent in outer where picked.count < 2 * limit {
            let inner = Box(x0: parent.x, y0: parent.y, x1: parent.x + parent.width, y1: parent.y + parent.height)
            guard inner.width >= 32, inner.height >= 32 else { continue }
            picked += pick(search(in: inner, maps: maps), upTo: 1)
        }
        if let moving, !picked.contains(where: { sameWindow($0, moving) }) { picked.append(moving) }
        // Back to source pixels, inset by one working pixel so the border line itself is not hashed (PDQ is
        // sensitive to a few percent of crop, so no more than that).
        return picked.map { toSource($0, inset: 1) }
            .filter { $0.x + $0.width <= sourceWidth && $0.y + $0.height <= sourceHeight }
    }

    /// A rectangle of working pixels: columns `x0 ..< x1`, rows `y0 ..< y1`.
    struct Box {
        var x0: Int, y0: Int, x1: Int, y1: Int
        var width: Int { x1 - x0 }
        var height: Int { y1 - y0 }
    }

    /// What every search of one call reads: which pixels are parts of lines, with prefix counts along columns
    /// and rows, and integral images of motion and sharpness. Built anew for every search into the arrays of
    /// the search before: a search a second, each of some 6 MB of maps, allocated fresh, cost a page fault per
    /// 4 KiB (100,000 a minute of video, most of the scan's kernel time).
    struct Maps {
        private(set) var w = 0, h = 0
        private(set) var isColumnLine: [Bool] = [], isRowLine: [Bool] = []
        /// Edge between column x and x+1 is in gx[x]; between row y and y+1 in gy[y]. Prefix counts of line
        /// pixels make every side-coverage question O(1): `columnPrefix[x * (h+1) + y]`, `rowPrefix[y * (w+1) + x]`.
        private(set) var columnPrefix: [Int32] = [], rowPrefix: [Int32] = []
        private(set) var motion: [Double] = [], sharpness: [Double] = []
        private(set) var activityHigh: Float = 0
        /// Working arrays of the build, kept with the maps for the next one.
        private var gradients: [Float] = [], steps = ActivitySteps()

        /// Rebuilds the maps from `detector`'s running means (every element is written: nothing of the last
        /// search shows through).
        mutating func build(from detector: WindowDetector) {
            let w = detector.width, h = detector.height
            self.w = w
            self.h = h
            // A line pixel: a strong persistent gradient, relative to this video's own gradient level.
            Self.resize(&gradients, to: w * h, with: 0)
            gradients.withUnsafeMutableBufferPointer { gradients in
                for i in 0..<(w * h) { gradients[i] = detector.meanGx[i] + detector.meanGy[i] }
            }
            let typical = WindowDetector.kthSmallest(gradients, gradients.count * 3 / 4)
            let threshold = max(WindowDetector.minimumLineGradient, WindowDetector.lineGradientFactor * typical)
            // How much the busiest tenth of the picture moves: the scale for motion borders and the moving box.
            activityHigh = detector.frames >= 4 ? WindowDetector.kthSmallest(detector.activity, detector.activity.count * 9 / 10) : 0
            // A window on a moving textured background (a streamer's animated backdrop) has no persistent
            // luminance edge, but its border still separates two kinds of motion: steps in the activity map,
            // averaged along the border's direction so that the texture's own cells cancel out, mark it too.
            detector.activitySteps(high: activityHigh, into: &steps)
            Self.resize(&isColumnLine, to: w * h, with: false)
            Self.resize(&isRowLine, to: w * h, with: false)
            Self.resize(&columnPrefix, to: w * (h + 1), with: 0)
            Self.resize(&rowPrefix, to: h * (w + 1), with: 0)
            Self.resize(&motion, to: (w + 1) * (h + 1), with: 0)
            Self.resize(&sharpness, to: (w + 1) * (h + 1), with: 0)
            // Everything in one pass over the rows, reading memory in order.
            detector.meanGx.withUnsafeBufferPointer { gx in
            detector.meanGy.withUnsafeBufferPointer { gy in
            detector.activity.withUnsafeBufferPointer { activity in
            gradients.withUnsafeBufferPointer { gradients in
            steps.columns.withUnsafeBufferPointer { edgeColumns in
            steps.rows.withUnsafeBufferPointer { edgeRows in
            isColumnLine.withUnsafeMutableBufferPointer { isColumnLine in
            isRowLine.withUnsafeMutableBufferPointer { isRowLine in
            columnPrefix.withUnsafeMutableBufferPointer { columnPrefix in
            rowPrefix.withUnsafeMutableBufferPointer { rowPrefix in
            motion.withUnsafeMutableBufferPointer { motion in
            sharpness.withUnsafeMutableBufferPointer { sharpness in
                // The zero first entries of the prefix counts and the zero first row and column of the integrals.
                for x in 0..<w { columnPrefix[x * (h + 1)] = 0 }
                for y in 0..<h { rowPrefix[y * (w + 1)] = 0 }
                for x in 0...w { motion[x] = 0; sharpness[x] = 0 }
                for y in 1...h { motion[y * (w + 1)] = 0; sharpness[y * (w + 1)] = 0 }
                var columnCounts = [Int32](repeating: 0, count: w)
                for y in 0..<h {
                    var rowCount: Int32 = 0
                    var motionRow = 0.0, sharpRow = 0.0
                    for x in 0..<w {
                        let i = y * w + x
                        let columnLine = gx[i] >= threshold || edgeColumns[i]
                        let rowLine = gy[i] >= threshold || edgeRows[i]
                        isColumnLine[i] = columnLine
                        isRowLine[i] = rowLine
                        columnCounts[x] += columnLine ? 1 : 0
                        columnPrefix[x * (h + 1) + y + 1] = columnCounts[x]
                        rowCount += rowLine ? 1 : 0
                        rowPrefix[y * (w + 1) + x + 1] = rowCount
                        // Integral images of motion (a player moves inside and is still around it) and of sharpness
                        // (a picture over a blurred copy of itself is sharp inside and soft around it).
                        motionRow += Double(activity[i])
                        sharpRow += Double(gradients[i])
                        motion[(y + 1) * (w + 1) + x + 1] = motion[y * (w + 1) + x + 1] + motionRow
                        sharpness[(y + 1) * (w + 1) + x + 1] = sharpness[y * (w + 1) + x + 1] + sharpRow
                    }
                }
            }}}}}}}}}}}}
        }

        /// Gives `array` exactly `count` elements, keeping its storage when the size is unchanged.
        static func resize<Element>(_ array: inout [Element], to count: Int, with value: Element) {
            if array.count != count { array = [Element](repeating: value, count: count) }
        }

        func verticalCoverage(_ x: Int, _ top: Int, _ bottom: Int) -> Double {
            let hits = columnPrefix[x * (h + 1) + bottom] - columnPrefix[x * (h + 1) + top]
            return Double(hits) / Double(max(1, bottom - top))
        }

        func horizontalCoverage(_ y: Int, _ left: Int, _ right: Int) -> Double {
            let hits = rowPrefix[y * (w + 1) + right] - rowPrefix[y * (w + 1) + left]
            return Double(hits) / Double(max(1, right - left))
        }

        /// The sum of an integral image over columns `x0 ..< x1`, rows `y0 ..< y1`.
        func sum(_ integral: [Double], _ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int) -> Double {
            integral[y1 * (w + 1) + x1] - integral[y0 * (w + 1) + x1] - integral[y1 * (w + 1) + x0] + integral[y0 * (w + 1) + x0]
        }
    }

    /// Candidate windows inside `box`, best first: rectangles closed by long persistent lines (the box's own
    /// edges may close one), scored by how well their sides are covered, their size, and how differently their
    /// inside moves. A band across the whole box closed by two lines (a picture over a blurred copy of itself,
    /// letterboxed in a portrait frame) counts when its inside is clearly sharper or moves differently.
    func search(in box: Box, maps: Maps) -> [(score: Double, region: PixelRegion)] {
        let w = maps.w
        func longestRun(_ range: Range<Int>, _ isLine: (Int) -> Bool) -> Int {
            var best = 0, run = 0
            for i in range {
                if isLine(i) { run += 1; best = max(best, run) } else { run = 0 }
            }
            return best
        }
        // Candidate lines: columns / rows inside the box with a long run of line pixels within it.
        let minimumColumnRun = Int(Self.minimumShare * Double(box.height))
        let minimumRowRun = Int(Self.minimumShare * Double(box.width))
        var columnRuns = [Int](repeating: 0, count: box.width), rowRuns = [Int](repeating: 0, count: box.height)
        for x in (box.x0 + 1)..<max(box.x0 + 1, box.x1 - 2) {
            columnRuns[x - box.x0] = longestRun(box.y0..<box.y1) { maps.isColumnLine[$0 * w + x] }
        }
        for y in (box.y0 + 1)..<max(box.y0 + 1, box.y1 - 2) {
            rowRuns[y - box.y0] = longestRun(box.x0..<box.x1) { maps.isRowLine[y * w + $0] }
        }
        // A blurred border spans two or three neighbouring lines: keep the strongest of each cluster.
        var columns: [Int] = [], rows: [Int] = []
        for i in 1..<max(1, box.width - 2) where columnRuns[i] >= minimumColumnRun
            && columnRuns[i] >= columnRuns[i - 1] && columnRuns[i] > columnRuns[i + 1]
        {
            columns.append(box.x0 + i)
        }
        for i in 1..<max(1, box.height - 2) where rowRuns[i] >= minimumRowRun
            && rowRuns[i] >= rowRuns[i - 1] && rowRuns[i] > rowRuns[i + 1]
        {
            rows.append(box.y0 + i)
        }
        guard !columns.isEmpty || !rows.isEmpty else { return [] }
        // On a busy texture many short lines qualify: the longest are the borders worth pairing.
        if columns.count > Self.maximumLines {
            columns = Array(columns.sorted { (columnRuns[$0 - box.x0], -$0) > (columnRuns[$1 - box.x0], -$1) }
                .prefix(Self.maximumLines))
        }
        if rows.count > Self.maximumLines {
            rows = Array(rows.sorted { (rowRuns[$0 - box.y0], -$0) > (rowRuns[$1 - box.y0], -$1) }.prefix(Self.maximumLines))
        }
        // The box's own edges can close a window that touches them.
        let columnChoices = Array(Set(columns + [box.x0 - 1, box.x1 - 1])).sorted()
        let rowChoices = Array(Set(rows + [box.y0 - 1, box.y1 - 1])).sorted()

        let boxArea = Double(box.width * box.height)
        let boxMotion = maps.sum(maps.motion, box.x0, box.y0, box.x1, box.y1)
        let boxSharpness = maps.sum(maps.sharpness, box.x0, box.y0, box.x1, box.y1)
        var scored: [(score: Double, region: PixelRegion)] = []
        for (li, left) in columnChoices.enumerated() {
            for right in columnChoices[(li + 1)...] where Double(right - left) >= Self.minimumShare * Double(box.width) {
                for (ti, top) in rowChoices.enumerated() {
                    for bottom in rowChoices[(ti + 1)...] where Double(bottom - top) >= Self.minimumShare * Double(box.height) {
                        let x0 = left + 1, x1 = right + 1, y0 = top + 1, y1 = bottom + 1
                        let areaShare = Double((x1 - x0) * (y1 - y0)) / boxArea
                        guard areaShare <= Self.maximumAreaShare else { continue }
                        // Sides on the box's edges are not lines of their own.
                        let leftOpen = left < box.x0, rightOpen = right >= box.x1 - 1
                        let topOpen = top < box.y0, bottomOpen = bottom >= box.y1 - 1
                        let sides = [
                            leftOpen ? nil : maps.verticalCoverage(left, y0, y1),
                            rightOpen ? nil : maps.verticalCoverage(right, y0, y1),
                            topOpen ? nil : maps.horizontalCoverage(top, x0, x1),
                            bottomOpen ? nil : maps.horizontalCoverage(bottom, x0, x1),
                        ].compactMap { $0 }
                        guard let weakest = sides.min() else { continue }
                        // Motion that differs across the border marks the real window: concentrated inside (a
                        // player on a still screen) or clearly less than around it (a window on a busy backdrop).
                        let concentration = boxMotion > 0
                            ? abs(maps.sum(maps.motion, x0, y0, x1, y1) / boxMotion - areaShare) : 0
                        if sides.count == 2 {
                            // A band: two opposite lines, across the whole box the other way.
                            let isBand = (leftOpen && rightOpen) || (topOpen && bottomOpen)
                            guard isBand, weakest >= Self.minimumBandCoverage else { continue }
                            let inside = maps.sum(maps.sharpness, x0, y0, x1, y1) / max(1, Double((x1 - x0) * (y1 - y0)))
                            let outside = (boxSharpness - inside * Double((x1 - x0) * (y1 - y0)))
                                / max(1, boxArea - Double((x1 - x0) * (y1 - y0)))
                            guard inside >= Self.bandSharpnessRatio * outside || concentration >= Self.bandMotionContrast
                            else { continue }
                        } else {
                            guard sides.count >= 3, weakest >= Self.minimumSideCoverage else { continue }
                        }
                        let mean = sides.reduce(0, +) / Double(sides.count)
                        let score = mean * Double(sides.count) / 4 + Self.areaWeight * areaShare + concentration
                        scored.append((score, PixelRegion(x: x0, y: y0, width: x1 - x0, height: y1 - y0)))
                    }
                }
            }
        }
        return scored.sorted { $0.score > $1.score }
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

    /// Steps in the motion map, with the rows of running means they are found in (kept for the next search).
    struct ActivitySteps {
        /// `columns[i]` marks a vertical border between pixel i and i+1, `rows[i]` a horizontal one between i
        /// and the pixel below.
        var columns: [Bool] = [], rows: [Bool] = []
        /// One row of the means along y, and three of the means along x (rows y - 1, y, y + 1 in turn).
        var alongY: [Float] = [], alongX: [Float] = []
    }

    /// Steps in the motion map (see ``ActivitySteps``), written over `steps`. The map is averaged over 7 pixels
    /// along the border and differenced across 2, so a fine moving texture on one side does not mark lines of
    /// its own. The means are made a row at a time, each with the same additions in the same order as ever.
    func activitySteps(high: Float, into steps: inout ActivitySteps) {
        let w = width, h = height
        Maps.resize(&steps.columns, to: w * h, with: false)
        Maps.resize(&steps.rows, to: w * h, with: false)
        steps.columns.withUnsafeMutableBufferPointer { $0.update(repeating: false) }
        steps.rows.withUnsafeMutableBufferPointer { $0.update(repeating: false) }
        guard frames >= 4, w >= 8, h >= 8 else { return }
        guard high >= 4 else { return }  // hardly anything moves: luminance edges suffice
        let threshold = max(4, Self.motionStepShare * high)
        let reach = 3
        Maps.resize(&steps.alongY, to: w, with: 0)
        Maps.resize(&steps.alongX, to: 3 * w, with: 0)
        activity.withUnsafeBufferPointer { activity in
            steps.alongY.withUnsafeMutableBufferPointer { alongY in
                steps.alongX.withUnsafeMutableBufferPointer { alongX in
                    steps.columns.withUnsafeMutableBufferPointer { columns in
                        steps.rows.withUnsafeMutableBufferPointer { rows in
                            let a = activity.baseAddress!, out = alongY.baseAddress!
                            // Column borders: each row's vertical mean, then its steps across x.
                            for y in 0..<h {
                                let top = max(0, y - reach), bottom = min(h - 1, y + reach)
                                let count = Float(bottom - top + 1)
                                for x in 0..<w { out[x] = a[top * w + x] }
                                if top < bottom {
                                    for k in (top + 1)...bottom {
                                        let source = a + k * w
                                        for x in 0..<w { out[x] += source[x] }
                                    }
                                }
                                for x in 0..<w { out[x] /= count }
                                for x in 1..<(w - 1) where abs(out[x + 1] - out[x - 1]) >= threshold {
                                    columns[y * w + x] = true
                                }
                            }
                            // Row borders: the horizontal means of rows y - 1 and y + 1, kept three rows at a time.
                            func horizontalMeans(_ y: Int) {
                                let source = a + y * w, target = alongX.baseAddress! + (y % 3) * w
                                for x in 0..<w {
                                    let left = max(0, x - reach), right = min(w - 1, x + reach)
                                    var sum: Float = 0
                                    for k in left...right { sum += source[k] }
                                    target[x] = sum / Float(right - left + 1)
                                }
                            }
                            horizontalMeans(0)
                            horizontalMeans(1)
                            for y in 1..<(h - 1) {
                                horizontalMeans(y + 1)
                                let above = alongX.baseAddress! + ((y - 1) % 3) * w
                                let below = alongX.baseAddress! + ((y + 1) % 3) * w
                                for x in 0..<w where abs(below[x] - above[x]) >= threshold {
                                    rows[y * w + x] = true
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The element a full sort would put at `k`. The maps hold about 150,000 values and many equal ones
    /// (zeros where nothing moves); three full sorts per search were most of the detector's time.
    ///
    /// The maps are non-negative, and non-negative floats order as their bit patterns: one pass counts them by
    /// their top 13 bits, a second gathers the few in the bin that holds the k-th, and only those are selected
    /// among (the same value as a selection among all; anything else, such as a NaN, takes the full selection).
    package static func kthSmallest(_ input: [Float], _ k: Int) -> Float {
        precondition(k >= 0 && k < input.count)
        let binShift: UInt32 = 19
        let binned: Float? = input.withUnsafeBufferPointer { values in
            var counts = [Int](repeating: 0, count: 1 << (32 - Int(binShift)))
            for value in values {
                // A set sign bit (negatives, -0) or an all-ones exponent (infinities, NaN) is beyond the bins.
                let bits = value.bitPattern
                guard bits < 0x7F80_0000 else { return nil }
                counts[Int(bits >> binShift)] += 1
            }
            var bin = 0, before = 0
            while before + counts[bin] <= k {
                before += counts[bin]
                bin += 1
            }
            var inBin: [Float] = []
            inBin.reserveCapacity(counts[bin])
            for value in values where Int(value.bitPattern >> binShift) == bin { inBin.append(value) }
            return inBin.withUnsafeMutableBufferPointer { OrderStatistics.select(k - before, in: $0) }
        }
        if let binned { return binned }
        var values = input
        return values.withUnsafeMutableBufferPointer { OrderStatistics.select(k, in: $0) }
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
