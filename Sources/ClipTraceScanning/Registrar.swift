import ClipTraceCatalogue
import ClipTraceExtraction
import ClipTraceFingerprint
import ClipTraceMatching
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
    /// The catalogue's fingerprints, loaded on first use and extended with each clip registered here, so a
    /// batch of registrations reads the catalogue once instead of once per file.
    private let known = KnownClips()

    public init(catalogue: any Catalogue, extraction: ExtractionOptions = .reference) {
        self.catalogue = catalogue
        self.extraction = extraction
    }

    /// Registers one file. Never throws: failures become the result's `error`.
    public func register(path: String, title: String?, owner: String?) -> RegistrationResult {
        var result = RegistrationResult(path: path, outcome: nil, resembles: [], warnings: [], error: nil)
        do {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw ScanError(message: "no such file", path: path)
            }
            if isDirectory.boolValue { throw ScanError(message: "this is a folder, not a video file", path: path) }
            let (digest, size) = try MediaFiles.sha256(path: path)
            if let existing = try catalogue.clip(sha256: digest) {
                result.outcome = .alreadyRegistered(existing)
                return result
            }
            let extracted = try Fingerprinter(options: extraction).fingerprint(path: path)
            result.warnings = extracted.warnings
            let usable = extracted.fingerprint.frames.filter { $0.quality >= MatchingOptions.defaultMinimumQuality }
            if usable.isEmpty {
                result.warnings.append("every frame is flat or dark (PDQ quality below \(MatchingOptions.defaultMinimumQuality)); this clip cannot be matched")
            }
            result.resembles = try resemblances(of: extracted.fingerprint)
            let defaultTitle = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
            let clip = NewClip(title: title ?? defaultTitle, owner: owner, sourcePath: path, sha256: digest, size: size,
                               fingerprint: extracted.fingerprint)
            let outcome = try catalogue.register(clip)
            if case .registered(let record) = outcome { known.append(record, extracted.fingerprint) }
            result.outcome = outcome
        } catch {
            result.error = ClipScanner.sentence(for: error)
        }
        return result
    }

    /// Registered clips that the new fingerprint matches at a confident score.
    private func resemblances(of fingerprint: Fingerprint) throws -> [(ClipRecord, Double)] {
        let all = try known.clips(loadingFrom: catalogue)
        guard !all.isEmpty else { return [] }
        // Hashes only: a registration is the same clip again or a close edit of it, not a crop, and building
        // the corner index for every file would cost more than the file's own fingerprint.
        let matches = CatalogueMatcher(clips: ClipScanner.indexedClips(all), localFeatures: .off).match(fingerprint)
            .filter { $0.score >= 0.5 }
        var best: [Int64: Double] = [:]
        for match in matches { best[match.clip.id] = max(best[match.clip.id] ?? 0, match.score) }
        return all.compactMap { record, _ in best[record.id].map { (record, $0) } }
    }
}

/// Registered clips and their fingerprints, shared by the registrations of one `Registrar`.
private final class KnownClips: @unchecked Sendable {
    private let lock = NSLock()
    private var clips: [(ClipRecord, Fingerprint)]?

    func clips(loadingFrom catalogue: any Catalogue) throws -> [(ClipRecord, Fingerprint)] {
        lock.lock()
        defer { lock.unlock() }
        if let clips { return clips }
        let loaded = try catalogue.allFingerprints()
        clips = loaded
        return loaded
    }

    func append(_ record: ClipRecord, _ fingerprint: Fingerprint) {
        lock.lock()
        defer { lock.unlock() }
        clips?.append((record, fingerprint))
    }
}
