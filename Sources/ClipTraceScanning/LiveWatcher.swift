import ClipTraceCatalogue
import ClipTraceDecoding
import ClipTraceExtraction
import ClipTraceMatching
import ClipTraceObservations
import Foundation

/// How a live stream is watched.
public struct WatchOptions: Hashable, Sendable {
    /// A source that sends nothing for this long is lost (FFmpeg's reads are interrupted).
    public var readTimeout: Double = 10
    /// Reconnect to a lost source (and to a network source that ended), with backoff, until stopped.
    public var reconnect = false
    /// The first wait before reconnecting; it doubles with each failure up to ``maximumReconnectDelay``.
    public var reconnectDelay: Double = 0.5
    public var maximumReconnectDelay: Double = 30
    /// Evidence is collected for each piece of this many seconds of stream as it is observed...
    public var piece: Double = 0.5
    /// ...and the pieces of the last this many seconds are aligned together: what a match can see at once.
    public var window: Double = 20
    /// A match ends when its clip has been absent for this long from the observed stream (which runs about two
    /// seconds behind what is decoded: a frame is observed once the frames around it are in).
    public var absence: Double = 1.5
    /// Keep the stream's video around each match in this folder (segment files, see ``StreamRecorder``).
    public var recordDirectory: String?
    /// Seconds kept before a match's start and after its end.
    public var recordMargin: Double = 5

    public init() {}
}

/// Something a watch has to tell: a source came or went, a copy started or ended.
public struct WatchEvent: Sendable, Encodable {
    public enum Kind: String, Sendable, Encodable {
        case sourceConnected = "source_connected"
        case matchStarted = "match_started"
        case matchEnded = "match_ended"
        case sourceLost = "source_lost"
        case sourceEnded = "source_ended"
        case error
    }

    public var kind: Kind
    /// The source as given on the command line.
    public var source: String
    /// When the event was raised (wall clock).
    public var time: Date
    /// Seconds of stream seen when the event was raised (the stream's own clock, continued across reconnections).
    public var streamTime: Double?
    /// `match_started`: the copy's start; `match_ended`: the whole two-sided segment, as `scan` reports it.
    public var match: MatchRecord?
    /// `match_started`: when the copy's first frame was on air (wall clock), assuming the stream plays in real time.
    public var copyStartedAt: Date?
    public var message: String?
    /// `match_ended` with `--record`: the files holding the copy, kept as evidence.
    public var recording: [String]?
    /// `source_connected`: what the stream carries.
    public var codec: String?
    public var width: Int?
    public var height: Int?

    public init(kind: Kind, source: String, time: Date = Date(), streamTime: Double? = nil, match: MatchRecord? = nil,
                copyStartedAt: Date? = nil, message: String? = nil) {
        self.kind = kind
        self.source = source
        self.time = time
        self.streamTime = streamTime
        self.match = match
        self.copyStartedAt = copyStartedAt
        self.message = message
    }

    enum CodingKeys: String, CodingKey {
        case event, source, time, message, codec, width, height, recording
        case streamTime = "stream_time"
        case copyStartedAt = "copy_started_at"
        case referenceTime = "reference_time"
    }

    public func encode(to encoder: any Encoder) throws {
        // The match's fields sit beside the event's, as one flat object like a scan record.
        try match?.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(kind, forKey: .event)
        try container.encode(source, forKey: .source)
        try container.encode(Self.timestamp(time), forKey: .time)
        try container.encodeIfPresent(streamTime.map(MatchRecord.round), forKey: .streamTime)
        try container.encodeIfPresent(copyStartedAt.map(Self.timestamp), forKey: .copyStartedAt)
        if kind == .matchStarted, let match { try container.encode(match.referenceStart, forKey: .referenceTime) }
        try container.encodeIfPresent(message, forKey: .message)
        try container.encodeIfPresent(recording, forKey: .recording)
        try container.encodeIfPresent(codec, forKey: .codec)
        try container.encodeIfPresent(width, forKey: .width)
        try container.encodeIfPresent(height, forKey: .height)
    }

    /// ISO 8601 with milliseconds, UTC.
    public static func timestamp(_ date: Date) -> String { date.formatted(timestampStyle) }

    private static let timestampStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
}

/// Watches live sources against a catalogue: frames are observed as they arrive, each second of stream is
/// searched once (its votes kept), and the votes of a sliding window are aligned together, so the cost per
/// second of stream is constant and memory flat however long the stream runs.
public struct LiveWatcher: Sendable {
    public let scanner: ClipScanner
    public let options: WatchOptions

    /// Hears what did not stop a source (corrupt packets skipped, a concealed frame): the source and a sentence.
    public let warn: @Sendable (String, String) -> Void

    public init(scanner: ClipScanner, options: WatchOptions = WatchOptions(),
                warn: @escaping @Sendable (_ source: String, _ message: String) -> Void = { _, _ in }) {
        self.scanner = scanner
        self.options = options
        self.warn = warn
    }

    /// Watches `source` until it ends (or, with ``WatchOptions/reconnect``, until `cancellation` is cancelled),
    /// calling `emit` for each event as it happens. Blocking: run it on its own thread.
    public func watch(source: String, cancellation: DecodingCancellation, emit: @escaping @Sendable (WatchEvent) -> Void) {
        var session = Session(source: source, watcher: self, emit: emit)
        var delay = options.reconnectDelay
        var everConnected = false
        var reportedFailure = false
        while !cancellation.isCancelled {
            let outcome = session.connectAndRead(cancellation: cancellation)
            switch outcome {
            case .failedToOpen(let sentence):
                if !everConnected && !options.reconnect {
                    emit(WatchEvent(kind: .error, source: source, message: sentence))
                    return
                }
                if !reportedFailure {
                    emit(WatchEvent(kind: everConnected ? .sourceLost : .error, source: source,
                                    streamTime: everConnected ? session.streamTime : nil,
                                    message: sentence + (options.reconnect ? "; retrying" : "")))
                    reportedFailure = true
                }
            case .connected(let end):
                everConnected = true
                reportedFailure = false
                // The backoff starts again only after a connection that lasted: a server that accepts and drops
                // at once is not retried twice a second for ever.
                if session.lastConnectionSeconds >= 10 { delay = options.reconnectDelay }
                switch end {
                case .cancelled:
                    break
                case .ended where !(options.reconnect && VideoDecoder.isNetworkSource(source)) || session.lastSourceWasFinite:
                    // A file, standard input, or a network source of known length (a finished HLS playlist, a
                    // file served over HTTP) ended: reading it again would replay it.
                    session.endAll()
                    emit(WatchEvent(kind: .sourceEnded, source: source, streamTime: session.streamTime))
                    return
                case .ended, .lost:
                    let reason: String
                    if case .lost(let why) = end { reason = why } else { reason = "the sender ended the stream" }
                    emit(WatchEvent(kind: .sourceLost, source: source, streamTime: session.streamTime,
                                    message: reason + (options.reconnect ? "; reconnecting" : "")))
                    reportedFailure = true
                    guard options.reconnect else {
                        session.endAll()
                        return
                    }
                }
            }
            if cancellation.isCancelled { break }
            // Back off before the next attempt, waking early when stopped.
            let until = Date().addingTimeInterval(delay)
            while Date() < until, !cancellation.isCancelled { Thread.sleep(forTimeInterval: min(0.1, delay)) }
            delay = min(options.maximumReconnectDelay, delay * 2)
            // A copy that was on air when the source went away is over if the source stayed away too long.
            session.endAbsent(wallClockGap: true)
        }
        session.endAll()
    }

    /// A match being followed on one source: the merged extent of every window that saw it.
    struct Track {
        var best: ScanMatch
        var queryStart: Double
        var queryEnd: Double
        var referenceStart: Double
        var referenceEnd: Double
        /// Stream time of the newest evidence.
        var lastSeen: Double
        /// Recorded files holding the copy (with `--record`).
        var recordings: [String] = []

        /// Whether `match` continues this copy: the same clip on the same line through the two timelines.
        func continues(_ match: ScanMatch, tolerance: Double) -> Bool {
            guard match.clip.id == best.clip.id else { return false }
            let predicted = referenceStart + (match.match.queryStart - queryStart) * best.match.speed
            return abs(predicted - match.match.referenceStart) <= tolerance
        }

        mutating func absorb(_ match: ScanMatch) {
            let segment = match.match
            if segment.queryStart < queryStart {
                queryStart = segment.queryStart
                referenceStart = segment.referenceStart
            }
            if segment.queryEnd > queryEnd {
                queryEnd = segment.queryEnd
                referenceEnd = segment.referenceEnd
            }
            lastSeen = max(lastSeen, segment.queryEnd)
            if segment.score > best.match.score { best = match }
        }

        /// The record `scan` would print: the best window's evidence over the merged extent.
        func record(source: String) -> MatchRecord {
            var match = best
            match.match.segment.queryStart = queryStart
            match.match.segment.queryEnd = queryEnd
            match.match.segment.referenceStart = referenceStart
            match.match.segment.referenceEnd = referenceEnd
            return MatchRecord(match, query: source)
        }
    }

    enum ConnectionEnd {
        case ended
        case lost(String)
        case cancelled
    }

    enum Outcome {
        case failedToOpen(String)
        case connected(ConnectionEnd)
    }

    /// One source's state across its connections.
    struct Session {
        let source: String
        let watcher: LiveWatcher
        let emit: @Sendable (WatchEvent) -> Void
        var options: WatchOptions { watcher.options }
        /// Evidence of the pieces in the window, oldest first, with each piece's end.
        var pieces: [(end: Double, evidence: QueryEvidence)] = []
        var tracks: [Track] = []
        /// Tracks ended while their evidence is still in the window: the same segment found again is not a new copy.
        var finished: [Track] = []
        /// Stream time reached (continued across reconnections by the wall-clock time spent away).
        var streamTime = 0.0
        /// The end of the last piece searched: how far the stream has been observed.
        var observedTime = 0.0
        /// Wall clock at stream time 0 (for the wall-clock time of a copy's start).
        var streamOrigin = Date()
        var lostAt: Date?
        /// How long the last connection lasted, and whether its source declared a length (not live).
        var lastConnectionSeconds = 0.0
        var lastSourceWasFinite = false
        /// Each recent frame's time and content share: whether a copy was shown inside bars, as `scan` says it.
        var shares: [(time: Double, share: Float)] = []
        /// Kinds of search notes already logged for this stream (their text without its counts).
        var notedLimits: Set<String> = []
        /// The current connection's recorder (with `--record`) and the stream time of its decoder's zero.
        var recorder: StreamRecorder?
        var recorderOffset = 0.0

        init(source: String, watcher: LiveWatcher, emit: @escaping @Sendable (WatchEvent) -> Void) {
            self.source = source
            self.watcher = watcher
            self.emit = emit
        }

        mutating func connectAndRead(cancellation: DecodingCancellation) -> Outcome {
            let extraction = watcher.scanner.extraction
            let decoder: VideoDecoder
            do {
                decoder = try VideoDecoder(source: source, options: extraction.decoding,
                                           readTimeout: options.readTimeout, cancellation: cancellation)
            } catch {
                if error.code == .cancelled { return .connected(.cancelled) }
                return .failedToOpen(ClipScanner.sentence(for: error))
            }
            // Times continue from where the last connection stopped, plus the time spent away.
            let offset = lostAt.map { streamTime + Date().timeIntervalSince($0) } ?? streamTime
            if lostAt == nil, streamTime == 0 { streamOrigin = Date() }
            lostAt = nil
            recorder = options.recordDirectory.flatMap { decoder.startRecording(into: $0, prefix: Self.fileName(for: source)) }
            // Unkept segments must outlive the time it takes to see a match begin: the window, the margin, the
            // observation delay.
            recorder?.retention = options.window + options.recordMargin + 10
            recorderOffset = offset
            defer {
                recordKept()
                recorder?.discardUnkept()
                recorder = nil
            }
            let connectedAt = Date()
            lastSourceWasFinite = decoder.info.duration != nil
            defer { lastConnectionSeconds = Date().timeIntervalSince(connectedAt) }
            var connected = WatchEvent(kind: .sourceConnected, source: source, streamTime: offset)
            connected.codec = decoder.info.codec
            connected.width = decoder.info.width
            connected.height = decoder.info.height
            emit(connected)

            let stream = ObservationStream(options: extraction)
            let step = 1 / extraction.decoding.samplesPerSecond
            var pieceEnd = offset + options.piece
            var pending: (frames: [QueryObservations.Frame], cornerFrames: [QueryObservations.CornerFrame]) = ([], [])
            let info = decoder.info
            func piece(_ count: Int, end: Double) {
                let corners = pending.cornerFrames.prefix { $0.time <= pending.frames[count - 1].time }.count
                search(QueryObservations(duration: end, frameRate: info.frameRate, width: info.width, height: info.height,
                                         sampleRate: extraction.decoding.samplesPerSecond,
                                         frames: Array(pending.frames.prefix(count)),
                                         cornerFrames: Array(pending.cornerFrames.prefix(corners))),
                       end: end)
                pending.frames.removeFirst(count)
                pending.cornerFrames.removeFirst(corners)
            }
            // A piece is searched once a frame after its end has been observed; the last one when the stream ends.
            func flushPieces(final: Bool) {
                let taken = stream.takeObservations()
                pending.frames += taken.frames
                pending.cornerFrames += taken.cornerFrames
                while let last = pending.frames.last, last.time >= pieceEnd {
                    let count = pending.frames.prefix { $0.time < pieceEnd }.count
                    if count > 0 { piece(count, end: pieceEnd) }
                    pieceEnd += options.piece
                    if let first = pending.frames.first, first.time >= pieceEnd {
                        // A gap in the stream: the piece that holds the next frame.
                        pieceEnd += ((first.time - pieceEnd) / options.piece).rounded(.down) * options.piece + options.piece
                    }
                }
                if final, let last = pending.frames.last { piece(pending.frames.count, end: last.time + step) }
            }
            var warned = 0
            defer { for warning in decoder.warnings.dropFirst(warned) { watcher.warn(source, warning) } }
            do {
                while let sample = try decoder.nextSample() {
                    if decoder.warnings.count > warned {
                        for warning in decoder.warnings.dropFirst(warned) { watcher.warn(source, warning) }
                        warned = decoder.warnings.count
                    }
                    var shifted = sample
                    shifted.time += offset
                    streamTime = max(streamTime, shifted.time)
                    stream.push(shifted)
                    flushPieces(final: false)
                }
            } catch {
                if error.code == .cancelled || cancellation.isCancelled { return .connected(.cancelled) }
                stream.finish()
                flushPieces(final: true)
                lostAt = Date()
                return .connected(.lost(ClipScanner.sentence(for: error)))
            }
            stream.finish()
            flushPieces(final: true)
            switch decoder.endReason {
            case .cancelled?:
                return .connected(.cancelled)
            case .stalled? where source != "-" && !VideoDecoder.isNetworkSource(source):
                // A file that stopped growing for the read timeout is finished.
                lostAt = Date()
                return .connected(.ended)
            case .stalled?:
                lostAt = Date()
                return .connected(.lost(String(format: "nothing arrived for %g seconds", options.readTimeout)))
            case .readError(let why)?:
                lostAt = Date()
                return .connected(.lost("reading failed: \(why)"))
            case .endOfStream?, nil:
                lostAt = Date()
                return .connected(.ended)
            }
        }

        /// Searches one piece, aligns the window and updates the tracks.
        mutating func search(_ piece: QueryObservations, end: Double) {
            guard !piece.frames.isEmpty else { return }
            let evidence: QueryEvidence
            do {
                evidence = try watcher.scanner.evidence(for: piece)
            } catch {
                emit(WatchEvent(kind: .error, source: source, streamTime: streamTime,
                                message: ClipScanner.sentence(for: error)))
                return
            }
            // What the search had to leave out (a seeded search's clip limit, say), once per kind of note and
            // stream, as scan logs it once per file.
            for note in evidence.notes where notedLimits.insert(note.filter { !$0.isNumber }).inserted {
                watcher.warn(source, note)
            }
            observedTime = max(observedTime, end)
            pieces.append((end, evidence))
            let oldest = end - options.window
            pieces.removeAll { $0.end < oldest }
            shares += piece.frames.map { ($0.time, $0.contentShare) }
            // A track's whole extent may be older than the window: keep shares as long as a track is open.
            let keepFrom = min(oldest, tracks.map(\.queryStart).min() ?? oldest)
            shares.removeAll { $0.time < keepFrom }
            let window = QueryEvidence.joined(pieces.map(\.evidence))
            let matches = watcher.scanner.matches(in: window, queryDuration: end)
            // A segment ending at the window's start may be the tail of a copy seen whole before.
            let tolerance = 2.0
            for var found in matches.sorted(by: { $0.match.score > $1.match.score }) {
                found.letterboxed = hadBars(from: found.match.queryStart, to: found.match.queryEnd)
                if let index = tracks.firstIndex(where: { $0.continues(found, tolerance: tolerance) }) {
                    tracks[index].absorb(found)
                } else if finished.contains(where: { $0.continues(found, tolerance: tolerance)
                    && found.match.queryEnd <= $0.lastSeen + options.piece }) {
                    continue  // a copy already reported, still in the window
                } else if found.match.isConfident {
                    let segment = found.match
                    let track = Track(best: found, queryStart: segment.queryStart, queryEnd: segment.queryEnd,
                                      referenceStart: segment.referenceStart, referenceEnd: segment.referenceEnd,
                                      lastSeen: segment.queryEnd)
                    tracks.append(track)
                    emit(WatchEvent(kind: .matchStarted, source: source, streamTime: end, match: track.record(source: source),
                                    copyStartedAt: streamOrigin.addingTimeInterval(segment.queryStart)))
                }
            }
            recordKept()
            endAbsent(wallClockGap: false)
        }

        /// Marks the recorded segments around every open match as kept, and notes them in the match.
        mutating func recordKept() {
            guard let recorder else { return }
            let margin = options.recordMargin
            for index in tracks.indices {
                let start = tracks[index].queryStart - recorderOffset - margin
                let end = tracks[index].lastSeen - recorderOffset + margin
                recorder.keep(from: start, to: end)
                for file in recorder.files(from: start, to: end) where !tracks[index].recordings.contains(file) {
                    tracks[index].recordings.append(file)
                }
            }
            if let failure = recorder.failure, !recordingFailed {
                recordingFailed = true
                emit(WatchEvent(kind: .error, source: source, streamTime: streamTime, message: "recording stopped: \(failure)"))
            }
        }

        var recordingFailed = false

        /// A file-name form of a source: letters and digits kept, the rest one underscore, at most 48 characters.
        static func fileName(for source: String) -> String {
            var name = ""
            for character in source.unicodeScalars {
                if CharacterSet.alphanumerics.contains(character), character.isASCII {
                    name.unicodeScalars.append(character)
                } else if !name.hasSuffix("_") {
                    name += "_"
                }
            }
            name = String(name.trimmingCharacters(in: CharacterSet(charactersIn: "_")).prefix(48))
            return name.isEmpty ? "stream" : name
        }

        /// Ends the tracks whose copy has been absent for the absence time: on the stream, or (while the source
        /// is away) on the wall clock.
        mutating func endAbsent(wallClockGap: Bool) {
            // Absence is judged on what has been observed, not merely decoded: a copy still on air has evidence
            // only up to the observed end.
            let now = wallClockGap ? lostAt.map { observedTime + Date().timeIntervalSince($0) } ?? observedTime : observedTime
            let absence = options.absence, window = options.window
            let over = tracks.filter { now - $0.lastSeen > absence }
            tracks.removeAll { now - $0.lastSeen > absence }
            for track in over { announceEnd(track) }
            finished += over
            finished.removeAll { now - $0.lastSeen > window + absence }
        }

        /// Ends every open match (the source ended, or the watch is stopping).
        mutating func endAll() {
            for track in tracks { announceEnd(track) }
            tracks = []
            finished = []
            pieces = []
            shares = []
        }

        private func announceEnd(_ track: Track) {
            var track = track
            track.best.letterboxed = hadBars(from: track.queryStart, to: track.queryEnd)
            var event = WatchEvent(kind: .matchEnded, source: source, streamTime: streamTime, match: track.record(source: source))
            if options.recordDirectory != nil { event.recording = track.recordings }
            emit(event)
        }

        /// ``QueryObservations/hadBars(from:to:)`` over the recent frames.
        func hadBars(from start: Double, to end: Double) -> Bool {
            let inside = shares.filter { $0.time >= start && $0.time <= end }.map(\.share).sorted()
            guard !inside.isEmpty else { return false }
            return inside[inside.count / 2] < QueryObservations.barredContentShare
        }
    }
}
