import ClipTraceAlignment
import ClipTraceEvidence
import ClipTraceObservations

/// A registered clip as the matcher knows it.
public struct IndexedClip: Hashable, Sendable, Codable {
    /// The catalogue's id.
    public var id: Int64
    public var title: String
    public var duration: Double

    public init(id: Int64, title: String, duration: Double) {
        self.id = id
        self.title = title
        self.duration = duration
    }
}

/// Settings of a whole search: each evidence source's, and the aligner's. The defaults are `cliptrace scan`'s.
public struct MatchingOptions: Hashable, Sendable {
    public var hash: HashSearchOptions
    public var corners: CornerSearchOptions
    public var alignment: AlignmentOptions

    public init(hash: HashSearchOptions = HashSearchOptions(), corners: CornerSearchOptions = CornerSearchOptions(),
                alignment: AlignmentOptions = AlignmentOptions()) {
        self.hash = hash
        self.corners = corners
        self.alignment = alignment
    }

    /// Segments shorter than this many query seconds are not reported.
    public var minimumDuration: Double {
        get { alignment.minimumDuration }
        set { alignment.minimumDuration = newValue }
    }

    /// Segments scoring below this are not reported.
    public var minimumScore: Double {
        get { alignment.minimumScore }
        set { alignment.minimumScore = newValue }
    }
}

/// One copied segment of a registered clip: where it is on the query's timeline and on the clip's, how sure
/// the aligner is, and how the copy was seen. Every property of ``AlignedSegment`` reads through.
@dynamicMemberLookup
public struct Match: Hashable, Sendable, Codable {
    public var clip: IndexedClip
    public var segment: AlignedSegment

    public init(clip: IndexedClip, segment: AlignedSegment) {
        self.clip = clip
        self.segment = segment
    }

    public subscript<Value>(dynamicMember keyPath: KeyPath<AlignedSegment, Value>) -> Value { segment[keyPath: keyPath] }

    /// Whether the score reaches ``AlignmentOptions/decisionScore``.
    public var isConfident: Bool { segment.score >= AlignmentOptions.decisionScore }
}
