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
            result.outcome = try catalogue.register(clip)
        } catch {
            result.error = ClipScanner.sentence(for: error)
        }
        return result
    }

    /// Registered clips that the new fingerprint matches at a confident score.
    private func resemblances(of fingerprint: Fingerprint) throws -> [(ClipRecord, Double)] {
        let all = try catalogue.allFingerprints()
        guard !all.isEmpty else { return [] }
        let index = HashIndex(clips: all.map { (IndexedClip(id: $0.0.id, title: $0.0.title, duration: $0.0.duration), $0.1) })
        let matches = Matcher(index: index).match(fingerprint).filter { $0.score >= 0.5 }
        var best: [Int64: Double] = [:]
        for match in matches { best[match.clip.id] = max(best[match.clip.id] ?? 0, match.score) }
        return all.compactMap { record, _ in best[record.id].map { (record, $0) } }
    }
}
