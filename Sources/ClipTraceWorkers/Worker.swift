import ClipTraceCatalogue
import ClipTraceExtraction
import ClipTraceIndex
import ClipTraceMatching
import ClipTracePostgres
import ClipTraceScanning
import Foundation
import Logging
import NIOCore
import PostgresNIO

/// How a worker runs.
public struct WorkerOptions: Sendable {
    /// The part of the catalogue this worker searches; a batch's job for shard K goes to a worker of shard K.
    public var shard: Shard = .whole
    /// Jobs scanned at once.
    public var jobs: Int = 1
    /// Seconds a claim holds a job without renewal; a dead worker's jobs return to the queue after this.
    public var lease: TimeInterval = 60
    /// Longest wait between looks at the queue when no notification comes.
    public var pollInterval: TimeInterval = 2
    /// After SIGTERM, seconds to let the jobs in hand finish before they are given back to the queue.
    public var grace: TimeInterval = 30
    /// Unique among workers: host and process id by default.
    public var name: String = "\(ProcessInfo.processInfo.hostName)-\(getpid())"
    public var extraction: ExtractionOptions = .query
    public var matching = MatchingOptions()
    public var strategy: SearchStrategy = .auto
    public var corners: CornerSearch = .auto

    public init() {}
}

/// Claims scan jobs of one shard from the catalogue's queue and writes their results, until stopped.
///
/// The search index is the shard's, saved on this machine's disk (``PersistedIndex``) and brought up to date
/// before a job whenever the catalogue's generation moved: a clip registered before a job was submitted is
/// searched by that job. Notifications (`LISTEN`) wake an idle worker at once when jobs are submitted or clips
/// registered; without them it looks again every ``WorkerOptions/pollInterval`` seconds.
public final class ScanWorker: @unchecked Sendable {
    public let catalogue: PostgresCatalogue
    public let options: WorkerOptions
    public var logger: Logger
    let queue: JobQueue
    private let state = WorkerState()
    private let wakeup = Wakeup()

    public init(catalogue: PostgresCatalogue, options: WorkerOptions, logger: Logger = Logger(label: "cliptrace.worker")) {
        self.catalogue = catalogue
        self.options = options
        self.logger = logger
        queue = JobQueue(catalogue: catalogue)
    }

    /// Asks the worker to stop: no new claims; jobs in hand get ``WorkerOptions/grace`` seconds to finish.
    public func stop() {
        state.stopping = true
        wakeup.signal()
    }

    /// Jobs completed so far by this worker.
    public var completed: Int { state.completed }

    /// Runs until ``stop()``: loads the shard's index, then claims and scans jobs.
    public func run() async throws {
        let started = Date()
        try await blocking { [self] in try refreshScanner(toAtLeast: nil) }
        logger.info("worker ready", metadata: [
            "worker": "\(options.name)", "shard": "\(options.shard)", "clips": "\(state.scanner?.matcher.clips.count ?? 0)",
            "jobs": "\(options.jobs)", "seconds": "\(String(format: "%.2f", Date().timeIntervalSince(started)))",
        ])
        let listener = Task { await listen() }
        defer { listener.cancel() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { [self] in await keepLeases(started: started) }
            for slot in 0..<options.jobs {
                group.addTask { [self] in try await work(slot: slot) }
            }
            // The slots end when stopping; the lease keeper ends after them.
            var slotsLeft = options.jobs
            while slotsLeft > 0, try await group.next() != nil { slotsLeft -= 1 }
            group.cancelAll()
        }
        try? await blocking { [self] in try queue.removeWorker(options.name) }
        logger.info("worker stopped", metadata: ["worker": "\(options.name)", "completed": "\(state.completed)"])
    }

    // MARK: - Slots

    private func work(slot: Int) async throws {
        while !state.stopping {
            let job: JobQueue.ClaimedJob?
            do {
                job = try await blocking { [self] () throws -> JobQueue.ClaimedJob? in
                    try queue.claim(worker: options.name, shard: options.shard, lease: options.lease)
                }
            } catch {
                logger.error("cannot claim a job: \(ClipScanner.sentence(for: error))", metadata: ["worker": "\(options.name)"])
                await wakeup.wait(seconds: options.pollInterval)
                continue
            }
            guard let job else {
                await wakeup.wait(seconds: options.pollInterval)
                continue
            }
            state.hold(job)
            do {
                // Clips registered before the job was submitted must be searched: the index catches up first.
                try await blocking { [self] in try refreshScanner(toAtLeast: job.catalogueGeneration) }
            } catch {
                logger.error("cannot bring the index up to date: \(ClipScanner.sentence(for: error)); the job goes back to the queue",
                             metadata: ["job": "\(job.id)"])
                try? await blocking { [self] in try queue.release(job, worker: options.name) }
                state.drop(job)
                await wakeup.wait(seconds: options.pollInterval)
                continue
            }
            let outcome = await scanInBackground(job)
            guard let outcome else {
                // Stopping and out of grace: the job goes back to the queue for another worker.
                try? await blocking { [self] in try queue.release(job, worker: options.name) }
                state.drop(job)
                logger.notice("job given back", metadata: ["job": "\(job.id)", "input": "\(job.display)"])
                return
            }
            await finish(job, with: outcome)
            state.drop(job)
        }
    }

    /// The job's scan, or nil when the worker must stop before it ends (SIGTERM and the grace ran out).
    private func scanInBackground(_ job: JobQueue.ClaimedJob) async -> ShardScan? {
        guard let scanner = state.scanner else { return nil }
        let started = Date()
        let box = ResultBox()
        // A shard keeps what the whole catalogue's steps need; `results` weighs and aligns over every shard.
        let shard = options.shard
        let thread = Thread { box.set(scanner.gather(path: job.input, shard: shard)) }
        thread.stackSize = 8 << 20
        thread.start()
        while true {
            if let result = box.get() {
                logger.debug("scanned", metadata: [
                    "job": "\(job.id)", "input": "\(job.display)",
                    "candidates": "\(result.candidates.hashes.count + result.candidates.corners.count)",
                    "seconds": "\(String(format: "%.2f", Date().timeIntervalSince(started)))",
                ])
                return result
            }
            if let since = state.stoppedAt, Date().timeIntervalSince(since) > options.grace { return nil }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    private func finish(_ job: JobQueue.ClaimedJob, with result: ShardScan) async {
        let encoded: Data
        do {
            encoded = try result.encoded()
        } catch {
            logger.error("cannot encode a result: \(error)", metadata: ["job": "\(job.id)"])
            return
        }
        // A completion that cannot reach the server is retried while the lease may still hold.
        for attempt in 0..<5 {
            do {
                let kept = try await blocking { [self] in
                    try queue.complete(job, worker: options.name, result: encoded, failed: result.error != nil,
                                       error: result.error)
                }
                if kept {
                    state.completed += 1
                    logger.info("job done", metadata: [
                        "job": "\(job.id)", "batch": "\(job.batch)", "input": "\(job.display)",
                        "shard": "\(job.shard)", "clips_named": "\(result.clips.count)",
                        "error": "\(result.error ?? "")",
                    ])
                } else {
                    logger.warning("job lost: its lease ran out and another worker took it; this result is dropped",
                                   metadata: ["job": "\(job.id)", "input": "\(job.display)"])
                }
                return
            } catch {
                logger.error("cannot record a job's result (try \(attempt + 1)): \(ClipScanner.sentence(for: error))",
                             metadata: ["job": "\(job.id)"])
                try? await Task.sleep(for: .seconds(min(options.lease / 4, Double(1 << attempt))))
            }
        }
    }

    // MARK: - Leases, index, notifications

    private func keepLeases(started: Date) async {
        var lastHeartbeat = Date.distantPast
        while !Task.isCancelled {
            let held = state.held
            if !held.isEmpty {
                do {
                    let kept = try await blocking { [self] in
                        try queue.renew(held, worker: options.name, lease: options.lease)
                    }
                    // A job finished meanwhile is no longer held: only those still held were lost.
                    let stillHeld = Set(state.held.map(JobKey.init))
                    for job in held where !kept.contains(job.id) && stillHeld.contains(JobKey(job)) {
                        logger.warning("lease lost: another worker may scan this job again", metadata: [
                            "job": "\(job.id)", "input": "\(job.display)"])
                    }
                } catch {
                    logger.error("cannot renew leases: \(ClipScanner.sentence(for: error))")
                }
            }
            if Date().timeIntervalSince(lastHeartbeat) >= min(10, options.lease / 2) {
                lastHeartbeat = Date()
                try? await blocking { [self] in
                    try queue.heartbeat(worker: options.name, shard: options.shard,
                                        host: ProcessInfo.processInfo.hostName, started: started)
                }
            }
            try? await Task.sleep(for: .seconds(max(0.2, options.lease / 3)))
        }
    }

    /// Opens the shard's index (brought up to date with the catalogue) unless the one in use already is of
    /// `generation` or later; nil opens it unconditionally. One refresh at a time: the slots that wait find it
    /// done. A scanner is never replaced by an older one.
    private func refreshScanner(toAtLeast generation: Int64?) throws {
        try state.refreshing.withLock {
            if let generation, state.generation >= generation { return }
            let current = try catalogue.generation()
            let began = Date()
            let shardCatalogue = ShardedCatalogue(catalogue, shard: options.shard)
            let logger = self.logger
            var scanner = try ClipScanner(catalogue: shardCatalogue, jobs: options.jobs, extraction: options.extraction,
                                          matching: options.matching, strategy: options.strategy, corners: options.corners) {
                note in logger.notice("\(note)")
            }
            scanner.logger = logger
            for damaged in scanner.damaged {
                logger.warning("clip \(damaged.record.id) is not searched: its fingerprint is damaged (\(damaged.problem))")
            }
            let replaced = state.generation >= 0
            state.install(scanner, generation: current)
            if replaced {
                logger.info("catalogue changed: index brought up to date", metadata: [
                    "clips": "\(scanner.matcher.clips.count)", "generation": "\(current)",
                    "seconds": "\(String(format: "%.2f", Date().timeIntervalSince(began)))",
                ])
            }
        }
    }

    /// Wakes idle slots when jobs are submitted or clips registered. Best effort: polling covers a lost
    /// connection.
    private func listen() async {
        while !Task.isCancelled && !state.stopping {
            do {
                let connection = try await blocking { [self] in try PostgresSession.connect(catalogue.location, logger: logger) }
                do {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for channel in [JobQueue.submitChannel, PostgresCatalogue.changeChannel] {
                            group.addTask { [self] in
                                try await connection.listen(on: channel) { notifications in
                                    for try await _ in notifications { wakeup.signal() }
                                }
                            }
                        }
                        try await group.next()
                        group.cancelAll()
                    }
                } catch {
                    try? await connection.close()
                    throw error
                }
                try? await connection.close()
            } catch {
                logger.debug("notifications unavailable, polling: \(error)")
            }
            try? await Task.sleep(for: .seconds(options.pollInterval))
        }
    }
}

/// Database calls and index loading block: off Swift's cooperative pool, as the scanner decodes.
func blocking<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await ClipScanner.offCooperativePool(work)
}

/// What the slots share, behind a lock.
final class WorkerState: @unchecked Sendable {
    private let lock = NSLock()
    private var _scanner: ClipScanner?
    private var _generation: Int64 = -1
    private var _held: [JobKey: JobQueue.ClaimedJob] = [:]
    /// Held while the index is (re)loaded: one load at a time.
    let refreshing = NSLock()
    private var _stoppedAt: Date?
    private var _completed = 0

    var scanner: ClipScanner? { lock.withLock { _scanner } }
    var generation: Int64 { lock.withLock { _generation } }
    var held: [JobQueue.ClaimedJob] { lock.withLock { Array(_held.values) } }
    var stoppedAt: Date? { lock.withLock { _stoppedAt } }
    var completed: Int {
        get { lock.withLock { _completed } }
        set { lock.withLock { _completed = newValue } }
    }
    var stopping: Bool {
        get { lock.withLock { _stoppedAt != nil } }
        set { lock.withLock { if newValue, _stoppedAt == nil { _stoppedAt = Date() } } }
    }

    func install(_ scanner: ClipScanner, generation: Int64) {
        lock.withLock {
            guard generation >= _generation else { return }
            _scanner = scanner
            _generation = generation
        }
    }

    func hold(_ job: JobQueue.ClaimedJob) { lock.withLock { _held[JobKey(job)] = job } }
    func drop(_ job: JobQueue.ClaimedJob) { lock.withLock { _held[JobKey(job)] = nil } }
}

/// A claim: the same job claimed again (after its lease ran out) is another claim.
struct JobKey: Hashable {
    var id: Int64
    var attempt: Int
    init(_ job: JobQueue.ClaimedJob) {
        id = job.id
        attempt = job.attempt
    }
}

final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value: ShardScan?
    func set(_ result: ShardScan) { lock.withLock { value = result } }
    func get() -> ShardScan? { lock.withLock { value } }
}

/// Lets idle slots sleep until a notification or a timeout. A counter, looked at every 50 ms: a signal that
/// comes between two looks is not lost, and nothing is left waiting when the timeout wins.
final class Wakeup: @unchecked Sendable {
    private let lock = NSLock()
    private var signals = 0

    func signal() { lock.withLock { signals += 1 } }

    func wait(seconds: TimeInterval) async {
        let seen = lock.withLock { signals }
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline, lock.withLock({ signals }) == seen, !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(50))
        }
    }
}
