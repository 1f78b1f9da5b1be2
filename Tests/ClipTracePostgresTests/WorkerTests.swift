import ClipTraceCatalogue
import ClipTracePostgres
import Foundation
import TestSupport
import Testing

/// submit, worker, results and jobs against a real PostgreSQL server, with real workers (the cliptrace binary)
/// started, stopped and killed by the tests.
@Suite("Job queue and workers", .serialized)
struct WorkerTests {
    static let references = PostgresCatalogueTests.references
    static let recordings = Repository.path("testmedia/recordings")

    /// A `cliptrace worker` process with its log in a file (a pipe nobody reads could stall it).
    final class WorkerProcess {
        let process = Process()
        let log: String

        init(binary: String, catalogue: String, arguments: [String], log: String, environment: [String: String] = [:]) throws {
            self.log = log
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = ["worker", "--catalogue", catalogue, "--jobs", "1", "--poll-interval", "0.5"] + arguments
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
        }

        func signal(_ number: Int32) { kill(process.processIdentifier, number) }

        /// Waits (bounded) for the process to end; true when it did.
        func waitForExit(seconds: Double) -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while process.isRunning && Date() < deadline { usleep(50_000) }
            return !process.isRunning
        }

        var output: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

        deinit {
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
        }
    }

    static func prepared(_ server: PostgresServer, references: [String] = references) throws -> (url: String, binary: String) {
        let url = try server.makeDatabase()
        let binary = try Repository.cliptraceBinary()
        let registered = try run(binary, ["register", "-q", "--catalogue", url] + references)
        #expect(registered.status == 0, "\(registered.stderr)")
        return (url, binary)
    }

    static func submit(_ binary: String, _ url: String, _ inputs: [String], shards: Int = 1) throws -> String {
        let submitted = try run(binary, ["submit", "-q", "--catalogue", url, "--shards", String(shards)] + inputs)
        #expect(submitted.status == 0, "\(submitted.stderr)")
        return submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func sortedLines(_ text: String) -> [String] { text.split(separator: "\n").map(String.init).sorted() }

    @Test("one shard: submit, a worker and results give exactly the records of a local scan, in every format")
    func sameAsLocalScan() throws {
        let server = try PostgresServer.shared()
        let (url, binary) = try Self.prepared(server)
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let batch = try Self.submit(binary, url, [Self.recordings])
        // A fresh machine: the worker's cache folder does not exist yet, and the shard's index is saved there.
        let cache = folder.file("cache")
        let worker = try WorkerProcess(binary: binary, catalogue: url, arguments: ["--name", "solo"], log: folder.file("w.log"),
                                       environment: ["XDG_CACHE_HOME": cache])
        let results = try run(binary, ["results", "-q", "--catalogue", url, "--wait", batch], timeout: 300)
        #expect(results.status == 0, "\(results.stderr)\n\(worker.output)")
        let local = try run(binary, ["scan", "-q", "-j", "1", "--catalogue", url, Self.recordings])
        #expect(Self.sortedLines(results.stdout) == Self.sortedLines(local.stdout))
        #expect(Self.sortedLines(results.stdout).count == 13)
        let saved = (try? FileManager.default.contentsOfDirectory(atPath: "\(cache)/cliptrace/index")) ?? []
        #expect(saved.count == 1 && !worker.output.contains("in memory"), "\(saved) \(worker.output)")
        let csv = try run(binary, ["results", "-q", "--catalogue", url, "--format", "csv", batch])
        let localCSV = try run(binary, ["scan", "-q", "--catalogue", url, "--format", "csv", Self.recordings])
        #expect(Self.sortedLines(csv.stdout) == Self.sortedLines(localCSV.stdout))
        // The HTML page has a card per match, as scan's does; the JSON document lists every file.
        let page = folder.file("report.html"), localPage = folder.file("local.html")
        #expect(try run(binary, ["results", "-q", "--catalogue", url, "--format", "html", "-o", page, batch]).status == 0)
        #expect(try run(binary, ["scan", "-q", "--catalogue", url, "--format", "html", "-o", localPage, Self.recordings]).status == 0)
        let cards = try [page, localPage].map { try String(contentsOfFile: $0, encoding: .utf8).components(separatedBy: "class=\"card").count - 1 }
        #expect(cards[0] == 12 && cards[0] == cards[1], "\(cards)")
        let document = try run(binary, ["results", "-q", "--catalogue", url, "--format", "json", batch])
        let files = try #require(try JSONSerialization.jsonObject(with: Data(document.stdout.utf8)) as? [String: Any])["files"] as? [Any]
        #expect(files?.count == 12)
        let jobs = try run(binary, ["jobs", "--json", "--catalogue", url])
        #expect(jobs.stdout.contains("\"done\":12") && jobs.stdout.contains("\"queued\":0"), "\(jobs.stdout)")
        worker.signal(SIGTERM)
        #expect(worker.waitForExit(seconds: 30), "SIGTERM stops an idle worker")
        #expect(worker.process.terminationStatus == 0 && worker.output.contains("worker stopped"), "\(worker.output)")
    }

    @Test("two shards: each input is scanned once per shard, and results merges the shards into exactly the records of a local scan")
    func twoShards() throws {
        let server = try PostgresServer.shared()
        let (url, binary) = try Self.prepared(server)
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let batch = try Self.submit(binary, url, [Self.recordings], shards: 2)
        let workers = try (1...2).map {
            try WorkerProcess(binary: binary, catalogue: url, arguments: ["--shard", "\($0)/2"], log: folder.file("w\($0).log"))
        }
        let results = try run(binary, ["results", "-q", "--catalogue", url, "--wait", batch], timeout: 300)
        #expect(results.status == 0, "\(results.stderr)")
        // The same matches and scores as one search of the whole catalogue: every catalogue-wide step (the
        // closest frames per query frame, the weights shared among clips) ran over both shards' evidence.
        let local = try run(binary, ["scan", "-q", "-j", "1", "--catalogue", url, Self.recordings])
        #expect(Self.sortedLines(results.stdout) == Self.sortedLines(local.stdout))
        let records = try results.stdout.split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        // The compilation holds clips 2 and 3 (shards 2 and 1): one answer with both, in query order.
        let compilation = records.filter { ($0["query"] as? String)?.contains("compilation") == true }
        #expect(compilation.compactMap { $0["reference"] as? String } == ["spinning_pattern", "mandelbrot_zoom"], "\(compilation)")
        #expect(records.contains { ($0["query"] as? String)?.contains("without") == true && $0["matches"] as? Int == 0 })
        #expect(try server.sql("SELECT count(*) FROM cliptrace.job WHERE state = 'done' AND batch_id = \(batch)",
                               database: PostgresCatalogueTests.database(of: url)) == "24")
        for worker in workers { worker.signal(SIGTERM) }
        #expect(workers.allSatisfy { $0.waitForExit(seconds: 30) })
    }

    @Test("a worker killed with SIGKILL loses nothing: its lease runs out and another worker scans the job once")
    func killedWorker() throws {
        let server = try PostgresServer.shared()
        let (url, binary) = try Self.prepared(server)
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let inputs = try FileManager.default.contentsOfDirectory(atPath: Self.recordings).sorted().map { "\(Self.recordings)/\($0)" }
        let batch = try Self.submit(binary, url, inputs)
        let database = PostgresCatalogueTests.database(of: url)
        // The first worker is killed while it holds a job.
        let doomed = try WorkerProcess(binary: binary, catalogue: url, arguments: ["--lease", "3", "--name", "doomed"],
                                       log: folder.file("doomed.log"))
        var held = "0"
        for _ in 0..<400 where held == "0" {
            held = try server.sql("SELECT count(*) FROM cliptrace.job WHERE state = 'running' AND worker = 'doomed'", database: database)
            if held == "0" { usleep(25_000) }
        }
        #expect(held == "1", "the worker claimed a job")
        doomed.signal(SIGKILL)
        #expect(doomed.waitForExit(seconds: 10))
        let survivor = try WorkerProcess(binary: binary, catalogue: url, arguments: ["--lease", "3", "--name", "survivor"],
                                         log: folder.file("survivor.log"))
        let results = try run(binary, ["results", "-q", "--catalogue", url, "--wait", batch], timeout: 300)
        #expect(results.status == 0, "\(results.stderr)\n\(survivor.output)")
        let local = try run(binary, ["scan", "-q", "--catalogue", url] + inputs)
        #expect(Self.sortedLines(results.stdout) == Self.sortedLines(local.stdout))
        let states = try server.sql("SELECT state || ':' || count(*) FROM cliptrace.job WHERE batch_id = \(batch) GROUP BY state", database: database)
        #expect(states == "done:12", "\(states)")
        #expect(try server.sql("SELECT count(*) FROM cliptrace.job WHERE batch_id = \(batch) AND attempts > 1", database: database) == "1",
                "exactly the job in hand was scanned again")
        survivor.signal(SIGTERM)
        #expect(survivor.waitForExit(seconds: 30))
    }

    @Test("a clip registered while the worker runs is found by the next job, without a restart")
    func registrationWhileRunning() throws {
        let server = try PostgresServer.shared()
        let (url, binary) = try Self.prepared(server, references: [Self.references[0]])
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let worker = try WorkerProcess(binary: binary, catalogue: url, arguments: [], log: folder.file("w.log"))
        let recording = "\(Self.recordings)/stream_with_mirrored_copy.mp4"
        let before = try run(binary, ["results", "-q", "--catalogue", url, "--wait", try Self.submit(binary, url, [recording])], timeout: 120)
        #expect(before.status == 0 && before.stdout.contains("\"matches\":0"), "\(before.stdout)\(before.stderr)")
        #expect(try run(binary, ["register", "-q", "--catalogue", url, Self.references[1]]).status == 0)
        let after = try run(binary, ["results", "-q", "--catalogue", url, "--wait", try Self.submit(binary, url, [recording])], timeout: 120)
        #expect(after.status == 0 && after.stdout.contains("\"reference\":\"mandelbrot_zoom\""), "\(after.stdout)\(after.stderr)\n\(worker.output)")
        worker.signal(SIGTERM)
        #expect(worker.waitForExit(seconds: 30))
    }

    @Test("an unreadable input gets the error record scan writes; results exits 1 as scan does")
    func unreadableInput() throws {
        let server = try PostgresServer.shared()
        let (url, binary) = try Self.prepared(server, references: [Self.references[1]])
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let broken = folder.file("broken.mp4")
        try Data("not a video".utf8).write(to: URL(fileURLWithPath: broken))
        let batch = try Self.submit(binary, url, [broken])
        let worker = try WorkerProcess(binary: binary, catalogue: url, arguments: [], log: folder.file("w.log"))
        let results = try run(binary, ["results", "-q", "--catalogue", url, "--wait", batch], timeout: 120)
        let local = try run(binary, ["scan", "-q", "--catalogue", url, broken])
        #expect(results.status == 1 && local.status == 1)
        #expect(results.stdout == local.stdout && results.stdout.contains("\"error\""), "\(results.stdout)")
        let jobs = try run(binary, ["jobs", "--catalogue", url, "--batch", batch])
        #expect(jobs.stdout.contains("failed 1"), "\(jobs.stdout)")
        worker.signal(SIGTERM)
        #expect(worker.waitForExit(seconds: 30))
    }

    @Test("a claim is fenced: after its lease ran out and another worker claimed the job, a late result is dropped")
    func fencedCompletion() throws {
        let server = try PostgresServer.shared()
        let url = try server.makeDatabase()
        let catalogue = try PostgresCatalogue(url: url, access: .create)
        let queue = JobQueue(catalogue: catalogue)
        let batch = try queue.submit([JobQueue.Input(input: "/a.mp4", display: "a.mp4")], shards: 1, submittedBy: "test")
        let first = try #require(try queue.claim(worker: "slow", shard: .whole, lease: 0.3))
        #expect(try queue.claim(worker: "other", shard: .whole, lease: 30) == nil, "a leased job is not claimed twice")
        Thread.sleep(forTimeInterval: 0.6)
        #expect(try queue.renew([first], worker: "slow", lease: 30).isEmpty == false, "a lease that ran out can be renewed while nobody took the job")
        Thread.sleep(forTimeInterval: 0.1)
        // Now let it run out for good, and another worker take the job over.
        _ = try server.sql("UPDATE cliptrace.job SET lease_until = now() - interval '1 second'", database: PostgresCatalogueTests.database(of: url))
        let second = try #require(try queue.claim(worker: "fast", shard: .whole, lease: 30))
        #expect(second.id == first.id && second.attempt == first.attempt + 1)
        #expect(try queue.renew([first], worker: "slow", lease: 30).isEmpty, "the first claim is no longer held")
        #expect(try queue.complete(second, worker: "fast", result: Data("fast".utf8), failed: false, error: nil))
        #expect(try !queue.complete(first, worker: "slow", result: Data("slow".utf8), failed: false, error: nil))
        let outcomes = try queue.finishedInputs(batch: batch)
        #expect(outcomes[0]?.map(\.result) == [Data("fast".utf8)])
        #expect(try queue.counts(batch: batch)[.done] == 1)
    }

    @Test("submit, results and worker refuse a SQLite catalogue with a sentence that says why")
    func needsServer() throws {
        let binary = try Repository.cliptraceBinary()
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let refused = try run(binary, ["submit", "--catalogue", folder.file("c.sqlite"), Self.references[0]])
        #expect(refused.status == 2 && refused.stderr.contains("PostgreSQL"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder.file("c.sqlite")))
    }
}
