import ClipTraceAlignment
import ClipTraceFingerprint
import ClipTraceHashing
import ClipTraceObservations

/// Settings of the corner search (``CornerIndex``).
public struct CornerSearchOptions: Hashable, Sendable {
    /// Largest Hamming distance (of 256 bits) between two corner descriptors that may pair them. Descriptors of
    /// unrelated patches sit 128 ± 8 bits apart; 56 kept the corners of 80-90 % crops at 1.1-1.25× scale.
    public var maxDescriptorDistance = 56
    /// Corners that one shift and scale must explain before two frames count as the same picture.
    public var minimumInliers = 12
    /// ... and the share of the frame pair's candidate pairs they must be: with many pairs (busy pictures,
    /// corners that look alike), a dozen can agree on a geometry by chance. On the evaluation split no true
    /// frame pair had less than 16 %; a chance fit between synthetic pictures of rectangles had 14 %.
    public var minimumInlierShare: Float = 0.15
    /// How far (as a fraction of the picture) a corner may land from where the shift and scale put it.
    public var tolerance: Float = 0.02
    /// Inliers must spread over this share of the picture each way: corners bunched in one spot (a caption,
    /// a logo) say little about the whole picture.
    public var minimumSpread: Float = 0.25
    /// Reference frames verified per query frame, the ones sharing most descriptors with it.
    public var framesVerified = 6
    /// RANSAC trials per frame pair (fewer when there are fewer pairs of pairs).
    public var trials = 200
    /// Two corners fix a model only when this far apart on each axis (a fraction of the picture): closer ones
    /// give a scale that a pixel of error throws off.
    public var minimumSampleSeparation: Float = 0.08
    /// Scales a copy may have against its reference, per axis: from half to twice the size.
    public var scales: ClosedRange<Float> = 0.5...2
    /// How far the two axes' scales may differ: a copy stretched to another aspect keeps it within a third.
    public var aspectChange: ClosedRange<Float> = 0.75...1.33
    /// The largest tilt (radians) a copy may have: 15°, about what BRIEF descriptors, which are not turned with
    /// the picture, still pair. 0 keeps copies upright.
    public var maximumRotation: Float = 15 * .pi / 180
    /// The largest shear (cosine of the angle between the mapped axes): copies are not skewed.
    public var maximumShear: Float = 0.1
    /// Seeded search: corners of one query moment that must reach a clip before the moment counts for it.
    public var minimumSeedPairs = 3
    /// Seeded search: clips verified at most, those reached at most moments first.
    public var maxSeededClips = 24

    public init() {}
}

/// The corner search, an evidence source for cropped copies: corners of query frames are paired with corners
/// of reference frames by descriptor, and a frame pair votes when one shift and scale per axis (RANSAC)
/// explains at least ``CornerSearchOptions/minimumInliers`` of them.
///
/// It complements the hash search rather than replacing it: hashes place copies to a fraction of a second at
/// 6 samples per second; corners are taken twice a second but survive a crop that moves every hash.
public final class CornerIndex: Sendable {
    public let options: CornerSearchOptions
    /// Descriptors, indexed by 16-bit words like frame hashes.
    let descriptors: BinaryCodeIndex
    /// Per descriptor entry: the reference corner frame it belongs to, and its position there.
    let frameOf: [Int32]
    let xs: [Float]
    let ys: [Float]
    /// Per reference corner frame: its clip (a position in the list the index was built from) and time.
    let frameOwners: [Int32]
    let frameTimes: [Float]
    /// Per owner: its first corner frame (an owner's frames are consecutive).
    let firstFrameOfOwner: [Int32]

    public var cornerCount: Int { descriptors.count }
    let maximumRotationTangent: Float
    public var memoryBytes: Int { descriptors.memoryBytes + cornerCount * 12 + frameOwners.count * 8 }

    /// Indexes the corners of `clips`; a vote's clip is its position in this list.
    public convenience init(clips: [ReferenceFingerprint], options: CornerSearchOptions = CornerSearchOptions()) {
        self.init(entries: CornerEntries(clips: clips), options: options)
    }

    /// Indexes flat corner frames; a vote's clip is a frame's owner.
    public init(entries: CornerEntries, options: CornerSearchOptions = CornerSearchOptions()) {
        self.options = options
        maximumRotationTangent = Float(sine(Double(options.maximumRotation)) / cosine(Double(options.maximumRotation)))
        var frameOf = [Int32](repeating: 0, count: entries.cornerCount)
        for frame in 0..<entries.frameCount {
            for corner in entries.frameStarts[frame]..<entries.frameStarts[frame + 1] { frameOf[corner] = Int32(frame) }
        }
        descriptors = BinaryCodeIndex(codes: entries.descriptors)
        self.frameOf = frameOf
        xs = entries.xs.map { Float($0) / 65_536 }
        ys = entries.ys.map { Float($0) / 65_536 }
        frameOwners = entries.frameOwners
        frameTimes = entries.frameTimes
        var first = [Int32](repeating: 0, count: Int(entries.frameOwners.max() ?? -1) + 1)
        for (frame, owner) in entries.frameOwners.enumerated().reversed() { first[Int(owner)] = Int32(frame) }
        firstFrameOfOwner = first
        var leading: [LeadingFrames] = []
        for frame in 0..<min(entries.frameOwners.count, EvidenceCandidates.spacingFrames) {
            if leading.last?.clip != entries.frameOwners[frame] { leading.append(LeadingFrames(clip: entries.frameOwners[frame], times: [])) }
            leading[leading.count - 1].times.append(entries.frameTimes[frame])
        }
        leadingFrames = leading
        var whole = EvidenceCandidates()
        whole.leadingCornerFrames = leading
        referenceStep = EvidenceCandidates.referenceStep([whole])
    }

    /// The spacing of the reference corner frames (for ``QueryTimeline/referenceStep``): the median gap over
    /// ``leadingFrames``, the rule a catalogue cut into shards applies to all of theirs.
    public let referenceStep: Double
    /// The first ``EvidenceCandidates/spacingFrames`` corner frames' times, clips in order.
    public let leadingFrames: [LeadingFrames]

    /// The moments corners look at: the distinct times of the query's corner frames, against reference frames
    /// `referenceStep` apart.
    public static func timeline(of query: QueryObservations, referenceStep: Double = 0) -> QueryTimeline {
        var times: [Double] = []
        for frame in query.cornerFrames where times.last.map({ abs($0 - frame.time) >= 1e-6 }) ?? true {
            times.append(frame.time)
        }
        return QueryTimeline(times: times, fallbackStep: 0.5, referenceStep: referenceStep)
    }

    /// A pair of corners: query position, reference position.
    struct Pair {
        var qx: Float, qy: Float, rx: Float, ry: Float, distance: Int
    }

    /// An affine map from query positions to reference positions: `r = A q + t`. A crop stretched back to the
    /// frame is a scale and shift per axis (`a12 = a21 = 0`); a tilted copy adds a small rotation.
    struct Model {
        var a11: Float, a12: Float, tx: Float
        var a21: Float, a22: Float, ty: Float

        /// One scale and shift per axis.
        init(sx: Float, tx: Float, sy: Float, ty: Float) {
            (a11, a12, self.tx, a21, a22, self.ty) = (sx, 0, tx, 0, sy, ty)
        }

        init(a11: Float, a12: Float, tx: Float, a21: Float, a22: Float, ty: Float) {
            (self.a11, self.a12, self.tx, self.a21, self.a22, self.ty) = (a11, a12, tx, a21, a22, ty)
        }

        /// The rotation and single scale that turn query vector (qx, qy) into reference vector (rx, ry), through
        /// point pair `a` (no trigonometry: the cosine and sine, times the scale, are a dot and a cross product).
        init(turning qx: Float, _ qy: Float, into rx: Float, _ ry: Float, through a: Pair) {
            let squared = qx * qx + qy * qy
            let c = (qx * rx + qy * ry) / squared, s = (qx * ry - qy * rx) / squared
            (a11, a12, a21, a22) = (c, -s, s, c)
            tx = a.rx - (c * a.qx - s * a.qy)
            ty = a.ry - (s * a.qx + c * a.qy)
        }

        @inline(__always) func map(_ x: Float, _ y: Float) -> (Float, Float) {
            (a11 * x + a12 * y + tx, a21 * x + a22 * y + ty)
        }

        /// Scale along each query axis, and the rotation of the x axis (radians).
        var scaleX: Float { (a11 * a11 + a21 * a21).squareRoot() }
        var scaleY: Float { (a12 * a12 + a22 * a22).squareRoot() }
        /// The tangent of the x axis's rotation (its sign says which way); infinite past a quarter turn.
        var rotationTangent: Float { a11 > 0 ? a21 / a11 : .infinity }
        /// The cosine of the angle between the mapped axes: 0 without shear.
        var shear: Float { abs(a11 * a12 + a21 * a22) / max(1e-6, scaleX * scaleY) }
    }

    /// The votes of `query`: per corner moment (see ``timeline(of:)``), each verified reference frame votes,
    /// weighted by the corners it explains, under the view (region, mirrored or not) that explained most.
    public func votes(for query: QueryObservations) -> [Vote] {
        Self.weigh([candidates(for: query)], order: ClipOrder(seeds: nil), options: options)
    }

    /// Per described query frame (a view or zoom of a corner moment), the reference frames that share most
    /// corners with it, at least ``CornerSearchOptions/minimumInliers``, each verified: the first
    /// ``CornerSearchOptions/framesVerified`` by pairs, then clip and place in the clip, or with
    /// `keepingEveryPrefix` each that is among the first of the clips up to its own (owners are seeding ranks).
    /// `clipOf` maps an owner to the clip number candidates carry.
    public func candidates(for query: QueryObservations, keepingEveryPrefix: Bool = false,
                           clipOf: (Int32) -> Int32 = { $0 }) -> [CornerCandidate] {
        guard cornerCount > 0, !query.cornerFrames.isEmpty else { return [] }
        // Query corner frames grouped by time: each time is one moment of the corner timeline.
        var moments: [Int32] = []
        var lastTime: Double? = nil
        for frame in query.cornerFrames {
            if let lastTime, abs(lastTime - frame.time) < 1e-6 {
                moments.append(moments.last!)
            } else {
                moments.append(Int32(moments.last.map { $0 + 1 } ?? 0))
            }
            lastTime = frame.time
        }
        // Per reference frame: the last query corner that reached it, and that corner's closest match there.
        let frameCount = frameOwners.count
        var frameStamp = [Int32](repeating: -1, count: frameCount)
        var bestEntry = [Int32](repeating: 0, count: frameCount)
        var bestDistance = [Int32](repeating: 0, count: frameCount)
        var pairCount = [Int32](repeating: 0, count: frameCount)
        var touched: [Int32] = [], reached: [Int32] = []
        var perOwner: [Int32] = []
        // The index reports a corner once however many words it shares with the query corner.
        var seen = [UInt32](repeating: 0, count: cornerCount)
        var stamp: Int32 = 0
        var out: [CornerCandidate] = []
        for (describedIndex, described) in query.cornerFrames.enumerated() {
            var pairFrames: [Int32] = [], pairs: [Pair] = []
            reached.removeAll(keepingCapacity: true)
            for corner in described.corners {
                if stamp == Int32.max {  // a very long query: start the stamps again
                    for i in frameStamp.indices { frameStamp[i] = -1 }
                    for i in seen.indices { seen[i] = 0 }
                    stamp = 0
                }
                stamp += 1
                touched.removeAll(keepingCapacity: true)
                descriptors.search(corner.descriptor, maxDistance: options.maxDescriptorDistance, wordRadius: 0,
                                   seen: &seen, stamp: UInt32(stamp)) { entry, distance in
                    let frame = Int(frameOf[entry])
                    if frameStamp[frame] != stamp {
                        frameStamp[frame] = stamp
                        bestEntry[frame] = Int32(entry)
                        bestDistance[frame] = Int32(distance)
                        touched.append(Int32(frame))
                    } else if (Int32(distance), Int32(entry)) < (bestDistance[frame], bestEntry[frame]) {
                        bestEntry[frame] = Int32(entry)
                        bestDistance[frame] = Int32(distance)
                    }
                }
                for frame in touched {
                    let entry = Int(bestEntry[Int(frame)])
                    pairFrames.append(frame)
                    pairs.append(Pair(qx: corner.x, qy: corner.y, rx: xs[entry], ry: ys[entry],
                                      distance: Int(bestDistance[Int(frame)])))
                    if pairCount[Int(frame)] == 0 { reached.append(frame) }
                    pairCount[Int(frame)] += 1
                }
            }
            // The reference frames sharing most corners with this one are verified.
            var ranked = reached.filter { pairCount[Int($0)] >= Int32(options.minimumInliers) }
            ranked.sort { (pairCount[Int($0)], $1) > (pairCount[Int($1)], $0) }
            let limit = options.framesVerified
            ranked.keepFirst(limit, everyPrefix: keepingEveryPrefix, counts: &perOwner) { Int(frameOwners[Int($0)]) }
            var counts: [Int32] = []
            for frame in ranked { counts.append(pairCount[Int(frame)]) }
            for frame in reached { pairCount[Int(frame)] = 0 }
            for (frame, count) in zip(ranked, counts) {
                var framePairs: [Pair] = []
                for (index, owner) in pairFrames.enumerated() where owner == frame { framePairs.append(pairs[index]) }
                let result = verify(framePairs)
                let owner = frameOwners[Int(frame)]
                out.append(CornerCandidate(
                    moment: moments[describedIndex], described: Int32(describedIndex), clip: clipOf(owner),
                    frameInClip: UInt32(Int(frame) - Int(firstFrameOfOwner[Int(owner)])),
                    referenceTime: frameTimes[Int(frame)], pairCount: count, inliers: Int32(result?.0 ?? 0),
                    distance: Int16(result?.1 ?? 0), view: described.view))
            }
        }
        return out
    }

    /// Corners explained at which a verified frame's vote weighs fully, as a multiple of the minimum.
    static let fullWeightInliers = 2
    /// How fast a frame's vote shrinks when another frame of its clip explains more corners at the same moment
    /// (the power of their ratio): the background of a fixed camera verifies at every reference time, and only
    /// the frame that also explains what moves should carry the moment (segment AP with the cube against
    /// without the ratio: public 0.975 → 0.978, dev 0.884 → 0.888, commit d444ba4).
    static let runnerUpPower = 3
    /// The weight of a verified frame's vote: grows with the corners it explains, shrinks with the square root
    /// of the number of clips verified at the same moment (a scene many clips share says little), and with its
    /// share of its clip's best frame at that moment raised to ``runnerUpPower``.
    static func voteWeight(inliers: Int, clipBest: Int, minimumInliers: Int, clipsHit: Int) -> Float {
        let strength = min(1, Float(inliers) / Float(fullWeightInliers * max(1, minimumInliers)))
        let spread = 1 / Float(max(1, clipsHit)).squareRoot()
        let relative = Float(inliers) / Float(max(1, clipBest))
        var penalty: Float = 1
        for _ in 0..<runnerUpPower { penalty *= relative }
        return strength * spread * penalty
    }

    /// RANSAC over pairs of pairs: each pair of corners fixes two hypotheses, a scale and shift per axis (a crop
    /// stretched back) and a rotation with one scale (a tilted copy); the model explaining most corners wins,
    /// is refitted as an affine map on them by least squares and recounted. Returns the inlier count and their
    /// mean descriptor distance, or nil below the minimum.
    func verify(_ pairs: [Pair]) -> (Int, Int)? {
        let share = options.minimumInlierShare.isFinite ? min(1, max(0, options.minimumInlierShare)) : 0
        let minimumInliers = max(options.minimumInliers, Int((share * Float(pairs.count)).rounded(.up)))
        guard pairs.count >= minimumInliers else { return nil }
        // A fixed generator: the same query gives the same answer in every run.
        var state: UInt64 = 0x2545_F491_4F6C_DD1D &+ UInt64(pairs.count)
        func next(_ bound: Int) -> Int {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return Int(state % UInt64(bound))
        }
        // Trials only count; the winner's inliers are then made one-to-one.
        var bestModel: Model?, bestCount = 0
        func consider(_ model: Model) {
            guard plausible(model) else { return }
            var count = 0
            for p in pairs where fits(model, p) { count += 1 }
            if count > bestCount { (bestModel, bestCount) = (model, count) }
        }
        let trials = min(options.trials, pairs.count * (pairs.count - 1) / 2)
        let separation = options.minimumSampleSeparation
        for _ in 0..<trials {
            let a = pairs[next(pairs.count)], b = pairs[next(pairs.count)]
            let dqx = b.qx - a.qx, dqy = b.qy - a.qy, drx = b.rx - a.rx, dry = b.ry - a.ry
            if abs(dqx) > separation, abs(dqy) > separation {
                let sx = drx / dqx, sy = dry / dqy
                consider(Model(sx: sx, tx: a.rx - sx * a.qx, sy: sy, ty: a.ry - sy * a.qy))
            }
            if options.maximumRotation > 0, dqx * dqx + dqy * dqy > 4 * separation * separation {
                consider(Model(turning: dqx, dqy, into: drx, dry, through: a))
            }
        }
        guard let bestModel, bestCount >= minimumInliers else { return nil }
        var best = inliersOf(bestModel, pairs)
        guard best.count >= minimumInliers else { return nil }
        // Refit on the inliers: one least-squares plane per reference axis, twice.
        for _ in 0..<2 {
            guard let model = affineFit(best.map { pairs[$0] }), plausible(model) else { break }
            let refined = inliersOf(model, pairs)
            guard refined.count >= best.count else { break }
            best = refined
        }
        // Corners bunched in one spot (a caption, a logo) say little about the whole picture.
        let qxs = best.map { pairs[$0].qx }, qys = best.map { pairs[$0].qy }
        guard best.count >= minimumInliers, qxs.max()! - qxs.min()! >= options.minimumSpread,
              qys.max()! - qys.min()! >= options.minimumSpread
        else { return nil }
        let distance = best.reduce(0) { $0 + pairs[$1].distance } / best.count
        return (best.count, distance)
    }

    /// The least-squares affine map of the pairs' query positions onto their reference positions.
    func affineFit(_ pairs: [Pair]) -> Model? {
        guard pairs.count >= 3 else { return nil }
        // Normal equations of [qx qy 1] against rx and against ry (they share the 3×3 matrix).
        var m = [Double](repeating: 0, count: 9), bx = [Double](repeating: 0, count: 3), by = bx
        for p in pairs {
            let v = [Double(p.qx), Double(p.qy), 1]
            for i in 0..<3 {
                for j in 0..<3 { m[i * 3 + j] += v[i] * v[j] }
                bx[i] += v[i] * Double(p.rx)
                by[i] += v[i] * Double(p.ry)
            }
        }
        func solve(_ b: [Double]) -> [Double]? {
            // Cramer's rule on the 3×3 system.
            func det(_ a: [Double]) -> Double {
                a[0] * (a[4] * a[8] - a[5] * a[7]) - a[1] * (a[3] * a[8] - a[5] * a[6]) + a[2] * (a[3] * a[7] - a[4] * a[6])
            }
            let d = det(m)
            guard abs(d) > 1e-12 else { return nil }
            return (0..<3).map { column in
                var replaced = m
                for row in 0..<3 { replaced[row * 3 + column] = b[row] }
                return det(replaced) / d
            }
        }
        guard let x = solve(bx), let y = solve(by) else { return nil }
        return Model(a11: Float(x[0]), a12: Float(x[1]), tx: Float(x[2]), a21: Float(y[0]), a22: Float(y[1]), ty: Float(y[2]))
    }

    /// Copies are scaled by at most a factor of two either way, keep their aspect within a third, turn by a few
    /// degrees at most and are not sheared.
    private func plausible(_ model: Model) -> Bool {
        let sx = model.scaleX, sy = model.scaleY
        guard sx.isFinite, sy.isFinite, model.tx.isFinite, model.ty.isFinite,
              options.scales.contains(sx), options.scales.contains(sy), options.aspectChange.contains(sx / sy)
        else { return false }
        return abs(model.rotationTangent) <= maximumRotationTangent && model.shear <= options.maximumShear
    }

    @inline(__always)
    private func fits(_ model: Model, _ p: Pair) -> Bool {
        let (x, y) = model.map(p.qx, p.qy)
        return abs(x - p.rx) <= options.tolerance && abs(y - p.ry) <= options.tolerance
    }

    private func inliersOf(_ model: Model, _ pairs: [Pair]) -> [Int] {
        var out: [Int] = []
        // One query corner and one reference corner per inlier: repeated texture pairs many to one.
        var usedReference: Set<UInt64> = []
        for (index, p) in pairs.enumerated() {
            guard fits(model, p) else { continue }
            let key = UInt64(p.rx.bitPattern) << 32 | UInt64(p.ry.bitPattern)
            guard usedReference.insert(key).inserted else { continue }
            out.append(index)
        }
        return out
    }
}
