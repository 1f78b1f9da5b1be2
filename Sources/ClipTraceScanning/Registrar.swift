import ClipTraceCatalogue
import ClipTraceDecoding
import ClipTraceExtraction
import ClipTraceEvidence
import ClipTraceFingerprint
import ClipTraceIndex
import ClipTraceMatching
import ClipTraceObservations
import Foundation

/// The outcome of registering one file.
public struct RegistrationResult: Sendable {
    public var path: String
    public var outcome: RegistrationOutcome?
    /// A registered clip this one already matches (a re-encode of it, say): the user should know.
    public var resembles: [(ClipRecord, Double)]
    public var warnings: [String]
    public var error: String?
}

/// Fingerprints files and adds them to a catalogue, one transaction per clip.
public struct Registrar: Sendable {
    public let catalogue: any Catalogue
    public var extraction: ExtractionOptions
    /// The catalogue's clips for the resemblance check, loaded on first use and extended with each clip
    /// registered here, so that a batch reads the catalogue and builds its index once, not once per file.
    private let known = KnownClips()

    public init(catalogue: any Catalogue, extraction: ExtractionOptions = .reference) {
        self.catalogue = catalogue
        self.extraction = extraction
    }

    /// Registers one file: its absolute path (links resolved) is recorded, and `source` as where the owner says
    /// the original lives. Never throws: failures become the result's `error`.
    public func register(path: String, title: String?, owner: String?, source: String? = nil) -> RegistrationResult {
        var result = RegistrationResult(path: path, outcome: nil, resembles: [], warnings: [], error: nil)
        do {
            // A pipe or a device would block (or never end) while its bytes are hashed: refuse it first.
            try VideoDecoder.checkReadableFile(path)
            let (digest, size) = try MediaFiles.sha256(path: path)
            if let existing = try catalogue.clip(sha256: digest) {
                result.outcome = .alreadyRegistered(existing)
                return result
            }
            let extracted = try Fingerprinter(options: extraction).extract(path: path)
            result.warnings = extracted.warnings
            let fingerprint = extracted.reference
            let minimumQuality = MatchingOptions().hash.minimumQuality
            if !fingerprint.frames.contains(where: { $0.quality >= minimumQuality }) {
                result.warnings.append("every frame is flat or dark (PDQ quality below \(minimumQuality)); this clip cannot be matched")
            }
            result.resembles = known.resemblances(try known.match(extracted.observations, in: catalogue))
            // A title is text: bytes of the file name that are not UTF-8 become \xNN in it.
            let defaultTitle = PathBytes.display(((path as NSString).lastPathComponent as NSString).deletingPathExtension)
            let chosenTitle = title.flatMap { $0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? nil : $0 }
            let clip = NewClip(title: chosenTitle ?? defaultTitle, owner: owner, sourcePath: MediaFiles.absolutePath(path),
                               source: source, sha256: digest, size: size, fingerprint: fingerprint)
            let outcome = try catalogue.register(clip)
            if case .registered(let record) = outcome { known.add(record, fingerprint) }
            result.outcome = outcome
        } catch {
            result.error = ClipScanner.sentence(for: error)
        }
        return result
    }
}

/// Registered clips for the resemblance check, shared by the registrations of one `Registrar`.
private final class KnownClips: @unchecked Sendable {
    private let lock = NSLock()
    private var matcher: GrowingMatcher?
    private var records: [Int64: ClipRecord] = [:]

    private var discarded: Set<String> = []

    /// The catalogue's saved index (hashes only: a registration is the same clip again or a close edit of it)
    /// grown with each clip registered since, opened on first use.
    func matcher(loadingFrom catalogue: any Catalogue) throws -> GrowingMatcher {
        try lock.withLock {
            if let matcher { return matcher }
            let index = try PersistedIndex.open(catalogue: catalogue, settings: .init(corners: false), discarding: discarded)
            for record in index.records { records[record.id] = record }
            let built = GrowingMatcher(base: try index.matcher(corners: .off))
            matcher = built
            return built
        }
    }

    /// The matches of `query` among registered clips. A damaged index file is rebuilt once; if the index still
    /// cannot be read the check is skipped (it only informs), never the registration.
    func match(_ query: QueryObservations, in catalogue: any Catalogue) throws -> [Match] {
        for _ in 0..<2 {
            do {
                return try matcher(loadingFrom: catalogue).match(query)
            } catch let damage as IndexDamage {
                lock.withLock {
                    discarded.insert(damage.storage)
                    matcher = nil
                }
            }
        }
        return []
    }

    func add(_ record: ClipRecord, _ fingerprint: ReferenceFingerprint) {
        let matcher = lock.withLock {
            records[record.id] = record
            return self.matcher
        }
        matcher?.add(IndexedClip(id: record.id, title: record.title, duration: record.duration), fingerprint)
    }

    /// Registered clips matched at a confident score, best score per clip.
    func resemblances(_ matches: [Match]) -> [(ClipRecord, Double)] {
        var best: [Int64: Double] = [:]
        for match in matches where match.isConfident { best[match.clip.id] = max(best[match.clip.id] ?? 0, match.score) }
        return lock.withLock {
            best.keys.sorted().compactMap { id in records[id].map { ($0, best[id]!) } }
        }
    }
}
