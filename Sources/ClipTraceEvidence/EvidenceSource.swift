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
///
/// A source first gathers candidates, which depend on its own clips only, then weighs them with the steps
/// that look across the catalogue (``EvidenceCandidates/votes(_:hash:corners:)``): a catalogue cut into
/// shards gets the votes of the whole from the candidates of its parts.
public protocol EvidenceSource: Sendable {
    var kind: EvidenceKind { get }
    /// The moments of the query this source looks at (its votes' `moment` index into it).
    func timeline(for query: QueryObservations) -> QueryTimeline
    /// The candidates. `wholeCatalogue` false: the source holds one part of a catalogue, so it keeps every
    /// candidate that could survive the catalogue-wide steps. Only a source reading an index file throws, when
    /// it finds the file damaged.
    func candidates(for query: QueryObservations, wholeCatalogue: Bool) throws(IndexDamage) -> EvidenceCandidates
    /// Approximate resident bytes.
    var memoryBytes: Int { get }
    /// Whether the votes of each moment depend on that moment alone, so that a query searched in pieces gets
    /// exactly the votes of the whole (a seeded source first chooses clips from the whole query: it does not).
    var votesMomentByMoment: Bool { get }
}

extension EvidenceSource {
    public var votesMomentByMoment: Bool { false }

    /// The votes of this source alone over its clips as a whole catalogue.
    public func collect(for query: QueryObservations) throws(IndexDamage) -> CollectedVotes {
        let found = EvidenceCandidates.votes([try candidates(for: query, wholeCatalogue: true)],
                                             hash: hashOptions, corners: cornerOptions)
        return CollectedVotes(votes: kind == .hash ? found.hashes : found.corners, notes: found.notes)
    }

    fileprivate var hashOptions: HashSearchOptions { (self as? HashIndex)?.options ?? (self as? SeededHashSource)?.options ?? HashSearchOptions() }
    fileprivate var cornerOptions: CornerSearchOptions {
        (self as? CornerIndex)?.options ?? (self as? SeededCornerSource)?.options ?? CornerSearchOptions()
    }
}

extension HashIndex: EvidenceSource {
    public var kind: EvidenceKind { .hash }
    public var votesMomentByMoment: Bool { true }
    public func timeline(for query: QueryObservations) -> QueryTimeline { Self.timeline(of: query, options: options) }
    public func candidates(for query: QueryObservations, wholeCatalogue: Bool) -> EvidenceCandidates {
        var found = EvidenceCandidates()
        found.hashes = candidates(for: query)
        return found
    }
}

extension SeededHashSource: EvidenceSource {
    public var kind: EvidenceKind { .hash }
    public func timeline(for query: QueryObservations) -> QueryTimeline {
        HashIndex.timeline(of: query, options: options)
    }
}

extension SeededCornerSource: EvidenceSource {
    public var kind: EvidenceKind { .corners }
    public func timeline(for query: QueryObservations) -> QueryTimeline {
        CornerIndex.timeline(of: query, referenceStep: referenceStep)
    }
}

extension CornerIndex: EvidenceSource {
    public var kind: EvidenceKind { .corners }
    public var votesMomentByMoment: Bool { true }
    public func timeline(for query: QueryObservations) -> QueryTimeline { Self.timeline(of: query, referenceStep: referenceStep) }
    public func candidates(for query: QueryObservations, wholeCatalogue: Bool) -> EvidenceCandidates {
        var found = EvidenceCandidates()
        found.corners = candidates(for: query)
        found.leadingCornerFrames = leadingFrames
        return found
    }
}
