import ClipTraceObservations

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// How votes become segments, and what a score means.
public struct AlignmentOptions: Hashable, Sendable {
    /// A segment scoring at least this is a confident match: reports, `compare`'s exit status and the HTML
    /// report's colours all use it. (Calibrated with ``ScoreCalibration``.)
    public static let decisionScore = 0.5

    /// Playback speeds tried, as reference seconds per query second. 0.8–1.25 covers what reposters do to dodge
    /// matching (the evaluation's speed edits are 0.8, 0.9, 1.1 and 1.25).
    public var speeds: [Double]
    /// Largest gap inside one segment, in seconds of query time: a copy interrupted by a few seconds of something
    /// else (a cut-away, a frozen stream) stays one report.
    public var maxGap: Double
    /// Segments shorter than this (query seconds) are dropped.
    public var minimumDuration: Double
    /// Segments below this score are dropped.
    public var minimumScore: Double
    /// Lines (speed and offset) extracted per clip beyond one per whole copy of the clip the query could hold:
    /// each explains one copied stretch, so a query holding the same clip several times gets one report each.
    public var linesPerClip: Int
    /// Votes a line must gather before it is considered (summed weights; one good moment weighs about 1).
    public var minimumLineWeight: Float
    /// Query moments a line must explain to make a segment. Two tell a copy from a chance resemblance; a scan
    /// that looks for candidates in keyframes a second or two apart takes one, since a short copy may hold
    /// only one keyframe (the candidates' stretches are then decoded in full and judged as usual).
    public var minimumMoments: Int
    public var calibration: ScoreCalibration

    public init(
        speeds: [Double] = stride(from: 0.8, through: 1.2501, by: 0.05).map { $0 }, maxGap: Double = 3.0,
        minimumDuration: Double = 1.0, minimumScore: Double = 0.2, linesPerClip: Int = 8,
        minimumLineWeight: Float = 0.5, minimumMoments: Int = 2, calibration: ScoreCalibration = ScoreCalibration()
    ) {
        self.speeds = speeds
        self.maxGap = maxGap
        self.minimumDuration = minimumDuration
        self.minimumScore = minimumScore
        self.linesPerClip = linesPerClip
        self.minimumLineWeight = minimumLineWeight
        self.minimumMoments = max(1, minimumMoments)
        self.calibration = calibration
    }
}

/// The score of a segment: evidence that grows with the seconds of close matches and is discounted when
/// the matches are sparse within the segment,
/// `score = (1 - exp(-evidenceSeconds / evidenceScale)) × (densityFloor + (1 - densityFloor) × density)`.
public struct ScoreCalibration: Hashable, Sendable {
    /// Seconds of fully weighted evidence at which the strength reaches 1 - 1/e. A vote weighs 1 for a frame
    /// identical to one reference frame and like no other clip; a re-encoded, edited copy's frames typically weigh
    /// 0.3-0.6 (40-50 bits away, resembling a few clips). With 0.9, two seconds of such frames score about 0.5,
    /// the decision score; on the public evaluation split no negative query reached 0.5 while every copy did.
    public var evidenceScale: Double
    /// The share of the strength kept when almost no sampled moment of the segment matched.
    public var densityFloor: Double

    public init(evidenceScale: Double = 0.9, densityFloor: Double = 0.35) {
        self.evidenceScale = evidenceScale
        self.densityFloor = densityFloor
    }

    public func score(evidenceSeconds: Double, density: Double) -> Double {
        let strength = 1 - exp(-evidenceSeconds / evidenceScale)
        return max(0, min(1, strength * (densityFloor + (1 - densityFloor) * density)))
    }
}

/// One aligned query moment of a segment, as evidence a person can check.
public struct AlignedPair: Hashable, Sendable, Codable {
    public var queryTime: Double
    public var referenceTime: Double
    public var distance: Int
    public var evidence: EvidenceKind

    public init(queryTime: Double, referenceTime: Double, distance: Int, evidence: EvidenceKind) {
        self.queryTime = queryTime
        self.referenceTime = referenceTime
        self.distance = distance
        self.evidence = evidence
    }
}

/// A stretch of the query that shows a stretch of one clip, as the aligner found it.
public struct AlignedSegment: Hashable, Sendable, Codable {
    public var clip: Int32
    public var queryStart: Double
    public var queryEnd: Double
    public var referenceStart: Double
    public var referenceEnd: Double
    /// Confidence in 0…1; ``AlignmentOptions/decisionScore`` is the decision threshold.
    public var score: Double
    /// Reference seconds per query second.
    public var speed: Double
    /// The kind of evidence the score rests on (the strongest), and its counts.
    public var evidence: EvidenceKind
    /// Moments of that kind in the segment that matched / that could have.
    public var matchedMoments: Int
    public var usableMoments: Int
    /// Mean distance of its matched moments (Hamming bits of hashes, or mean descriptor bits of corners).
    public var meanDistance: Double
    /// The score each kind of evidence gives the segment on its own.
    public var scores: [EvidenceKind: Double]
    /// Seconds of evidence behind each label among the segment's matched moments.
    public var labels: [VoteLabel: Double]
    /// A few aligned moments (first, middle, last) as evidence.
    public var pairs: [AlignedPair]

    public var queryDuration: Double { queryEnd - queryStart }

    /// The view most of the evidence came through: first the (orientation, region) pair with the most seconds
    /// of evidence over all its parts (a mirrored copy's evidence is spread over its whole picture and its
    /// halves, and must not lose to a view that has more in one part only), then the part with the most within
    /// it. Ties go to the simplest: lowest orientation, region, part.
    public var view: View {
        var byTransform: [View: Double] = [:]
        for (label, seconds) in labels {
            var transform = label.view
            transform.part = .whole
            byTransform[transform, default: 0] += seconds
        }
        guard let transform = byTransform.max(by: Self.simplestFirst)?.key else { return .upright }
        var byPart: [View: Double] = [:]
        for (label, seconds) in labels
        where label.view.orientation == transform.orientation && label.view.region == transform.region {
            byPart[label.view, default: 0] += seconds
        }
        return byPart.max(by: Self.simplestFirst)?.key ?? transform
    }

    /// Orders views by seconds of evidence, and at equal seconds puts the simplest last (so `max` picks it):
    /// lowest orientation, then region, then part.
    private static func simplestFirst(_ a: (key: View, value: Double), _ b: (key: View, value: Double)) -> Bool {
        if a.value != b.value { return a.value < b.value }
        let rankA = (Int(a.key.orientation.rawValue), Int(a.key.region.rawValue), Int(a.key.part.rawValue))
        let rankB = (Int(b.key.orientation.rawValue), Int(b.key.region.rawValue), Int(b.key.part.rawValue))
        return rankA > rankB
    }
}

/// The aligner's fixed choices, in one place. They are geometry (resolutions in seconds) and tie-breaks, not
/// thresholds on how similar frames are; each was set on the public evaluation split and checked on dev.
enum LineTuning {
    /// Smallest Hough offset bin and refinement span, seconds: the line search's resolution is twice the finest
    /// sampling step, but never finer than half a second, so jittered timestamps of one copy share a bin.
    static let minimumResolution = 0.5
    /// Offsets tried by the refinement are this far apart, seconds (a fiftieth: below the localisation error
    /// the evaluation measures, 0.02-0.05 s median).
    static let refinementStep = 0.02
    /// The narrowest band a refinement counts a kind's votes in, seconds (finer sampled kinds use half their
    /// spacing).
    static let minimumBand = 0.05
    /// Speed 1 is kept when its support is at least this share of the best speed's: most copies keep their
    /// speed, and slow zooms or pans fit many slopes almost equally well.
    static let unitSpeedPreference = 0.93
    /// A fitted slope may leave the tried speeds by this much (a speed of 1.27 for a 1.25 copy).
    static let slopeMargin = 0.02
    /// A fitted slope further than this from the voted speed is distrusted (a short run cannot tell).
    static let largestSlopeCorrection = 0.1
    /// A fitted line replaces the voted one only when it cuts the summed residual to this share or less.
    static let fitMustExplain = 0.85
}

/// One temporal aligner for every kind of evidence: takes plain votes (query moment, clip, reference time,
/// weight, label), finds per clip the lines `referenceTime = speed × queryTime + offset` they gather on (a
/// Hough vote over speed and offset, then the speed and offset refined and fitted), cuts each line into
/// segments without long gaps, and scores each segment.
///
/// Votes of different kinds meet on the same lines: a cropped copy's corners and its half-matching hashes
/// fit one line and make one segment. A segment's score is that of its strongest kind of evidence, so adding a
/// kind of evidence never lowers a score and never adds up weak evidence into a confident one.
public struct TemporalAligner: Sendable {
    public var options: AlignmentOptions

    public init(options: AlignmentOptions = AlignmentOptions()) {
        self.options = options
    }

    /// Every segment of every clip, by query start then score. `timelines` are indexed by
    /// ``EvidenceKind/rawValue`` (missing kinds are empty); `queryDuration` bounds the last segment;
    /// `clipDurations[clip]` bounds the reference side (0: unknown).
    /// Votes handed over (`consume`) are released once sorted by clip.
    public func align(_ votes: consuming [Vote], timelines: [QueryTimeline], queryDuration: Double,
                      clipDurations: [Double]) -> [AlignedSegment] {
        // Each clip's votes in an array of exactly their number: grown by doubling they would take up to
        // twice the votes' memory beside the votes themselves.
        var perClip: [Int32: Int] = [:]
        for vote in copy votes { perClip[vote.clip, default: 0] += 1 }
        var byClip: [Int32: [Vote]] = perClip.mapValues { count in
            var clipVotes: [Vote] = []
            clipVotes.reserveCapacity(count)
            return clipVotes
        }
        for vote in votes { byClip[vote.clip]!.append(vote) }
        votes = []
        let context = Context(timelines: timelines, options: options, queryDuration: queryDuration)
        var segments: [AlignedSegment] = []
        for clip in byClip.keys.sorted() {
            let duration = Int(clip) < clipDurations.count ? clipDurations[Int(clip)] : 0
            segments += context.align(byClip.removeValue(forKey: clip)!, clip: clip, clipDuration: duration)
        }
        return segments.filter { $0.score >= options.minimumScore && $0.queryDuration >= options.minimumDuration }
            .sorted { ($0.queryStart, -$0.score, $0.clip) < ($1.queryStart, -$1.score, $1.clip) }
    }

    /// The per-query state shared by the clips' alignments.
    struct Context {
        let timelines: [QueryTimeline]
        let options: AlignmentOptions
        let queryDuration: Double

        init(timelines: [QueryTimeline], options: AlignmentOptions, queryDuration: Double) {
            var padded = timelines
            while padded.count < EvidenceKind.allCases.count { padded.append(.empty) }
            self.timelines = padded
            self.options = options
            self.queryDuration = queryDuration
        }

        @inline(__always) func time(_ vote: Vote) -> Double { timelines[Int(vote.label.evidence.rawValue)].times[Int(vote.moment)] }
        @inline(__always) func step(_ kind: EvidenceKind) -> Double { timelines[Int(kind.rawValue)].step }
        /// How long one matched moment of a kind stands for (see ``QueryTimeline/spacing``).
        @inline(__always) func spacing(_ kind: EvidenceKind) -> Double { timelines[Int(kind.rawValue)].spacing }
        /// A vote's moment as one key across kinds.
        @inline(__always) func momentKey(_ vote: Vote) -> Int64 { Int64(vote.label.evidence.rawValue) << 32 | Int64(vote.moment) }

        /// Hough vote, refinement and segments for one clip.
        func align(_ votes: [Vote], clip: Int32, clipDuration: Double) -> [AlignedSegment] {
            let kinds = Set(votes.map(\.label.evidence))
            // The finest sampling among the kinds present sets the resolution; a kind sampled more coarsely
            // (corners at 2 per second beside hashes at 6) counts its moments for what they cover.
            let finest = kinds.map(step).min() ?? 0.25
            var relative = [Double](repeating: 1, count: EvidenceKind.allCases.count)
            for kind in kinds { relative[Int(kind.rawValue)] = step(kind) / finest }
            let binWidth = max(LineTuning.minimumResolution, 2 * finest)
            let span = max(LineTuning.minimumResolution, 2 * finest)
            var tolerance = [Double](repeating: 0, count: EvidenceKind.allCases.count)
            for kind in EvidenceKind.allCases { tolerance[Int(kind.rawValue)] = max(LineTuning.minimumResolution, 2 * step(kind)) + binWidth / 2 }

            var remaining = votes
            var segments: [AlignedSegment] = []
            // A long recording can replay a clip many times: beside the lines for partial copies and chance,
            // one more for each whole copy the query could hold (two hours replaying a 9-second clip hold 800).
            let wholeCopies = clipDuration > 0 ? Int(min(queryDuration / clipDuration, 100_000)) : 0
            // Lines are looked for among three votes or more; single moments count only where they are asked for.
            let fewestVotes = options.minimumMoments > 1 ? 3 : 1
            for _ in 0..<(options.linesPerClip + wholeCopies) {
                guard remaining.count >= fewestVotes else { break }
                // Vote over (speed, offset bin).
                var bins: [Int64: Float] = [:]
                for vote in remaining {
                    let tq = time(vote)
                    for (speedIndex, speed) in options.speeds.enumerated() {
                        let bin = Int64(((vote.referenceTime - speed * tq) / binWidth).rounded(.down))
                        bins[Int64(speedIndex) << 40 | (bin & 0xFF_FFFF_FFFF), default: 0] += vote.weight
                    }
                }
                // Ties go to the smallest key (lowest speed, then offset): dictionary order differs between runs.
                guard let (key, weight) = bins.max(by: { ($0.value, $1.key) < ($1.value, $0.key) }),
                      weight > options.minimumLineWeight
                else { break }
                let speed = options.speeds[Int(key >> 40)]
                var bin = key & 0xFF_FFFF_FFFF
                if bin & 0x80_0000_0000 != 0 { bin |= ~0xFF_FFFF_FFFF }  // sign-extend
                let offset = (Double(bin) + 0.5) * binWidth

                // Inliers of the line: the closest vote per query moment.
                var inlierByMoment: [Int64: Int] = [:]
                for (index, vote) in remaining.enumerated() {
                    let residual = abs(vote.referenceTime - (speed * time(vote) + offset))
                    guard residual <= tolerance[Int(vote.label.evidence.rawValue)] else { continue }
                    let moment = momentKey(vote)
                    if let existing = inlierByMoment[moment], remaining[existing].distance <= vote.distance { continue }
                    inlierByMoment[moment] = index
                }
                let inliers = inlierByMoment.values.map { remaining[$0] }
                    .sorted { (time($0), $0.label.evidence.rawValue) < (time($1), $1.label.evidence.rawValue) }
                guard inliers.count >= options.minimumMoments else {
                    let dropped = Set(inlierByMoment.values)
                    remaining = remaining.enumerated().filter { !dropped.contains($0.offset) }.map(\.element)
                    continue
                }
                // Choose the speed on a narrow band: a wrong slope lets the ends of the copy drift out of it.
                // Near-ties go to 1x, since most copies keep their speed and slow zooms or pans fit many slopes.
                let middle = inliers.reduce(0.0) { $0 + time($1) } / Double(inliers.count)
                var bestSpeed = speed, bestOffset = offset, bestSupport = -1.0, unitSupport = -1.0, unitOffset = offset
                for trialSpeed in options.speeds {
                    let around = offset + (speed - trialSpeed) * middle
                    let (trialOffset, support) = refineOffset(remaining, speed: trialSpeed, around: around, span: span,
                                                              relative: relative)
                    if support > bestSupport { (bestSpeed, bestOffset, bestSupport) = (trialSpeed, trialOffset, support) }
                    if abs(trialSpeed - 1) < 0.001 { (unitSupport, unitOffset) = (support, trialOffset) }
                }
                if unitSupport >= LineTuning.unitSpeedPreference * bestSupport { (bestSpeed, bestOffset) = (1, unitOffset) }
                var (fitSpeed, fitOffset) = fitLine(inliers, speed: bestSpeed, offset: bestOffset, relative: relative)
                fitOffset = refineOffset(remaining, speed: fitSpeed, around: fitOffset, span: span, relative: relative).offset

                // Split into runs without long gaps; each run is a segment.
                var runs: [[Vote]] = [[]]
                for inlier in inliers {
                    if let last = runs[runs.count - 1].last, time(inlier) - time(last) > options.maxGap { runs.append([]) }
                    runs[runs.count - 1].append(inlier)
                }
                var claimed: [(Double, Double)] = []
                for run in runs where run.count >= options.minimumMoments {
                    if let segment = segment(run, clip: clip, clipDuration: clipDuration, speed: fitSpeed,
                                             offset: fitOffset) {
                        segments.append(segment)
                        claimed.append((segment.queryStart, segment.queryEnd))
                    }
                }
                // Whatever this line explained is used up, and so is every other alignment of the same query
                // stretch to this clip (static clips offer many): one report per copied stretch.
                let used = Set(inliers.map(momentKey))
                remaining.removeAll { vote in
                    if claimed.isEmpty { return used.contains(momentKey(vote)) }
                    let tq = time(vote), half = step(vote.label.evidence) / 2
                    return claimed.contains { tq >= $0.0 - half && tq <= $0.1 + half }
                }
            }
            return segments
        }

        /// Slides the line in small steps and keeps the offset where the most evidence lies within half a
        /// moment's spacing of it (the coarser of the query's and the reference's sampling: corners described
        /// six times a second answer with reference frames a second apart, a staircase that a band of a twelfth
        /// of a second would let any slope cross). On slowly changing content the single closest frame per
        /// moment wanders; the support of a narrow band does not.
        func refineOffset(_ votes: [Vote], speed: Double, around offset: Double, span: Double,
                          relative: [Double]) -> (offset: Double, support: Double) {
            var bands = [Double](repeating: 0, count: EvidenceKind.allCases.count)
            for kind in EvidenceKind.allCases { bands[Int(kind.rawValue)] = max(LineTuning.minimumBand, spacing(kind) / 2) }
            var best = offset, bestSupport = -1.0
            var ties: [Double] = []
            var trial = offset - span
            var perMoment: [Int64: Double] = [:]
            while trial <= offset + span + 1e-9 {
                // The best weight per moment, summed as it grows in vote order (which is fixed), not over the
                // dictionary afterwards: its order differs between runs, and so would the float sum's last bits.
                perMoment.removeAll(keepingCapacity: true)
                var support = 0.0
                for vote in votes {
                    let kind = Int(vote.label.evidence.rawValue)
                    let residual = abs(vote.referenceTime - (speed * time(vote) + trial))
                    guard residual <= bands[kind] else { continue }
                    let weight = Double(vote.weight) * relative[kind]
                    let moment = momentKey(vote)
                    let previous = perMoment[moment] ?? 0
                    if weight > previous {
                        perMoment[moment] = weight
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
                trial += LineTuning.refinementStep
            }
            guard bestSupport > 0 else { return (offset, 0) }
            return (ties.isEmpty ? best : ties.reduce(0, +) / Double(ties.count), bestSupport)
        }

        /// Weighted least squares of reference time against query time, the slope kept within the tried speeds.
        func fitLine(_ inliers: [Vote], speed: Double, offset: Double, relative: [Double]) -> (Double, Double) {
            guard inliers.count >= 4 else { return (speed, offset) }
            var sw = 0.0, sx = 0.0, sy = 0.0, sxx = 0.0, sxy = 0.0
            for inlier in inliers {
                let w = (Double(inlier.weight) + 1e-3) * relative[Int(inlier.label.evidence.rawValue)]
                let x = time(inlier), y = inlier.referenceTime
                sw += w; sx += w * x; sy += w * y; sxx += w * x * x; sxy += w * x * y
            }
            let denominator = sw * sxx - sx * sx
            guard denominator > 1e-9 else { return (speed, (sy - speed * sx) / sw) }
            var slope = (sw * sxy - sx * sy) / denominator
            slope = min(max(slope, (options.speeds.min() ?? 1) - LineTuning.slopeMargin),
                        (options.speeds.max() ?? 1) + LineTuning.slopeMargin)
            // A short run cannot tell the slope well: keep the voted one when the fit disagrees wildly, or when it
            // explains the inliers hardly better (static or slowly changing content matches along many slopes).
            if abs(slope - speed) > LineTuning.largestSlopeCorrection { slope = speed }
            func residual(_ a: Double, _ b: Double) -> Double {
                inliers.reduce(0) { $0 + abs($1.referenceTime - (a * time($1) + b)) }
            }
            let fittedOffset = (sy - slope * sx) / sw
            let votedOffset = (sy - speed * sx) / sw
            if residual(slope, fittedOffset) > LineTuning.fitMustExplain * residual(speed, votedOffset) { return (speed, votedOffset) }
            return (slope, fittedOffset)
        }

        /// A segment from a run of inliers (in time order), with its score.
        func segment(_ run: [Vote], clip: Int32, clipDuration: Double, speed: Double, offset: Double) -> AlignedSegment? {
            let first = run.first!, last = run.last!
            let firstTime = time(first), lastTime = time(last)
            // A run seen by one kind only ends within that kind's spacing of its last moment (a sparser reference
            // answers fewer moments); where several kinds saw it, the finer ones place its ends.
            let single = Set(run.map(\.label.evidence)).count == 1
            let reach = { (kind: EvidenceKind) in single ? spacing(kind) : step(kind) }
            var queryStart = max(0, firstTime - reach(first.label.evidence) / 2)
            var queryEnd = min(max(queryDuration, lastTime), lastTime + reach(last.label.evidence) / 2)
            var referenceStart = speed * queryStart + offset
            var referenceEnd = speed * queryEnd + offset
            // Clamp to the reference, moving the query side with it.
            if referenceStart < 0 {
                queryStart -= referenceStart / speed
                referenceStart = 0
            }
            if clipDuration > 0, referenceEnd > clipDuration {
                queryEnd -= (referenceEnd - clipDuration) / speed
                referenceEnd = clipDuration
            }
            guard queryEnd > queryStart else { return nil }

            // Per kind: matched moments, the usable ones in the run's extent, evidence and score.
            var scores: [EvidenceKind: Double] = [:]
            var counts: [EvidenceKind: (matched: Int, usable: Int, distance: Double)] = [:]
            var labels: [VoteLabel: Double] = [:]
            for kind in EvidenceKind.allCases {
                let matched = run.filter { $0.label.evidence == kind }
                guard !matched.isEmpty else { continue }
                let timeline = timelines[Int(kind.rawValue)]
                var usable = 0
                for (index, moment) in timeline.times.enumerated()
                where moment >= firstTime && moment <= lastTime && timeline.usable[index] {
                    usable += 1
                }
                // Against a sparser reference only one moment in spacing/step can be answered.
                usable = Int((Double(usable) * timeline.step / timeline.spacing).rounded())
                let density = Double(matched.count) / Double(max(usable, matched.count))
                let evidenceSeconds = matched.reduce(0.0) { $0 + Double($1.weight) } * timeline.spacing
                scores[kind] = options.calibration.score(evidenceSeconds: evidenceSeconds, density: density)
                let distance = matched.reduce(0.0) { $0 + Double($1.distance) } / Double(matched.count)
                counts[kind] = (matched.count, max(usable, matched.count), distance)
                for vote in matched { labels[vote.label, default: 0] += Double(vote.weight) * timeline.spacing }
            }
            // The strongest kind gives the score (ties to the lower kind: hashes place a copy more finely).
            guard let (kind, score) = scores.max(by: { ($0.value, -Int($0.key.rawValue)) < ($1.value, -Int($1.key.rawValue)) }),
                  let count = counts[kind]
            else { return nil }
            let picks = [first, run[run.count / 2], last]
            return AlignedSegment(
                clip: clip, queryStart: queryStart, queryEnd: queryEnd, referenceStart: referenceStart,
                referenceEnd: referenceEnd, score: score, speed: speed, evidence: kind, matchedMoments: count.matched,
                usableMoments: count.usable, meanDistance: count.distance, scores: scores, labels: labels,
                pairs: picks.map {
                    AlignedPair(queryTime: time($0), referenceTime: $0.referenceTime, distance: Int($0.distance),
                                evidence: $0.label.evidence)
                })
        }
    }
}
