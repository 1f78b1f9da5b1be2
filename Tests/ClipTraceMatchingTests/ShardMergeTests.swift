import ClipTraceAlignment
import ClipTraceEvidence
import ClipTraceFingerprint
import ClipTraceHashing
import ClipTraceMatching
import ClipTraceObservations
import TestSupport
import Testing

/// A catalogue cut into shards: every shard gathers candidates among its own clips, and the catalogue-wide steps
/// over all of them give the votes of one search of the whole, bit for bit.
@Suite("Shards merged into the whole")
struct ShardMergeTests {
    /// Limits small enough to bite on seven clips: three hashes per query frame, two seeded clips, two corner
    /// frames verified per described frame.
    static var options: MatchingOptions {
        var options = MatchingOptions()
        options.hash.candidatesPerFrame = 3
        options.hash.maxSeededClips = 2
        options.corners.framesVerified = 2
        options.corners.maxSeededClips = 2
        return options
    }

    /// Seven clips in three families: clips of one family show the same scenes (hashes a few bits apart, the
    /// same pictures for corners), so a query frame resembles several clips and the limits choose among them.
    /// Even clips take corner frames every half second, odd ones every second.
    static let clips: [(IndexedClip, ReferenceFingerprint)] = (0..<7).map { index in
        let family = index % 3
        var generator = SplitMix(seed: UInt64(100 + index))
        let hashes = MatcherTests.referenceHashes(count: 80, seed: UInt64(family + 1))
            .map { MatcherTests.flip($0, bits: 4, &generator) }
        let gap = index % 2 == 0 ? 0.5 : 1.0
        let pictures = UInt64(100 + 20 * family)..<UInt64(108 + 20 * family)
        let cornerFrames = pictures.enumerated().map { offset, seed in
            ReferenceFingerprint.CornerFrame(time: Double(offset) * gap, corners: CornerIndexTests.described(seed))
        }
        let fingerprint = ReferenceFingerprint(
            duration: 20, frameRate: 25, width: CornerIndexTests.width, height: CornerIndexTests.height, rotation: 0,
            codec: "h264", sampleRate: 4, frames: hashes.enumerated().map { .init(time: Double($0) / 4, hash: $1, quality: 90) },
            cornerFrames: cornerFrames)
        // Ids as a catalogue hands them out, with gaps where clips were removed.
        return (IndexedClip(id: [3, 4, 5, 7, 8, 10, 11][index], title: "clip \(index)", duration: 20), fingerprint)
    }

    /// Ten seconds of family 0, then ten of family 1, hashes with 12 bits of noise; corners of family 0's and
    /// family 2's pictures, cropped.
    static let query: QueryObservations = {
        var generator = SplitMix(seed: 77)
        let first = MatcherTests.referenceHashes(count: 80, seed: 1), second = MatcherTests.referenceHashes(count: 80, seed: 2)
        let hashes = (0..<80).map { index in
            MatcherTests.flip(index < 40 ? first[index + 20] : second[index - 30], bits: 12, &generator)
        }
        let corners = CornerIndexTests.query(seeds: Array(101..<106) + Array(141..<146),
                                             crop: PixelRegion(x: 30, y: 20, width: 270, height: 200))
        return QueryObservations(
            duration: 20, frameRate: 25, width: CornerIndexTests.width, height: CornerIndexTests.height, sampleRate: 4,
            frames: hashes.enumerated().map { .init(time: Double($0) / 4, quality: 90, hashes: [.init(view: .upright, hash: $1)]) },
            cornerFrames: corners.cornerFrames)
    }()

    /// The whole catalogue's evidence, and the one merged from `shards` shards (clip id mod shards).
    static func evidence(shards: Int, strategy: SearchStrategy) throws -> (whole: QueryEvidence, merged: QueryEvidence,
                                                                           gathered: Int, naive: [Vote]) {
        let whole = CatalogueMatcher(clips: clips, options: options, strategy: strategy, corners: .on)
        let ids = clips.map(\.0.id).sorted()
        var parts: [EvidenceCandidates] = []
        var naive: [Vote] = []
        for shard in 0..<shards {
            let own = clips.filter { Int($0.0.id) % shards == shard }
            let matcher = CatalogueMatcher(clips: own, options: options, strategy: strategy, corners: .on)
            let found = try matcher.candidates(for: query, wholeCatalogue: false)
            parts.append(found.renumbered { Int32(ids.firstIndex(of: own[Int($0)].0.id)!) })
            // What a shard alone would report: its own caps and weights.
            naive += try matcher.evidence(for: query).votes.map {
                var vote = $0
                vote.clip = Int32(ids.firstIndex(of: own[Int($0.clip)].0.id)!)
                return vote
            }
        }
        var timelines = whole.timelines(for: query)
        timelines[Int(EvidenceKind.corners.rawValue)].referenceStep = EvidenceCandidates.referenceStep(parts)
        let merged = CatalogueMatcher.evidence(from: parts, timelines: timelines, options: options)
        let gathered = parts.reduce(0) { $0 + $1.hashes.count + $1.corners.count }
        return (try whole.evidence(for: query), merged, gathered, naive)
    }

    @Test("the shards' candidates weighed together are the whole catalogue's votes, bit for bit",
          arguments: [(2, SearchStrategy.direct), (3, .direct), (2, .seeded), (3, .seeded), (7, .seeded)])
    func mergedEqualsWhole(_ shards: Int, _ strategy: SearchStrategy) throws {
        let (whole, merged, gathered, naive) = try Self.evidence(shards: shards, strategy: strategy)
        #expect(whole.votes.contains { $0.label.evidence == .hash } && whole.votes.contains { $0.label.evidence == .corners })
        let identical = merged.votes == whole.votes
        #expect(identical, "\(merged.votes.count) merged votes against \(whole.votes.count)")
        #expect(merged.timelines == whole.timelines)
        #expect(merged.notes == whole.notes)
        // The limits bit: shards gathered more than the whole kept, and their own answers would differ.
        #expect(gathered > whole.votes.count)
        let naiveDiffers = Set(naive) != Set(whole.votes)
        #expect(naiveDiffers, "each shard's own votes are already the whole's: the limits did not bite")
    }

    @Test("one shard holding every clip gives the whole catalogue's evidence and matches")
    func oneShard() throws {
        for strategy in [SearchStrategy.direct, .seeded] {
            let (whole, merged, _, _) = try Self.evidence(shards: 1, strategy: strategy)
            #expect(merged.votes == whole.votes && merged.timelines == whole.timelines)
            let clips = Self.clips.map(\.0)
            let matched = CatalogueMatcher.align(merged, clips: clips, options: Self.options, queryDuration: 20)
            let direct = CatalogueMatcher(clips: Self.clips, options: Self.options, strategy: strategy, corners: .on)
            #expect(matched == (try direct.match(Self.query)))
            #expect(!matched.isEmpty)
        }
    }

    @Test("the corner spacing is the median gap over the catalogue's first corner frames, clips in order")
    func referenceStep() {
        var first = EvidenceCandidates(), second = EvidenceCandidates()
        first.leadingCornerFrames = [LeadingFrames(clip: 2, times: [0, 1, 2, 3])]
        second.leadingCornerFrames = [LeadingFrames(clip: 0, times: [0, 0.5, 1]), LeadingFrames(clip: 5, times: [0, 2])]
        // Clip 0 (gaps 0.5, 0.5), clip 2 (1, 1, 1), clip 5 (2): the median of six gaps, the lower middle one.
        #expect(EvidenceCandidates.referenceStep([first, second]) == 1)
        #expect(EvidenceCandidates.referenceStep([EvidenceCandidates()]) == 0)
    }
}
