import ClipTraceCatalogue
import ClipTraceEvidence
import ClipTraceFingerprint
import ClipTraceHashing
import ClipTraceIndex
import ClipTraceMatching
import ClipTraceObservations
import Foundation
import Synchronization
import TestSupport
import Testing

/// The search index saved beside a real SQLite catalogue: mapped instead of rebuilt, kept up to date, and
/// never trusted when its bytes do not match their checksums.
@Suite("Saved search index")
struct PersistedIndexTests {
    /// A clip of 40 s: random hashes 8 a second, and 40 corners once a second.
    static func fingerprint(seed: UInt64) -> ReferenceFingerprint {
        var generator = SplitMix(seed: seed)
        func hash() -> PDQHash { PDQHash(w0: generator.next(), w1: generator.next(), w2: generator.next(), w3: generator.next()) }
        return ReferenceFingerprint(
            duration: 40, frameRate: 25, width: 640, height: 360, rotation: 0, codec: "h264", sampleRate: 8,
            frames: (0..<320).map { .init(time: Double($0) / 8, hash: hash(), quality: 90) },
            cornerFrames: (0..<40).map { second in
                .init(time: Double(second), corners: (0..<40).map { _ in
                    LocalFeature(x: Float(generator.next() % 1000) / 1000, y: Float(generator.next() % 1000) / 1000,
                                 descriptor: hash())
                })
            })
    }

    static func newClip(_ seed: UInt64) -> NewClip {
        NewClip(title: "clip \(seed)", owner: nil, sourcePath: "/videos/\(seed).mp4",
                sha256: String(format: "%064llx", seed &* 0x9E37_79B9_7F4A_7C15), size: 1000,
                fingerprint: fingerprint(seed: seed))
    }

    /// 10 s of clip `seed`'s frames from second 12, a few bits changed, after 5 s of other frames.
    static func query(copying seed: UInt64) -> QueryObservations {
        let reference = fingerprint(seed: seed)
        var generator = SplitMix(seed: 4242)
        var frames: [QueryObservations.Frame] = []
        for index in 0..<90 {
            let time = Double(index) / 6
            var hash = PDQHash(w0: generator.next(), w1: generator.next(), w2: generator.next(), w3: generator.next())
            if time >= 5 {
                let referenceIndex = Int(((time - 5 + 12) * 8).rounded())
                hash = reference.frames[referenceIndex].hash
                hash.w1 ^= generator.next() & generator.next() & generator.next()
            }
            frames.append(.init(time: time, quality: 90, hashes: [.init(view: .upright, hash: hash)]))
        }
        return QueryObservations(duration: 15, frameRate: 30, width: 640, height: 360, sampleRate: 6, frames: frames)
    }

    struct Fixture {
        let folder: TemporaryFolder
        let catalogue: SQLiteCatalogue
        var indexFolder: String { catalogue.path + ".index" }

        init(clips: ClosedRange<UInt64> = 1...6) throws {
            folder = try TemporaryFolder()
            catalogue = try SQLiteCatalogue(path: folder.file("catalogue.sqlite"), access: .create)
            for seed in clips { _ = try catalogue.register(PersistedIndexTests.newClip(seed)) }
        }

        func segmentFiles(_ prefix: String) throws -> [String] {
            try FileManager.default.contentsOfDirectory(atPath: indexFolder).filter { $0.hasPrefix(prefix) && $0.hasSuffix(".seg") }.sorted()
        }
    }

    /// Opens the index, collecting what it logs.
    static func open(_ catalogue: any Catalogue, discarding: Set<String> = []) throws -> (PersistedIndex, [String]) {
        let notes = Mutex<[String]>([])
        let index = try PersistedIndex.open(catalogue: catalogue, discarding: discarding) { note in notes.withLock { $0.append(note) } }
        return (index, notes.withLock { $0 })
    }

    static func found(_ index: PersistedIndex, strategy: SearchStrategy) throws -> [String] {
        try index.matcher(strategy: strategy).match(query(copying: 3)).filter(\.isConfident).map(\.clip.title)
    }

    @Test("saved once, then mapped: a second open builds nothing and finds the same copy, seeded or direct")
    func savedThenMapped() throws {
        let fixture = try Fixture()
        defer { fixture.folder.cleanUp() }
        let (first, firstNotes) = try Self.open(fixture.catalogue)
        #expect(first.location == fixture.indexFolder)
        #expect(firstNotes.contains { $0.contains("building the search index of 6 clips") }, "\(firstNotes)")
        #expect(try fixture.segmentFiles("h-").count == 1 && fixture.segmentFiles("c-").count == 1)
        #expect(first.hashes.entryCount == 6 * 320 && first.corners?.cornerCount == 6 * 40 * 40)
        let files = try fixture.segmentFiles("")
        let (second, secondNotes) = try Self.open(fixture.catalogue)
        #expect(secondNotes.isEmpty, "\(secondNotes)")
        #expect(try fixture.segmentFiles("") == files)
        for strategy in [SearchStrategy.direct, .seeded] {
            #expect(try Self.found(second, strategy: strategy) == ["clip 3"], "\(strategy)")
        }
        let match = try #require(try second.matcher(strategy: .seeded).match(Self.query(copying: 3)).first)
        #expect(abs(match.queryStart - 5) <= 0.5 && abs(match.referenceStart - 12) <= 0.5)
    }

    @Test("clips registered later get a segment of their own; removed clips are never found, and dropped when a quarter is gone")
    func incremental() throws {
        let fixture = try Fixture(clips: 1...2)
        defer { fixture.folder.cleanUp() }
        _ = try Self.open(fixture.catalogue)
        let before = try fixture.segmentFiles("h-")
        for seed in UInt64(3)...8 { _ = try fixture.catalogue.register(Self.newClip(seed)) }
        let (grown, notes) = try Self.open(fixture.catalogue)
        #expect(!notes.contains { $0.contains("building the search index of") }, "only the new clips are read: \(notes)")
        #expect(grown.hashes.entryCount == 8 * 320)
        #expect(try Self.found(grown, strategy: .seeded) == ["clip 3"])
        // The new segment was three times the old one: they merged, as digits of a binary counter.
        #expect(try fixture.segmentFiles("h-").count == 1 && fixture.segmentFiles("h-") != before)

        let third = try #require(try fixture.catalogue.clips().first { $0.title == "clip 3" })
        #expect(try fixture.catalogue.remove(id: third.id))
        let (shrunk, _) = try Self.open(fixture.catalogue)
        #expect(try Self.found(shrunk, strategy: .seeded).isEmpty && Self.found(shrunk, strategy: .direct).isEmpty)
        #expect(shrunk.hashes.entryCount == 7 * 320)
        for clip in try fixture.catalogue.clips().prefix(2) { #expect(try fixture.catalogue.remove(id: clip.id)) }
        // Three of eight gone: the segment is rewritten without them.
        let (compacted, _) = try Self.open(fixture.catalogue)
        #expect(compacted.hashes.segments.map(\.clipCount) == [5])
    }

    @Test("a truncated segment file, or a damaged header, is found when the index is opened and rebuilt")
    func truncatedOrHeaderDamaged() throws {
        let fixture = try Fixture()
        defer { fixture.folder.cleanUp() }
        _ = try Self.open(fixture.catalogue)
        let hashFile = fixture.indexFolder + "/" + (try fixture.segmentFiles("h-")[0])
        let size = try #require(try FileManager.default.attributesOfItem(atPath: hashFile)[.size] as? Int)
        #expect(truncate(hashFile, off_t(size / 2)) == 0)
        let (rebuilt, notes) = try Self.open(fixture.catalogue)
        #expect(notes.contains { $0.contains("rebuilding a search index file") && $0.contains("truncated") }, "\(notes)")
        #expect(try Self.found(rebuilt, strategy: .seeded) == ["clip 3"])

        let cornerFile = fixture.indexFolder + "/" + (try fixture.segmentFiles("c-")[0])
        try Self.flipBit(in: cornerFile, at: 200)
        let (again, againNotes) = try Self.open(fixture.catalogue)
        #expect(againNotes.contains { $0.contains("header does not match its checksum") }, "\(againNotes)")
        #expect(again.corners?.cornerCount == 6 * 40 * 40)
    }

    @Test("a bit flipped inside a segment is found when it is read, never used: the search fails and a reopened index rebuilds the file")
    func bitFlipDetectedOnRead() throws {
        let fixture = try Fixture()
        defer { fixture.folder.cleanUp() }
        _ = try Self.open(fixture.catalogue)
        let hashFile = fixture.indexFolder + "/" + (try fixture.segmentFiles("h-")[0])
        // The middle of the hash records (past the header and the clip table): a bit of some hash.
        try Self.flipBit(in: hashFile, at: 4_096 + 6 * 40 + 320 * 40 * 3 + 5)
        let (damaged, notes) = try Self.open(fixture.catalogue)
        #expect(notes.isEmpty, "header and tables are intact: \(notes)")
        // A direct search reads every hash: the damage shows, whatever the query.
        var caught: IndexDamage?
        do {
            _ = try damaged.matcher(strategy: .direct)
        } catch {
            caught = error
        }
        let damage = try #require(caught)
        #expect(damage.storage == hashFile && damage.message.contains("failed its checksum"))
        let (repaired, repairNotes) = try Self.open(fixture.catalogue, discarding: [damage.storage])
        #expect(repairNotes.contains { $0.contains("rebuilding the damaged search index file") }, "\(repairNotes)")
        #expect(try Self.found(repaired, strategy: .direct) == ["clip 3"])
        #expect(try Self.found(repaired, strategy: .seeded) == ["clip 3"])
    }

    @Test("a row whose clip id now names another file is not used for it")
    func reusedIdentifier() throws {
        let fixture = try Fixture()
        defer { fixture.folder.cleanUp() }
        _ = try Self.open(fixture.catalogue)
        // Clip 3's row now says another file (as if its id had been given to a new registration).
        let third = try #require(try fixture.catalogue.clips().first { $0.title == "clip 3" })
        let result = try run("/usr/bin/env", ["python3", "-c", """
            import sqlite3; c = sqlite3.connect('\(fixture.catalogue.path)')
            c.execute("UPDATE clip SET sha256 = ? WHERE id = ?", ('\(String(repeating: "ab", count: 32))', \(third.id))); c.commit()
            """])
        try #require(result.status == 0, "\(result.stderr)")
        let (index, _) = try Self.open(fixture.catalogue)
        // Rebuilt from the catalogue's fingerprint for that id: still clip 3's content here, found once.
        #expect(try Self.found(index, strategy: .seeded) == ["clip 3"])
        #expect(index.hashes.entryCount == 6 * 320)
        #expect(index.hashes.placement.positions.flatMap { $0 }.filter { $0 >= 0 }.count == 6)
    }

    @Test("a folder in the index's place that is not ClipTrace's is left alone; the index lives in memory")
    func foreignFolder() throws {
        let fixture = try Fixture()
        defer { fixture.folder.cleanUp() }
        try FileManager.default.createDirectory(atPath: fixture.indexFolder, withIntermediateDirectories: false)
        let mine = fixture.indexFolder + "/h-000001.seg"
        try Data("my own file".utf8).write(to: URL(fileURLWithPath: mine))
        let (index, notes) = try Self.open(fixture.catalogue)
        #expect(index.location == nil)
        #expect(notes.contains { $0.contains("not ClipTrace's index") }, "\(notes)")
        #expect(try Self.found(index, strategy: .seeded) == ["clip 3"])
        #expect(try String(contentsOfFile: mine, encoding: .utf8) == "my own file")
        #expect(try FileManager.default.contentsOfDirectory(atPath: fixture.indexFolder) == ["h-000001.seg"])
    }

    @Test("two opens at once: one builds, the other waits, and both search the same saved index")
    func concurrentOpens() async throws {
        let fixture = try Fixture()
        defer { fixture.folder.cleanUp() }
        let catalogue = fixture.catalogue
        let counts = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<2 { group.addTask { try Self.open(catalogue).0.hashes.entryCount } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(counts == [6 * 320, 6 * 320])
        #expect(try fixture.segmentFiles("h-").count == 1)
    }

    static func flipBit(in path: String, at offset: Int) throws {
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(offset))
        let byte = try #require(try handle.read(upToCount: 1)?.first)
        try handle.seek(toOffset: UInt64(offset))
        try handle.write(contentsOf: Data([byte ^ 0x10]))
    }
}
