import ClipTraceCatalogue
import Foundation
import TestSupport
import Testing

/// What ClipTrace must never do to a user's files, and the inputs that used to hang it: each test is one
/// reproduction from issue 18, run against the real binary, real files and a real SQLite catalogue.
@Suite("Never destroy what the user has", .serialized)
struct DataSafetyTests {
    static let reference = Repository.path("testmedia/references/mandelbrot_zoom.mp4")
    static let recording = Repository.path("testmedia/recordings/stream_with_mirrored_copy.mp4")

    /// A folder with a catalogue holding mandelbrot_zoom and a copy of a recording that contains it.
    struct Workspace {
        let folder: TemporaryFolder
        let binary: String
        let catalogue: String
        let video: String

        init() throws {
            folder = try TemporaryFolder("cliptrace-safety")
            binary = try Repository.cliptraceBinary()
            catalogue = folder.file("c.sqlite")
            video = folder.file("v.mp4")
            try FileManager.default.copyItem(atPath: DataSafetyTests.recording, toPath: video)
            let registered = try run(binary, ["register", "-q", "--catalogue", catalogue, DataSafetyTests.reference])
            try #require(registered.status == 0, "\(registered.stderr)")
        }

        func cliptrace(_ arguments: [String], timeout: Double = 120) throws -> CommandResult {
            try run(binary, arguments, timeout: timeout)
        }

        func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }
    }

    /// Device and inode: the same file, not another one put in its place.
    static func identity(_ path: String) -> [UInt64]? {
        var info = stat()
        return stat(path, &info) == 0 ? [UInt64(info.st_dev), UInt64(info.st_ino)] : nil
    }

    static func fileType(_ path: String) -> mode_t? {
        var info = stat()
        return lstat(path, &info) == 0 ? info.st_mode & S_IFMT : nil
    }

    @Test("1. -o onto an existing folder is refused and the folder keeps everything in it")
    func outputFolder() throws {
        let work = try Workspace()
        defer { work.folder.cleanUp() }
        let out = work.folder.file("out")
        try FileManager.default.createDirectory(atPath: out + "/sub", withIntermediateDirectories: true)
        try "keep".write(toFile: out + "/sub/keep.txt", atomically: true, encoding: .utf8)
        let result = try work.cliptrace(["scan", "-q", "--catalogue", work.catalogue, "-o", out, work.video])
        #expect(result.status == 2)
        #expect(result.stderr.contains("is a folder"), "\(result.stderr)")
        #expect(try String(contentsOfFile: out + "/sub/keep.txt", encoding: .utf8) == "keep")
    }

    @Test("2. -o onto the catalogue in use, its -wal or a hard link to it is refused and every clip stays")
    func outputCatalogue() throws {
        let work = try Workspace()
        defer { work.folder.cleanUp() }
        let hardLink = work.folder.file("same.sqlite")
        #expect(link(work.catalogue, hardLink) == 0)
        // The -wal and -shm names too, whether or not SQLite keeps those files right now: a report there would
        // be read back as the catalogue's log.
        for target in [work.catalogue, hardLink, work.catalogue + "-wal", work.catalogue + "-shm"] {
            let before = try work.bytes(work.catalogue)
            let result = try work.cliptrace(["scan", "-q", "--catalogue", work.catalogue, "-o", target, work.video])
            #expect(result.status == 2)
            #expect(result.stderr.contains("catalogue in use"), "\(result.stderr)")
            #expect(try work.bytes(work.catalogue) == before)
        }
        let listed = try work.cliptrace(["list", "--catalogue", work.catalogue])
        #expect(listed.stdout.contains("mandelbrot_zoom"))
    }

    @Test("3. -o onto one of the inputs is refused for scan and fingerprint; the video is untouched")
    func outputInput() throws {
        let work = try Workspace()
        defer { work.folder.cleanUp() }
        let before = try work.bytes(work.video)
        let scanned = try work.cliptrace(["scan", "-q", "--catalogue", work.catalogue, "-o", work.video, work.video])
        #expect(scanned.status == 2 && scanned.stderr.contains("one of the inputs"), "\(scanned.stderr)")
        let printed = try work.cliptrace(["fingerprint", "-q", "-o", work.video, work.video])
        #expect(printed.status == 2 && printed.stderr.contains("one of the inputs"), "\(printed.stderr)")
        // An input reached through a folder counts too.
        let scannedFolder = try work.cliptrace(["scan", "-q", "--catalogue", work.catalogue, "-o", work.video,
                                                work.folder.path])
        #expect(scannedFolder.status == 2)
        #expect(try work.bytes(work.video) == before)
    }

    @Test("4. -o onto a device node made for the test is written through and stays a device; a write error is status 2",
          .enabled(if: getuid() == 0, "mknod needs root"))
    func outputDevice() throws {
        let work = try Workspace()
        defer { work.folder.cleanUp() }
        let null = work.folder.file("null"), full = work.folder.file("full")
        // Linux's character devices 1:3 (null) and 1:7 (full), as (major << 8) | minor.
        #expect(mknod(null, S_IFCHR | 0o666, dev_t(1 << 8 | 3)) == 0)
        #expect(mknod(full, S_IFCHR | 0o666, dev_t(1 << 8 | 7)) == 0)
        let quiet = try work.cliptrace(["fingerprint", "-q", "-o", null, work.video])
        #expect(quiet.status == 0, "\(quiet.stderr)")
        #expect(Self.fileType(null) == S_IFCHR, "the device was replaced")
        let failed = try work.cliptrace(["fingerprint", "-q", "-o", full, work.video])
        #expect(failed.status == 2 && failed.stderr.contains("No space left"), "\(failed.stderr)")
        #expect(Self.fileType(full) == S_IFCHR)
    }

    /// Runs the binary with `standardOutput` as its stdout; returns its status and stderr.
    static func status(_ work: Workspace, _ arguments: [String], standardOutput: FileHandle) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: work.binary)
        process.arguments = arguments
        process.standardOutput = standardOutput
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let stderr = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: stderr, as: UTF8.self))
    }

    @Test("4. a full standard output or one whose reader has gone is status 2 with a sentence, for every command that prints results")
    func fullOrClosedStandardOutput() throws {
        let work = try Workspace()
        defer { work.folder.cleanUp() }
        let commands = [["list", "--catalogue", work.catalogue], ["info", "--catalogue", work.catalogue, "1"],
                        ["compare", "--json", Self.reference, work.video],
                        ["scan", "-q", "--catalogue", work.catalogue, work.video]]
        // The system's /dev/full as the child's stdout: only written to, never given as a path to replace.
        let fullHandle = try #require(FileHandle(forWritingAtPath: "/dev/full"))
        for arguments in commands {
            let (status, stderr) = try Self.status(work, arguments, standardOutput: fullHandle)
            #expect(status == 2 && stderr.contains("No space left"), "\(arguments[0]) to a full disk: \(status) \(stderr)")
        }
        // A pipe with no reader left (`| head` that has exited): EPIPE, not death by SIGPIPE (status 141).
        for arguments in commands {
            let pipe = Pipe()
            try pipe.fileHandleForReading.close()
            let (status, stderr) = try Self.status(work, arguments, standardOutput: pipe.fileHandleForWriting)
            #expect(status == 2 && stderr.contains("Broken pipe"), "\(arguments[0]) to a closed pipe: \(status) \(stderr)")
        }
    }

    @Test("4. -o /dev/stdout (and /dev/fd/1) writes to the descriptor: a pipe gets the report, a file opened with >> keeps what it held")
    func outputStandardOutputByName() throws {
        let work = try Workspace()
        defer { work.folder.cleanUp() }
        let piped = try work.cliptrace(["fingerprint", "-q", "-o", "/dev/stdout", work.video])
        #expect(piped.status == 0 && piped.stdout.contains("\"frames\""), "\(piped.stderr)")
        for name in ["/dev/stdout", "/dev/fd/1"] {
            let log = work.folder.file("log.txt")
            try "earlier lines\n".write(toFile: log, atomically: false, encoding: .utf8)
            let inode = try #require(Self.identity(log))
            let appending = try #require(FileHandle(forUpdatingAtPath: log))
            try appending.seekToEnd()
            let (status, stderr) = try Self.status(work, ["scan", "-q", "--catalogue", work.catalogue, "-o", name, work.video],
                                                   standardOutput: appending)
            try appending.close()
            #expect(status == 0, "\(name): \(stderr)")
            let text = try String(contentsOfFile: log, encoding: .utf8)
            #expect(text.hasPrefix("earlier lines\n") && text.contains("mandelbrot_zoom"), "\(name): \(text)")
            #expect(Self.identity(log) == inode, "\(name): the file was replaced")
        }
    }

    @Test("4. -o onto a FIFO is written through and a symbolic link is followed, never replaced")
    func outputPipeAndLink() throws {
        let work = try Workspace()
        defer { work.folder.cleanUp() }
        let fifo = work.folder.file("report.fifo")
        #expect(mkfifo(fifo, 0o644) == 0)
        // Read and write at once, so that opening never blocks; the report (well under a pipe's 64 KiB) waits
        // in the pipe until the scan is over.
        let reader = open(fifo, O_RDWR | O_NONBLOCK)
        try #require(reader >= 0)
        defer { close(reader) }
        let piped = try work.cliptrace(["scan", "-q", "--catalogue", work.catalogue, "-o", fifo, work.video], timeout: 60)
        var received = [UInt8](), chunk = [UInt8](repeating: 0, count: 65_536)
        while case let count = read(reader, &chunk, chunk.count), count > 0 { received += chunk.prefix(count) }
        #expect(piped.status == 0, "\(piped.stderr)")
        #expect(Self.fileType(fifo) == S_IFIFO, "the FIFO was replaced")
        #expect(String(decoding: received, as: UTF8.self).contains("mandelbrot_zoom"))
        let target = work.folder.file("real.json"), link = work.folder.file("link.json")
        try "old".write(toFile: target, atomically: true, encoding: .utf8)
        #expect(symlink("real.json", link) == 0)
        let linked = try work.cliptrace(["scan", "-q", "--catalogue", work.catalogue, "-o", link, work.video])
        #expect(linked.status == 0, "\(linked.stderr)")
        #expect(Self.fileType(link) == S_IFLNK)
        #expect(try String(contentsOfFile: target, encoding: .utf8).contains("mandelbrot_zoom"))
    }

    /// A SQLite file made by python, to stand for another application's database.
    static func foreignDatabase(_ path: String, pragma: String) throws {
        let made = try run("/usr/bin/env", ["python3", "-c",
                                            "import sqlite3; c=sqlite3.connect('\(path)'); c.execute('PRAGMA \(pragma)'); c.commit(); c.close()"])
        try #require(made.status == 0, "\(made.stderr)")
    }

    @Test("5. another application's SQLite file with only its application_id or user_version set is refused untouched")
    func foreignDatabases() throws {
        let work = try Workspace()
        defer { work.folder.cleanUp() }
        for pragma in ["application_id = 4242", "user_version = 17"] {
            let database = work.folder.file("other.db")
            try? FileManager.default.removeItem(atPath: database)
            try Self.foreignDatabase(database, pragma: pragma)
            let before = try work.bytes(database)
            for arguments in [["register", "-q", "--catalogue", database, Self.reference],
                              ["list", "--catalogue", database], ["scan", "-q", "--catalogue", database, work.video]] {
                let result = try work.cliptrace(arguments)
                #expect(result.status == 2, "\(arguments[0]) on a foreign database (\(pragma)): \(result.stderr)")
                #expect(result.stderr.contains("another application"), "\(result.stderr)")
                #expect(try work.bytes(database) == before, "\(arguments[0]) changed a foreign database (\(pragma))")
            }
        }
        // A SQLite file with nothing in it at all is a fine place for a new catalogue.
        let empty = work.folder.file("empty.db")
        try Self.foreignDatabase(empty, pragma: "user_version = 0")
        #expect(try work.cliptrace(["register", "-q", "--catalogue", empty, Self.reference]).status == 0)
    }

    @Test("6. list, info, check and scan leave the catalogue byte-identical; a newer catalogue is refused unchanged")
    func readOnlyCommands() throws {
        let work = try Workspace()
        defer { work.folder.cleanUp() }
        // Fold the write-ahead log into the file first, so that the file alone is the catalogue.
        let checkpoint = try run("/usr/bin/env", ["python3", "-c",
                                                  "import sqlite3; sqlite3.connect('\(work.catalogue)').execute('PRAGMA wal_checkpoint(TRUNCATE)')"])
        try #require(checkpoint.status == 0, "\(checkpoint.stderr)")
        let before = try work.bytes(work.catalogue)
        for arguments in [["list"], ["info", "1"], ["check"], ["scan", "-q", work.video]] {
            let result = try work.cliptrace([arguments[0], "--catalogue", work.catalogue] + arguments.dropFirst())
            #expect(result.status == 0, "\(arguments[0]): \(result.stderr)")
            #expect(try work.bytes(work.catalogue) == before, "\(arguments[0]) changed the catalogue")
        }
        // A catalogue from a newer ClipTrace: refused by every command before anything is written.
        let future = try run("/usr/bin/env", ["python3", "-c",
                                              "import sqlite3; c=sqlite3.connect('\(work.catalogue)'); c.execute(\"INSERT INTO grdb_migrations VALUES ('v99: from the future')\"); c.commit(); c.execute('PRAGMA wal_checkpoint(TRUNCATE)'); c.close()"])
        try #require(future.status == 0, "\(future.stderr)")
        let newer = try work.bytes(work.catalogue)
        for arguments in [["list"], ["register", "-q", Repository.path("testmedia/references/life_colony.mp4")],
                          ["remove", "1"], ["scan", "-q", work.video]] {
            let result = try work.cliptrace([arguments[0], "--catalogue", work.catalogue] + arguments.dropFirst())
            #expect(result.status == 2 && result.stderr.contains("newer ClipTrace"), "\(arguments[0]): \(result.stderr)")
            #expect(try work.bytes(work.catalogue) == newer, "\(arguments[0]) changed a newer catalogue")
        }
    }

    @Test("7. two processes creating one catalogue at the same moment both register their clip")
    func concurrentCreation() throws {
        let work = try Workspace()
        defer { work.folder.cleanUp() }
        let clips = [Self.reference, Repository.path("testmedia/references/life_colony.mp4")]
        for trial in 0..<3 {
            let catalogue = work.folder.file("new-\(trial).sqlite")
            let processes = try clips.map { clip -> (Process, Pipe) in
                let process = Process()
                process.executableURL = URL(fileURLWithPath: work.binary)
                process.arguments = ["register", "-q", "--catalogue", catalogue, clip]
                let errors = Pipe()
                process.standardOutput = FileHandle.nullDevice
                process.standardError = errors
                try process.run()
                return (process, errors)
            }
            for (process, errors) in processes {
                let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                process.waitUntilExit()
                #expect(process.terminationStatus == 0, "trial \(trial): \(message)")
            }
            #expect(try SQLiteCatalogue(path: catalogue, access: .read).clips().count == 2, "trial \(trial)")
        }
    }

    @Test("8. SIGINT, SIGTERM or SIGHUP during scan -o leaves no partial file; a killed run's partial is swept by the next")
    func interruptedOutput() throws {
        let work = try Workspace()
        defer { work.folder.cleanUp() }
        let batch = work.folder.file("batch")
        try FileManager.default.createDirectory(atPath: batch, withIntermediateDirectories: true)
        for index in 0..<12 { try FileManager.default.copyItem(atPath: work.video, toPath: batch + "/v\(index).mp4") }
        let report = work.folder.file("rep.json")
        func partials() throws -> [String] {
            try FileManager.default.contentsOfDirectory(atPath: work.folder.path).filter { $0.hasPrefix("rep.json.partial-") }
        }
        for signal in [SIGINT, SIGTERM, SIGHUP, SIGKILL] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: work.binary)
            process.arguments = ["scan", "-q", "--jobs", "1", "--catalogue", work.catalogue, "-f", "json", "-o", report, batch]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            // Wait until the report is being written, then interrupt.
            var waited = 0
            while try partials().isEmpty, waited < 500 { usleep(10_000); waited += 1 }
            usleep(300_000)
            kill(process.processIdentifier, signal)
            process.waitUntilExit()
            if signal == SIGKILL {
                #expect(try partials().count == 1, "a killed process cannot clean up; the next run must")
            } else {
                #expect(process.terminationStatus == 128 + signal, "status \(process.terminationStatus)")
                let left = try partials()
                #expect(left.isEmpty, "signal \(signal) left \(left)")
            }
            #expect(!FileManager.default.fileExists(atPath: report), "an interrupted report was put in place")
        }
        let finished = try work.cliptrace(["scan", "-q", "--catalogue", work.catalogue, "-f", "json", "-o", report, work.video])
        #expect(finished.status == 0)
        #expect(try partials().isEmpty, "the stale partial of a dead process was not swept")
        #expect(FileManager.default.fileExists(atPath: report))
    }

    @Test("9. a folder with links to itself is scanned once per real file, quickly, and says so")
    func symlinkLoops() throws {
        let work = try Workspace()
        defer { work.folder.cleanUp() }
        let looped = work.folder.file("L")
        try FileManager.default.createDirectory(atPath: looped, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: work.video, toPath: looped + "/v.mp4")
        #expect(symlink(".", looped + "/s1") == 0 && symlink(".", looped + "/s2") == 0)
        #expect(symlink("v.mp4", looped + "/alias.mp4") == 0)
        let result = try work.cliptrace(["scan", "-q", "--catalogue", work.catalogue, looped], timeout: 60)
        #expect(!result.timedOut)
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.count == 1, "the one real file was scanned \(lines.count) times")
        #expect(result.stderr.contains("already scanned through another path"), "\(result.stderr)")
        let noFollow = try work.cliptrace(["scan", "-q", "--no-follow", "--catalogue", work.catalogue, looped], timeout: 60)
        #expect(noFollow.status == 0 && noFollow.stdout.split(separator: "\n").count == 1)
        #expect(noFollow.stdout.contains("/v.mp4") && !noFollow.stderr.contains("already scanned"))
        let help = try work.cliptrace(["scan", "--help"])
        #expect(help.stdout.contains("--no-follow") && help.stdout.contains("followed"))
    }

    @Test("10. register refuses a FIFO and /dev/zero at once instead of blocking or reading forever")
    func registerPipesAndDevices() throws {
        let work = try Workspace()
        defer { work.folder.cleanUp() }
        let fifo = work.folder.file("p.fifo")
        #expect(mkfifo(fifo, 0o644) == 0)
        for path in [fifo, "/dev/zero"] {
            let result = try work.cliptrace(["register", "-q", "--catalogue", work.catalogue, path], timeout: 20)
            #expect(!result.timedOut, "register \(path) hung")
            #expect(result.status == 1 && result.stderr.contains("pipe, socket or device"), "\(result.stderr)")
        }
    }

    @Test("11. a FIFO, a folder, a device or nothing given as the catalogue: one clear sentence, status 2, no hang")
    func unusableCataloguePaths() throws {
        let work = try Workspace()
        defer { work.folder.cleanUp() }
        let fifo = work.folder.file("c.fifo")
        #expect(mkfifo(fifo, 0o644) == 0)
        var cases: [(String, String)] = [(fifo, "not a regular file"), (work.folder.path, "is a folder"), ("", "path is empty")]
        // A device node of the test's own (never the system's /dev/null, which a regression could replace).
        let device = work.folder.file("null")
        if getuid() == 0, mknod(device, S_IFCHR | 0o666, dev_t(1 << 8 | 3)) == 0 { cases.append((device, "not a regular file")) }
        for (path, phrase) in cases {
            for arguments in [["list"], ["register", "-q", Self.reference], ["scan", "-q", work.video]] {
                let result = try work.cliptrace([arguments[0], "--catalogue", path] + arguments.dropFirst(), timeout: 20)
                #expect(!result.timedOut, "\(arguments[0]) --catalogue \(path) hung")
                #expect(result.status == 2 && result.stderr.contains(phrase), "\(path): \(result.stderr)")
                #expect(result.stderr.split(separator: "\n").count == 1)
            }
        }
        #expect(Self.fileType(fifo) == S_IFIFO)
        #expect(getuid() != 0 || Self.fileType(device) == S_IFCHR)
    }

    @Test("12. the catalogue keeps the absolute path and --source; a report never shows a file that changed since")
    func evidenceFromTheRightFile() throws {
        let work = try Workspace()
        defer { work.folder.cleanUp() }
        // Registered by a relative path from the workspace folder.
        let original = work.folder.file("original.mp4")
        try FileManager.default.copyItem(atPath: Repository.path("testmedia/references/spinning_pattern.mp4"), toPath: original)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: work.binary)
        process.arguments = ["register", "-q", "--catalogue", work.catalogue, "--source", "https://example.org/original",
                             "original.mp4"]
        process.currentDirectoryURL = URL(fileURLWithPath: work.folder.path)
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let clip = try #require(try SQLiteCatalogue(path: work.catalogue, access: .read).clips().first { $0.title == "original" })
        #expect(clip.sourcePath == URL(fileURLWithPath: original).resolvingSymlinksInPath().path)
        #expect(clip.source == "https://example.org/original")
        // Another video now sits where the reference was: the report says so instead of showing its frames.
        let recording = Repository.path("testmedia/recordings/stream_with_cropped_copy.mp4")
        let report = work.folder.file("report.html")
        let first = try work.cliptrace(["scan", "-q", "--catalogue", work.catalogue, "-f", "html", "-o", report, recording])
        #expect(first.status == 0)
        #expect(!(try String(contentsOfFile: report, encoding: .utf8)).contains("moved or changed"))
        // The same size with other bytes (only the content hash can tell), then another video altogether.
        var altered = try work.bytes(original)
        altered[altered.count / 2] ^= 0xFF
        try altered.write(to: URL(fileURLWithPath: original))
        let second = try work.cliptrace(["scan", "-q", "--catalogue", work.catalogue, "-f", "html", "-o", report, recording])
        #expect(second.status == 0)
        #expect(try String(contentsOfFile: report, encoding: .utf8).contains("moved or changed"),
                "the report showed pictures of a file whose bytes changed")
        try FileManager.default.removeItem(atPath: original)
        try FileManager.default.copyItem(atPath: Repository.path("testmedia/references/life_colony.mp4"), toPath: original)
        let third = try work.cliptrace(["scan", "-q", "--catalogue", work.catalogue, "-f", "html", "-o", report, recording])
        #expect(third.status == 0)
        let page = try String(contentsOfFile: report, encoding: .utf8)
        #expect(page.contains("moved or changed"), "the report showed pictures of a different file")
    }

    @Test("13. one damaged fingerprint: scan searches the other clips, names the damaged one when it reads it, exit 1; check lists it")
    func damagedFingerprint() throws {
        let work = try Workspace()
        defer { work.folder.cleanUp() }
        let second = try work.cliptrace(["register", "-q", "--catalogue", work.catalogue,
                                         Repository.path("testmedia/references/life_colony.mp4")])
        #expect(second.status == 0)
        let damaged = try run("/usr/bin/env", ["python3", "-c",
                                               "import sqlite3; c=sqlite3.connect('\(work.catalogue)'); c.execute(\"UPDATE clip SET fingerprint = x'43544650030000000400000001020304' WHERE id = 2\"); c.commit(); c.close()"])
        try #require(damaged.status == 0, "\(damaged.stderr)")
        // The saved index was built before the damage and still serves; a scan that reads the fingerprints
        // (an index built in memory, or the saved one rebuilt) names the damaged clip.
        let indexed = try work.cliptrace(["scan", "-q", "--catalogue", work.catalogue, work.video])
        #expect(indexed.status == 0, "\(indexed.stderr)")
        #expect(indexed.stdout.contains("mandelbrot_zoom"))
        for extra in [["--index-in-memory"], []] {
            if extra.isEmpty { try FileManager.default.removeItem(atPath: work.catalogue + ".index") }
            let scanned = try work.cliptrace(["scan", "-q", "--catalogue", work.catalogue] + extra + [work.video])
            #expect(scanned.status == 1, "\(scanned.stderr)")
            #expect(scanned.stdout.contains("mandelbrot_zoom"), "the other clips were not searched")
            #expect(scanned.stderr.contains("clip 2") && scanned.stderr.contains("cliptrace remove 2"), "\(scanned.stderr)")
        }
        let checked = try work.cliptrace(["check", "--catalogue", work.catalogue])
        #expect(checked.status == 1)
        #expect(checked.stdout.contains("1 damaged") && checked.stdout.contains("clip 2") && checked.stdout.contains("SQLite integrity: ok"),
                "\(checked.stdout)")
        #expect(try work.cliptrace(["remove", "--catalogue", work.catalogue, "2"]).status == 0)
        #expect(try work.cliptrace(["check", "--catalogue", work.catalogue]).status == 0)
    }

    @Test("14. a file whose name is not UTF-8 is scanned, in a folder and by name, and shown escaped")
    func nonUTF8Names() throws {
        let work = try Workspace()
        defer { work.folder.cleanUp() }
        let folder = work.folder.file("names")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        // The name's bytes: "bad", 0xFF 0xFE, ".mp4", made and passed with the C API.
        var name = Array(folder.utf8) + Array("/bad".utf8) + [0xFF, 0xFE] + Array(".mp4".utf8)
        name.append(0)
        let source = try work.bytes(work.video)
        let descriptor = name.withUnsafeBufferPointer { $0.withMemoryRebound(to: CChar.self) { open($0.baseAddress!, O_WRONLY | O_CREAT, 0o644) } }
        try #require(descriptor >= 0)
        _ = source.withUnsafeBytes { write(descriptor, $0.baseAddress!, $0.count) }
        close(descriptor)
        let inFolder = try work.cliptrace(["scan", "-q", "--catalogue", work.catalogue, folder])
        #expect(inFolder.status == 0, "\(inFolder.stderr)")
        #expect(inFolder.stdout.contains("bad\\\\xff\\\\xfe.mp4") && inFolder.stdout.contains("mandelbrot_zoom"),
                "\(inFolder.stdout)")
        // By name: the argument's raw bytes reach the file (a shell would pass them so).
        let byName = try run("/bin/sh", ["-c", "'\(work.binary)' scan -q --catalogue '\(work.catalogue)' \"$(printf '\(folder)/bad\\377\\376.mp4')\""])
        #expect(byName.status == 0, "\(byName.stderr)")
        #expect(byName.stdout.contains("mandelbrot_zoom"))
        // -o with such a name writes exactly that name; fingerprint's JSON names the file with \xNN.
        let printed = try run("/bin/sh", ["-c", "cd '\(folder)' && '\(work.binary)' fingerprint -q -o \"$(printf 'out\\377.json')\" \"$(printf 'bad\\377\\376.mp4')\""])
        #expect(printed.status == 0, "\(printed.stderr)")
        let written = try #require(EntryNames.names(folder).first { $0.starts(with: Array("out".utf8)) })
        #expect(written == Array("out".utf8) + [0xFF] + Array(".json".utf8), "written as \(written)")
        let json = try run("/bin/sh", ["-c", "cat \"$(printf '\(folder)/out\\377.json')\""])
        #expect(json.stdout.contains("bad\\\\xff\\\\xfe.mp4"), "\(json.stdout.prefix(200))")
        // Registered under such a name: the title is text with \xNN in list --json and in scan's report.
        let registered = try run("/bin/sh", ["-c", "'\(work.binary)' register -q --catalogue '\(work.catalogue)' \"$(printf '\(folder)/bad\\377\\376.mp4')\""])
        #expect(registered.status == 0, "\(registered.stderr)")
        let listed = try work.cliptrace(["list", "--json", "--catalogue", work.catalogue])
        #expect(listed.stdout.contains("bad\\\\xff\\\\xfe"), "\(listed.stdout)")
        #expect(!listed.stdout.unicodeScalars.contains { $0.value >= 0x10_FF00 }, "private-use stand-ins leaked")
        // SQLite takes UTF-8 file names: a catalogue path that is not UTF-8 is refused, nothing is created.
        let refused = try run("/bin/sh", ["-c", "cd '\(folder)' && '\(work.binary)' list --catalogue \"$(printf 'c\\377.sqlite')\""])
        #expect(refused.status == 2 && refused.stderr.contains("not valid UTF-8"), "\(refused.stderr)")
        #expect(!(EntryNames.names(folder).contains { $0.starts(with: Array("c".utf8)) }))
    }

    /// A folder's entry names as bytes.
    enum EntryNames {
        static func names(_ folder: String) -> [[UInt8]] {
            guard let directory = opendir(folder) else { return [] }
            defer { closedir(directory) }
            var names: [[UInt8]] = []
            while let entry = readdir(directory) {
                names.append(withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) })
            }
            return names
        }
    }

    @Test("15. control characters in titles and names are escaped on the terminal; an empty title falls back to the name")
    func controlCharacters() throws {
        let work = try Workspace()
        defer { work.folder.cleanUp() }
        let title = "evil\u{1B}[31mred\nsecond line"
        let registered = try work.cliptrace(["register", "--catalogue", work.catalogue, "--title", title,
                                             Repository.path("testmedia/references/life_colony.mp4")])
        #expect(registered.status == 0)
        #expect(!registered.stdout.contains("\u{1B}") && registered.stdout.contains("evil\\x1b[31mred\\nsecond line"))
        let listed = try work.cliptrace(["list", "--catalogue", work.catalogue])
        #expect(!listed.stdout.contains("\u{1B}"))
        #expect(listed.stdout.split(separator: "\n").count == 3, "a header and one line per clip: \(listed.stdout)")
        let info = try work.cliptrace(["info", "--catalogue", work.catalogue, "2"])
        #expect(!info.stdout.contains("\u{1B}") && info.stdout.contains("\\x1b"))
        // A file name with an escape sequence: fingerprint's text header and compare's sentence escape it.
        let evil = work.folder.file("evil\u{1B}]0;owned\u{07}.mp4")
        try FileManager.default.copyItem(atPath: Repository.path("testmedia/references/life_colony.mp4"), toPath: evil)
        let text = try work.cliptrace(["fingerprint", "-q", "-f", "text", evil])
        #expect(text.status == 0 && !text.stdout.contains("\u{1B}") && text.stdout.contains("evil\\x1b]0;owned\\x07"),
                "\(text.stdout.prefix(200))")
        let compared = try work.cliptrace(["compare", Self.reference, evil])
        #expect(compared.stdout.contains("no segment of") && !compared.stdout.contains("\u{1B}"), "\(compared.stdout)")
        let untitled = try work.cliptrace(["register", "--catalogue", work.catalogue, "--title", "",
                                           Repository.path("testmedia/references/spinning_pattern.mp4")])
        #expect(untitled.status == 0 && untitled.stdout.contains("spinning_pattern"), "\(untitled.stdout)")
    }

    @Test("messages name the path and the real problem")
    func messages() throws {
        let work = try Workspace()
        defer { work.folder.cleanUp() }
        let missingFolder = try work.cliptrace(["scan", "-q", "--catalogue", work.catalogue, "-o", "/missing/dir/x", work.video])
        #expect(missingFolder.status == 2 && missingFolder.stderr.contains("folder /missing/dir of the output /missing/dir/x does not exist"),
                "\(missingFolder.stderr)")
        let proc = try work.cliptrace(["register", "-q", "--catalogue", work.catalogue, "/proc/self/status"])
        #expect(proc.stderr.contains("/proc/self/status") && proc.stderr.contains("pseudo-file"), "\(proc.stderr)")
        let loop = work.folder.file("loop1")
        #expect(symlink("loop2", loop) == 0 && symlink("loop1", work.folder.file("loop2")) == 0)
        let looped = try work.cliptrace(["register", "-q", "--catalogue", work.catalogue, loop])
        #expect(looped.stderr.contains("loop of symbolic links"), "\(looped.stderr)")
        let rate = try work.cliptrace(["fingerprint", "--rate", "1e-300", work.video])
        #expect(rate.status == 64 && rate.stderr.contains("between 0.5 and 60"), "\(rate.stderr)")
        let nowhere = work.folder.file("nowhere.sqlite")
        let listed = try work.cliptrace(["list", "--catalogue", nowhere])
        #expect(listed.status == 2 && listed.stderr.contains(nowhere) && listed.stderr.contains("cliptrace register"),
                "\(listed.stderr)")
        #expect(!FileManager.default.fileExists(atPath: nowhere), "list created a catalogue")
        // A PNG declaring 16000×16000 pixels is within the per-side limit: the message names the real one.
        let huge = work.folder.file("huge.png")
        let made = try run("/usr/bin/env", ["python3", "-c", """
            import zlib, struct
            def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
            png = b'\\x89PNG\\r\\n\\x1a\\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 16000, 16000, 8, 0, 0, 0, 0))
            png += chunk(b'IDAT', zlib.compress(bytes(64004))) + chunk(b'IEND', b'')
            open('\(huge)', 'wb').write(png)
            """])
        try #require(made.status == 0, "\(made.stderr)")
        let refused = try work.cliptrace(["fingerprint", huge])
        #expect(refused.stderr.contains("megapixels"), "\(refused.stderr)")
        let help = try work.cliptrace(["scan", "--help"])
        #expect(help.stdout.contains("seeded above 2 hours"), "the help's threshold is not the constant's")
    }

    @Test("the default catalogue follows $XDG_DATA_HOME, then $HOME")
    func defaultCatalogue() throws {
        let work = try Workspace()
        defer { work.folder.cleanUp() }
        let home = work.folder.file("home"), data = work.folder.file("data")
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "CLIPTRACE_CATALOGUE")
        environment.removeValue(forKey: "XDG_DATA_HOME")
        environment["HOME"] = home
        func register(_ environment: [String: String]) throws -> Int32 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: work.binary)
            process.arguments = ["register", "-q", Self.reference]
            process.environment = environment
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            return process.terminationStatus
        }
        #expect(try register(environment) == 0)
        #expect(FileManager.default.fileExists(atPath: home + "/.local/share/cliptrace/catalogue.sqlite"))
        environment["XDG_DATA_HOME"] = data
        #expect(try register(environment) == 0)
        #expect(FileManager.default.fileExists(atPath: data + "/cliptrace/catalogue.sqlite"))
    }

    @Test("vPDQ output hashes the whole frame, as vPDQ does; JSON says which region its hashes cover")
    func vpdqRegion() throws {
        let work = try Workspace()
        defer { work.folder.cleanUp() }
        // A letterboxed picture: the whole frame and the content hash differently.
        let boxed = work.folder.file("boxed.png")
        let made = try run("/usr/bin/env", ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i",
                                            Repository.path("testmedia/images/mandelbrot.png"), "-vf",
                                            "scale=640:360,pad=640:480:0:60:black", boxed])
        try #require(made.status == 0, "\(made.stderr)")
        let vpdq = try work.cliptrace(["fingerprint", "--format", "vpdq", boxed])
        let whole = try work.cliptrace(["fingerprint", "--keep-bars", boxed])
        let content = try work.cliptrace(["fingerprint", boxed])
        let vpdqHash = try #require(vpdq.stdout.split(separator: ",").dropFirst(2).first)
        #expect(whole.stdout.contains(String(vpdqHash)) && !content.stdout.contains(String(vpdqHash)))
        #expect(whole.stdout.contains("\"region\" : \"full-frame\"") && content.stdout.contains("\"region\" : \"content\""))
    }
}
