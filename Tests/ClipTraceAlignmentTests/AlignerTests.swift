import ClipTraceAlignment
import ClipTraceHashing
import ClipTraceObservations
import TestSupport
import Testing

/// The aligner on plain arrays of votes: no media, no index.
@Suite("Temporal aligner")
struct AlignerTests {
    /// A hash timeline of `seconds` at 6 per second and a corner timeline at 2 per second.
    static func timelines(seconds: Double) -> [QueryTimeline] {
        let hashTimes = stride(from: 0.0, to: seconds, by: 1.0 / 6).map { $0 }
        let cornerTimes = stride(from: 0.0, to: seconds, by: 0.5).map { $0 }
        return [QueryTimeline(times: hashTimes, usable: hashTimes.map { _ in true }, step: 1.0 / 6),
                QueryTimeline(times: cornerTimes, usable: cornerTimes.map { _ in true }, step: 0.5)]
    }

    /// Votes of `kind` for clip `clip` along `reference = speed × query + offset` for the query moments in
    /// `from ..< to`, every moment, with a little jitter on the reference side; plus `noise` random votes per
    /// moment everywhere, to random clips and times.
    static func votes(kind: EvidenceKind = .hash, clip: Int32 = 0, from: Double, to: Double, speed: Double = 1,
                      offset: Double, weight: Float = 0.8, view: View = .upright, timelines: [QueryTimeline],
                      noise: Int = 0, seed: UInt64 = 1) -> [Vote] {
        var generator = SplitMix(seed: seed)
        let timeline = timelines[Int(kind.rawValue)]
        var out: [Vote] = []
        for (moment, time) in timeline.times.enumerated() {
            if time >= from && time < to {
                let jitter = Double(generator.next() % 100) / 100 * 0.1 - 0.05
                out.append(Vote(clip: clip, moment: Int32(moment), referenceTime: speed * time + offset + jitter,
                                weight: weight, distance: 20, label: VoteLabel(view: view, evidence: kind)))
            }
            for _ in 0..<noise {
                out.append(Vote(clip: Int32(generator.next() % 5), moment: Int32(moment),
                                referenceTime: Double(generator.next() % 6000) / 100, weight: 0.3, distance: 70,
                                label: VoteLabel(view: .upright, evidence: kind)))
            }
        }
        return out
    }

    static let durations = [Double](repeating: 60, count: 5)

    @Test("a copy is placed on both timelines among random votes")
    func placesCopy() throws {
        let timelines = Self.timelines(seconds: 40)
        let votes = Self.votes(from: 12, to: 32, offset: -9, timelines: timelines, noise: 6)
        let segments = TemporalAligner().align(votes, timelines: timelines, queryDuration: 40, clipDurations: Self.durations)
        let confident = segments.filter { $0.score >= AlignmentOptions.decisionScore }
        let segment = try #require(confident.first)
        #expect(confident.count == 1)
        #expect(segment.clip == 0)
        #expect(abs(segment.queryStart - 12) <= 0.2 && abs(segment.queryEnd - 32) <= 0.2, "\(segment)")
        #expect(abs(segment.referenceStart - 3) <= 0.2 && abs(segment.referenceEnd - 23) <= 0.2, "\(segment)")
        #expect(segment.score > 0.9 && segment.evidence == .hash && abs(segment.speed - 1) < 0.001)
    }

    @Test("speed changes of 0.8x-1.25x are fitted as a slope", arguments: [0.8, 0.9, 1.1, 1.25])
    func speeds(_ speed: Double) throws {
        let timelines = Self.timelines(seconds: 30)
        let votes = Self.votes(from: 5, to: 21, speed: speed, offset: 4 - 5 * speed, timelines: timelines)
        let segment = try #require(TemporalAligner().align(votes, timelines: timelines, queryDuration: 30,
                                                           clipDurations: Self.durations).max { $0.score < $1.score })
        #expect(abs(segment.speed - speed) < 0.03, "\(segment.speed)")
        #expect(abs(segment.queryStart - 5) <= 0.3 && abs(segment.queryEnd - 21) <= 0.3)
        #expect(abs(segment.referenceStart - 4) <= 0.3 && abs(segment.referenceEnd - (4 + 16 * speed)) <= 0.3)
    }

    @Test("corners at every sample against reference corners once a second keep speed 1",
          arguments: [0.0, 0.25, 0.4])
    func quantisedReference(phase: Double) throws {
        // The query describes 6 moments a second, the reference has a corner frame each second: each moment
        // votes for the reference frame nearest to where it belongs, so the votes form a staircase. Any slope
        // from 0.8 to 1.25 passes within a twelfth of a second of one vote per step; only a band as wide as a
        // step of the staircase sees that speed 1 explains every vote.
        let times = stride(from: 0.0, to: 12, by: 1.0 / 6).map { $0 }
        let timelines = [QueryTimeline(times: times, fallbackStep: 1.0 / 6),
                         QueryTimeline(times: times, fallbackStep: 1.0 / 6, referenceStep: 1)]
        var votes: [Vote] = []
        for (moment, time) in times.enumerated() where time >= 2 && time < 9 {
            let nearest = (time + 1 + phase).rounded()
            votes.append(Vote(clip: 0, moment: Int32(moment), referenceTime: nearest, weight: 0.8, distance: 30,
                              label: VoteLabel(view: .upright, evidence: .corners)))
        }
        let segment = try #require(TemporalAligner().align(votes, timelines: timelines, queryDuration: 12,
                                                           clipDurations: Self.durations).max { $0.score < $1.score })
        #expect(abs(segment.speed - 1) < 0.03, "\(segment)")
        #expect(abs(segment.referenceStart - segment.queryStart - (1 + phase)) <= 0.5, "\(segment)")
    }

    @Test("random votes make no confident segment")
    func noise() {
        let timelines = Self.timelines(seconds: 60)
        let votes = Self.votes(kind: .hash, from: 0, to: 0, offset: 0, timelines: timelines, noise: 10, seed: 3)
            + Self.votes(kind: .corners, from: 0, to: 0, offset: 0, timelines: timelines, noise: 4, seed: 4)
        let segments = TemporalAligner().align(votes, timelines: timelines, queryDuration: 60, clipDurations: Self.durations)
        #expect(!segments.contains { $0.score >= AlignmentOptions.decisionScore }, "\(segments.map(\.score))")
    }

    @Test("the same clip twice in one query gives two segments")
    func twice() {
        let timelines = Self.timelines(seconds: 40)
        let votes = Self.votes(from: 2, to: 10, offset: 0, timelines: timelines)
            + Self.votes(from: 20, to: 28, offset: 5, timelines: timelines, seed: 2)
        let segments = TemporalAligner().align(votes, timelines: timelines, queryDuration: 40, clipDurations: Self.durations)
        #expect(segments.map { ($0.queryStart * 2).rounded() / 2 } == [2, 20])
        #expect(segments.map { ($0.referenceStart * 2).rounded() / 2 } == [2, 25])
    }

    @Test("a clip replayed twelve times in a long query gives twelve segments, not the first eight lines")
    func replayedMany() {
        // A 5-second clip played whole every 10 seconds.
        let timelines = Self.timelines(seconds: 120)
        var votes: [Vote] = []
        for copy in 0..<12 {
            let start = Double(copy) * 10
            votes += Self.votes(from: start, to: start + 5, offset: -start, timelines: timelines, seed: UInt64(copy + 1))
        }
        // Chance votes for the other clips around it.
        votes += Self.votes(from: 0, to: 0, offset: 0, timelines: timelines, noise: 2, seed: 99).filter { $0.clip != 0 }
        let durations = [5.0] + [Double](repeating: 60, count: 4)
        let segments = TemporalAligner().align(votes, timelines: timelines, queryDuration: 120, clipDurations: durations)
            .filter { $0.clip == 0 && $0.score >= AlignmentOptions.decisionScore }
        #expect(segments.map { ($0.queryStart * 2).rounded() / 2 } == (0..<12).map { Double($0) * 10 })
        #expect(segments.allSatisfy { abs($0.referenceStart) <= 0.3 && abs($0.referenceEnd - 5) <= 0.3 }, "\(segments)")
    }

    @Test("a copy seen in one keyframe is a candidate only when single moments are asked for")
    func singleMoment() throws {
        // Keyframes two seconds apart; a three-second copy at 5.5-8.5 s holds only the one at 6 s.
        let times = stride(from: 0.0, to: 20, by: 2).map { $0 }
        let timelines = [QueryTimeline(times: times, usable: times.map { _ in true }, step: 2)]
        let votes = [Vote(clip: 1, moment: 3, referenceTime: 12.4, weight: 0.9, distance: 12,
                          label: VoteLabel(view: .upright, evidence: .hash))]
        var options = AlignmentOptions(minimumDuration: 0, minimumScore: 0, minimumLineWeight: 0.1)
        #expect(TemporalAligner(options: options).align(votes, timelines: timelines, queryDuration: 20,
                                                         clipDurations: Self.durations).isEmpty)
        options.minimumMoments = 1
        let found = TemporalAligner(options: options).align(votes, timelines: timelines, queryDuration: 20,
                                                            clipDurations: Self.durations)
        let segment = try #require(found.first)
        #expect(found.count == 1 && segment.clip == 1 && segment.matchedMoments == 1)
        // The segment spans the keyframe's interval, centred on it, on both timelines.
        #expect(abs(segment.queryStart - 5) <= 0.01 && abs(segment.queryEnd - 7) <= 0.01, "\(segment)")
        #expect(abs(segment.referenceStart - segment.queryStart - 6.4) <= 0.3)
        // A weak chance resemblance stays below the line weight asked for.
        let weak = [Vote(clip: 1, moment: 3, referenceTime: 12.4, weight: 0.05, distance: 60,
                         label: VoteLabel(view: .upright, evidence: .hash))]
        #expect(TemporalAligner(options: options).align(weak, timelines: timelines, queryDuration: 20,
                                                        clipDurations: Self.durations).isEmpty)
    }

    @Test("two kinds of evidence on one line make one segment scored by the stronger kind")
    func kindsTogether() throws {
        let timelines = Self.timelines(seconds: 30)
        // Hashes see only the first two seconds of an eight-second copy; corners see all of it.
        let hashes = Self.votes(kind: .hash, from: 10, to: 12, offset: -6, weight: 0.5, timelines: timelines)
        let corners = Self.votes(kind: .corners, from: 10, to: 18, offset: -6, weight: 1, timelines: timelines)
        let aligner = TemporalAligner()
        let alone = try #require(aligner.align(hashes, timelines: timelines, queryDuration: 30,
                                               clipDurations: Self.durations).first)
        let together = aligner.align(hashes + corners, timelines: timelines, queryDuration: 30,
                                     clipDurations: Self.durations)
        let segment = try #require(together.first)
        #expect(together.count == 1)
        #expect(segment.evidence == .corners && segment.score > alone.score)
        #expect(segment.score == segment.scores.values.max())
        #expect(abs(segment.queryStart - 10) <= 0.3 && abs(segment.queryEnd - 18) <= 0.3, "\(segment)")
        #expect(abs(segment.referenceStart - 4) <= 0.3)
    }

    @Test("adding a kind of evidence never lowers a score")
    func addingNeverLowers() throws {
        let timelines = Self.timelines(seconds: 30)
        let hashes = Self.votes(kind: .hash, from: 4, to: 14, offset: 1, timelines: timelines)
        // Corners at the same place, weakly (a cropped copy's hashes still half-agree, or the reverse).
        let corners = Self.votes(kind: .corners, from: 4, to: 9, offset: 1, weight: 0.3, timelines: timelines)
        let aligner = TemporalAligner()
        let hashOnly = try #require(aligner.align(hashes, timelines: timelines, queryDuration: 30,
                                                  clipDurations: Self.durations).first)
        let both = try #require(aligner.align(hashes + corners, timelines: timelines, queryDuration: 30,
                                              clipDurations: Self.durations).first)
        #expect(both.score >= hashOnly.score)
        #expect(both.evidence == .hash)
        #expect(abs(both.queryStart - hashOnly.queryStart) < 0.1 && abs(both.queryEnd - hashOnly.queryEnd) < 0.1)
    }

    @Test("the reported view is the one most of the evidence came through")
    func viewFromVotes() throws {
        let timelines = Self.timelines(seconds: 20)
        let window = View(orientation: .original, region: .window)
        let mirrored = View(orientation: .mirror, region: .content)
        // Most moments match through the window; a few through a mirrored content view.
        let votes = Self.votes(from: 2, to: 12, offset: 0, view: window, timelines: timelines)
            + Self.votes(from: 12, to: 13, offset: 0, view: mirrored, timelines: timelines, seed: 5)
        let segment = try #require(TemporalAligner().align(votes, timelines: timelines, queryDuration: 20,
                                                           clipDurations: Self.durations).first)
        #expect(segment.view == window)
        #expect((segment.labels[VoteLabel(view: window, evidence: .hash)] ?? 0) > 1.5)
        #expect((segment.labels[VoteLabel(view: mirrored, evidence: .hash)] ?? 0) > 0)
    }

    @Test("the transform is counted over (orientation, region): a mirrored copy's evidence split over its halves still names it")
    func transformOverParts() throws {
        let timelines = Self.timelines(seconds: 20)
        let upright = View(orientation: .original, region: .content)
        // Mirrored evidence through the whole picture and three halves, each part less than the upright view's
        // evidence on its own but more in total.
        var votes = Self.votes(from: 2, to: 6, offset: 0, view: upright, timelines: timelines)
        for (index, part) in [PicturePart.whole, .left, .right, .top].enumerated() {
            let start = 6 + Double(index) * 2.5
            votes += Self.votes(from: start, to: start + 2.5, offset: 0,
                                view: View(orientation: .mirror, region: .content, part: part), timelines: timelines,
                                seed: UInt64(10 + index))
        }
        let segment = try #require(TemporalAligner().align(votes, timelines: timelines, queryDuration: 20,
                                                           clipDurations: Self.durations).first)
        let uprightSeconds = segment.labels[VoteLabel(view: upright, evidence: .hash)] ?? 0
        let mirroredSeconds = segment.labels.filter { $0.key.view.orientation == .mirror }.map(\.value).reduce(0, +)
        #expect(segment.labels.filter { $0.key.view.orientation == .mirror }.allSatisfy { $0.value < uprightSeconds })
        #expect(mirroredSeconds > uprightSeconds)
        #expect(segment.view.orientation == .mirror && segment.view.region == .content, "\(segment.view)")
    }

    @Test("two seconds of a typical copy's frames score about the decision score")
    func calibration() throws {
        let timelines = Self.timelines(seconds: 20)
        // Weight 0.35: a frame about 40 bits from its reference that also resembles two other clips.
        let votes = Self.votes(from: 5, to: 7, offset: 0, weight: 0.35, timelines: timelines)
        let segment = try #require(TemporalAligner().align(votes, timelines: timelines, queryDuration: 20,
                                                           clipDurations: Self.durations).first)
        #expect(abs(segment.score - AlignmentOptions.decisionScore) < 0.1, "\(segment.score)")
        let calibration = ScoreCalibration()
        #expect(calibration.score(evidenceSeconds: 0, density: 1) == 0)
        #expect(calibration.score(evidenceSeconds: 100, density: 1) > 0.99)
        #expect(calibration.score(evidenceSeconds: 100, density: 0) < 0.36)
    }

    @Test("segments stay within the reference and the query")
    func clamped() throws {
        let timelines = Self.timelines(seconds: 20)
        // The copy runs to the end of a 6-second reference.
        let votes = Self.votes(from: 3, to: 9, offset: 0, timelines: timelines)
        let segment = try #require(TemporalAligner().align(votes, timelines: timelines, queryDuration: 20,
                                                           clipDurations: [6]).first)
        #expect(segment.referenceEnd <= 6 && segment.referenceStart >= 0)
        #expect(segment.queryEnd <= 20 && segment.queryStart >= 0)
    }
}
