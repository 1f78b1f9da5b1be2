import ClipTraceAlignment
import ClipTraceDecoding
import ClipTraceMatching
import Foundation

/// Output formats of `cliptrace scan`. Field names are a contract: other tools read them.
public enum ReportFormat: String, CaseIterable, Sendable {
    case jsonl, json, csv, html
}

/// The totals of one scan, for the end of a report.
public struct ScanSummary: Encodable, Sendable {
    public var files: Int
    public var failed: Int
    public var matchedFiles: Int
    public var matches: Int
    public var secondsOfVideo: Double
    public var elapsed: Double
    public var catalogue: String
    public var clips: Int
    public var generated: Date

    public init(files: Int, failed: Int, matchedFiles: Int, matches: Int, secondsOfVideo: Double, elapsed: Double,
                catalogue: String, clips: Int, generated: Date = Date()) {
        self.files = files
        self.failed = failed
        self.matchedFiles = matchedFiles
        self.matches = matches
        self.secondsOfVideo = secondsOfVideo
        self.elapsed = elapsed
        self.catalogue = catalogue
        self.clips = clips
        self.generated = generated
    }

    enum CodingKeys: String, CodingKey {
        case files, failed, matches, elapsed, catalogue, clips
        case matchedFiles = "matched_files"
        case secondsOfVideo = "seconds_of_video"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(files, forKey: .files)
        try container.encode(failed, forKey: .failed)
        try container.encode(matchedFiles, forKey: .matchedFiles)
        try container.encode(matches, forKey: .matches)
        try container.encode((secondsOfVideo * 10).rounded() / 10, forKey: .secondsOfVideo)
        try container.encode((elapsed * 100).rounded() / 100, forKey: .elapsed)
        try container.encode(catalogue, forKey: .catalogue)
        try container.encode(clips, forKey: .clips)
    }
}

/// One match as `scan` and `compare` print it (a JSON line, or an entry of the JSON document).
public struct MatchRecord: Codable, Hashable, Sendable {
    /// A few aligned moments: query time, reference time, and how far apart they were.
    public struct EvidenceRecord: Codable, Hashable, Sendable {
        public var queryTime: Double
        public var referenceTime: Double
        public var distance: Int

        enum CodingKeys: String, CodingKey {
            case distance
            case queryTime = "query_time"
            case referenceTime = "reference_time"
        }
    }

    /// The query file, as given (absent inside the JSON document, where the file entry names it).
    public var query: String?
    public var reference: String
    public var referenceID: Int64
    public var owner: String?
    public var queryStart: Double
    public var queryEnd: Double
    public var referenceStart: Double
    public var referenceEnd: Double
    public var score: Double
    public var matchedFrames: Int
    public var queryFrames: Int
    public var meanDistance: Double
    public var speed: Double
    public var transforms: [String]
    public var evidence: [EvidenceRecord]

    enum CodingKeys: String, CodingKey {
        case query, reference, owner, score, speed, transforms, evidence
        case referenceID = "reference_id"
        case queryStart = "query_start"
        case queryEnd = "query_end"
        case referenceStart = "reference_start"
        case referenceEnd = "reference_end"
        case matchedFrames = "matched_frames"
        case queryFrames = "query_frames"
        case meanDistance = "mean_distance"
    }

    public init(_ scanMatch: ScanMatch, query: String?) {
        self.init(scanMatch.match, reference: scanMatch.clip.title, referenceID: scanMatch.clip.id,
                  owner: scanMatch.clip.owner, transforms: scanMatch.transforms, query: query)
    }

    /// A match of a reference that is not a catalogue clip (`compare`'s).
    public init(_ m: Match, reference: String, referenceID: Int64, owner: String?, transforms: [String], query: String?) {
        // Reports hold text, not bytes: a name that is not UTF-8 is shown with \xNN escapes.
        self.query = query.map { PathBytes.display($0) }
        self.reference = PathBytes.display(reference)
        self.referenceID = referenceID
        self.owner = owner.map { PathBytes.display($0) }
        queryStart = Self.round(m.queryStart)
        queryEnd = Self.round(m.queryEnd)
        referenceStart = Self.round(m.referenceStart)
        referenceEnd = Self.round(m.referenceEnd)
        score = (m.score * 10_000).rounded() / 10_000
        matchedFrames = m.matchedMoments
        queryFrames = m.usableMoments
        meanDistance = (m.meanDistance * 10).rounded() / 10
        speed = (m.speed * 1000).rounded() / 1000
        self.transforms = transforms
        evidence = m.pairs.map {
            EvidenceRecord(queryTime: Self.round($0.queryTime), referenceTime: Self.round($0.referenceTime),
                           distance: $0.distance)
        }
    }

    static func round(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }
}

/// A JSON line for a file with no match (`reference` is null, so that readers keying on it skip the line) or
/// one that could not be scanned.
struct FileStatusRecord: Encodable {
    var query: String
    var duration: Double?
    var error: String?

    enum CodingKeys: String, CodingKey { case query, reference, matches, duration, error }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(query, forKey: .query)
        if let error {
            try container.encode(error, forKey: .error)
        } else {
            try container.encodeNil(forKey: .reference)
            try container.encode(0, forKey: .matches)
            try container.encode(MatchRecord.round(duration ?? 0), forKey: .duration)
        }
    }
}

/// A file's entry in the JSON document.
struct FileRecord: Encodable {
    var query: String
    var duration: Double
    var matches: [MatchRecord]
    var error: String?
    var warnings: [String]?
}

struct ReportDocument: Encodable {
    var files: [FileRecord]
    var summary: ScanSummary
}

/// Writes scan results as they arrive (JSON lines, CSV) or at the end (one JSON document, the HTML page).
public final class ReportWriter {
    public let format: ReportFormat
    private let sink: (String) throws -> Void
    private var documents: [(Int, FileRecord)] = []
    private var collected: [FileScanResult] = []
    private var wroteHeader = false

    public init(format: ReportFormat, sink: @escaping (String) throws -> Void) {
        self.format = format
        self.sink = sink
    }

    public func write(_ result: FileScanResult) throws {
        // A file name that is not UTF-8 is shown with \xNN escapes: JSON and CSV hold text, not bytes.
        let query = PathBytes.display(result.path)
        switch format {
        case .jsonl:
            if let error = result.error {
                try sink(Self.json(FileStatusRecord(query: query, error: error)) + "\n")
            } else if result.matches.isEmpty {
                try sink(Self.json(FileStatusRecord(query: query, duration: result.duration)) + "\n")
            } else {
                for match in result.matches { try sink(Self.json(MatchRecord(match, query: query)) + "\n") }
            }
        case .csv:
            if !wroteHeader {
                wroteHeader = true
                try sink(Self.csvHeader.joined(separator: ",") + "\n")
            }
            if let error = result.error {
                try sink(Self.csvRow([query, "", "", "", "", "", "", "", "", "", "", error]))
            } else if result.matches.isEmpty {
                // A scanned file without matches still gets its row: absence of evidence is a result.
                try sink(Self.csvRow([query, "", "", "", "", "", "", "", "", "0", "", ""]))
            }
            for match in result.matches {
                let m = match.match
                try sink(Self.csvRow([
                    query, PathBytes.display(match.clip.title), String(match.clip.id), PathBytes.display(match.clip.owner ?? ""),
                    Self.format(m.queryStart), Self.format(m.queryEnd), Self.format(m.referenceStart),
                    Self.format(m.referenceEnd), String(format: "%.4f", m.score), String(m.matchedMoments),
                    match.transforms.joined(separator: " "), "",
                ]))
            }
        case .json:
            documents.append((result.order, FileRecord(
                query: query, duration: MatchRecord.round(result.duration),
                matches: result.matches.map { MatchRecord($0, query: nil) }, error: result.error,
                warnings: result.warnings.isEmpty ? nil : result.warnings)))
        case .html:
            collected.append(result)
        }
    }

    /// Ends the report (the JSON document and the HTML page are written here; the page's thumbnails are
    /// extracted first, with FFmpeg, then the page is rendered).
    public func finish(summary: ScanSummary) throws {
        switch format {
        case .json:
            let files = documents.sorted { $0.0 < $1.0 }.map(\.1)
            try sink(Self.json(ReportDocument(files: files, summary: summary), pretty: true) + "\n")
        case .html:
            let results = collected.sorted { $0.order < $1.order }
            let report = HTMLReport()
            try sink(report.render(results: results, moments: report.moments(for: results), summary: summary))
        case .jsonl, .csv:
            break
        }
    }

    static let csvHeader = [
        "query", "reference", "reference_id", "owner", "query_start", "query_end", "reference_start", "reference_end",
        "score", "matched_frames", "transforms", "error",
    ]

    static func format(_ value: Double) -> String { String(format: "%.3f", value) }

    /// Compact (or pretty) JSON with sorted keys and unescaped slashes, as every report prints it.
    public static func json(_ value: some Encodable, pretty: Bool = false) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted]
            : [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// RFC 4180 quoting, and a leading `'` on cells a spreadsheet would run as a formula.
    static func csvRow(_ cells: [String]) -> String {
        cells.map { cell -> String in
            var text = cell
            if let first = text.first, "=+-@\t\r".contains(first), Double(text) == nil { text = "'" + text }
            if text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) {
                text = "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
            }
            return text
        }.joined(separator: ",") + "\n"
    }
}
