import ClipTraceCatalogue
import ClipTraceScanning
import Foundation
import TestSupport
import Testing

/// The `cliptrace` command line on real testmedia, a real SQLite file and real FFmpeg decoding.
@Suite("cliptrace end to end", .serialized)
struct CLITests {
    static let references = ["life_colony", "mandelbrot_zoom", "spinning_pattern"].map {
        Repository.path("testmedia/references/\($0).mp4")
    }

    struct Truth {
        var recording: String, reference: String
        var queryStart: Double, queryEnd: Double, referenceStart: Double, referenceEnd: Double
    }

    static func groundTruth() throws -> [Truth] {
        let text = try String(contentsOfFile: Repository.path("testmedia/recordings.tsv"), encoding: .utf8)
        return text.split(separator: "\n").dropFirst().map { line in
            let f = line.split(separator: "\t").map(String.init)
            return Truth(recording: f[0], reference: f[1], queryStart: Double(f[2])!, queryEnd: Double(f[3])!,
                         referenceStart: Double(f[4])!, referenceEnd: Double(f[5])!)
        }
    }

    /// `catalogue.sqlite` in `folder`, with mandelbrot_zoom registered: where most scan tests start.
    static func catalogueWithMandelbrot(in folder: TemporaryFolder, binary: String) throws -> String {
        let catalogue = folder.file("catalogue.sqlite")
        #expect(try run(binary, ["register", "-q", "--catalogue", catalogue, references[1]]).status == 0)
        return catalogue
    }

    static func jsonLines(_ text: String) throws -> [[String: Any]] {
        try text.split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    @Test("register, list, info, scan, remove")
    func lifecycle() throws {
        let binary = try Repository.cliptraceBinary()
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let catalogue = folder.file("catalogue.sqlite")
        let registered = try run(binary, ["register", "--catalogue", catalogue, "--owner", "Lan's Shop"] + Self.references)
        #expect(registered.status == 0, "\(registered.stderr)")
        #expect(registered.stdout.components(separatedBy: "registered ").count - 1 == 3)

        let again = try run(binary, ["register", "--catalogue", catalogue, Self.references[0]])
        #expect(again.status == 0)
        #expect(again.stdout.contains("already registered"))

        let listed = try run(binary, ["list", "--catalogue", catalogue])
        #expect(listed.stdout.contains("mandelbrot_zoom") && listed.stdout.contains("Lan's Shop"))
        let info = try run(binary, ["info", "--catalogue", catalogue, "2"])
        #expect(info.status == 0 && info.stdout.contains("sha256:"))

        // Scan the recordings folder; compare with the ground truth of testmedia/generate.sh.
        let scanned = try run(binary, ["scan", "--catalogue", catalogue, "--jobs", "2", "-q",
                                       Repository.path("testmedia/recordings")])
        #expect(scanned.status == 0, "\(scanned.stderr)")
        let lines = try Self.jsonLines(scanned.stdout)
        let matches = lines.filter { $0["reference"] is String }
        for truth in try Self.groundTruth() {
            let found = matches.filter {
                ($0["query"] as? String)?.hasSuffix(truth.recording + ".mp4") == true
                    && $0["reference"] as? String == truth.reference
            }
            let match = try #require(found.first, "\(truth.reference) not found in \(truth.recording)")
            #expect(found.count == 1)
            let score = try #require(match["score"] as? Double)
            #expect(score >= 0.5 && score <= 1)
            // A copy placed by corners alone is placed to within the reference's corner spacing (a second):
            // between two described moments of the reference nothing tells where it ends.
            let byCorners = (match["transforms"] as? [String] ?? []).contains("local features")
            for (key, expected) in [("query_start", truth.queryStart), ("query_end", truth.queryEnd),
                                    ("reference_start", truth.referenceStart), ("reference_end", truth.referenceEnd)] {
                let value = try #require(match[key] as? Double)
                #expect(abs(value - expected) <= (byCorners ? 1.0 : 0.5), "\(truth.recording) \(key) = \(value), expected \(expected)")
            }
            #expect(match["reference_id"] != nil)
            // Each method shows in the report: the mirror probe and bar removal, the fitted slope, the window.
            let transforms = Set(match["transforms"] as? [String] ?? [])
            let expected: Set<String> = switch truth.recording {
            case "stream_with_mirrored_copy": ["mirror", "letterboxed"]
            case "stream_with_fast_copy": ["speed 1.10x"]
            case "stream_with_window_copy": ["window"]
            case "stream_with_cropped_copy": ["local features"]
            case "stream_with_vertical_repost": ["window"]
            default: []
            }
            #expect(expected.isSubset(of: transforms), "\(truth.recording): \(transforms)")
        }
        // The clean recording matches nothing.
        #expect(!matches.contains { ($0["query"] as? String)?.contains("without_copies") == true })
        #expect(lines.contains { ($0["query"] as? String)?.contains("without_copies") == true && $0["matches"] as? Int == 0 })

        let removed = try run(binary, ["remove", "--catalogue", catalogue, "1"])
        #expect(removed.status == 0)
        let missing = try run(binary, ["remove", "--catalogue", catalogue, "1"])
        #expect(missing.status == 1 && missing.stderr.contains("No clip has id 1"))
    }

    @Test("a batch registration warns when a file resembles a clip registered earlier in the same batch, and in a later one")
    func resemblesWithinBatch() throws {
        let binary = try Repository.cliptraceBinary()
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let catalogue = folder.file("catalogue.sqlite")
        // The reference, then a recording with a copy of it under a banner and comments: one command, one index
        // extended as it goes. (The check searches upright hashes: a registration is the clip again or a close
        // edit of it, not a mirrored or windowed repost.)
        let reference = Repository.path("testmedia/references/mandelbrot_zoom.mp4")
        let batch = try run(binary, ["register", "-q", "--catalogue", catalogue, reference,
                                     Repository.path("testmedia/recordings/stream_with_overlaid_copy.mp4")])
        #expect(batch.status == 0, "\(batch.stderr)")
        #expect(batch.stdout.components(separatedBy: "registered ").count - 1 == 2)
        #expect(batch.stderr.contains("stream_with_overlaid_copy.mp4 resembles registered clip 1 \"mandelbrot_zoom\""),
                "\(batch.stderr)")
        // The next command starts from the saved index: a re-encode of the first file is caught too.
        let reencoded = folder.file("reencoded.mp4")
        let encoded = try run("/usr/bin/env", ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", reference, "-c:v", "libx264",
                                               "-crf", "32", "-an", reencoded])
        try #require(encoded.status == 0, "\(encoded.stderr)")
        let later = try run(binary, ["register", "-q", "--catalogue", catalogue, reencoded])
        #expect(later.status == 0, "\(later.stderr)")
        #expect(later.stderr.contains("resembles registered clip 1 \"mandelbrot_zoom\""), "\(later.stderr)")
        // A file like nothing registered gets no such warning.
        let unrelated = try run(binary, ["register", "-q", "--catalogue", catalogue,
                                         Repository.path("testmedia/references/life_colony.mp4")])
        #expect(unrelated.status == 0 && !unrelated.stderr.contains("resembles"), "\(unrelated.stderr)")
    }

    @Test("one broken file in a folder gets an error record and the batch goes on")
    func brokenFileInBatch() throws {
        let binary = try Repository.cliptraceBinary()
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let catalogue = folder.file("catalogue.sqlite")
        #expect(try run(binary, ["register", "--catalogue", catalogue, Self.references[1]]).status == 0)
        let batch = folder.file("batch")
        try FileManager.default.createDirectory(atPath: batch, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Repository.path("testmedia/recordings/stream_with_mirrored_copy.mp4"),
                                         toPath: batch + "/a_first.mp4")
        try FileManager.default.copyItem(atPath: Repository.path("testmedia/bad/text.mp4"), toPath: batch + "/b_broken.mp4")
        try FileManager.default.copyItem(atPath: Repository.path("testmedia/bad/empty.mp4"), toPath: batch + "/c_empty.mp4")
        try FileManager.default.copyItem(atPath: Repository.path("testmedia/recordings/stream_without_copies.mp4"),
                                         toPath: batch + "/d_last.mp4")
        for format in ["jsonl", "csv", "json"] {
            let result = try run(binary, ["scan", "--catalogue", catalogue, "--format", format, "-q", batch])
            #expect(result.status == 1, "some files failed, so the exit status is 1")
            #expect(result.stdout.contains("a_first.mp4") && result.stdout.contains("d_last.mp4"))
            #expect(result.stdout.contains("b_broken.mp4") && result.stdout.contains("c_empty.mp4"))
            if format == "jsonl" {
                let lines = try Self.jsonLines(result.stdout)
                #expect(lines.count == 4)
                let errors = lines.filter { $0["error"] != nil }
                #expect(errors.count == 2)
                #expect(errors.allSatisfy { ($0["error"] as? String)?.hasSuffix(".") == true })
                #expect(lines.contains { $0["reference"] as? String == "mandelbrot_zoom" })
            }
            if format == "csv" {
                #expect(result.stdout.hasPrefix("query,reference,reference_id,owner,query_start"))
            }
        }
    }

    @Test("--verbose logs each file through swift-log; without it stderr holds only warnings and the summary")
    func verboseLogging() throws {
        let binary = try Repository.cliptraceBinary()
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let catalogue = folder.file("catalogue.sqlite")
        let registered = try run(binary, ["register", "-v", "--catalogue", catalogue, Self.references[1]])
        #expect(registered.stderr.contains("info cliptrace.register") && registered.stderr.contains("frames=96"),
                "\(registered.stderr)")
        let recording = Repository.path("testmedia/recordings/stream_with_mirrored_copy.mp4")
        let verbose = try run(binary, ["scan", "-v", "--catalogue", catalogue, recording])
        #expect(verbose.status == 0)
        #expect(verbose.stderr.contains("info cliptrace.scan: catalogue=\(catalogue) clips=1"), "\(verbose.stderr)")
        #expect(verbose.stderr.contains("search index ready") && verbose.stderr.contains("index=\(catalogue).index"))
        #expect(verbose.stderr.contains("fingerprinted and matched") && verbose.stderr.contains("matches=1"))
        let plain = try run(binary, ["scan", "--catalogue", catalogue, recording])
        #expect(!plain.stderr.contains("cliptrace.scan"), "\(plain.stderr)")
        #expect(plain.stdout == verbose.stdout, "logging never changes the results")
    }

    /// `recording` (a test recording) re-encoded with `keyframes` (ffmpeg options) and scanned with `--fast
    /// --verbose` and without: both runs, and the ground truth's copy.
    static func fastAndFull(_ recording: String, keyframes: [String]) throws
        -> (fast: CommandResult, full: CommandResult, truth: Truth)
    {
        let binary = try Repository.cliptraceBinary()
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let catalogue = folder.file("catalogue.sqlite")
        #expect(try run(binary, ["register", "-q", "--catalogue", catalogue] + Self.references).status == 0)
        let encodedFile = folder.file("livestream.mp4")
        let encoded = try run("/usr/bin/env", ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i",
                                               Repository.path("testmedia/recordings/\(recording).mp4"),
                                               "-c:v", "libx264"] + keyframes + ["-an", encodedFile])
        #expect(encoded.status == 0, "\(encoded.stderr)")
        let fast = try run(binary, ["scan", "-q", "--verbose", "--fast", "--catalogue", catalogue, encodedFile])
        #expect(fast.status == 0, "\(fast.stderr)")
        let full = try run(binary, ["scan", "-q", "--catalogue", catalogue, encodedFile])
        let truth = try #require(try Self.groundTruth().first { $0.recording == recording })
        return (fast, full, truth)
    }

    /// The fast scan's match of the ground truth's clip, after checking it is placed and scored as the full
    /// scan's.
    static func fastMatchEqualsFull(_ fast: CommandResult, _ full: CommandResult, truth: Truth) throws -> [String: Any] {
        let match = try #require(try Self.jsonLines(fast.stdout).first { $0["reference"] as? String == truth.reference },
                                 "\(fast.stdout)")
        let expected = try #require(try Self.jsonLines(full.stdout).first { $0["reference"] as? String == truth.reference })
        for field in ["query_start", "query_end", "reference_start", "reference_end", "score"] {
            #expect(match[field] as? Double == expected[field] as? Double, "\(field): \(match) against \(expected)")
        }
        return match
    }

    @Test("scan --fast: keyframes, then a full decode around what they found: the default scan's match, placed as it places it")
    func fastPass() throws {
        // A livestream recorder's settings: a keyframe every second.
        let (fast, full, truth) = try Self.fastAndFull("stream_with_mirrored_copy", keyframes: ["-g", "25", "-keyint_min", "25"])
        #expect(fast.stderr.contains("keyframe pass done") && fast.stderr.contains("stretches=1"), "\(fast.stderr)")
        let match = try Self.fastMatchEqualsFull(fast, full, truth: truth)
        #expect(abs((match["query_start"] as? Double ?? -9) - truth.queryStart) <= 0.5, "\(match)")
        #expect(abs((match["reference_start"] as? Double ?? -9) - truth.referenceStart) <= 0.5, "\(match)")
    }

    @Test("scan --fast finds a window on a moving backdrop: keyframes two seconds apart cannot tell it, their companions can")
    func fastPassWindow() throws {
        let (fast, full, truth) = try Self.fastAndFull("stream_with_window_on_texture",
                                                       keyframes: ["-force_key_frames", "expr:gte(t,n_forced*2)"])
        _ = try Self.fastMatchEqualsFull(fast, full, truth: truth)
    }

    @Test("bad input on the command line: one clear sentence and a non-zero status")
    func badInput() throws {
        let binary = try Repository.cliptraceBinary()
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let cases = [
            ("testmedia/nope.mp4", "no such file"), ("testmedia/bad/text.mp4", "does not recognise"),
            ("testmedia/formats/audio_only.m4a", "no video stream"), ("testmedia/bad/empty.mp4", "empty"),
            ("testmedia/formats", "folder"),
        ]
        for (file, phrase) in cases {
            let result = try run(binary, ["fingerprint", Repository.path(file)])
            #expect(result.status != 0)
            #expect(result.stderr.lowercased().contains(phrase), "\(file): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1)
            #expect(result.stdout.isEmpty)
        }
        // A named pipe would block a reader forever: refused at once.
        let fifo = folder.file("stream.mp4")
        #expect(mkfifo(fifo, 0o644) == 0)
        let piped = try run(binary, ["fingerprint", fifo])
        #expect(piped.status == 1)
        #expect(piped.stderr.contains("pipe"))
        // A text file given as the catalogue is refused and not overwritten.
        let notes = folder.file("notes.txt")
        try "keep me".write(toFile: notes, atomically: true, encoding: .utf8)
        let refused = try run(binary, ["register", "--catalogue", notes, Self.references[0]])
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("not a ClipTrace catalogue"))
        #expect(try String(contentsOfFile: notes, encoding: .utf8) == "keep me")
    }

    @Test("fingerprint prints the JSON contract and vPDQ lines")
    func fingerprintFormats() throws {
        let binary = try Repository.cliptraceBinary()
        let json = try run(binary, ["fingerprint", Self.references[1]])
        #expect(json.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(object["frame_rate"] as? Double == 25)
        #expect((object["frames"] as? [[String: Any]])?.count == 96)  // 12 s at 8 per second
        let vpdq = try run(binary, ["fingerprint", "--format", "vpdq", Self.references[1]])
        let first = try #require(vpdq.stdout.split(separator: "\n").first)
        #expect(first.split(separator: ",").count == 4)
    }

    @Test("compare finds a suspected copy without a catalogue, and says so when there is none")
    func compare() throws {
        let binary = try Repository.cliptraceBinary()
        let truth = try #require(try Self.groundTruth().first { $0.recording == "stream_with_mirrored_copy" })
        let recording = Repository.path("testmedia/recordings/stream_with_mirrored_copy.mp4")
        let found = try run(binary, ["compare", "--json", Repository.path("testmedia/references/mandelbrot_zoom.mp4"), recording])
        #expect(found.status == 0, "\(found.stderr)")
        let segment = try #require(try Self.jsonLines(found.stdout).first)
        #expect(abs((segment["query_start"] as? Double ?? -9) - truth.queryStart) <= 0.5)
        #expect(abs((segment["reference_end"] as? Double ?? -9) - truth.referenceEnd) <= 0.5)
        #expect((segment["transforms"] as? [String])?.contains("mirror") == true, "\(segment)")
        #expect(segment["reference"] as? String == "mandelbrot_zoom" && segment["reference_id"] as? Int == 1)
        let absent = try run(binary, ["compare", Repository.path("testmedia/references/life_colony.mp4"), recording])
        #expect(absent.status == 3)
        #expect(absent.stdout.contains("no segment"))
    }

    @Test("a folder of hostile files: every entry gets a result or a one-sentence error, nothing crashes or hangs")
    func hostileCorpus() throws {
        let binary = try Repository.cliptraceBinary()
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let corpus = folder.file("corpus")
        let size = ProcessInfo.processInfo.environment["CLIPTRACE_BAD_CORPUS_SIZE"] ?? "80"
        let made = try run("/usr/bin/env", ["python3", Repository.path("Tests/BadInput/make_corpus.py"), corpus, size, "7"])
        #expect(made.status == 0, "\(made.stderr)")
        #expect(mkfifo(corpus + "/fifo.mp4", 0o644) == 0)
        let entries = made.stdout.split(separator: "\n").count + 1
        let catalogue = folder.file("catalogue.sqlite")
        #expect(try run(binary, ["register", "-q", "--catalogue", catalogue, Self.references[0]]).status == 0)
        let started = Date()
        let result = try run(binary, ["scan", "-q", "--catalogue", catalogue, "--file-timeout", "60", corpus])
        #expect(result.status == 1, "exit status \(result.status): \(result.stderr.suffix(500))")
        #expect(Date().timeIntervalSince(started) < 600)
        let lines = try Self.jsonLines(result.stdout)
        #expect(lines.count == entries, "\(lines.count) records for \(entries) entries")
        for line in lines {
            #expect(line["query"] is String)
            if let error = line["error"] as? String {
                #expect(error.hasSuffix(".") && !error.contains("\n") && error.first?.isUppercase == true, "\(error)")
            } else {
                #expect(line.keys.contains("reference"))
            }
        }
        #expect(lines.contains { ($0["error"] as? String)?.contains("pipe") == true })
        #expect(lines.contains { ($0["query"] as? String)?.hasSuffix("clip.mp4") == true && $0["error"] != nil })
    }

    @Test("a file the user may not read gets a permission error record; the rest of the folder is scanned")
    func unreadableFile() throws {
        let binary = try Repository.cliptraceBinary()
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let catalogue = try Self.catalogueWithMandelbrot(in: folder, binary: binary)
        let batch = folder.file("batch")
        try FileManager.default.createDirectory(atPath: batch, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Repository.path("testmedia/recordings/stream_with_mirrored_copy.mp4"),
                                         toPath: batch + "/readable.mp4")
        try FileManager.default.copyItem(atPath: Self.references[1], toPath: batch + "/locked.mp4")
        #expect(chmod(batch + "/locked.mp4", 0) == 0)
        // root reads everything, so as root the scan runs as nobody (setpriv, util-linux); the catalogue and the
        // folders must then be readable by others. The catalogue stays root's: read-only for nobody, as a shared
        // catalogue is. Anyone else runs as themselves, with the catalogue made read-only.
        var asReader: [String] = []
        if getuid() == 0 {
            chmod(folder.path, 0o1777)
            chmod(batch, 0o755)
            chmod(catalogue, 0o644)
            asReader = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
        } else {
            chmod(catalogue, 0o444)
        }
        let command = asReader + [binary, "scan", "-q", "--catalogue", catalogue, batch]
        let result = try run(command[0], Array(command.dropFirst()))
        #expect(result.status == 1, "\(result.stderr)")
        let lines = try Self.jsonLines(result.stdout)
        #expect(lines.count == 2)
        let locked = try #require(lines.first { ($0["query"] as? String)?.hasSuffix("locked.mp4") == true })
        #expect((locked["error"] as? String)?.contains("ermission denied") == true, "\(locked)")
        #expect(lines.contains { ($0["query"] as? String)?.hasSuffix("readable.mp4") == true
                && $0["reference"] as? String == "mandelbrot_zoom" })
        // The same user may not change that catalogue: a clear refusal, and the file is untouched.
        let before = try Data(contentsOf: URL(fileURLWithPath: catalogue))
        let register = asReader + [binary, "register", "--catalogue", catalogue, Self.references[0]]
        let refused = try run(register[0], Array(register.dropFirst()))
        #expect(refused.status == 2 && refused.stderr.contains("read-only"), "\(refused.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: catalogue)) == before)
    }

    @Test("a file still being written while it is scanned gets a result or an error, never a hang or a crash")
    func growingFile() throws {
        let binary = try Repository.cliptraceBinary()
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let catalogue = try Self.catalogueWithMandelbrot(in: folder, binary: binary)
        // MPEG-TS, as a recorder writes it: readable from the first packets on, the rest arriving as it is scanned.
        let source = try Data(contentsOf: URL(fileURLWithPath: Repository.path("testmedia/bad/corrupt_packets.ts")))
        let whole = try Data(contentsOf: URL(fileURLWithPath: Repository.path("testmedia/formats/mpeg2.ts"))) + source
        let growing = folder.file("recording.ts")
        let head = whole.count / 5
        try whole.prefix(head).write(to: URL(fileURLWithPath: growing))
        let writer = Thread {
            guard let handle = FileHandle(forWritingAtPath: growing) else { return }
            handle.seekToEndOfFile()
            var offset = head
            while offset < whole.count {
                let end = min(whole.count, offset + 8192)
                handle.write(whole.subdata(in: offset..<end))
                offset = end
                usleep(20_000)
            }
            try? handle.close()
        }
        writer.start()
        let started = Date()
        let result = try run(binary, ["scan", "-q", "--catalogue", catalogue, "--file-timeout", "60", growing])
        #expect(Date().timeIntervalSince(started) < 60)
        #expect(result.status == 0 || result.status == 1, "\(result.stderr)")
        let lines = try Self.jsonLines(result.stdout)
        #expect(!lines.isEmpty, "one record, or one per match")
        #expect(lines.allSatisfy { $0["query"] as? String == growing && ($0["error"] is String || $0.keys.contains("reference")) })
        while writer.isExecuting { usleep(10_000) }
    }

    @Test("a file over its time budget gets an error record and the batch goes on")
    func timeBudget() throws {
        let binary = try Repository.cliptraceBinary()
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let catalogue = try Self.catalogueWithMandelbrot(in: folder, binary: binary)
        let result = try run(binary, ["scan", "-q", "--catalogue", catalogue, "--file-timeout", "0.001",
                                      Repository.path("testmedia/recordings/stream_with_mirrored_copy.mp4")])
        #expect(result.status == 1)
        let lines = try Self.jsonLines(result.stdout)
        #expect(lines.count == 1)
        #expect((lines.first?["error"] as? String)?.contains("too long") == true
                || (lines.first?["error"] as? String)?.contains("time budget") == true)
    }

    @Test("two processes registering and one scanning the same catalogue at once lose nothing")
    func concurrentProcesses() throws {
        let binary = try Repository.cliptraceBinary()
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let catalogue = try Self.catalogueWithMandelbrot(in: folder, binary: binary)
        let first = [Self.references[0], Repository.path("testmedia/formats/vp9.webm"),
                     Repository.path("testmedia/formats/mpeg4.avi")]
        let second = [Self.references[2], Repository.path("testmedia/formats/mpeg2.ts"),
                      Repository.path("testmedia/formats/sorenson.flv")]
        func start(_ arguments: [String]) throws -> (Process, Pipe) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = arguments
            let errors = Pipe()
            process.standardOutput = FileHandle.nullDevice
            process.standardError = errors
            try process.run()
            return (process, errors)
        }
        let running = try [
            start(["register", "-q", "--catalogue", catalogue] + first),
            start(["register", "-q", "--catalogue", catalogue] + second),
            start(["scan", "-q", "--catalogue", catalogue, "--jobs", "1", Repository.path("testmedia/recordings")]),
        ]
        for (process, errors) in running {
            let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "\(process.arguments ?? []): \(message)")
            #expect(!message.contains("locked"))
        }
        let final = try SQLiteCatalogue(path: catalogue, access: .read)
        #expect(try final.clips().count == 7)
        #expect(try final.integrityCheck() == "ok")
    }

    @Test("killing register at random moments never leaves half a clip, and re-running completes it")
    func killDuringRegister() throws {
        let binary = try Repository.cliptraceBinary()
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        var generator = SplitMix(seed: 5)
        let trials = Int(ProcessInfo.processInfo.environment["CLIPTRACE_KILL_TRIALS"] ?? "") ?? 8
        // Odd trials kill a registration into a new catalogue (creation itself may be interrupted), even ones
        // into the catalogue the earlier trials left.
        let shared = folder.file("catalogue.sqlite")
        var checked = 0
        for trial in 0..<trials {
            let catalogue = trial % 2 == 1 ? folder.file("fresh-\(trial).sqlite") : shared
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = ["register", "-q", "--catalogue", catalogue] + Self.references
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            usleep(UInt32(generator.next() % 1_500_000))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            // Killed before it created anything: nothing to check, and nothing may be half there either.
            guard FileManager.default.fileExists(atPath: catalogue) else {
                #expect(!FileManager.default.fileExists(atPath: catalogue + "-wal"))
                continue
            }
            checked += 1
            let opened = try SQLiteCatalogue(path: catalogue, access: .read)
            #expect(try opened.integrityCheck() == "ok")
            let contents = try opened.loadFingerprints()
            #expect(contents.damaged.isEmpty)
            for (record, fingerprint) in contents.clips {
                #expect(fingerprint.frames.count == record.frameCount, "clip \(record.title) is incomplete")
                #expect(record.frameCount >= 40)
            }
        }
        #expect(checked >= trials / 3, "only \(checked) of \(trials) kills left a catalogue to check")
        let finished = try run(binary, ["register", "--catalogue", shared] + Self.references)
        #expect(finished.status == 0, "\(finished.stderr)")
        let final = try SQLiteCatalogue(path: shared, access: .read)
        #expect(try final.clips().count == 3)
        #expect(try final.integrityCheck() == "ok")
        // The search index, killed in the middle of an update as often as not, still answers, and what the
        // killed processes left half written is gone.
        let scanned = try run(binary, ["scan", "-q", "--catalogue", shared,
                                       Repository.path("testmedia/recordings/stream_with_mirrored_copy.mp4")])
        #expect(scanned.status == 0 && scanned.stdout.contains("mandelbrot_zoom"), "\(scanned.stderr)")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: shared + ".index").filter { $0.contains(".partial-") }
        #expect(leftovers.isEmpty, "\(leftovers)")
    }

    @Test("the search index is saved beside the catalogue, mapped by the next scan, and repaired when damaged without changing a result")
    func savedIndex() throws {
        let binary = try Repository.cliptraceBinary()
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let catalogue = folder.file("catalogue.sqlite")
        #expect(try run(binary, ["register", "-q", "--catalogue", catalogue] + Self.references).status == 0)
        let index = catalogue + ".index"
        let files = try FileManager.default.contentsOfDirectory(atPath: index).filter { $0.hasSuffix(".seg") }.sorted()
        #expect(files.contains { $0.hasPrefix("h-") } && files.contains { $0.hasPrefix("c-") }, "\(files)")
        let recording = Repository.path("testmedia/recordings/stream_with_cropped_copy.mp4")
        let first = try run(binary, ["scan", "-v", "--catalogue", catalogue, recording])
        #expect(first.status == 0 && !first.stderr.contains("building the search index"), "\(first.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: index).filter { $0.hasSuffix(".seg") }.sorted() == files)
        let sound = try run(binary, ["check", "--catalogue", catalogue])
        #expect(sound.status == 0 && sound.stdout.contains("every block intact"), "\(sound.stdout)")
        // One bit of each segment's data flipped: found when read, rebuilt from the catalogue, same answer.
        for file in files {
            let handle = try #require(FileHandle(forUpdatingAtPath: index + "/" + file))
            let size = try handle.seekToEnd()
            try handle.seek(toOffset: size / 3)
            let byte = try #require(try handle.read(upToCount: 1)?.first)
            try handle.seek(toOffset: size / 3)
            try handle.write(contentsOf: Data([byte ^ 0x04]))
            try handle.close()
        }
        let checked = try run(binary, ["check", "--catalogue", catalogue])
        #expect(checked.status == 1 && checked.stdout.contains("2 damaged file(s)"), "\(checked.stdout)")
        let repaired = try run(binary, ["scan", "--catalogue", catalogue, recording])
        #expect(repaired.status == 0, "\(repaired.stderr)")
        #expect(repaired.stderr.contains("rebuilding") && repaired.stderr.contains("damaged"), "\(repaired.stderr)")
        func matches(_ output: String) throws -> [String] {
            try Self.jsonLines(output).filter { $0["reference"] != nil }.map {
                "\($0["reference"]!) \($0["query_start"]!) \($0["reference_start"]!) \($0["score"]!)"
            }
        }
        let firstMatches = try matches(first.stdout)
        let repairedMatches = try matches(repaired.stdout)
        #expect(!firstMatches.isEmpty && repairedMatches == firstMatches)
        // The report is never written inside the index.
        let refused = try run(binary, ["scan", "-q", "--catalogue", catalogue, "-o", index + "/report.jsonl", recording])
        #expect(refused.status == 2 && refused.stderr.contains("search index"), "\(refused.stderr)")
    }

    @Test("scan --shard K/N --save-shard, once per shard, then merge: exactly the records of a scan of the whole catalogue",
          arguments: ["direct", "seeded"])
    func shardsMerged(_ strategy: String) throws {
        let binary = try Repository.cliptraceBinary()
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let catalogue = folder.file("catalogue.sqlite")
        #expect(try run(binary, ["register", "-q", "--catalogue", catalogue] + Self.references).status == 0)
        let recordings = Repository.path("testmedia/recordings")
        let whole = try run(binary, ["scan", "-q", "--index", strategy, "--catalogue", catalogue, recordings])
        #expect(whole.status == 0, "\(whole.stderr)")
        let files = try (1...3).map { shard -> String in
            let file = folder.file("shard-\(shard).ctss")
            let saved = try run(binary, ["scan", "-q", "--index", strategy, "--catalogue", catalogue, "--shard", "\(shard)/3",
                                         "--save-shard", file, recordings])
            #expect(saved.status == 0 && saved.stdout.isEmpty, "\(saved.stderr)")
            return file
        }
        let merged = try run(binary, ["merge", "-q"] + files)
        #expect(merged.status == 0, "\(merged.stderr)")
        let lines = { (text: String) in text.split(separator: "\n").map(String.init).sorted() }
        #expect(lines(merged.stdout) == lines(whole.stdout))
        #expect(lines(merged.stdout).count == 13)
        // One shard alone reports only what its own clips give, with its own weights: not the whole answer.
        let alone = try run(binary, ["scan", "-q", "--index", strategy, "--catalogue", catalogue, "--shard", "2/3", recordings])
        #expect(lines(alone.stdout) != lines(whole.stdout))

        // The stored form reads back to what was written, byte for byte; cut short anywhere it is refused.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: files[0]))
        let entries = try ShardScanFile.read(bytes)
        #expect(entries.count == 12 && entries.allSatisfy { $0.scan.shard == Shard(index: 0, count: 3) })
        var again = ShardScanFile.header
        for entry in entries.sorted(by: { $0.order < $1.order }) {
            again += try ShardScanFile.record(path: entry.path, order: entry.order, scan: entry.scan)
        }
        #expect(try ShardScanFile.read(Data(again)).map(\.scan) == entries.sorted(by: { $0.order < $1.order }).map(\.scan))
        for cut in stride(from: 5, to: bytes.count - 1, by: max(1, bytes.count / 97)) {
            #expect(throws: (any Error).self) { try ShardScanFile.read(bytes.prefix(cut)) }
        }
        // A file twice, or some shards missing: not the whole catalogue's answer, refused.
        let twice = try run(binary, ["merge", "-q", files[0], files[0], files[1]])
        #expect(twice.status == 2 && twice.stderr.contains("each once"), "\(twice.stderr)")
        let missing = try run(binary, ["merge", "-q", files[0], files[2]])
        #expect(missing.status == 2 && missing.stderr.contains("2/3") && missing.stderr.contains("missing"), "\(missing.stderr)")
        // Thresholds apply at the merge, as in a scan of the whole.
        let strict = try run(binary, ["merge", "-q", "--min-duration", "6.5"] + files)
        let strictWhole = try run(binary, ["scan", "-q", "--index", strategy, "--min-duration", "6.5", "--catalogue", catalogue, recordings])
        let matched = { (text: String) in lines(text).filter { $0.contains("\"reference\":\"") } }
        #expect(strict.status == 0 && lines(strict.stdout) == lines(strictWhole.stdout))
        #expect(matched(strict.stdout).count < matched(merged.stdout).count)

        // Files of other inputs, or not shard scans at all, are refused with a sentence.
        let other = folder.file("other.ctss")
        #expect(try run(binary, ["scan", "-q", "--catalogue", catalogue, "--shard", "1/3", "--save-shard", other,
                                 Self.references[0]]).status == 0)
        let mixed = try run(binary, ["merge", "-q", files[0], other])
        #expect(mixed.status == 2 && mixed.stderr.contains("other inputs"), "\(mixed.stderr)")
        let notShards = try run(binary, ["merge", "-q", Self.references[0]])
        #expect(notShards.status == 2 && notShards.stderr.contains("not a file of shard scans"), "\(notShards.stderr)")
        let needsShard = try run(binary, ["scan", "-q", "--catalogue", catalogue, "--save-shard", other, recordings])
        #expect(needsShard.status == 64 && needsShard.stderr.contains("--shard"), "\(needsShard.stderr)")
    }
}
