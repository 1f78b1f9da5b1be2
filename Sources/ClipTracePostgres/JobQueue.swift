import ClipTraceCatalogue
import Foundation
import PostgresNIO

/// Scan jobs kept in the catalogue's PostgreSQL database: submitted in batches, claimed by workers under a
/// lease, completed with their result in one statement.
///
/// A batch of N shards holds one job per input and shard; the worker of shard K claims only shard K's jobs
/// (`FOR UPDATE SKIP LOCKED`: claimers never wait for each other). A claim is a lease that its worker renews;
/// when a worker dies, its lease runs out and the job is claimed again. Every claim counts an attempt, and a
/// worker completes a job only while it still holds that attempt, so a job's result is written once even when
/// a worker thought dead comes back. A job whose lease ran out too many times is failed instead of retried (an
/// input that kills its workers must not stop the queue).
///
/// The result is opaque bytes here (the worker's encoding of the scan's outcome).
public struct JobQueue: Sendable {
    public let session: PostgresSession
    /// Notified (with the batch id) when a batch is submitted, so that idle workers wake at once.
    public static let submitChannel = "cliptrace_jobs"
    /// Leases that ran out this many times fail the job.
    public static let maximumAttempts = 3

    public init(catalogue: PostgresCatalogue) {
        session = catalogue.session
    }

    public enum State: String, Sendable, CaseIterable {
        case queued, running, done, failed
    }

    /// An input to scan: what the worker opens, and how reports name it (as the user gave it).
    public struct Input: Sendable, Hashable {
        public var input: String
        public var display: String

        public init(input: String, display: String) {
            self.input = input
            self.display = display
        }
    }

    /// Records one job per input and shard; returns the batch id.
    public func submit(_ inputs: [Input], shards: Int, submittedBy: String) throws(CatalogueError) -> Int64 {
        precondition(shards >= 1)
        return try session.transaction("submit the jobs") { link in
            guard let batch = try link.query("""
                INSERT INTO cliptrace.batch (shard_count, inputs, submitted_by) VALUES (\(shards), \(inputs.count), \(submittedBy))
                RETURNING id
                """).first?.decode(Int64.self) else {
                throw CatalogueError(code: .other, message: "the batch was not recorded", path: session.location.description)
            }
            // A few thousand rows per statement, as arrays unnested by the server.
            var positions: [Int] = []
            var paths: [String] = []
            var names: [String] = []
            var shardNumbers: [Int] = []
            func flush() throws {
                guard !positions.isEmpty else { return }
                try link.execute("""
                    INSERT INTO cliptrace.job (batch_id, position, input, display, shard, shard_count)
                    SELECT \(batch), p, i, d, s, \(shards)
                    FROM unnest(\(positions)::bigint[], \(paths)::text[], \(names)::text[], \(shardNumbers)::bigint[]) AS t(p, i, d, s)
                    """)
                positions.removeAll(keepingCapacity: true)
                paths.removeAll(keepingCapacity: true)
                names.removeAll(keepingCapacity: true)
                shardNumbers.removeAll(keepingCapacity: true)
            }
            for (position, input) in inputs.enumerated() {
                for shard in 0..<shards {
                    positions.append(position)
                    paths.append(input.input)
                    names.append(input.display)
                    shardNumbers.append(shard)
                }
                if positions.count >= 4096 { try flush() }
            }
            try flush()
            try link.execute("SELECT pg_notify(\(Self.submitChannel), \(String(batch)))")
            return batch
        }
    }

    /// A job a worker holds.
    public struct ClaimedJob: Sendable, Hashable {
        public var id: Int64
        public var batch: Int64
        public var position: Int
        public var input: String
        public var display: String
        public var shard: Shard
        /// Which claim of the job this is (1 for the first): the worker's proof that the job is still its own.
        public var attempt: Int
        /// The catalogue's generation when the job was claimed: everything registered before the job was
        /// submitted is in it, so an index of this generation or later searches every such clip.
        public var catalogueGeneration: Int64
    }

    /// Claims the oldest job of `shard` that is queued or whose lease ran out, or returns nil when there is none.
    public func claim(worker: String, shard: Shard, lease: TimeInterval) throws(CatalogueError) -> ClaimedJob? {
        try session.transaction("claim a job") { link in
            try link.execute("""
                UPDATE cliptrace.job SET state = 'failed', finished_at = now(), lease_until = NULL,
                    error = 'the job was abandoned ' || attempts || ' times: its worker stopped while scanning it'
                WHERE state = 'running' AND lease_until < now() AND attempts >= \(Self.maximumAttempts)
                  AND shard_count = \(shard.count) AND shard = \(shard.index)
                """)
            let rows = try link.query("""
                UPDATE cliptrace.job SET state = 'running', worker = \(worker), attempts = attempts + 1,
                    lease_until = now() + make_interval(secs => \(lease)), started_at = now()
                WHERE id = (SELECT id FROM cliptrace.job
                            WHERE shard_count = \(shard.count) AND shard = \(shard.index)
                              AND (state = 'queued' OR (state = 'running' AND lease_until < now()))
                            ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
                RETURNING id, batch_id, position, input, display, attempts
                """)
            guard let row = rows.first else { return nil }
            let (id, batch, position, input, display, attempt) = try row.decode((Int64, Int64, Int, String, String, Int).self)
            // Read after the claim, in the same transaction: the job's batch was committed after any clip
            // registered before it, so this generation counts those clips.
            let generation = try link.query("SELECT generation FROM cliptrace.catalogue").first?.decode(Int64.self) ?? 0
            return ClaimedJob(id: id, batch: batch, position: position, input: input, display: display, shard: shard,
                              attempt: attempt, catalogueGeneration: generation)
        }
    }

    /// Extends the leases of `jobs`; returns the ids still held (a job whose lease ran out and was claimed by
    /// another worker is no longer).
    public func renew(_ jobs: [ClaimedJob], worker: String, lease: TimeInterval) throws(CatalogueError) -> Set<Int64> {
        guard !jobs.isEmpty else { return [] }
        return try session.withConnection { link in
            let rows = try link.query("""
                UPDATE cliptrace.job AS j SET lease_until = now() + make_interval(secs => \(lease))
                FROM unnest(\(jobs.map(\.id))::bigint[], \(jobs.map(\.attempt))::bigint[]) AS held(id, attempt)
                WHERE j.id = held.id AND j.attempts = held.attempt AND j.worker = \(worker) AND j.state = 'running'
                RETURNING j.id
                """)
            return Set(try rows.map { try $0.decode(Int64.self) })
        }
    }

    /// Writes a job's outcome and marks it done (or failed, when its input could not be scanned), in one
    /// statement; false when the job was no longer this worker's (its lease ran out and another claimed it):
    /// the other worker's result is the one kept.
    public func complete(_ job: ClaimedJob, worker: String, result: Data, failed: Bool, error: String?)
        throws(CatalogueError) -> Bool
    {
        try session.withConnection { link in
            if try link.execute("""
                UPDATE cliptrace.job SET state = \(failed ? "failed" : "done"), result = \(result), error = \(error),
                    finished_at = now(), lease_until = NULL
                WHERE id = \(job.id) AND attempts = \(job.attempt) AND worker = \(worker) AND state = 'running'
                """) == 1 { return true }
            // A retry after a reply lost on the way: the first attempt may have been committed.
            return try link.query("""
                SELECT count(*) FROM cliptrace.job
                WHERE id = \(job.id) AND attempts = \(job.attempt) AND worker = \(worker) AND state IN ('done', 'failed')
                """).first?.decode(Int.self) == 1
        }
    }

    /// Gives a job back to the queue (a worker stopping before it finished).
    public func release(_ job: ClaimedJob, worker: String) throws(CatalogueError) {
        try session.withConnection { link in
            try link.execute("""
                UPDATE cliptrace.job SET state = 'queued', worker = NULL, lease_until = NULL, attempts = attempts - 1
                WHERE id = \(job.id) AND attempts = \(job.attempt) AND worker = \(worker) AND state = 'running'
                """)
        }
    }

    /// Records that `worker` is alive and which shard it serves (for `jobs` and `submit`'s default shards).
    public func heartbeat(worker: String, shard: Shard, host: String, started: Date) throws(CatalogueError) {
        try session.withConnection { link in
            try link.execute("""
                INSERT INTO cliptrace.worker (name, shard, shard_count, host, started_at, seen_at)
                VALUES (\(worker), \(shard.index), \(shard.count), \(host), \(started), now())
                ON CONFLICT (name) DO UPDATE SET shard = excluded.shard, shard_count = excluded.shard_count,
                    host = excluded.host, seen_at = now()
                """)
        }
    }

    public func removeWorker(_ worker: String) throws(CatalogueError) {
        try session.withConnection { link in try link.execute("DELETE FROM cliptrace.worker WHERE name = \(worker)") }
    }

    /// A worker seen recently.
    public struct WorkerStatus: Sendable, Hashable {
        public var name: String
        public var shard: Shard
        public var host: String
        public var secondsSinceSeen: Double
    }

    /// Workers seen within `seconds`.
    public func workers(seenWithin seconds: TimeInterval) throws(CatalogueError) -> [WorkerStatus] {
        try session.withConnection { link in
            try link.query("""
                SELECT name, shard, shard_count, host, extract(epoch FROM now() - seen_at)::float8 FROM cliptrace.worker
                WHERE seen_at > now() - make_interval(secs => \(seconds)) ORDER BY shard_count, shard, name
                """).compactMap { row in
                let (name, shard, count, host, age) = try row.decode((String, Int, Int, String, Double).self)
                guard count >= 1, (0..<count).contains(shard) else { return nil }
                return WorkerStatus(name: name, shard: Shard(index: shard, count: count), host: host, secondsSinceSeen: age)
            }
        }
    }

    /// Jobs by state, for one batch or all.
    public func counts(batch: Int64? = nil) throws(CatalogueError) -> [State: Int] {
        try session.withConnection { link in
            var counts: [State: Int] = [:]
            for state in State.allCases { counts[state] = 0 }
            for row in try link.query("""
                SELECT state, count(*) FROM cliptrace.job WHERE \(batch)::bigint IS NULL OR batch_id = \(batch) GROUP BY state
                """) {
                let (state, count) = try row.decode((String, Int).self)
                if let known = State(rawValue: state) { counts[known] = count }
            }
            return counts
        }
    }

    public struct BatchInfo: Sendable, Hashable {
        public var id: Int64
        public var inputs: Int
        public var shardCount: Int
        public var submittedAt: Date
        public var counts: [State: Int]
    }

    public func batch(_ id: Int64) throws(CatalogueError) -> BatchInfo? {
        try batches(id: id).first
    }

    /// The latest batches, newest first.
    public func batches(limit: Int = 20) throws(CatalogueError) -> [BatchInfo] { try batches(id: nil, limit: limit) }

    private func batches(id: Int64?, limit: Int = 1) throws(CatalogueError) -> [BatchInfo] {
        try session.withConnection { link in
            try link.query("""
                SELECT b.id, b.inputs, b.shard_count, b.submitted_at,
                       count(*) FILTER (WHERE j.state = 'queued'), count(*) FILTER (WHERE j.state = 'running'),
                       count(*) FILTER (WHERE j.state = 'done'), count(*) FILTER (WHERE j.state = 'failed')
                FROM cliptrace.batch b LEFT JOIN cliptrace.job j ON j.batch_id = b.id
                WHERE \(id)::bigint IS NULL OR b.id = \(id)
                GROUP BY b.id ORDER BY b.id DESC LIMIT \(limit)
                """).map { row in
                let (id, inputs, shards, submitted, queued, running, done, failed) =
                    try row.decode((Int64, Int, Int, Date, Int, Int, Int, Int).self)
                return BatchInfo(id: id, inputs: inputs, shardCount: shards, submittedAt: submitted,
                                 counts: [.queued: queued, .running: running, .done: done, .failed: failed])
            }
        }
    }

    /// A finished job's outcome.
    public struct Outcome: Sendable {
        public var position: Int
        public var shard: Int
        public var display: String
        public var state: State
        public var result: Data?
        public var error: String?
    }

    /// The inputs of `batch` whose every shard has finished, among `positions` (all when nil), with each shard's
    /// outcome, by position.
    public func finishedInputs(batch: Int64, excluding done: Set<Int> = []) throws(CatalogueError) -> [Int: [Outcome]] {
        try session.withConnection { link in
            let rows = try link.query("""
                SELECT position, shard, display, state, result, error FROM cliptrace.job j
                WHERE batch_id = \(batch) AND NOT (position = ANY(\(Array(done))::bigint[]))
                  AND NOT EXISTS (SELECT 1 FROM cliptrace.job o WHERE o.batch_id = j.batch_id AND o.position = j.position
                                  AND o.state IN ('queued', 'running'))
                ORDER BY position, shard
                """)
            var outcomes: [Int: [Outcome]] = [:]
            for row in rows {
                let (position, shard, display, state, result, error) =
                    try row.decode((Int, Int, String, String, Data?, String?).self)
                outcomes[position, default: []].append(Outcome(
                    position: position, shard: shard, display: display, state: State(rawValue: state) ?? .failed,
                    result: result, error: error))
            }
            return outcomes
        }
    }
}
