import ClipTraceMatching
import Foundation

/// Output formats of `cliptrace scan`. Field names are a contract: other tools read them.
public enum ReportFormat: String, CaseIterable, Sendable {
    case jsonl, json, csv, html
}

/// The totals of one scan, for the end of a report.
public struct ScanSummary: Sendable {
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

    var jsonObject: [String: Any] {
        ["files": files, "failed": failed, "matched_files": matchedFiles, "matches": matches,
         "seconds_of_video": (secondsOfVideo * 10).rounded() / 10, "elapsed": (elapsed * 100).rounded() / 100,
         "catalogue": catalogue, "clips": clips]
    }
}

/// Writes scan results as they arrive (JSON lines, CSV) or at the end (one JSON document).
public final class ReportWriter {
    public let format: ReportFormat
    private let sink: (String) throws -> Void
    private var documents: [(Int, [String: Any])] = []
    private var collected: [FileScanResult] = []
    private var wroteHeader = false

    public init(format: ReportFormat, sink: @escaping (String) throws -> Void) {
        self.format = format
        self.sink = sink
    }

    public func write(_ result: FileScanResult) throws {
        switch format {
        case .jsonl:
            if let error = result.error {
                try sink(Self.json(["query": result.path, "error": error]) + "\n")
            } else if result.matches.isEmpty {
                try sink(Self.json(["query": result.path, "reference": NSNull(), "matches": 0,
                                    "duration": Self.round(result.duration)]) + "\n")
            } else {
                for match in result.matches { try sink(Self.json(Self.matchObject(match, query: result.path)) + "\n") }
            }
        case .csv:
            if !wroteHeader {
                wroteHeader = true
                try sink(Self.csvHeader.joined(separator: ",") + "\n")
            }
            if let error = result.error {
                try sink(Self.csvRow([result.path, "", "", "", "", "", "", "", "", "", "", error]))
            } else if result.matches.isEmpty {
                // A scanned file without matches still gets its row: absence of evidence is a result.
                try sink(Self.csvRow([result.path, "", "", "", "", "", "", "", "", "0", "", ""]))
            }
            for match in result.matches {
                let m = match.match
                try sink(Self.csvRow([
                    result.path, match.clip.title, String(match.clip.id), match.clip.owner ?? "",
                    Self.format(m.queryStart), Self.format(m.queryEnd), Self.format(m.referenceStart),
                    Self.format(m.referenceEnd), String(format: "%.4f", m.score), String(m.matchedFrames),
                    match.transforms.joined(separator: " "), "",
                ]))
            }
        case .json:
            var object: [String: Any] = ["query": result.path, "duration": Self.round(result.duration),
                                         "matches": result.matches.map { Self.matchObject($0, query: nil) }]
            if let error = result.error { object["error"] = error }
            if !result.warnings.isEmpty { object["warnings"] = result.warnings }
            documents.append((result.order, object))
        case .html:
            collected.append(result)
        }
    }

    /// Ends the report (the JSON document and the HTML page are written here).
    public func finish(summary: ScanSummary) throws {
        switch format {
        case .json:
            let files = documents.sorted { $0.0 < $1.0 }.map(\.1)
            try sink(Self.json(["files": files, "summary": summary.jsonObject], pretty: true) + "\n")
        case .html:
            try sink(HTMLReport().render(results: collected.sorted { $0.order < $1.order }, summary: summary))
        case .jsonl, .csv:
            break
        }
    }

    static let csvHeader = [
        "query", "reference", "reference_id", "owner", "query_start", "query_end", "reference_start", "reference_end",
        "score", "matched_frames", "transforms", "error",
    ]

    static func matchObject(_ scanMatch: ScanMatch, query: String?) -> [String: Any] {
        let m = scanMatch.match
        var object: [String: Any] = [
            "reference": scanMatch.clip.title, "reference_id": scanMatch.clip.id,
            "query_start": round(m.queryStart), "query_end": round(m.queryEnd),
            "reference_start": round(m.referenceStart), "reference_end": round(m.referenceEnd),
            "score": (m.score * 10_000).rounded() / 10_000,
            "matched_frames": m.matchedFrames, "query_frames": m.queryFrames,
            "mean_distance": (m.meanDistance * 10).rounded() / 10, "speed": (m.speed * 1000).rounded() / 1000,
            "transforms": scanMatch.transforms,
            "evidence": m.evidence.map {
                ["query_time": round($0.queryTime), "reference_time": round($0.referenceTime), "distance": $0.distance]
            },
        ]
        if let owner = scanMatch.clip.owner { object["owner"] = owner }
        if let query { object["query"] = query }
        return object
    }

    static func round(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }
    static func format(_ value: Double) -> String { String(format: "%.3f", value) }

    static func json(_ object: [String: Any], pretty: Bool = false) -> String {
        var options: JSONSerialization.WritingOptions = [.withoutEscapingSlashes]
        if pretty { options.insert(.prettyPrinted) }
        options.insert(.sortedKeys)
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: options) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
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
