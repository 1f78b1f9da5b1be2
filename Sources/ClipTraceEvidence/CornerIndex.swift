import ClipTraceFingerprint
import ClipTraceHashing

/// Settings of the local-feature search (see ``FeatureMatcher``).
public struct FeatureMatchingOptions: Hashable, Sendable {
    /// Largest Hamming distance (of 256 bits) between two corner descriptors that may pair them.
    public var maxDescriptorDistance = 56
    /// Corners that one shift and scale must explain before two frames count as the same picture.
    public var minimumInliers = 12
    /// ... and the share of the frame pair's candidate pairs they must be: with many pairs (busy pictures,
    /// corners that look alike), a dozen can agree on a geometry by chance. On the evaluation split no true
    /// frame pair had less than 16 %; a chance fit between synthetic pictures of rectangles had 14 %.
    public var minimumInlierShare: Float = 0.15
    /// How far (as a fraction of the picture) a corner may land from where the shift and scale put it.
    public var tolerance: Float = 0.02
    /// Reference frames verified per query frame, the ones sharing most descriptors with it.
    public var framesVerified = 6
    /// Reference corners whose descriptor also appears at the same place in this many other clips are
    /// dropped: interface chrome, channel logos and captions shared by a series are not evidence of one clip.
    /// Two, not one, so that a trailer and the show it was cut from keep their corners.
    public var commonInOtherClips = 2

    public init() {}
}

/// Finds cropped copies: corners of query frames paired with corners of reference frames by descriptor, then
/// checked for one shift and scale per axis (RANSAC) that explains at least ``FeatureMatchingOptions/minimumInliers``
/// of them, then aligned in time like hash matches (the same Hough vote, line fit and score).
///
/// It complements the hash matcher rather than replacing it: hashes place copies to a fraction of a second at
/// 6 samples per second; features run at 2 per second but survive a crop that moves every hash.
public final class FeatureMatcher: Sendable {
    public let clips: [IndexedClip]
    public let options: FeatureMatchingOptions
    /// Descriptors, with owner clip and time, indexed by 16-bit words like frame hashes.
    let descriptors: HashIndex
    /// Per descriptor entry: the reference feature frame it belongs to, and its position there.
    let frameOf: [Int32]
    let xs: [Float]
    let ys: [Float]
    /// One entry per reference feature frame (owner, time), for the time alignment.
    let frames: HashIndex

    public var featureCount: Int { descriptors.frameCount }
    public var memoryBytes: Int { descriptors.memoryBytes + featureCount * 12 + frames.memoryBytes }

    public init(clips: [(IndexedClip, Fingerprint)], options: FeatureMatchingOptions = FeatureMatchingOptions()) {
        self.clips = clips.map(\.0)
        self.options = options
        var hashes: [PDQHash] = [], owners: [Int32] = [], times: [Float] = []
        var frameOf: [Int32] = [], xs: [Float] = [], ys: [Float] = []
        var frameOwners: [Int32] = [], frameTimes: [Float] = []
        for (clipIndex, (_, fingerprint)) in clips.enumerated() {
            for frame in fingerprint.featureFrames
            where frame.region == .content && frame.orientation == .original && !frame.features.isEmpty {
                let frameIndex = Int32(frameOwners.count)
                frameOwners.append(Int32(clipIndex))
                frameTimes.append(Float(frame.time))
                for feature in frame.features {
                    hashes.append(feature.descriptor)
                    owners.append(Int32(clipIndex))
                    times.append(Float(frame.time))
                    frameOf.append(frameIndex)
                    xs.append(feature.x)
                    ys.append(feature.y)
                }
            }
        }
        // Drop corners common to several clips (same descriptor, same place).
        var all = HashIndex(clips: self.clips, hashes: hashes, owners: owners, times: times, minimumQuality: 0)
        if options.commonInOtherClips > 0, Set(owners).count > 1 {
            var keep = [Bool](repeating: true, count: hashes.count)
            var seen = [UInt32](repeating: 0, count: hashes.count)
            // Chrome is drawn identically, so its corners sit a few bits apart and share most words: the first
            // four word tables find them (each holds a 10-bit-apart twin with probability 0.53), at a quarter
            // of a full search.
            var others: [Int32] = []
            for entry in hashes.indices {
                others.removeAll(keepingCapacity: true)
                all.search(hashes[entry], maxDistance: options.maxDescriptorDistance / 2, wordRadius: 0, seen: &seen,
                           stamp: UInt32(truncatingIfNeeded: entry + 1), tables: 4) { other, _ in
                    guard others.count < options.commonInOtherClips, owners[other] != owners[entry],
                          abs(xs[other] - xs[entry]) <= options.tolerance, abs(ys[other] - ys[entry]) <= options.tolerance,
                          !others.contains(owners[other])
                    else { return }
                    others.append(owners[other])
                }
                if others.count >= options.commonInOtherClips { keep[entry] = false }
            }
            if keep.contains(false) {
                func kept<T>(_ values: [T]) -> [T] { zip(values, keep).compactMap { $1 ? $0 : nil } }
                (hashes, owners, times, frameOf, xs, ys) = (kept(hashes), kept(owners), kept(times), kept(frameOf),
                                                            kept(xs), kept(ys))
                all = HashIndex(clips: self.clips, hashes: hashes, owners: owners, times: times, minimumQuality: 0)
            }
        }
        descriptors = all
        self.frameOf = frameOf
        self.xs = xs
        self.ys = ys
        frames = HashIndex(clips: self.clips, hashes: [PDQHash](repeating: .zero, count: frameOwners.count),
                           owners: frameOwners, times: frameTimes, minimumQuality: 0)
    }

    /// A pair of corners: query position, reference position.
    struct Pair {
        var qx: Float, qy: Float, rx: Float, ry: Float, distance: Int
    }

    /// One shift and scale per axis: reference = scale × query + shift.
    struct Model {
        var sx: Float, tx: Float, sy: Float, ty: Float
    }

    /// Copies found through local features, aligned in time with `matching`'s settings.
    public func match(_ query: Fingerprint, matching: MatchingOptions = MatchingOptions()) -> [Match] {
        guard featureCount > 0, !query.featureFrames.isEmpty else { return [] }
        // Query feature frames grouped by time: each time is one pseudo-frame of the alignment.
        var times: [Double] = []
        var groups: [[Fingerprint.FeatureFrame]] = []
        for frame in query.featureFrames {
            if let last = times.last, abs(last - frame.time) < 1e-6 {
                groups[groups.count - 1].append(frame)
            } else {
                times.append(frame.time)
                groups.append([frame])
            }
        }
        // Per reference frame: the last query corner that reached it, and that corner's closest match there.
        let frameCount = frames.frameCount
        var frameStamp = [Int32](repeating: -1, count: frameCount)
        var bestEntry = [Int32](repeating: 0, count: frameCount)
        var bestDistance = [Int32](repeating: 0, count: frameCount)
        var pairCount = [Int32](repeating: 0, count: frameCount)
        var touched: [Int32] = [], reached: [Int32] = []
        // The index reports a corner once however many words it shares with the query corner.
        var seen = [UInt32](repeating: 0, count: featureCount)
        var stamp: Int32 = 0
        var candidates: [Matcher.Candidate] = []
        for (queryFrame, group) in groups.enumerated() {
            // Best verified result per reference frame over the group's regions and zooms.
            var verified: [Int32: (inliers: Int, distance: Int, mirrored: Bool)] = [:]
            for described in group {
                var pairFrames: [Int32] = [], pairs: [Pair] = []
                reached.removeAll(keepingCapacity: true)
                for feature in described.features {
                    if stamp == Int32.max {  // a very long query: start the stamps again
                        for i in frameStamp.indices { frameStamp[i] = -1 }
                        for i in seen.indices { seen[i] = 0 }
                        stamp = 0
                    }
                    stamp += 1
                    touched.removeAll(keepingCapacity: true)
                    descriptors.search(feature.descriptor, maxDistance: options.maxDescriptorDistance, wordRadius: 0,
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
                        pairs.append(Pair(qx: feature.x, qy: feature.y, rx: xs[entry], ry: ys[entry],
                                          distance: Int(bestDistance[Int(frame)])))
                        if pairCount[Int(frame)] == 0 { reached.append(frame) }
                        pairCount[Int(frame)] += 1
                    }
                }
                // The reference frames sharing most corners with this one are verified.
                var ranked = reached.filter { pairCount[Int($0)] >= Int32(options.minimumInliers) }
                ranked.sort { (pairCount[Int($0)], $1) > (pairCount[Int($1)], $0) }
                if ranked.count > options.framesVerified { ranked.removeLast(ranked.count - options.framesVerified) }
                for frame in reached { pairCount[Int(frame)] = 0 }
                for frame in ranked {
                    var framePairs: [Pair] = []
                    for (index, owner) in pairFrames.enumerated() where owner == frame { framePairs.append(pairs[index]) }
                    guard let (inliers, distance) = verify(framePairs) else { continue }
                    if let existing = verified[frame], existing.inliers >= inliers { continue }
                    verified[frame] = (inliers, distance, described.orientation == .mirror)
                }
            }
            guard !verified.isEmpty else { continue }
            let clipsHit = Set(verified.keys.map { frames.owners[Int($0)] }).count
            let spread = Float(1) / Float(max(1, clipsHit)).squareRoot()
            for (frame, result) in verified.sorted(by: { $0.key < $1.key }) {
                // Weight grows with the corners explained; twice the minimum counts fully.
                let weight = min(1, Float(result.inliers) / Float(2 * options.minimumInliers)) * spread
                candidates.append(Matcher.Candidate(queryFrame: Int32(queryFrame), entry: frame,
                                                    distance: Int16(result.distance), probe: result.mirrored ? 0 : -1,
                                                    weight: weight))
            }
        }
        guard !candidates.isEmpty else { return [] }

        // The alignment sees one pseudo-frame per query feature time, sampled at the feature rate.
        let step = times.count > 1
            ? max(0.05, zip(times.dropFirst(), times).map { $0 - $1 }.sorted()[(times.count - 1) / 2]) : 0.5
        let pseudo = Fingerprint(
            duration: query.duration, frameRate: query.frameRate, width: query.width, height: query.height,
            rotation: query.rotation, codec: query.codec, sampleRate: 1 / step,
            // Probe 0 of every pseudo-frame stands for "seen in a mirror", so segments report the orientation.
            frames: times.map {
                Fingerprint.Frame(time: $0, hash: .zero, quality: 100,
                                  probes: [.init(hash: .zero, orientation: .mirror, region: .localFeatures)])
            })
        let matcher = Matcher(index: frames, options: matching)
        var byClip: [Int32: [Matcher.Candidate]] = [:]
        for candidate in candidates { byClip[frames.owners[Int(candidate.entry)], default: []].append(candidate) }
        var matches: [Match] = []
        for clipIndex in byClip.keys.sorted() {
            for var found in matcher.align(byClip[clipIndex]!, clip: clips[Int(clipIndex)], query: pseudo, step: step) {
                found.region = .localFeatures
                matches.append(found)
            }
        }
        return matches.filter { $0.score >= matching.minimumScore && $0.queryDuration >= matching.minimumDuration }
    }

    /// RANSAC over pairs of pairs: each pair of corners fixes a scale and shift per axis; the model explaining
    /// most corners wins, is refitted on them by least squares and recounted. Returns the inlier count and
    /// their mean descriptor distance, or nil below the minimum.
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
        let trials = min(200, pairs.count * (pairs.count - 1) / 2)
        for _ in 0..<trials {
            let a = pairs[next(pairs.count)], b = pairs[next(pairs.count)]
            guard abs(a.qx - b.qx) > 0.08, abs(a.qy - b.qy) > 0.08 else { continue }
            let sx = (a.rx - b.rx) / (a.qx - b.qx), sy = (a.ry - b.ry) / (a.qy - b.qy)
            let model = Model(sx: sx, tx: a.rx - sx * a.qx, sy: sy, ty: a.ry - sy * a.qy)
            guard plausible(model) else { continue }
            var count = 0
            for p in pairs where fits(model, p) { count += 1 }
            if count > bestCount { (bestModel, bestCount) = (model, count) }
        }
        guard let bestModel, bestCount >= minimumInliers else { return nil }
        var best = inliersOf(bestModel, pairs)
        guard best.count >= minimumInliers else { return nil }
        // Refit on the inliers, one least-squares line per axis, and recount.
        func fit(_ q: KeyPath<Pair, Float>, _ r: KeyPath<Pair, Float>) -> (Float, Float)? {
            var n: Float = 0, sq: Float = 0, sr: Float = 0, sqq: Float = 0, sqr: Float = 0
            for index in best {
                let p = pairs[index]
                n += 1; sq += p[keyPath: q]; sr += p[keyPath: r]; sqq += p[keyPath: q] * p[keyPath: q]
                sqr += p[keyPath: q] * p[keyPath: r]
            }
            let denominator = n * sqq - sq * sq
            guard abs(denominator) > 1e-9 else { return nil }
            let slope = (n * sqr - sq * sr) / denominator
            return (slope, (sr - slope * sq) / n)
        }
        if let (sx, tx) = fit(\.qx, \.rx), let (sy, ty) = fit(\.qy, \.ry) {
            let model = Model(sx: sx, tx: tx, sy: sy, ty: ty)
            if plausible(model) {
                let refined = inliersOf(model, pairs)
                if refined.count >= best.count { best = refined }
            }
        }
        // Corners bunched in one spot (a caption, a logo) say little about the whole picture.
        let qxs = best.map { pairs[$0].qx }, qys = best.map { pairs[$0].qy }
        guard best.count >= minimumInliers, qxs.max()! - qxs.min()! >= 0.25, qys.max()! - qys.min()! >= 0.25
        else { return nil }
        let distance = best.reduce(0) { $0 + pairs[$1].distance } / best.count
        return (best.count, distance)
    }

    /// Copies are scaled by at most a factor of two either way and keep their aspect within a third.
    private func plausible(_ model: Model) -> Bool {
        guard model.sx.isFinite, model.sy.isFinite, model.sx > 0.5, model.sx < 2, model.sy > 0.5, model.sy < 2
        else { return false }
        let ratio = model.sx / model.sy
        return ratio > 0.75 && ratio < 1.33
    }

    @inline(__always)
    private func fits(_ model: Model, _ p: Pair) -> Bool {
        abs(model.sx * p.qx + model.tx - p.rx) <= options.tolerance
            && abs(model.sy * p.qy + model.ty - p.ry) <= options.tolerance
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
