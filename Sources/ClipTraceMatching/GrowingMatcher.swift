import ClipTraceEvidence
import ClipTraceFingerprint
import ClipTraceObservations
import Foundation

/// A catalogue matcher that clips can be added to one by one, at a cost that stays near linear in the clips
/// added: what a batch registration needs to tell whether each new clip resembles one already registered,
/// including those registered a moment earlier in the same batch.
///
/// The catalogue as first loaded is one matcher, built once. Clips added later go into levels of doubling
/// size, as in a binary counter: adding a clip makes a level of one, and two levels of the same size merge
/// into one twice as large. Adding n clips builds O(n log n) index entries in all, and a search visits
/// O(log n) levels.
public final class GrowingMatcher: @unchecked Sendable {
    public let options: MatchingOptions
    private let lock = NSLock()
    private let base: CatalogueMatcher
    private var levels: [(matcher: CatalogueMatcher, clips: [(IndexedClip, ReferenceFingerprint)])] = []

    /// `clips` are searched by hashes only (corners belong to the scan): a registration is the same clip again
    /// or a close edit of it, and a corner index per level would cost more than the file's own fingerprint.
    public convenience init(clips: [(IndexedClip, ReferenceFingerprint)], options: MatchingOptions = MatchingOptions()) {
        self.init(base: CatalogueMatcher(clips: clips, options: options, corners: .off))
    }

    /// Grows from a matcher built elsewhere (over a saved index, say); clips added later use its options.
    public init(base: CatalogueMatcher) {
        options = base.options
        self.base = base
    }

    /// Clips searched: the base catalogue and every clip added since.
    public var clipCount: Int { lock.withLock { base.clips.count + levels.reduce(0) { $0 + $1.clips.count } } }

    public func add(_ clip: IndexedClip, _ fingerprint: ReferenceFingerprint) {
        lock.withLock {
            var merged = [(clip, fingerprint)]
            while let last = levels.last, last.clips.count <= merged.count {
                merged = last.clips + merged
                levels.removeLast()
            }
            levels.append((CatalogueMatcher(clips: merged, options: options, corners: .off), merged))
        }
    }

    /// The matches of `query` among every clip, by query start.
    public func match(_ query: QueryObservations) throws(IndexDamage) -> [Match] {
        let matchers = lock.withLock { [base] + levels.map(\.matcher) }
        var matches: [Match] = []
        for matcher in matchers { matches += try matcher.match(query) }
        return matches
            .sorted { ($0.queryStart, -$0.score, $0.clip.id) < ($1.queryStart, -$1.score, $1.clip.id) }
    }
}
