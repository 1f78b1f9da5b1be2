import ArgumentParser
import ClipTraceCatalogue
import ClipTraceDecoding
import ClipTraceExtraction
import ClipTraceMatching
import ClipTraceScanning
import Foundation
import Logging
import AsyncHTTPClient
import NIOCore

struct WatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Watch live streams and say while a registered clip is being re-streamed.",
        discussion: """
            Each SOURCE is anything FFmpeg's protocols open: rtmp://, srt://, udp://, rtp://, tcp://, an http(s) \
            HLS playlist (.m3u8), an MPEG-TS file still being written, or - for standard input. Sources are watched \
            at once, each on its own thread.

            Events are JSON lines on stdout, one object per event, written as they happen: source_connected, \
            match_started (as soon as the evidence reaches the decision score: reference, reference_id, owner, \
            stream_time, copy_started_at, reference_time, score), match_ended (when the copy has been absent for a \
            few seconds, with the whole two-sided segment as `scan` reports it), source_lost, source_ended, error. \
            Times: `time` is the wall clock of the event; `stream_time` and query_start/query_end count seconds of \
            stream since the watch connected, continued across reconnections.

            --record DIR keeps the stream's own packets (no re-encoding) in segment files of about ten seconds and \
            deletes those that hold no match; match_ended lists the files holding its copy, which `scan` and the \
            HTML report can use afterwards.

            --reconnect retries a lost source (and a network source that ended) with backoff until stopped. \
            --webhook URL also POSTs each event as JSON, retrying with backoff, without ever holding up the stream. \
            SIGINT or SIGTERM ends every open match with match_ended and exits with status 0.
            """)

    @OptionGroup var catalogueOptions: CatalogueOptions

    @Option(name: .long, help: "A source that sends nothing for this many seconds is lost.")
    var readTimeout: Double = WatchOptions().readTimeout

    @Flag(name: .long, help: "Reconnect to a lost source with backoff (0.5 s, doubling, up to 30 s) until stopped.")
    var reconnect = false

    @Option(name: .long, help: ArgumentHelp("Also POST each event as JSON to this http(s) URL.", valueName: "URL"))
    var webhook: String?

    @Option(name: .long, help: ArgumentHelp("Keep the stream's video around each match in this folder (.ts segment files, named in match_ended's \"recording\"); created when missing.", valueName: "DIR"))
    var record: String?

    @Option(name: .long, help: "A match ends after its clip has been absent from the stream for this many seconds.")
    var absence: Double = WatchOptions().absence

    @Option(name: .long, help: "Ignore matches scoring below this (0-1); a match starts at the decision score.")
    var minScore: Double = MatchingOptions().minimumScore

    @Option(name: .long, help: ArgumentHelp("Corner search for cropped copies: auto, on or off.", valueName: "auto|on|off"))
    var cropSearch: CornerSearch = .auto

    @OptionGroup var outputOptions: OutputOptions

    @Argument(help: "Stream URLs, growing files, or - for standard input.")
    var sources: [String]

    func validate() throws {
        if sources.isEmpty { throw ValidationError("Give at least one source to watch.") }
        if sources.filter({ $0 == "-" }).count > 1 { throw ValidationError("Standard input (-) can be watched once.") }
        if !(readTimeout > 0) { throw ValidationError("--read-timeout must be more than zero seconds.") }
        if !(absence > 0) { throw ValidationError("--absence must be more than zero seconds.") }
        if !(0...1).contains(minScore) { throw ValidationError("--min-score must be between 0 and 1.") }
        if let record {
            var isFolder: ObjCBool = false
            if FileManager.default.fileExists(atPath: record, isDirectory: &isFolder), !isFolder.boolValue {
                throw ValidationError("--record must be a folder: \(record) exists and is not one.")
            }
        }
        if let webhook {
            guard let url = URL(string: webhook), ["http", "https"].contains(url.scheme?.lowercased() ?? ""), url.host != nil else {
                throw ValidationError("--webhook must be an http:// or https:// URL.")
            }
        }
    }

    func run() async throws {
        let logger = outputOptions.logger("cliptrace.watch")
        let catalogue = try catalogueOptions.open(.read)
        var matching = MatchingOptions()
        matching.minimumScore = minScore
        var extraction = ExtractionOptions.query
        // FFmpeg's threads are shared out among the sources.
        extraction.decoding.threads = max(1, ProcessInfo.processInfo.activeProcessorCount / sources.count)
        let scanner: ClipScanner
        do {
            let quiet = outputOptions.quiet
            scanner = try ClipScanner(catalogue: catalogue, jobs: sources.count, extraction: extraction,
                                      matching: matching, corners: cropSearch) { note in
                if !quiet { Terminal.info("cliptrace: \(note)") }
            }
        } catch {
            Terminal.error(ClipScanner.sentence(for: error))
            throw ExitStatus.fatal
        }
        if scanner.matcher.clips.isEmpty {
            Terminal.warning("the catalogue \(catalogue.name) has no clips to search; nothing can match")
        }
        var options = WatchOptions()
        options.readTimeout = readTimeout
        options.reconnect = reconnect
        options.absence = absence
        if let record {
            do {
                try FileManager.default.createDirectory(atPath: record, withIntermediateDirectories: true)
            } catch {
                Terminal.error("The folder for recordings cannot be created: \(record) (\(error.localizedDescription)).")
                throw ExitStatus.fatal
            }
            options.recordDirectory = (record as NSString).standardizingPath
        }
        let watcher = LiveWatcher(scanner: scanner, options: options) { source, warning in
            logger.warning("\(warning)", metadata: ["source": "\(source)"])
        }
        let webhookSender = webhook.flatMap(URL.init(string:)).map { WebhookSender(url: $0, logger: logger) }
        let events = EventPrinter(webhook: webhookSender)

        let cancellation = DecodingCancellation()
        let stop = StopSignals { cancellation.cancel() }
        defer { withExtendedLifetime(stop) {} }
        if !outputOptions.quiet {
            Terminal.info("cliptrace: watching \(sources.count) source(s) against \(scanner.matcher.clips.count) clip(s); SIGINT or SIGTERM stops")
        }
        await withTaskGroup(of: Void.self) { group in
            for source in sources {
                group.addTask {
                    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                        let thread = Thread {
                            watcher.watch(source: source, cancellation: cancellation) { event in
                                events.print(event)
                                logger.debug("event", metadata: ["event": "\(event.kind.rawValue)", "source": "\(source)"])
                            }
                            continuation.resume()
                        }
                        thread.stackSize = 8 << 20
                        thread.start()
                    }
                }
            }
        }
        await webhookSender?.finish(waitingAtMost: 10)
        if events.failed {
            Terminal.error("the events could not be written to standard output")
            throw ExitStatus.fatal
        }
    }
}

/// Prints events as JSON lines, flushed at once, from any thread; hands each to the webhook.
final class EventPrinter: @unchecked Sendable {
    private let lock = NSLock()
    private let webhook: WebhookSender?
    private(set) var failed = false

    init(webhook: WebhookSender?) {
        self.webhook = webhook
    }

    func print(_ event: WatchEvent) {
        guard let line = try? ReportWriter.json(event) else { return }
        lock.withLock {
            do {
                try OutputSink(.standardOutput).write(line + "\n")
            } catch {
                failed = true
            }
        }
        webhook?.send(Data(line.utf8))
    }
}

/// POSTs events to a URL in order, each retried with backoff, on its own task so the stream never waits.
final class WebhookSender: Sendable {
    let url: URL
    private let queue: AsyncStream<Data>.Continuation
    private let delivery: Task<Void, Never>

    /// Attempts per event (about a minute of backoff in all) before it is given up, with a warning.
    static let attempts = 10

    init(url: URL, logger: Logger) {
        self.url = url
        let (stream, continuation) = AsyncStream<Data>.makeStream(bufferingPolicy: .bufferingNewest(100_000))
        queue = continuation
        delivery = Task {
            let client = HTTPClient(eventLoopGroupProvider: .singleton)
            var abandoned = 0
            for await body in stream {
                if Task.isCancelled {
                    abandoned += 1
                    continue
                }
                var delay = 0.25
                for attempt in 1...Self.attempts {
                    if Task.isCancelled {
                        abandoned += 1
                        break
                    }
                    var request = HTTPClientRequest(url: url.absoluteString)
                    request.method = .POST
                    request.headers.add(name: "Content-Type", value: "application/json")
                    request.body = .bytes(ByteBuffer(bytes: body))
                    do {
                        let response = try await client.execute(request, timeout: .seconds(10))
                        // The answer's body is not needed, but must be read (or dropped) to free the connection.
                        _ = try? await response.body.collect(upTo: 1 << 20)
                        let status = Int(response.status.code)
                        if (200..<300).contains(status) { break }
                        logger.warning("webhook answered HTTP \(status) (attempt \(attempt) of \(Self.attempts))")
                    } catch {
                        logger.warning("webhook could not be reached: \(error) (attempt \(attempt) of \(Self.attempts))")
                    }
                    if attempt == Self.attempts {
                        Terminal.warning("an event could not be delivered to the webhook \(url.absoluteString) after \(Self.attempts) attempts")
                        break
                    }
                    try? await Task.sleep(for: .seconds(delay))
                    delay = min(10, delay * 2)
                }
            }
            if abandoned > 0 {
                Terminal.warning("\(abandoned) event(s) were not delivered to the webhook \(url.absoluteString) before exit")
            }
            try? await client.shutdown()
        }
    }

    func send(_ body: Data) { queue.yield(body) }

    /// Delivers what is queued, for at most `seconds`.
    func finish(waitingAtMost seconds: Double) async {
        queue.finish()
        let delivery = self.delivery
        let timeout = Task {
            try? await Task.sleep(for: .seconds(seconds))
            delivery.cancel()
        }
        await delivery.value
        timeout.cancel()
    }
}

/// SIGINT and SIGTERM call `stop` once (the watch ends its matches and exits); a second signal exits at once.
final class StopSignals: @unchecked Sendable {
    private var sources: [DispatchSourceSignal] = []
    private let lock = NSLock()
    private var stopped = false

    init(stop: @escaping @Sendable () -> Void) {
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { [weak self] in
                guard let self else { return }
                let first = self.lock.withLock { () -> Bool in
                    defer { self.stopped = true }
                    return !self.stopped
                }
                if first { stop() } else { exit(128 + signalNumber) }
            }
            source.resume()
            sources.append(source)
        }
    }
}
