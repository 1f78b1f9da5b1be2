import ClipTraceCatalogue
import ClipTraceFingerprint
import ClipTraceHashing
import Foundation
import GRDB
import TestSupport
import Testing

@Suite("SQLite catalogue")
struct CatalogueTests {
    static func fingerprint(seed: UInt64, frames: Int = 40) -> ReferenceFingerprint {
        var generator = SplitMix(seed: seed)
        return ReferenceFingerprint(
            duration: Double(frames) / 4, frameRate: 25, width: 320, height: 240, rotation: 0, codec: "h264",
            sampleRate: 4,
            frames: (0..<frames).map {
                // Top bits set on purpose: UInt64 >= 2^63 must survive storage.
                .init(time: Double($0) / 4, hash: PDQHash(w0: .max, w1: generator.next(), w2: generator.next() | 1 << 63,
                                                           w3: generator.next()), quality: 90)
            })
    }

    static func clip(_ title: String, seed: UInt64) -> NewClip {
        NewClip(title: title, owner: "owner-\(seed)", sourcePath: "/videos/\(title).mp4",
                sha256: String(repeating: String(seed % 10), count: 64), size: 1000 + Int64(seed),
                fingerprint: fingerprint(seed: seed))
    }

    @Test("register, list, read back, remove")
    func lifecycle() throws {
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let catalogue = try SQLiteCatalogue(path: folder.file("catalogue.sqlite"), access: .create)
        guard case .registered(let first) = try catalogue.register(Self.clip("alpha", seed: 1)) else {
            Issue.record("alpha was not registered")
            return
        }
        guard case .registered(let second) = try catalogue.register(Self.clip("beta", seed: 2)) else {
            Issue.record("beta was not registered")
            return
        }
        #expect(first.id != second.id)
        #expect(try catalogue.clips().map(\.title) == ["alpha", "beta"])
        let stored = try #require(try catalogue.fingerprint(id: first.id))
        #expect(stored == Self.fingerprint(seed: 1))
        #expect(try catalogue.clip(id: second.id)?.owner == "owner-2")
        #expect(try catalogue.clip(id: first.id)?.frameCount == 40)
        #expect(try catalogue.remove(id: first.id))
        #expect(try !catalogue.remove(id: first.id))
        #expect(try catalogue.clips().map(\.title) == ["beta"])
        #expect(try catalogue.integrityCheck() == "ok")
    }

    @Test("registration dates are read as GRDB writes and reads them, without a calendar")
    func registrationDates() throws {
        // 1970, a leap day with half a second, this year, just before 1970, and a leap day four centuries on.
        for seconds in [0, 951_782_400.5, 1_796_635_633.123, -0.001, 13_574_563_200] {
            let stored = Date(timeIntervalSince1970: seconds).databaseValue
            let text = try #require(String.fromDatabaseValue(stored))
            let expected = try #require(Date.fromDatabaseValue(stored))
            let read = try #require(SQLiteCatalogue.utcDate(text), "\(text)")
            #expect(abs(read.timeIntervalSince(expected)) < 1e-6, "\(text): \(read) against \(expected)")
        }
        for text in ["2026-13-01 00:00:00", "2026-12-07", "yesterday", "2026-12-07 09:27:13.1234567890",
                     "2026-12-07 09:27:13+01:00"] {
            #expect(SQLiteCatalogue.utcDate(text) == nil, "\(text)")
        }
    }

    @Test("a catalogue path that is a symbolic link to nothing is refused, and the link left as it was")
    func danglingLink() throws {
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let link = folder.file("catalogue.sqlite")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: folder.file("gone.sqlite"))
        #expect {
            _ = try SQLiteCatalogue(path: link, access: .create)
        } throws: { error in
            (error as? CatalogueError)?.message.contains("symbolic link to nothing") == true
        }
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == folder.file("gone.sqlite"))
        #expect(!FileManager.default.fileExists(atPath: folder.file("gone.sqlite")))
    }

    @Test("the same file content twice is a no-op")
    func duplicate() throws {
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let catalogue = try SQLiteCatalogue(path: folder.file("catalogue.sqlite"), access: .create)
        _ = try catalogue.register(Self.clip("alpha", seed: 1))
        let again = try catalogue.register(Self.clip("alpha again", seed: 1))
        guard case .alreadyRegistered(let existing) = again else {
            Issue.record("duplicate registered twice")
            return
        }
        #expect(existing.title == "alpha")
        #expect(try catalogue.clips().count == 1)
    }

    @Test("a catalogue survives reopening, as a second process would see it")
    func reopen() throws {
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        do {
            let catalogue = try SQLiteCatalogue(path: folder.file("c.sqlite"), access: .create)
            _ = try catalogue.register(Self.clip("alpha", seed: 1))
        }
        let reopened = try SQLiteCatalogue(path: folder.file("c.sqlite"), access: .read)
        #expect(try reopened.clips().count == 1)
        #expect(try reopened.loadFingerprints().clips.first?.1 == Self.fingerprint(seed: 1))
    }

    @Test("a file that is not a catalogue is refused and left byte-for-byte untouched")
    func foreignFiles() throws {
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let text = folder.file("notes.sqlite")
        try Data("my important notes".utf8).write(to: URL(fileURLWithPath: text))
        #expect(throws: CatalogueError.self) { try SQLiteCatalogue(path: text, access: .create) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: text)) == Data("my important notes".utf8))

        // Another application's SQLite database.
        let foreign = folder.file("other.sqlite")
        let made = try run("/usr/bin/env", ["python3", "-c",
                                            "import sqlite3; c=sqlite3.connect('\(foreign)'); c.execute('create table t(x)'); c.commit()"])
        try #require(made.status == 0, "python3 could not make a foreign database: \(made.stderr)")
        let before = try Data(contentsOf: URL(fileURLWithPath: foreign))
        do {
            _ = try SQLiteCatalogue(path: foreign, access: .create)
            Issue.record("a foreign database was accepted")
        } catch {
            #expect(error.code == .notACatalogue)
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: foreign)) == before)

        // A torn file: a real catalogue cut short.
        let torn = folder.file("torn.sqlite")
        do {
            let catalogue = try SQLiteCatalogue(path: folder.file("whole.sqlite"), access: .create)
            for seed in UInt64(1)...5 { _ = try catalogue.register(Self.clip("c\(seed)", seed: seed)) }
        }
        let checkpointed = try run("/usr/bin/env", ["python3", "-c", "import sqlite3; sqlite3.connect('\(folder.file("whole.sqlite"))').execute('PRAGMA wal_checkpoint(TRUNCATE)')"])
        try #require(checkpointed.status == 0, "python3 could not checkpoint: \(checkpointed.stderr)")
        let whole = try Data(contentsOf: URL(fileURLWithPath: folder.file("whole.sqlite")))
        try whole.prefix(whole.count / 2).write(to: URL(fileURLWithPath: torn))
        let tornBefore = try Data(contentsOf: URL(fileURLWithPath: torn))
        do {
            let catalogue = try SQLiteCatalogue(path: torn, access: .read)
            _ = try catalogue.loadFingerprints()
            let check = try catalogue.integrityCheck()
            #expect(check != "ok", "a torn file passed the integrity check")
        } catch {
            #expect([.corrupt, .notACatalogue, .badFingerprint, .cannotOpen, .other].contains(error.code), "\(error)")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: torn)).prefix(tornBefore.count) == tornBefore)
    }

    @Test("opening a missing catalogue without create fails clearly")
    func missing() throws {
        do {
            _ = try SQLiteCatalogue(path: "/nonexistent/dir/c.sqlite", access: .read)
            Issue.record("opened a catalogue that does not exist")
        } catch {
            #expect(error.code == .notFound)
        }
    }
}
