import ClipTraceObservations

/// A kind of evidence that a moment of the query shows a moment of a reference.
public enum EvidenceKind: UInt8, CaseIterable, Hashable, Sendable, Codable, CustomStringConvertible {
    /// Whole-picture PDQ hashes within a Hamming distance (``ClipTraceEvidence`` hash indexes).
    case hash = 0
    /// Corners paired by descriptor and explained by one geometry (the corner index): survives crops.
    case corners = 1

    public var description: String {
        switch self {
        case .hash: "hash"
        case .corners: "local features"
        }
    }
}

/// How a vote was obtained: the view of the query it came from and the kind of evidence.
public struct VoteLabel: Hashable, Sendable, Codable, CustomStringConvertible {
    public var view: View
    public var evidence: EvidenceKind

    public init(view: View = .upright, evidence: EvidenceKind = .hash) {
        self.view = view
        self.evidence = evidence
    }

    public var description: String { "\(view) (\(evidence))" }
}

/// The moments at which one kind of evidence looked at the query, whether or not anything was found there.
/// The aligner needs them to tell a copy seen at every moment from one seen at a few.
public struct QueryTimeline: Hashable, Sendable {
    /// Observation times in seconds, increasing.
    public var times: [Double]
    /// Whether each moment could have voted (a flat or dark frame could not).
    public var usable: [Bool]
    /// The typical spacing of the moments.
    public var step: Double
    /// The typical spacing of what the moments are compared with on the reference side (0: finer than ``step``).
    /// References sampled more sparsely than the query (corners once a second against a query's twice) can
    /// answer only some moments, each for this long.
    public var referenceStep: Double

    /// How long one matched moment stands for: the coarser of the two samplings.
    public var spacing: Double { max(step, referenceStep) }

    public init(times: [Double], usable: [Bool], step: Double, referenceStep: Double = 0) {
        precondition(times.count == usable.count, "one usable flag per moment")
        self.times = times
        self.usable = usable
        self.step = step
        self.referenceStep = referenceStep
    }

    /// A timeline with every moment usable; the step is the median gap (or `fallbackStep` for fewer than two).
    public init(times: [Double], fallbackStep: Double = 0.25, referenceStep: Double = 0) {
        self.init(times: times, usable: [Bool](repeating: true, count: times.count),
                  step: QueryObservations.medianGap(times) ?? fallbackStep, referenceStep: referenceStep)
    }

    public static let empty = QueryTimeline(times: [], usable: [], step: 0.25)
}

/// One piece of evidence that the query at a moment shows a reference clip at a time: what every evidence
/// source emits and the ``TemporalAligner`` consumes. Plain values: no index, no media.
public struct Vote: Hashable, Sendable {
    /// The clip, as an index into the list the sources and the aligner share.
    public var clip: Int32
    /// The query moment: an index into the timeline of ``label``'s evidence kind.
    public var moment: Int32
    /// Seconds on the reference's timeline.
    public var referenceTime: Double {
        get { Double(storedReferenceTime) }
        set { storedReferenceTime = Float(newValue) }
    }
    /// Kept as a `Float`, the precision references store their times in (a microsecond at an hour), so that a
    /// vote takes 24 bytes instead of 32: a two-hour recording collects most of a million of them.
    private var storedReferenceTime: Float
    /// Strength in 0…1: how close the match is, discounted when the moment resembles many clips.
    public var weight: Float
    /// How far apart the two sides were: Hamming bits of a hash, mean descriptor bits of matched corners.
    public var distance: Int16
    public var label: VoteLabel

    public init(clip: Int32, moment: Int32, referenceTime: Double, weight: Float, distance: Int16,
                label: VoteLabel = VoteLabel()) {
        self.clip = clip
        self.moment = moment
        self.storedReferenceTime = Float(referenceTime)
        self.weight = weight
        self.distance = distance
        self.label = label
    }
}
