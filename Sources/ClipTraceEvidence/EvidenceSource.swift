import ClipTraceAlignment
import ClipTraceObservations

/// The votes one source found in a query, and anything a person should know about how it searched.
public struct CollectedVotes: Sendable {
    public var votes: [Vote]
    /// Sentences for the log: a limit that bit, a part of the search that was skipped.
    public var notes: [String]

    public init(votes: [Vote], notes: [String] = []) {
        self.votes = votes
        self.notes = notes
    }
}

/// Something that looks at a query's observations and says, moment by moment, which reference clip at which
/// time it resembles: the hash indexes, the corner index, and later audio. Every source numbers clips the same
/// way (positions in the catalogue list it was built from), so their votes go to one ``TemporalAligner``.
public protocol EvidenceSource: Sendable {
    var kind: EvidenceKind { get }
    /// The moments of the query this source looks at (its votes' `moment` index into it).
    func timeline(for query: QueryObservations) -> QueryTimeline
    /// The votes. Only a source reading an index file throws, when it finds the file damaged.
    func collect(for query: QueryObservations) throws(IndexDamage) -> CollectedVotes
    /// Approximate resident bytes.
    var memoryBytes: Int { get }
    /// Whether the votes of each moment depend on that moment alone, so that a query searched in pieces gets
    /// exactly the votes of the whole (a seeded source first chooses clips from the whole query: it does not).
    var votesMomentByMoment: Bool { get }
}

extension EvidenceSource {
    public var votesMomentByMoment: Bool { false }
}

extension HashIndex: EvidenceSource {
    public var kind: EvidenceKind { .hash }
    public var votesMomentByMoment: Bool { true }
    public func timeline(for query: QueryObservations) -> QueryTimeline { Self.timeline(of: query, options: options) }
    public func collect(for query: QueryObservations) -> CollectedVotes { CollectedVotes(votes: votes(for: query)) }
}

extension SeededHashSource: EvidenceSource {
    public var kind: EvidenceKind { .hash }
    public func timeline(for query: QueryObservations) -> QueryTimeline {
        HashIndex.timeline(of: query, options: options)
    }
    public func collect(for query: QueryObservations) throws(IndexDamage) -> CollectedVotes {
        let (votes, seeding) = try votes(for: query)
        var notes: [String] = []
        if seeding.leftOut > 0 {
            notes.append("\(seeding.clips.count + seeding.leftOut) clips were seeded by hashes; only the \(seeding.clips.count) seeded by most frames were searched (the seeded search's limit)")
        }
        return CollectedVotes(votes: votes, notes: notes)
    }
}

extension SeededCornerSource: EvidenceSource {
    public var kind: EvidenceKind { .corners }
    public func timeline(for query: QueryObservations) -> QueryTimeline {
        CornerIndex.timeline(of: query, referenceStep: referenceStep)
    }
    public func collect(for query: QueryObservations) throws(IndexDamage) -> CollectedVotes {
        let (votes, seeding) = try votes(for: query)
        var notes: [String] = []
        if seeding.leftOut > 0 {
            notes.append("\(seeding.clips.count + seeding.leftOut) clips were seeded by corners; only the \(seeding.clips.count) reached at most moments were verified (the seeded search's limit)")
        }
        return CollectedVotes(votes: votes, notes: notes)
    }
}

extension CornerIndex: EvidenceSource {
    public var kind: EvidenceKind { .corners }
    public var votesMomentByMoment: Bool { true }
    public func timeline(for query: QueryObservations) -> QueryTimeline { Self.timeline(of: query, referenceStep: referenceStep) }
    public func collect(for query: QueryObservations) -> CollectedVotes { CollectedVotes(votes: votes(for: query)) }
}
