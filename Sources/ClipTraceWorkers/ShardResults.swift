import ClipTraceMatching
import ClipTracePostgres
import ClipTraceScanning
import Foundation

/// The merge of one input's stored shard scans into the result a scan of the whole catalogue gives.
public enum ShardResults {
    /// One input's result over all shards (``ShardScan/merge(_:path:order:options:)``): the same matches and
    /// scores as a scan of the whole catalogue, the file's error when a shard could not read it. A job that
    /// never produced a result (abandoned), or one whose stored scan cannot be read, becomes the input's error.
    public static func merge(_ outcomes: [JobQueue.Outcome], options: MatchingOptions = MatchingOptions()) -> FileScanResult {
        precondition(!outcomes.isEmpty)
        let first = outcomes[0]
        var shards: [ShardScan] = []
        var legacy: [FileScanResult] = []
        for outcome in outcomes.sorted(by: { $0.shard < $1.shard }) {
            do {
                guard let data = outcome.result else {
                    throw ShardScanError.malformed(outcome.error ?? "the job left no result")
                }
                if ShardScan.isStored(data) {
                    shards.append(try ShardScan(decoding: data))
                } else {
                    legacy.append(try JSONDecoder().decode(FileScanResult.self, from: data))
                }
            } catch {
                let sentence = outcome.result == nil ? (outcome.error ?? "the job's result could not be read")
                    : "the job's result could not be read (\(error))"
                return FileScanResult(path: first.display, order: first.position, matches: [], error: sentence,
                                      warnings: [], duration: 0, elapsed: 0)
            }
        }
        if !legacy.isEmpty {
            guard shards.isEmpty else {
                return FileScanResult(path: first.display, order: first.position, matches: [],
                                      error: "the shards of this input were scanned by different versions of ClipTrace; submit it again",
                                      warnings: [], duration: 0, elapsed: 0)
            }
            return mergeLegacy(legacy, display: first.display, position: first.position)
        }
        return ShardScan.merge(shards, path: first.display, order: first.position, options: options)
    }

    /// Results stored by versions before shard scans (finished matches, per shard): concatenated in scan order.
    /// Their scores are each shard's own, not the whole catalogue's.
    static func mergeLegacy(_ results: [FileScanResult], display: String, position: Int) -> FileScanResult {
        var merged = results[0]
        merged.path = display
        merged.order = position
        if let error = results.lazy.compactMap(\.error).first {
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
