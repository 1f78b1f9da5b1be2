import ClipTracePostgres
import ClipTraceScanning
import Foundation

/// A job's result as stored in the queue, and the merge of one input's results over the shards.
public enum ShardResults {
    public static func encode(_ result: FileScanResult) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return try encoder.encode(result)
    }

    public static func decode(_ data: Data) throws -> FileScanResult {
        try JSONDecoder().decode(FileScanResult.self, from: data)
    }

    /// One input's result over all shards, as a scan of the whole catalogue reports it: every shard's matches
    /// in the matcher's order (query start, then score, then clip), the file's error when a shard could not read
    /// it. A job that never produced a result (abandoned) becomes the input's error.
    public static func merge(_ outcomes: [JobQueue.Outcome]) -> FileScanResult {
        precondition(!outcomes.isEmpty)
        var results: [FileScanResult] = []
        var problems: [String] = []
        for outcome in outcomes.sorted(by: { $0.shard < $1.shard }) {
            if let data = outcome.result, let result = try? decode(data) {
                results.append(result)
            } else {
                problems.append(outcome.error ?? "the job's result could not be read")
            }
        }
        let first = outcomes[0]
        guard var merged = results.first else {
            return FileScanResult(path: first.display, order: first.position, matches: [], error: problems.first,
                                  warnings: [], duration: 0, elapsed: 0)
        }
        merged.path = first.display
        merged.order = first.position
        if let error = results.lazy.compactMap(\.error).first ?? problems.first {
            merged.error = error
            merged.matches = []
            return merged
        }
        merged.matches = results.flatMap(\.matches).sorted {
            ($0.match.queryStart, -$0.match.score, $0.clip.id) < ($1.match.queryStart, -$1.match.score, $1.clip.id)
        }
        merged.duration = results.map(\.duration).max() ?? 0
        merged.elapsed = results.map(\.elapsed).reduce(0, +)
        var warnings: [String] = []
        for warning in results.flatMap(\.warnings) where !warnings.contains(warning) { warnings.append(warning) }
        merged.warnings = warnings
        return merged
    }
}
