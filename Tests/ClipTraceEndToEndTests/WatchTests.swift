import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `cliptrace watch` on real streams: testmedia recordings sent in real time over UDP on loopback by the
/// `ffmpeg` tool, a real catalogue, real decoding; a webhook receiver on a loopback port.
@Suite("cliptrace watch", .serialized)
struct WatchTests {
    /// A running process whose stdout lines are collected with the time each arrived.
    final class LiveProcess: @unchecked Sendable {
        let process = Process()
        private let lock = NSLock()
        private var collected: [(line: String, at: Date)] = []
        private var errors = Data()
        private var pending = Data()

        init(_ executable: String, _ arguments: [String], input: Pipe? = nil) throws {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
            let out = Pipe(), err = Pipe()
            process.standardOutput = out
            process.standardError = err
            process.standardInput = input ?? FileHandle.nullDevice
            out.fileHandleForReading.readabilityHandler = { [weak self] handle in
                let data = handle.availableData
                guard let self, !data.isEmpty else { return }
                let now = Date()
                self.lock.withLock {
                    self.pending.append(data)
                    while let newline = self.pending.firstIndex(of: UInt8(ascii: "\n")) {
                        let line = String(decoding: self.pending[self.pending.startIndex..<newline], as: UTF8.self)
                        self.pending.removeSubrange(self.pending.startIndex...newline)
                        self.collected.append((line, now))
                    }
                }
            }
            err.fileHandleForReading.readabilityHandler = { [weak self] handle in
                let data = handle.availableData
                guard let self, !data.isEmpty else { return }
                self.lock.withLock { self.errors.append(data) }
            }
            try process.run()
        }

        var lines: [(line: String, at: Date)] { lock.withLock { collected } }
        var stderr: String { lock.withLock { String(decoding: errors, as: UTF8.self) } }

        /// The events so far, parsed, with their arrival times.
        var events: [(event: [String: Any], at: Date)] {
            lines.compactMap { entry in
                (try? JSONSerialization.jsonObject(with: Data(entry.line.utf8)) as? [String: Any]).map { ($0, entry.at) }
            }
        }

        /// Waits (bounded) until `condition` holds for the events.
        @discardableResult
        func wait(seconds: Double, until condition: ([[String: Any]]) -> Bool) -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if condition(events.map(\.event)) { return true }
                Thread.sleep(forTimeInterval: 0.05)
            }
            return condition(events.map(\.event))
        }

        func stop(_ signalNumber: Int32 = SIGTERM, waitingAtMost seconds: Double = 20) -> Int32? {
            if process.isRunning { kill(process.processIdentifier, signalNumber) }
            let deadline = Date().addingTimeInterval(seconds)
            while process.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                return nil
            }
            Thread.sleep(forTimeInterval: 0.2)  // the last lines
            return process.terminationStatus
        }
    }

    /// A free UDP port on loopback (bound, read, released).
    static func freePort(_ type: Int32 = Int32(SOCK_DGRAM.rawValue)) -> Int {
        let socket = Glibc.socket(AF_INET, type, 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) }
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// A recording followed by 12 s of the clean one, as one MPEG-TS file with a keyframe every half second:
    /// the stream goes on after the copy, so its end can be seen.
    static func streamFile(_ recording: String, in folder: TemporaryFolder) throws -> String {
        let output = folder.file("\(recording).ts")
        let clean = Repository.path("testmedia/recordings/stream_without_copies.mp4")
        let made = try run("/usr/bin/ffmpeg", [
            "-nostdin", "-loglevel", "error", "-y", "-i", Repository.path("testmedia/recordings/\(recording).mp4"),
            "-i", clean, "-filter_complex",
            "[0:v]scale=640:360,setsar=1,fps=25,format=yuv420p[a];[1:v]scale=640:360,setsar=1,fps=25,format=yuv420p[b];[a][b]concat=n=2:v=1:a=0[v]",
            "-map", "[v]", "-c:v", "libx264", "-preset", "veryfast", "-g", "12", "-bf", "0", "-f", "mpegts", output,
        ])
        #expect(made.status == 0, "\(made.stderr)")
        return output
    }

    /// Sends `file` in real time to a UDP port on loopback (from `start` seconds of it, when given).
    static func send(_ file: String, port: Int, from start: Double? = nil, duration: Double? = nil) throws -> Process {
        let sender = Process()
        sender.executableURL = URL(fileURLWithPath: "/usr/bin/ffmpeg")
        var arguments = ["-nostdin", "-loglevel", "error", "-re"]
        if let start { arguments += ["-ss", String(start)] }
        arguments += ["-i", file]
        if let duration { arguments += ["-t", String(duration)] }
        arguments += ["-c", "copy", "-f", "mpegts", "udp://127.0.0.1:\(port)?pkt_size=1316"]
        sender.arguments = arguments
        sender.standardOutput = FileHandle.nullDevice
        sender.standardError = FileHandle.nullDevice
        try sender.run()
        return sender
    }

    /// ffmpeg re-encoding testmedia's sped-up-copy recording in real time into `output` (format and path).
    static func writeInRealTime(_ output: [String]) throws -> Process {
        let writer = Process()
        writer.executableURL = URL(fileURLWithPath: "/usr/bin/ffmpeg")
        writer.arguments = ["-nostdin", "-loglevel", "error", "-re", "-i", Repository.path("testmedia/recordings/stream_with_fast_copy.mp4"),
                            "-c:v", "libx264", "-preset", "veryfast", "-g", "12"] + output
        writer.standardError = FileHandle.nullDevice
        try writer.run()
        return writer
    }

    static func catalogue(in folder: TemporaryFolder, binary: String) throws -> String {
        let catalogue = folder.file("catalogue.sqlite")
        let registered = try run(binary, ["register", "-q", "--catalogue", catalogue] + CLITests.references)
        #expect(registered.status == 0, "\(registered.stderr)")
        return catalogue
    }

    static func date(_ value: Any?) -> Date? {
        guard let text = value as? String else { return nil }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text)
    }

    /// Every testmedia recording, in groups streamed at once (a group's streams share the two cores).
    static let streamedGroups: [[String]] = [
        ["stream_with_mirrored_copy", "stream_with_fast_copy", "stream_with_window_copy", "stream_with_cropped_copy",
         "stream_without_copies"],
        ["stream_with_overlaid_copy", "stream_with_window_on_texture", "stream_with_vertical_repost",
         "stream_with_webcam_inset"],
        ["stream_with_tilted_copy", "stream_with_heavy_crop_12fps", "stream_with_compilation"],
    ]

    @Test("copies streamed in real time are reported within seconds, at scan's times; the clean stream raises nothing",
          arguments: streamedGroups)
    func realTimeDetection(_ recordings: [String]) throws {
        let binary = try Repository.cliptraceBinary()
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let catalogue = try Self.catalogue(in: folder, binary: binary)
        let truth = try CLITests.groundTruth()
        let copies = truth.filter { recordings.contains($0.recording) }.count
        let files = try recordings.map { try Self.streamFile($0, in: folder) }
        // What scan says of the very same files.
        let scanned = try run(binary, ["scan", "-q", "--catalogue", catalogue] + files)
        #expect(scanned.status == 0, "\(scanned.stderr)")
        let scans = try CLITests.jsonLines(scanned.stdout).filter { $0["reference"] is String }

        let ports = recordings.map { _ in Self.freePort() }
        let missing = folder.file("no-such-stream.ts")
        let watch = try LiveProcess(binary, ["watch", "-q", "--catalogue", catalogue, "--read-timeout", "20", missing]
            + ports.map { "udp://127.0.0.1:\($0)" })
        defer { _ = watch.stop(SIGKILL) }
        Thread.sleep(forTimeInterval: 1.5)  // the watch is listening on every port
        let sent = Date()
        let senders = try zip(files, ports).map { try Self.send($0, port: $1) }
        for sender in senders { sender.waitUntilExit() }
        watch.wait(seconds: 10) { events in
            events.filter { $0["event"] as? String == "match_ended" }.count >= copies
        }
        let status = watch.stop()
        #expect(status == 0, "\(watch.stderr)")
        let events = watch.events

        // The source that cannot be opened gets an error event; the others went on.
        #expect(events.contains { $0.event["event"] as? String == "error" && $0.event["source"] as? String == missing })
        var latencies: [Double] = []
        for (recording, port) in zip(recordings, ports) {
            let source = "udp://127.0.0.1:\(port)"
            let mine = events.filter { $0.event["source"] as? String == source }
            #expect(mine.first?.event["event"] as? String == "source_connected", "\(recording): \(mine.map(\.event))")
            let started = mine.filter { $0.event["event"] as? String == "match_started" }
            let ended = mine.filter { $0.event["event"] as? String == "match_ended" }
            let expected = truth.filter { $0.recording == recording }
            if expected.isEmpty {
                #expect(started.isEmpty && ended.isEmpty, "\(recording) is clean: \(started.map(\.event))")
                continue
            }
            for copy in expected {
                // One start and one end per copy: a copy reported once, however long its evidence stays in view.
                #expect(started.filter { $0.event["reference"] as? String == copy.reference }.count == 1,
                        "\(recording): \(started.map(\.event))")
                #expect(ended.filter { $0.event["reference"] as? String == copy.reference }.count == 1,
                        "\(recording): \(ended.map(\.event))")
                let start = started.first { $0.event["reference"] as? String == copy.reference }
                let end = ended.first { $0.event["reference"] as? String == copy.reference }
                guard let start, let end else {
                    Issue.record("\(recording): no match_started/match_ended for \(copy.reference): \(mine.map(\.event))")
                    continue
                }
                // On the wall clock: the sender started at `sent` and plays in real time.
                let startLatency = start.at.timeIntervalSince(sent.addingTimeInterval(copy.queryStart))
                let endLatency = end.at.timeIntervalSince(sent.addingTimeInterval(copy.queryEnd))
                latencies.append(startLatency)
                #expect(startLatency < 5, "\(recording): match_started \(startLatency) s after the copy began")
                #expect(endLatency < 5, "\(recording): match_ended \(endLatency) s after the copy ended")
                print("watch latency \(recording): start \(String(format: "%.2f", startLatency)) s, end \(String(format: "%.2f", endLatency)) s")
                // The segment is scan's, within half a second on both timelines.
                let file = folder.file("\(recording).ts")
                let reference = try #require(scans.first { $0["query"] as? String == file && $0["reference"] as? String == copy.reference },
                                             "scan found \(copy.reference) in \(recording)")
                for key in ["query_start", "query_end", "reference_start", "reference_end"] {
                    let live = try #require(end.event[key] as? Double), offline = try #require(reference[key] as? Double)
                    #expect(abs(live - offline) <= 0.5, "\(recording) \(key): watch \(live), scan \(offline)")
                }
            }
        }
        let sorted = latencies.sorted()
        if !sorted.isEmpty {
            print("watch detection latency: median \(String(format: "%.2f", sorted[sorted.count / 2])) s, worst \(String(format: "%.2f", sorted.last!)) s")
        }
    }

    @Test("a stream cut mid-copy and restarted: source_lost, reconnection, and the copy still reported")
    func reconnection() throws {
        let binary = try Repository.cliptraceBinary()
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let catalogue = try Self.catalogue(in: folder, binary: binary)
        let file = try Self.streamFile("stream_with_mirrored_copy", in: folder)  // copy at 4-11 s
        let port = Self.freePort()
        let source = "udp://127.0.0.1:\(port)"
        let watch = try LiveProcess(binary, ["watch", "-q", "--catalogue", catalogue, "--reconnect",
                                             "--read-timeout", "1", source])
        defer { _ = watch.stop(SIGKILL) }
        Thread.sleep(forTimeInterval: 1.5)
        let first = try Self.send(file, port: port, duration: 6.5)
        first.waitUntilExit()
        #expect(watch.wait(seconds: 8) { $0.contains { $0["event"] as? String == "source_lost" } }, "\(watch.lines)")
        let second = try Self.send(file, port: port, from: 6.5)
        second.waitUntilExit()
        watch.wait(seconds: 8) { $0.contains { $0["event"] as? String == "match_ended" } }
        #expect(watch.stop() == 0, "\(watch.stderr)")
        let kinds = watch.events.map { $0.event["event"] as? String ?? "" }
        #expect(kinds.filter { $0 == "source_connected" }.count >= 2, "\(kinds)")
        #expect(kinds.contains("source_lost"))
        #expect(watch.events.contains { $0.event["event"] as? String == "match_started"
            && $0.event["reference"] as? String == "mandelbrot_zoom" }, "\(watch.events.map(\.event))")
        #expect(watch.events.contains { $0.event["event"] as? String == "match_ended"
            && $0.event["reference"] as? String == "mandelbrot_zoom" })
    }

    /// An HTTP/1.1 receiver on loopback that answers 200 to each POST and keeps its body.
    final class WebhookReceiver: @unchecked Sendable {
        let port: Int
        private let listener: Int32
        private let lock = NSLock()
        private var received: [String] = []
        private var stopped = false

        init(port: Int) throws {
            self.port = port
            listener = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var yes: Int32 = 1
            setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = UInt16(port).bigEndian
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0, listen(listener, 16) == 0 else { throw POSIXError(.EADDRINUSE) }
            let thread = Thread { [self] in self.serve() }
            thread.start()
        }

        var bodies: [String] { lock.withLock { received } }

        func stop() {
            lock.withLock { stopped = true }
            shutdown(listener, Int32(SHUT_RDWR))
            close(listener)
        }

        private func serve() {
            while !lock.withLock({ stopped }) {
                let client = accept(listener, nil, nil)
                guard client >= 0 else { return }
                var timeout = timeval(tv_sec: 5, tv_usec: 0)
                setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                // Requests on one connection until it closes (URLSession keeps connections alive).
                var buffer = [UInt8]()
                var chunk = [UInt8](repeating: 0, count: 65536)
                connection: while true {
                    while !Self.hasCompleteRequest(buffer) {
                        let count = recv(client, &chunk, chunk.count, 0)
                        if count <= 0 { break connection }
                        buffer += chunk[0..<count]
                    }
                    let (body, used) = Self.parse(buffer)
                    buffer.removeFirst(used)
                    lock.withLock { received.append(body) }
                    let reply = Array("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".utf8)
                    _ = Glibc.send(client, reply, reply.count, Int32(MSG_NOSIGNAL))
                }
                close(client)
            }
        }

        static func headerEnd(_ buffer: [UInt8]) -> Int? {
            guard buffer.count >= 4 else { return nil }
            for index in 0...(buffer.count - 4) where buffer[index] == 13 && buffer[index + 1] == 10
                && buffer[index + 2] == 13 && buffer[index + 3] == 10 {
                return index + 4
            }
            return nil
        }

        static func contentLength(_ header: String) -> Int {
            for line in header.split(separator: "\r\n") where line.lowercased().hasPrefix("content-length:") {
                return Int(line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) ?? 0
            }
            return 0
        }

        static func hasCompleteRequest(_ buffer: [UInt8]) -> Bool {
            guard let end = headerEnd(buffer) else { return false }
            return buffer.count >= end + contentLength(String(decoding: buffer[0..<end], as: UTF8.self))
        }

        static func parse(_ buffer: [UInt8]) -> (body: String, used: Int) {
            let end = headerEnd(buffer)!
            let length = contentLength(String(decoding: buffer[0..<end], as: UTF8.self))
            return (String(decoding: buffer[end..<(end + length)], as: UTF8.self), end + length)
        }
    }

    @Test("the webhook gets every event once, also when it was down at first; SIGTERM ends the open match")
    func webhookAndStop() throws {
        let binary = try Repository.cliptraceBinary()
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let catalogue = try Self.catalogue(in: folder, binary: binary)
        let file = try Self.streamFile("stream_with_window_copy", in: folder)  // copy at 2-9 s
        let port = Self.freePort(), hookPort = Self.freePort(Int32(SOCK_STREAM.rawValue))
        let watch = try LiveProcess(binary, ["watch", "-q", "--catalogue", catalogue, "--read-timeout", "20",
                                             "--webhook", "http://127.0.0.1:\(hookPort)/events", "udp://127.0.0.1:\(port)"])
        defer { _ = watch.stop(SIGKILL) }
        Thread.sleep(forTimeInterval: 1.5)
        let sender = try Self.send(file, port: port)
        defer { sender.terminate() }
        // The receiver comes up a few seconds late: the first events wait and are retried.
        Thread.sleep(forTimeInterval: 3)
        let receiver = try WebhookReceiver(port: hookPort)
        defer { receiver.stop() }
        #expect(watch.wait(seconds: 15) { $0.contains { $0["event"] as? String == "match_started" } }, "\(watch.lines)")
        // Stopped while the copy is on air: the open match is ended, and the process exits cleanly.
        #expect(watch.stop(SIGTERM) == 0, "\(watch.stderr)")
        let printed = watch.lines.map(\.line)
        let kinds = watch.events.map { $0.event["event"] as? String ?? "" }
        #expect(kinds.last == "match_ended", "\(kinds)")
        let deadline = Date().addingTimeInterval(5)
        while receiver.bodies.count < printed.count, Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        #expect(receiver.bodies == printed, "webhook: \(receiver.bodies.count) events, stdout: \(printed.count)")
    }

    @Test("--record keeps the stream around each match as playable evidence and nothing else; stdin is a source")
    func recordEvidence() throws {
        let binary = try Repository.cliptraceBinary()
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let catalogue = try Self.catalogue(in: folder, binary: binary)
        for (recording, reference) in [("stream_with_overlaid_copy", "mandelbrot_zoom"), ("stream_without_copies", nil)] {
            let file = try Self.streamFile(recording, in: folder)
            let evidence = folder.file("evidence-\(recording)")
            let watch = Process()
            watch.executableURL = URL(fileURLWithPath: binary)
            watch.arguments = ["watch", "-q", "--catalogue", catalogue, "--record", evidence, "-"]
            watch.standardInput = try FileHandle(forReadingFrom: URL(fileURLWithPath: file))
            let out = Pipe()
            watch.standardOutput = out
            watch.standardError = FileHandle.nullDevice
            try watch.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            watch.waitUntilExit()
            #expect(watch.terminationStatus == 0)
            let events = try CLITests.jsonLines(String(decoding: data, as: UTF8.self))
            let kept = (try? FileManager.default.contentsOfDirectory(atPath: evidence)) ?? []
            guard let reference else {
                #expect(kept.isEmpty, "a clean stream keeps nothing: \(kept)")
                continue
            }
            let ended = try #require(events.first { $0["event"] as? String == "match_ended" }, "\(events)")
            let files = try #require(ended["recording"] as? [String])
            #expect(!files.isEmpty)
            // Only evidence stays: every file in the folder is named by a match.
            #expect(Set(kept.map { "\(evidence)/\($0)" }) == Set(files), "kept \(kept), named \(files)")
            // The kept files play on their own, and scan finds the copy in them.
            let scanned = try run(binary, ["scan", "-q", "--catalogue", catalogue] + files)
            #expect(scanned.status == 0, "\(scanned.stderr)")
            #expect(try CLITests.jsonLines(scanned.stdout).contains { $0["reference"] as? String == reference },
                    "\(scanned.stdout)")
        }
    }

    @Test("an HLS playlist still being written is followed to its end")
    func hlsPlaylist() throws {
        let binary = try Repository.cliptraceBinary()
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let catalogue = try Self.catalogue(in: folder, binary: binary)
        let playlist = folder.file("live/index.m3u8")
        try FileManager.default.createDirectory(atPath: folder.file("live"), withIntermediateDirectories: true)
        let writer = try Self.writeInRealTime(["-f", "hls", "-hls_time", "1", "-hls_list_size", "0", playlist])
        defer { writer.terminate() }
        // The playlist appears with its first segment.
        let deadline = Date().addingTimeInterval(10)
        while !FileManager.default.fileExists(atPath: playlist), Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        let watch = try LiveProcess(binary, ["watch", "-q", "--catalogue", catalogue, "--read-timeout", "10", playlist])
        defer { _ = watch.stop(SIGKILL) }
        #expect(watch.wait(seconds: 30) { $0.contains { $0["event"] as? String == "source_ended" } }, "\(watch.lines)")
        let events = watch.events.map(\.event)
        #expect(events.contains { $0["event"] as? String == "match_started" && $0["reference"] as? String == "spinning_pattern" },
                "\(events)")
        #expect(events.contains { $0["event"] as? String == "match_ended" && $0["reference"] as? String == "spinning_pattern" })
    }

    @Test("an MPEG-TS file still being written is followed until it stops growing")
    func growingFile() throws {
        let binary = try Repository.cliptraceBinary()
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let catalogue = try Self.catalogue(in: folder, binary: binary)
        let growing = folder.file("recording.ts")
        let writer = try Self.writeInRealTime(["-f", "mpegts", growing])
        defer { writer.terminate() }
        let deadline = Date().addingTimeInterval(10)
        while (try? FileManager.default.attributesOfItem(atPath: growing)[.size] as? Int ?? 0) ?? 0 < 50_000, Date() < deadline {
            Thread.sleep(forTimeInterval: 0.1)
        }
        let watch = try LiveProcess(binary, ["watch", "-q", "--catalogue", catalogue, "--read-timeout", "3", growing])
        defer { _ = watch.stop(SIGKILL) }
        #expect(watch.wait(seconds: 30) { $0.contains { $0["event"] as? String == "source_ended" } }, "\(watch.lines)")
        let events = watch.events.map(\.event)
        // The copy runs 3-10 s into the recording: read past the file's end as it was when the watch began.
        let ended = try #require(events.first { $0["event"] as? String == "match_ended" && $0["reference"] as? String == "spinning_pattern" },
                                 "\(events)")
        #expect((ended["query_end"] as? Double ?? 0) > 8)
    }

    @Test("corrupt packets on a source are skipped with a warning naming it; the copy after them is still reported")
    func corruptPackets() throws {
        let binary = try Repository.cliptraceBinary()
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let catalogue = try Self.catalogue(in: folder, binary: binary)
        let file = try Self.streamFile("stream_with_mirrored_copy", in: folder)
        // Garbage over the payload of 40 transport packets in the first two seconds, before the copy (4-11 s):
        // the 4-byte packet headers stay, so the demuxer keeps its sync and the decoder meets the damage.
        var bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        let packets = bytes.count / 188
        var generator = SplitMix(seed: 9)
        for index in stride(from: packets / 20, to: packets / 20 + 400, by: 10) {
            for offset in 8..<188 { bytes[index * 188 + offset] = UInt8(truncatingIfNeeded: generator.next()) }
        }
        let damaged = folder.file("damaged.ts")
        try bytes.write(to: URL(fileURLWithPath: damaged))
        let watch = try LiveProcess(binary, ["watch", "-q", "--catalogue", catalogue, "--read-timeout", "3", damaged])
        defer { _ = watch.stop(SIGKILL) }
        #expect(watch.wait(seconds: 60) { $0.contains { $0["event"] as? String == "source_ended" } }, "\(watch.lines)")
        let events = watch.events.map(\.event)
        #expect(events.contains { $0["event"] as? String == "match_ended" && $0["reference"] as? String == "mandelbrot_zoom" },
                "\(events)")
        #expect(!events.contains { $0["event"] as? String == "error" }, "\(events)")
        #expect(watch.stderr.contains("warning") && watch.stderr.contains("damaged.ts"), "\(watch.stderr)")
    }

    @Test("RTMP and HTTP sources, served by ffmpeg listening on loopback, are watched like UDP: the copy on each is reported")
    func rtmpAndHTTP() throws {
        let binary = try Repository.cliptraceBinary()
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let catalogue = try Self.catalogue(in: folder, binary: binary)
        let file = try Self.streamFile("stream_with_mirrored_copy", in: folder)
        let tcp = Int32(SOCK_STREAM.rawValue)
        let rtmpPort = Self.freePort(tcp), httpPort = Self.freePort(tcp)
        let rtmp = "rtmp://127.0.0.1:\(rtmpPort)/live/seller", http = "http://127.0.0.1:\(httpPort)/stream.ts"
        // ffmpeg as the server: each waits for the watch to connect, then plays the file in real time.
        var servers: [Process] = []
        for (format, url) in [("flv", rtmp), ("mpegts", http)] {
            let server = Process()
            server.executableURL = URL(fileURLWithPath: "/usr/bin/ffmpeg")
            server.arguments = ["-nostdin", "-loglevel", "error", "-re", "-i", file, "-c", "copy", "-f", format,
                                "-listen", "1", url]
            server.standardOutput = FileHandle.nullDevice
            server.standardError = FileHandle.nullDevice
            try server.run()
            servers.append(server)
        }
        defer { for server in servers where server.isRunning { server.terminate() } }
        Thread.sleep(forTimeInterval: 1)  // both servers are listening
        let watch = try LiveProcess(binary, ["watch", "-q", "--catalogue", catalogue, "--read-timeout", "10", rtmp, http])
        defer { _ = watch.stop(SIGKILL) }
        // An HTTP stream ends; an RTMP server that closes its connection reads as lost (FFmpeg reports an I/O
        // error, as for a dropped link), which without --reconnect also ends that source.
        let ended = watch.wait(seconds: 60) { events in
            events.filter { ["source_ended", "source_lost"].contains($0["event"] as? String ?? "") }.count >= 2
        }
        #expect(ended, "\(watch.lines)")
        let events = watch.events.map(\.event)
        for source in [rtmp, http] {
            let mine = events.filter { $0["source"] as? String == source }
            #expect(mine.first?["event"] as? String == "source_connected", "\(source): \(mine)")
            let copy = try #require(mine.first { $0["event"] as? String == "match_ended" && $0["reference"] as? String == "mandelbrot_zoom" },
                                    "\(source): \(mine)")
            // The copy runs 4-11 s into the recording, from 2-9 s of the reference.
            #expect(abs((copy["query_start"] as? Double ?? 0) - 4) <= 0.5 && abs((copy["reference_start"] as? Double ?? 0) - 2) <= 0.5,
                    "\(source): \(copy)")
        }
    }

    @Test("a quiet standard input still stops at once on SIGTERM")
    func quietInputStops() throws {
        let binary = try Repository.cliptraceBinary()
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let catalogue = try Self.catalogue(in: folder, binary: binary)
        let input = Pipe()  // open, and nothing ever written
        let watch = try LiveProcess(binary, ["watch", "-q", "--catalogue", catalogue, "-"], input: input)
        defer { _ = watch.stop(SIGKILL) }
        Thread.sleep(forTimeInterval: 1.5)
        let stopped = Date()
        #expect(watch.stop(SIGTERM, waitingAtMost: 5) == 0, "\(watch.stderr)")
        #expect(Date().timeIntervalSince(stopped) < 3)
        withExtendedLifetime(input) {}
    }
}
