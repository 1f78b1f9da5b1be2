import Foundation
import ClipTraceFingerprint
import ClipTraceHashing

/// Settings of the matcher. The defaults are the ones `cliptrace scan` uses.
public struct MatchingOptions: Hashable, Sendable {
    public static let defaultMinimumQuality = 20

    /// Largest Hamming distance (of 256 bits) at which two frames can vote for an alignment.
    public var maxDistance: Int
    /// Query frames below this PDQ quality do not vote (flat, dark, fading frames match anything).
    public var minimumQuality: Int
    /// For the primary hash of each query frame, its mirror image and an upright window (see
    /// `searchesNeighbours`), probe each 16-bit word and its one-bit neighbours (1), or exact words only (0).
    public var wordRadius: Int
    /// Closest reference frames kept per query frame.
    public var candidatesPerFrame: Int
    /// Playback speeds tried, as reference seconds per query second.
    public var speeds: [Double]
    /// Largest gap inside one segment, in seconds of query time.
    public var maxGap: Double
    /// Segments shorter than this (query seconds) are dropped.
    public var minimumDuration: Double
    /// Matches below this score are not reported.
    public var minimumScore: Double
    /// Seeded search: query frames that must reach a clip through a whole key before the clip is matched.
    public var minimumSeedFrames = 1

    public init(
        maxDistance: Int = 76, minimumQuality: Int = MatchingOptions.defaultMinimumQuality, wordRadius: Int = 1,
        candidatesPerFrame: Int = 24, speeds: [Double] = stride(from: 0.8, through: 1.2501, by: 0.05).map { $0 },
        maxGap: Double = 3.0, minimumDuration: Double = 1.0, minimumScore: Double = 0.2
    ) {
        self.maxDistance = maxDistance
        self.minimumQuality = minimumQuality
        self.wordRadius = wordRadius
        self.candidatesPerFrame = candidatesPerFrame
        self.speeds = speeds
        self.maxGap = maxGap
        self.minimumDuration = minimumDuration
        self.minimumScore = minimumScore
    }
}

/// One copied segment: where it is on the query's timeline and on the reference's, and how sure we are.
public struct Match: Hashable, Sendable {
    public var clip: IndexedClip
    public var queryStart: Double
    public var queryEnd: Double
    public var referenceStart: Double
    public var referenceEnd: Double
    /// Confidence in [0, 1]; 0.5 is the decision threshold.
    public var score: Double
    /// Reference seconds per query second (1 = same speed).
    public var speed: Double
    /// Query frames in the segment that matched / that were sampled.
    public var matchedFrames: Int
    public var queryFrames: Int
    /// Mean Hamming distance of the matched frames.
    public var meanDistance: Double
    /// How the query frames had to be seen to match: orientation and region, the most common one.
    public var orientation: Dihedral
    public var region: Fingerprint.ProbeRegion
    /// A few aligned frame pairs (query time, reference time, distance) as evidence.
    public var evidence: [Evidence]

    public struct Evidence: Hashable, Sendable {
        public var queryTime: Double
        public var referenceTime: Double
        public var distance: Int
    }

    public var queryDuration: Double { queryEnd - queryStart }
}

/// Finds registered clips inside a query: near-neighbour frame search through ``HashIndex``, then a Hough vote
/// over (speed, offset) per reference, then segments along the best lines.
public struct Matcher: Sendable {
    public let index: HashIndex
    public var options: MatchingOptions

    public init(index: HashIndex, options: MatchingOptions = MatchingOptions()) {
        self.index = index
        self.options = options
    }

    /// A frame pair that survived the distance filter.
    struct Candidate {
        var queryFrame: Int32
        var entry: Int32
        var distance: Int16
        var probe: Int16  // index into the frame's probe list; -1 = the primary hash
        var weight: Float
    }

    public func match(_ query: Fingerprint) -> [Match] {
        guard index.frameCount > 0, !query.frames.isEmpty else { return [] }
        let candidates = collectCandidates(query)
        var byClip: [Int32: [Candidate]] = [:]
        for candidate in candidates { byClip[index.owners[Int(candidate.entry)], default: []].append(candidate) }
        let step = query.sampleRate > 0 ? 1 / query.sampleRate : medianStep(query)
        var matches: [Match] = []
        for (clipIndex, clipCandidates) in byClip {
            matches += align(clipCandidates, clip: index.clips[Int(clipIndex)], query: query, step: step)
        }
        return matches.filter { $0.score >= options.minimumScore && $0.queryDuration >= options.minimumDuration }
            .sorted { ($0.queryStart, -$0.score, $0.clip.id) < ($1.queryStart, -$1.score, $1.clip.id) }
    }

    private func medianStep(_ query: Fingerprint) -> Double {
        guard query.frames.count > 1 else { return 0.25 }
        let gaps = zip(query.frames.dropFirst(), query.frames).map { $0.time - $1.time }.sorted()
        return max(0.01, gaps[gaps.count / 2])
    }

    /// Near neighbours of every usable query frame and probe, best `candidatesPerFrame` per frame.
    func collectCandidates(_ query: Fingerprint) -> [Candidate] {
        var seen = [UInt32](repeating: 0, count: index.frameCount)
        var stamp: UInt32 = 0
        var out: [Candidate] = []
        var best: [Int32: (distance: Int, probe: Int)] = [:]
        for (frameIndex, frame) in query.frames.enumerated() where frame.quality >= options.minimumQuality {
            best.removeAll(keepingCapacity: true)
            for probe in -1..<frame.probes.count {
                let hash = probe < 0 ? frame.hash : frame.probes[probe].hash
                stamp &+= 1
                if stamp == 0 {  // wrapped: reset
                    for i in seen.indices { seen[i] = 0 }
                    stamp = 1
                }
                index.search(hash, maxDistance: options.maxDistance, wordRadius: Self.searchesNeighbours(frame, probe) ? options.wordRadius : 0,
                             seen: &seen, stamp: stamp) { entry, distance in
                    let key = Int32(entry)
                    if let existing = best[key], existing.distance <= distance { return }
                    best[key] = (distance, probe)
                }
            }
            guard !best.isEmpty else { continue }
            var ranked = best.map { (entry: $0.key, distance: $0.value.distance, probe: $0.value.probe) }
            // Sorted whatever the dictionary's (per-process random) order, so that ties keep the same entries
            // and results repeat exactly from run to run.
            ranked.sort { ($0.distance, $0.entry) < ($1.distance, $1.entry) }
            if ranked.count > options.candidatesPerFrame {
                ranked.removeLast(ranked.count - options.candidatesPerFrame)
            }
            // A query frame that resembles many different clips (black frame, logo, intro) is weak evidence.
            let clipsHit = Set(ranked.map { index.owners[Int($0.entry)] }).count
            let spread = Float(1) / Float(max(1, clipsHit)).squareRoot()
            for item in ranked {
                let relative = Float(item.distance) / Float(options.maxDistance)
                out.append(Candidate(queryFrame: Int32(frameIndex), entry: item.entry, distance: Int16(item.distance),
                                     probe: Int16(item.probe), weight: (1 - relative * relative) * spread))
            }
        }
        return out
    }

    /// Whether a hash is searched with its words' one-bit neighbours: the content upright and mirrored, and a
    /// window seen upright. A mirrored copy with an overlay sat 30-60 bits from its reference, with no exact
    /// 16-bit word in most frames; a window is rescaled from a few hundred pixels, so its hash sits further
    /// from the original (40-50 bits on fine textures) than a re-encode does, and exact words alone find only
    /// half its frames. Rotations and whole-frame probes keep exact words: neighbours cost 17 lookups per
    /// word, and for all eight orientations a 1-hour query against 100 h took 119 s instead of 8 (direct) and
    /// 9.6 s instead of 3 (seeded).
    @inline(__always)
    static func searchesNeighbours(_ frame: Fingerprint.Frame, _ probe: Int) -> Bool {
        guard probe >= 0 else { return true }
        let taken = frame.probes[probe]
        switch taken.region {
        case .content: return taken.orientation == .mirror
        case .window: return taken.orientation == .original
        default: return false
        }
    }

    /// Hough vote over (speed, offset) for one clip, then segments along the strongest lines.
    func align(_ candidates: [Candidate], clip: IndexedClip, query: Fingerprint, step: Double) -> [Match] {
        var remaining = candidates
        var matches: [Match] = []
        let binWidth = max(0.5, 2 * step)
        let tolerance = max(0.5, 2 * step)
        for _ in 0..<8 {
            guard remaining.count >= 3 else { break }
            // Vote.
            var votes: [Int64: Float] = [:]
            for candidate in remaining {
                let tq = query.frames[Int(candidate.queryFrame)].time
                let tr = Double(index.times[Int(candidate.entry)])
                for (speedIndex, speed) in options.speeds.enumerated() {
                    let bin = Int64(((tr - speed * tq) / binWidth).rounded(.down))
                    votes[Int64(speedIndex) << 40 | (bin & 0xFF_FFFF_FFFF), default: 0] += candidate.weight
                }
            }
            // Ties go to the smallest key (lowest speed, then offset): dictionary order differs between runs.
            guard let (key, weight) = votes.max(by: { ($0.value, $1.key) < ($1.value, $0.key) }), weight > 0.5
            else { break }
            let speed = options.speeds[Int(key >> 40)]
            var bin = key & 0xFF_FFFF_FFFF
            if bin & 0x80_0000_0000 != 0 { bin |= ~0xFF_FFFF_FFFF }  // sign-extend
            let offset = (Double(bin) + 0.5) * binWidth

            // Inliers of the line tr = speed * tq + offset: the best candidate per query frame.
            var inlierByFrame: [Int32: Candidate] = [:]
            for candidate in remaining {
                let tq = query.frames[Int(candidate.queryFrame)].time
                let tr = Double(index.times[Int(candidate.entry)])
                guard abs(tr - (speed * tq + offset)) <= tolerance + binWidth / 2 else { continue }
                if let existing = inlierByFrame[candidate.queryFrame], existing.distance <= candidate.distance { continue }
                inlierByFrame[candidate.queryFrame] = candidate
            }
            let inliers = inlierByFrame.values.sorted { $0.queryFrame < $1.queryFrame }
            guard inliers.count >= 2 else {
                remaining.removeAll { inlierByFrame[$0.queryFrame]?.entry == $0.entry }
                continue
            }
            // Choose the speed on a narrow band: a wrong slope lets the ends of the copy drift out of it.
            // Near-ties go to 1x, since most copies keep their speed and slow zooms or pans fit many slopes.
            let middle = inliers.reduce(0.0) { $0 + query.frames[Int($1.queryFrame)].time } / Double(inliers.count)
            var bestSpeed = speed, bestOffset = offset, bestSupport = -1.0, unitSupport = -1.0, unitOffset = offset
            for trialSpeed in options.speeds {
                let around = offset + (speed - trialSpeed) * middle
                let (trialOffset, support) = refineOffset(remaining, query: query, speed: trialSpeed, around: around,
                                                          step: step, span: tolerance)
                if support > bestSupport { (bestSpeed, bestOffset, bestSupport) = (trialSpeed, trialOffset, support) }
                if abs(trialSpeed - 1) < 0.001 { (unitSupport, unitOffset) = (support, trialOffset) }
            }
            if unitSupport >= 0.93 * bestSupport { (bestSpeed, bestOffset) = (1, unitOffset) }
            var (fitSpeed, fitOffset) = fitLine(inliers, query: query, speed: bestSpeed, offset: bestOffset)
            fitOffset = refineOffset(remaining, query: query, speed: fitSpeed, around: fitOffset, step: step,
                                     span: tolerance).offset

            // Split into runs without long gaps; each run is a segment.
            var runs: [[Candidate]] = [[]]
            for inlier in inliers {
                if let last = runs[runs.count - 1].last,
                   query.frames[Int(inlier.queryFrame)].time - query.frames[Int(last.queryFrame)].time > options.maxGap
                {
                    runs.append([])
                }
                runs[runs.count - 1].append(inlier)
            }
            var claimed: [(Double, Double)] = []
            for run in runs where run.count >= 2 {
                if let match = segment(run, clip: clip, query: query, step: step, speed: fitSpeed, offset: fitOffset) {
                    matches.append(match)
                    claimed.append((match.queryStart, match.queryEnd))
                }
            }
            // Whatever this line explained is used up, and so is every other alignment of the same query
            // stretch to this clip (static clips offer many): one report per copied stretch.
            let used = Set(inliers.map(\.queryFrame))
            remaining.removeAll { candidate in
                if used.contains(candidate.queryFrame) && claimed.isEmpty { return true }
                let tq = query.frames[Int(candidate.queryFrame)].time
                return claimed.contains { tq >= $0.0 - step / 2 && tq <= $0.1 + step / 2 }
            }
        }
        return matches
    }

    /// Slides the line in small steps and keeps the offset where the most weight lies within half a sample
    /// of it. On slowly changing content the single closest frame per query frame wanders; the support of a
    /// narrow band does not.
    func refineOffset(_ candidates: [Candidate], query: Fingerprint, speed: Double, around offset: Double,
                      step: Double, span: Double) -> (offset: Double, support: Double)
    {
        let band = max(0.05, step / 2)
        var best = offset, bestSupport = -1.0
        var ties: [Double] = []
        var trial = offset - span
        while trial <= offset + span + 1e-9 {
            // The best weight per query frame, summed as it grows in candidate order (which is fixed), not over
            // the dictionary afterwards: its order differs between runs, and so would the float sum's last bits.
            var perFrame: [Int32: Double] = [:]
            var support = 0.0
            for candidate in candidates {
                let tq = query.frames[Int(candidate.queryFrame)].time
                let residual = abs(Double(index.times[Int(candidate.entry)]) - (speed * tq + trial))
                guard residual <= band else { continue }
                let weight = Double(candidate.weight), previous = perFrame[candidate.queryFrame] ?? 0
                if weight > previous {
                    perFrame[candidate.queryFrame] = weight
                    support += weight - previous
                }
            }
            if support > bestSupport + 1e-6 {
                bestSupport = support
                best = trial
                ties = [trial]
            } else if abs(support - bestSupport) <= 1e-6 {
                ties.append(trial)
            }
            trial += 0.02
        }
        guard bestSupport > 0 else { return (offset, 0) }
        return (ties.isEmpty ? best : ties.reduce(0, +) / Double(ties.count), bestSupport)
    }

    /// Weighted least squares of tr against tq, with the slope kept within the tried speeds.
    func fitLine(_ inliers: [Candidate], query: Fingerprint, speed: Double, offset: Double) -> (Double, Double) {
        guard inliers.count >= 4 else { return (speed, offset) }
        var sw = 0.0, sx = 0.0, sy = 0.0, sxx = 0.0, sxy = 0.0
        for inlier in inliers {
            let w = Double(inlier.weight) + 1e-3
            let x = query.frames[Int(inlier.queryFrame)].time, y = Double(index.times[Int(inlier.entry)])
            sw += w; sx += w * x; sy += w * y; sxx += w * x * x; sxy += w * x * y
        }
        let denominator = sw * sxx - sx * sx
        guard denominator > 1e-9 else { return (speed, (sy - speed * sx) / sw) }
        var slope = (sw * sxy - sx * sy) / denominator
        slope = min(max(slope, options.speeds.min()! - 0.02), options.speeds.max()! + 0.02)
        // A short run cannot tell the slope well: keep the voted one when the fit disagrees wildly, or when it
        // explains the inliers hardly better (static or slowly changing content matches along many slopes).
        if abs(slope - speed) > 0.1 { slope = speed }
        func residual(_ a: Double, _ b: Double) -> Double {
            inliers.reduce(0) {
                $0 + abs(Double(index.times[Int($1.entry)]) - (a * query.frames[Int($1.queryFrame)].time + b))
            }
        }
        let fittedOffset = (sy - slope * sx) / sw
        let votedOffset = (sy - speed * sx) / sw
        if residual(slope, fittedOffset) > 0.85 * residual(speed, votedOffset) { return (speed, votedOffset) }
        return (slope, fittedOffset)
    }

    /// Builds a match from a run of inliers, with its score.
    func segment(_ run: [Candidate], clip: IndexedClip, query: Fingerprint, step: Double, speed: Double, offset: Double)
        -> Match?
    {
        let first = Int(run.first!.queryFrame), last = Int(run.last!.queryFrame)
        var queryStart = max(0, query.frames[first].time - step / 2)
        var queryEnd = min(max(query.duration, query.frames[last].time), query.frames[last].time + step / 2)
        var referenceStart = speed * queryStart + offset
        var referenceEnd = speed * queryEnd + offset
        // Clamp to the reference, moving the query side with it.
        if referenceStart < 0 {
            queryStart -= referenceStart / speed
            referenceStart = 0
        }
        if clip.duration > 0, referenceEnd > clip.duration {
            queryEnd -= (referenceEnd - clip.duration) / speed
            referenceEnd = clip.duration
        }
        guard queryEnd > queryStart else { return nil }

        // Usable query frames inside the segment: the denominator of the match density.
        var usable = 0
        for index in first...last where query.frames[index].quality >= options.minimumQuality { usable += 1 }
        let matched = run.count
        let density = Double(matched) / Double(max(usable, matched))
        let meanDistance = run.reduce(0.0) { $0 + Double($1.distance) } / Double(matched)
        let evidenceWeight = run.reduce(0.0) { $0 + Double($1.weight) }

        // Score: evidence grows with matched frames (per second of sampling) and their closeness, and is
        // discounted when the matched frames are sparse within the segment. Calibrated so that 0.5 means
        // about two seconds of consistently close frames.
        let perSecond = evidenceWeight * step
        let strength = 1 - exp(-perSecond / 0.9)
        let score = max(0, min(1, strength * (0.35 + 0.65 * density)))

        var probeCounts: [Int16: Int] = [:]
        for candidate in run { probeCounts[candidate.probe, default: 0] += 1 }
        let commonProbe = probeCounts.max { ($0.value, -$0.key) < ($1.value, -$1.key) }!.key
        let orientation: Dihedral, region: Fingerprint.ProbeRegion
        if commonProbe < 0 {
            orientation = .original
            region = .content
        } else {
            let probe = query.frames[first].probes.indices.contains(Int(commonProbe))
                ? query.frames[first].probes[Int(commonProbe)] : nil
            orientation = probe?.orientation ?? .original
            region = probe?.region ?? .content
        }
        let picks = [run.first!, run[run.count / 2], run.last!]
        let evidence = picks.map {
            Match.Evidence(queryTime: query.frames[Int($0.queryFrame)].time,
                           referenceTime: Double(index.times[Int($0.entry)]), distance: Int($0.distance))
        }
        return Match(
            clip: clip, queryStart: queryStart, queryEnd: queryEnd, referenceStart: referenceStart,
            referenceEnd: referenceEnd, score: score, speed: speed, matchedFrames: matched,
            queryFrames: max(usable, matched), meanDistance: meanDistance, orientation: orientation, region: region,
            evidence: evidence)
    }
}
