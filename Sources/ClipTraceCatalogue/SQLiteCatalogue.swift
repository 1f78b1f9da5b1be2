import ClipTraceFingerprint
import Foundation
import GRDB

/// The embedded catalogue: one SQLite file through GRDB, in WAL mode so scans read while others register.
///
/// Fingerprints are stored in their compact binary encoding (one BLOB per clip), never a row per frame.
/// Hash values never pass through SQLite integers: GRDB would trap on `UInt64 ≥ 2^63`.
public final class SQLiteCatalogue: Catalogue {
    /// `PRAGMA application_id` of ClipTrace catalogues ("CTRC"): foreign SQLite files are refused.
    public static let applicationID: Int32 = 0x4354_5243
    public let path: String
    private let database: DatabasePool

    /// Opens the catalogue at `path`, creating it (and migrating it to the current schema) when it does not exist.
    /// A file that is not a ClipTrace catalogue is refused and left untouched.
    public init(path: String, create: Bool = true) throws(CatalogueError) {
        self.path = path
        let exists = FileManager.default.fileExists(atPath: path)
        if !exists && !create {
            throw CatalogueError(code: .cannotOpen, message: "no catalogue exists here", path: path)
        }
        if exists {
            try Self.checkHeader(path)
            try Self.checkOwnership(path)
        }
        // A catalogue we may read but not write (a shared or archived one) still serves scans and listings.
        let readOnly = exists && access(path, W_OK) != 0
        if readOnly, create {
            throw CatalogueError(code: .cannotOpen, message: "the catalogue is read-only for this user; registering needs write access",
                                 path: path)
        }
        self.isReadOnly = readOnly
        var configuration = Configuration()
        configuration.busyMode = .timeout(30)
        configuration.foreignKeysEnabled = true
        configuration.readonly = readOnly
        configuration.prepareDatabase { db in
            if !readOnly { try db.execute(sql: "PRAGMA synchronous = NORMAL") }
        }
        do {
            let directory = (path as NSString).deletingLastPathComponent
            if !directory.isEmpty, !FileManager.default.fileExists(atPath: directory) {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }
            database = try DatabasePool(path: path, configuration: configuration)
        } catch {
            throw Self.translate(error, path: path, action: "open the catalogue")
        }
        if readOnly {
            try checkSchemaIsCurrent()
        } else {
            try migrate()
        }
    }

    /// True when the file could only be opened for reading: scans and listings work, changes are refused.
    public let isReadOnly: Bool

    /// Refuses files that are not SQLite, before SQLite gets a chance to touch them.
    private static func checkHeader(_ path: String) throws(CatalogueError) {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw CatalogueError(code: .cannotOpen, message: "the catalogue file cannot be read", path: path)
        }
        defer { try? handle.close() }
        let header = (try? handle.read(upToCount: 16)) ?? Data()
        if header.isEmpty { return }  // an empty file is a new catalogue (e.g. made by mktemp)
        guard header.count == 16, header == Data("SQLite format 3\0".utf8) else {
            throw CatalogueError(code: .notACatalogue,
                                 message: "this file is not a ClipTrace catalogue (not a SQLite database); it was left untouched",
                                 path: path)
        }
    }

    /// Opens an existing file read-only and refuses another application's database before anything (such as
    /// switching to WAL) could write to it.
    private static func checkOwnership(_ path: String) throws(CatalogueError) {
        var configuration = Configuration()
        configuration.readonly = true
        do {
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            try queue.read { db in
                let applicationID = try Int32.fetchOne(db, sql: "PRAGMA application_id") ?? 0
                let tables = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'")
                if applicationID != Self.applicationID, !tables.isEmpty {
                    throw CatalogueError(code: .notACatalogue,
                                         message: "this SQLite file belongs to another application, not ClipTrace; it was left untouched",
                                         path: path)
                }
            }
            try queue.close()
        } catch let error as CatalogueError {
            throw error
        } catch {
            throw translate(error, path: path, action: "open the catalogue")
        }
    }

    /// Every schema version, in order.
    private static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: clips with binary fingerprints") { db in
            try db.create(table: "clip") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("title", .text).notNull()
                t.column("owner", .text)
                t.column("source_path", .text).notNull()
                t.column("sha256", .text).notNull().unique()
                t.column("duration", .double).notNull()
                t.column("size", .integer).notNull()
                t.column("frame_rate", .double).notNull()
                t.column("width", .integer).notNull()
                t.column("height", .integer).notNull()
                t.column("registered_at", .datetime).notNull()
                t.column("algorithm", .text).notNull()
                t.column("algorithm_version", .integer).notNull()
                t.column("frame_count", .integer).notNull()
                t.column("fingerprint", .blob).notNull()
            }
            try db.execute(sql: "PRAGMA application_id = \(SQLiteCatalogue.applicationID)")
        }
        return migrator
    }()

    /// Refuses a catalogue carrying migrations this version does not know: a newer ClipTrace wrote it.
    private static func refuseNewerSchema(_ db: Database, path: String) throws {
        let known = Set(migrator.migrations)
        if try migrator.appliedIdentifiers(db).contains(where: { !known.contains($0) }) {
            throw CatalogueError(code: .unsupportedVersion,
                                 message: "this catalogue was written by a newer ClipTrace; upgrade to use it",
                                 path: path)
        }
    }

    /// A read-only catalogue cannot be migrated: it must already have every migration this version knows.
    private func checkSchemaIsCurrent() throws(CatalogueError) {
        let migrator = Self.migrator
        do {
            try database.read { db in
                try Self.refuseNewerSchema(db, path: path)
                if !Set(migrator.migrations).isSubset(of: try migrator.appliedIdentifiers(db)) {
                    throw CatalogueError(code: .unsupportedVersion,
                                         message: "this catalogue needs an upgrade, which needs write access to it",
                                         path: path)
                }
            }
        } catch let error as CatalogueError {
            throw error
        } catch {
            throw Self.translate(error, path: path, action: "open the catalogue")
        }
    }

    private func migrate() throws(CatalogueError) {
        let migrator = Self.migrator
        do {
            try database.writeWithoutTransaction { db in
                let applicationID = try Int32.fetchOne(db, sql: "PRAGMA application_id") ?? 0
                let tables = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'")
                let ours = applicationID == Self.applicationID
                if !ours, !tables.isEmpty, !(tables.contains("clip") && tables.contains("grdb_migrations")) {
                    throw CatalogueError(code: .notACatalogue,
                                         message: "this SQLite file belongs to another application, not ClipTrace; it was left untouched",
                                         path: path)
                }
                try Self.refuseNewerSchema(db, path: path)
                try db.execute(sql: "PRAGMA journal_mode = WAL")
            }
            try migrator.migrate(database)
        } catch let error as CatalogueError {
            throw error
        } catch {
            throw Self.translate(error, path: path, action: "prepare the catalogue")
        }
    }

    public func register(_ clip: NewClip) throws(CatalogueError) -> RegistrationOutcome {
        let blob = Data(FingerprintBinary.encode(clip.fingerprint))
        do {
            return try database.write { db -> RegistrationOutcome in
                if let existing = try Self.fetchRecord(db, sql: "SELECT * FROM clip WHERE sha256 = ?", arguments: [clip.sha256]) {
                    return .alreadyRegistered(existing)
                }
                let fingerprint = clip.fingerprint
                try db.execute(
                    sql: """
                        INSERT INTO clip (title, owner, source_path, sha256, duration, size, frame_rate, width, height,
                                          registered_at, algorithm, algorithm_version, frame_count, fingerprint)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        clip.title, clip.owner, clip.sourcePath, clip.sha256, fingerprint.duration, clip.size,
                        fingerprint.frameRate, fingerprint.width, fingerprint.height, Date(),
                        fingerprint.algorithm.name, fingerprint.algorithm.version, fingerprint.frames.count, blob,
                    ])
                let id = db.lastInsertedRowID
                guard let record = try Self.fetchRecord(db, sql: "SELECT * FROM clip WHERE id = ?", arguments: [id]) else {
                    throw CatalogueError(code: .other, message: "the new clip vanished", path: path)
                }
                return .registered(record)
            }
        } catch let error as CatalogueError {
            throw error
        } catch {
            throw Self.translate(error, path: path, action: "register the clip")
        }
    }

    public func clips() throws(CatalogueError) -> [ClipRecord] {
        try read("list clips") { db in
            try Row.fetchAll(db, sql: "SELECT \(Self.recordColumns) FROM clip ORDER BY id").map(Self.record)
        }
    }

    public func clip(id: Int64) throws(CatalogueError) -> ClipRecord? {
        try read("read a clip") { db in
            try Self.fetchRecord(db, sql: "SELECT \(Self.recordColumns) FROM clip WHERE id = ?", arguments: [id])
        }
    }

    public func clip(sha256: String) throws(CatalogueError) -> ClipRecord? {
        try read("read a clip") { db in
            try Self.fetchRecord(db, sql: "SELECT \(Self.recordColumns) FROM clip WHERE sha256 = ?", arguments: [sha256])
        }
    }

    public func fingerprint(id: Int64) throws(CatalogueError) -> ReferenceFingerprint? {
        let blob: Data? = try read("read a fingerprint") { db in
            try Data.fetchOne(db, sql: "SELECT fingerprint FROM clip WHERE id = ?", arguments: [id])
        }
        guard let blob else { return nil }
        return try decode(blob, id: id)
    }

    public func allFingerprints() throws(CatalogueError) -> [(ClipRecord, ReferenceFingerprint)] {
        let rows: [(ClipRecord, Data)] = try read("load fingerprints") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM clip ORDER BY id").map { (Self.record($0), $0["fingerprint"] as Data) }
        }
        var out: [(ClipRecord, ReferenceFingerprint)] = []
        out.reserveCapacity(rows.count)
        for (record, blob) in rows { out.append((record, try decode(blob, id: record.id))) }
        return out
    }

    public func remove(id: Int64) throws(CatalogueError) -> Bool {
        do {
            return try database.write { db in
                try db.execute(sql: "DELETE FROM clip WHERE id = ?", arguments: [id])
                return db.changesCount > 0
            }
        } catch {
            throw Self.translate(error, path: path, action: "remove the clip")
        }
    }

    /// `PRAGMA integrity_check`: "ok" for a sound file.
    public func integrityCheck() throws(CatalogueError) -> String {
        try read("check integrity") { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") ?? "" }
    }

    // MARK: - Helpers

    private static let recordColumns = """
        id, title, owner, source_path, sha256, duration, size, frame_rate, width, height, registered_at, algorithm,
        algorithm_version, frame_count
        """

    private func decode(_ blob: Data, id: Int64) throws(CatalogueError) -> ReferenceFingerprint {
        do {
            return try FingerprintBinary.decode(blob)
        } catch {
            throw CatalogueError(code: .badFingerprint, message: "the fingerprint of clip \(id) is damaged: \(error.message)",
                                 path: path)
        }
    }

    private func read<T>(_ action: String, _ body: (Database) throws -> T) throws(CatalogueError) -> T {
        do {
            return try database.read(body)
        } catch let error as CatalogueError {
            throw error
        } catch {
            throw Self.translate(error, path: path, action: action)
        }
    }

    private static func fetchRecord(_ db: Database, sql: String, arguments: StatementArguments) throws -> ClipRecord? {
        try Row.fetchOne(db, sql: sql, arguments: arguments).map(record)
    }

    private static func record(_ row: Row) -> ClipRecord {
        ClipRecord(
            id: row["id"], title: row["title"], owner: row["owner"], sourcePath: row["source_path"],
            sha256: row["sha256"], duration: row["duration"], size: row["size"], frameRate: row["frame_rate"],
            width: row["width"], height: row["height"], registeredAt: row["registered_at"],
            algorithm: row["algorithm"], algorithmVersion: row["algorithm_version"], frameCount: row["frame_count"])
    }

    static func translate(_ error: any Error, path: String, action: String) -> CatalogueError {
        if let error = error as? CatalogueError { return error }
        guard let sqlite = error as? DatabaseError else {
            return CatalogueError(code: .other, message: "could not \(action): \(error)", path: path)
        }
        let code = sqlite.resultCode
        let detail = sqlite.message ?? "\(code)"
        switch code {
        case .SQLITE_NOTADB:
            return CatalogueError(code: .notACatalogue, message: "this file is not a ClipTrace catalogue", path: path,
                                  sqliteCode: code.rawValue)
        case .SQLITE_CORRUPT:
            return CatalogueError(code: .corrupt, message: "the catalogue file is damaged (\(detail))", path: path,
                                  sqliteCode: code.rawValue)
        case .SQLITE_FULL:
            return CatalogueError(code: .diskFull, message: "the disk is full: could not \(action); nothing was changed",
                                  path: path, sqliteCode: code.rawValue)
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            return CatalogueError(code: .busy, message: "the catalogue stayed locked by another process: could not \(action)",
                                  path: path, sqliteCode: code.rawValue)
        case .SQLITE_CANTOPEN, .SQLITE_PERM, .SQLITE_READONLY, .SQLITE_IOERR:
            return CatalogueError(code: .cannotOpen, message: "could not \(action): \(detail)", path: path,
                                  sqliteCode: code.rawValue)
        default:
            return CatalogueError(code: .other, message: "could not \(action): \(detail)", path: path,
                                  sqliteCode: code.rawValue)
        }
    }
}
