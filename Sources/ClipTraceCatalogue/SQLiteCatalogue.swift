import ClipTraceFingerprint
import Foundation
import GRDB
#if canImport(Glibc)
import Glibc
#endif

/// The embedded catalogue: one SQLite file through GRDB, in WAL mode so scans read while others register.
///
/// Fingerprints are stored in their compact binary encoding (one BLOB per clip), never a row per frame.
/// Hash values never pass through SQLite integers: GRDB would trap on `UInt64 ≥ 2^63`.
///
/// Nothing is written before the file is known to be ClipTrace's: the path must be a regular file (or
/// nothing, or an empty file), a SQLite database, and either ClipTrace's (`application_id`) or wholly empty;
/// anything else is refused and left byte for byte as it was. A catalogue opened for reading is never
/// written at all, not even its header.
public final class SQLiteCatalogue: Catalogue {
    /// `PRAGMA application_id` of ClipTrace catalogues ("CTRC").
    public static let applicationID: Int32 = 0x4354_5243

    public typealias Access = CatalogueAccess

    public let path: String
    public let access: Access
    private let writer: (any DatabaseWriter)?
    private let reader: any DatabaseReader
    /// Whether the schema has the columns of migration v2 (an older catalogue opened for reading has not).
    private let hasSourceColumn: Bool

    /// True when the catalogue was opened for reading: nothing can change it.
    public var isReadOnly: Bool { writer == nil }

    /// How long a process waits for another that holds the catalogue (registering, creating it).
    static let busyTimeout: TimeInterval = 30

    /// Opens the catalogue at `path`. A file that is not a ClipTrace catalogue is refused and left untouched.
    public init(path: String, access: Access) throws(CatalogueError) {
        self.path = path
        self.access = access
        var created: (writer: (any DatabaseWriter)?, reader: any DatabaseReader, hasSource: Bool)?
        // Two processes creating one catalogue at the same moment: the one that finds it locked (SQLite answers
        // some of creation's steps with SQLITE_BUSY at once, whatever the busy timeout) waits and tries again,
        // then finds the catalogue the other made.
        let deadline = Date().addingTimeInterval(Self.busyTimeout)
        var pause: TimeInterval = 0.01
        while created == nil {
            do {
                created = try Self.open(path: path, access: access)
            } catch where error.code == .busy && Date() < deadline {
                Thread.sleep(forTimeInterval: pause)
                pause = min(0.5, pause * 2)
            }
        }
        writer = created!.writer
        reader = created!.reader
        hasSourceColumn = created!.hasSource
    }

    /// What a file holds, read without writing anything.
    struct Inspection {
        var exists: Bool
        /// A new catalogue may be made here: no file, a 0-byte file, or a SQLite database with nothing in it.
        var isBlank: Bool
        var appliedMigrations: Set<String>
    }

    private static func open(path: String, access: Access)
        throws(CatalogueError) -> (writer: (any DatabaseWriter)?, reader: any DatabaseReader, hasSource: Bool)
    {
        let inspection = try inspect(path)
        if !inspection.exists, access != .create {
            throw CatalogueError(code: .notFound,
                                 message: "no catalogue exists at \(path) yet; registering a clip creates it (cliptrace register --catalogue \(path) FILE)",
                                 path: path)
        }
        if inspection.isBlank, access == .read {
            throw CatalogueError(code: .notFound,
                                 message: "the catalogue \(path) is empty; registering a clip fills it (cliptrace register --catalogue \(path) FILE)",
                                 path: path)
        }
        let known = Set(migrator.migrations)
        if !inspection.appliedMigrations.isSubset(of: known) {
            throw CatalogueError(code: .unsupportedVersion,
                                 message: "this catalogue was written by a newer ClipTrace; upgrade to use it (it was left untouched)",
                                 path: path)
        }
        let writable = inspection.exists ? FileManager.default.isWritableFile(atPath: path) : true
        if access != .read, !writable {
            throw CatalogueError(code: .readOnly,
                                 message: "the catalogue is read-only for this user; changing it needs write access (it was left untouched)",
                                 path: path)
        }
        do {
            if access == .read {
                var configuration = Configuration()
                configuration.readonly = true
                configuration.busyMode = .timeout(busyTimeout)
                let queue = try DatabaseQueue(path: path, configuration: configuration)
                let hasSource = try queue.read { try $0.columns(in: "clip").contains { $0.name == "source" } }
                return (nil, queue, hasSource)
            }
            if !inspection.exists {
                let directory = (path as NSString).deletingLastPathComponent
                if !directory.isEmpty, !FileManager.default.fileExists(atPath: directory) {
                    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                }
            }
            var configuration = Configuration()
            configuration.busyMode = .timeout(busyTimeout)
            configuration.foreignKeysEnabled = true
            configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
            let pool = try DatabasePool(path: path, configuration: configuration)
            // Mark the file as ClipTrace's before the migrator creates its first table: another process creating
            // the same catalogue at this moment must not see tables without the mark (another application's).
            try pool.writeWithoutTransaction { db in
                if try Int32.fetchOne(db, sql: "PRAGMA application_id") == 0 {
                    try db.execute(sql: "PRAGMA application_id = \(Self.applicationID)")
                }
            }
            if try !pool.read({ try migrator.hasCompletedMigrations($0) }) {
                // GRDB reads which migrations are applied before running each in its own transaction, so two
                // processes creating one catalogue could both run the first and one fail ("table already
                // exists"). Creators take turns on a lock of the catalogue's folder (not of the database file,
                // whose locks are SQLite's); the second finds the migrations applied.
                try Self.withFolderLock(for: path) { try migrator.migrate(pool) }
            }
            return (pool, pool, true)
        } catch let error as CatalogueError {
            throw error
        } catch {
            throw translate(error, path: path, action: "open the catalogue")
        }
    }

    /// Refuses, before SQLite or GRDB can touch it, what is not a catalogue: a folder, a pipe or device (opening
    /// one can block), a file that is not SQLite, and another application's SQLite database.
    static func inspect(_ path: String, retrying: Bool = true) throws(CatalogueError) -> Inspection {
        guard !path.isEmpty else {
            throw CatalogueError(code: .cannotOpen, message: "the catalogue path is empty; give a file name", path: path)
        }
        var info = stat()
        guard stat(path, &info) == 0 else {
            switch errno {
            case ENOENT:
                var link = stat()
                if lstat(path, &link) == 0 {
                    // Another process may have created the catalogue since `stat`: only a link is dangling.
                    if link.st_mode & S_IFMT != S_IFLNK, retrying { return try inspect(path, retrying: false) }
                    throw CatalogueError(code: .cannotOpen, message: "the catalogue path is a symbolic link to nothing", path: path)
                }
                return Inspection(exists: false, isBlank: true, appliedMigrations: [])
            case EACCES:
                throw CatalogueError(code: .cannotOpen, message: "this user may not reach the catalogue's folder", path: path)
            case ENOTDIR:
                throw CatalogueError(code: .cannotOpen, message: "a part of the catalogue's path is a file, not a folder", path: path)
            default:
                throw CatalogueError(code: .cannotOpen, message: "the catalogue cannot be reached: \(String(cString: strerror(errno)))", path: path)
            }
        }
        switch info.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR:
            throw CatalogueError(code: .notACatalogue, message: "the catalogue path is a folder; give a file name such as \((path as NSString).appendingPathComponent("catalogue.sqlite"))", path: path)
        default:
            throw CatalogueError(code: .notACatalogue, message: "the catalogue path is not a regular file (a pipe, socket or device); it was left untouched", path: path)
        }
        if info.st_size == 0 { return Inspection(exists: true, isBlank: true, appliedMigrations: []) }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw CatalogueError(code: .cannotOpen, message: "the catalogue file cannot be read by this user", path: path)
        }
        let header = (try? handle.read(upToCount: 16)) ?? Data()
        try? handle.close()
        guard header == Data("SQLite format 3\0".utf8) else {
            throw CatalogueError(code: .notACatalogue,
                                 message: "this file is not a ClipTrace catalogue (not a SQLite database); it was left untouched",
                                 path: path)
        }
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(busyTimeout)
        do {
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            defer { try? queue.close() }
            return try queue.read { db in
                let applicationID = try Int32.fetchOne(db, sql: "PRAGMA application_id") ?? 0
                let userVersion = try Int32.fetchOne(db, sql: "PRAGMA user_version") ?? 0
                let objects = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")
                if applicationID == Self.applicationID {
                    let applied = try db.tableExists("grdb_migrations")
                        ? Set(try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations")) : []
                    return Inspection(exists: true, isBlank: false, appliedMigrations: applied)
                }
                if applicationID == 0, userVersion == 0, objects.isEmpty {
                    return Inspection(exists: true, isBlank: true, appliedMigrations: [])
                }
                var traits: [String] = []
                if applicationID != 0 { traits.append("application_id \(applicationID)") }
                if userVersion != 0 { traits.append("user_version \(userVersion)") }
                if !objects.isEmpty { traits.append("\(objects.count) table(s) or index(es)") }
                throw CatalogueError(code: .notACatalogue,
                                     message: "this SQLite database belongs to another application (\(traits.joined(separator: ", "))), not ClipTrace; it was left untouched",
                                     path: path)
            }
        } catch let error as CatalogueError {
            throw error
        } catch {
            throw translate(error, path: path, action: "read the catalogue")
        }
    }

    /// Runs `body` holding an exclusive `flock` on the folder of `path` (waiting for it), so that ClipTrace
    /// processes migrating catalogues there take turns. Without a folder to lock, `body` runs unlocked.
    static func withFolderLock<T>(for path: String, _ body: () throws -> T) throws -> T {
        let folder = (path as NSString).deletingLastPathComponent
        let descriptor = Glibc.open(folder.isEmpty ? "." : folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { return try body() }
        defer { close(descriptor) }
        while flock(descriptor, LOCK_EX) != 0 && errno == EINTR {}
        defer { flock(descriptor, LOCK_UN) }
        return try body()
    }

    /// Every schema version, in order. A catalogue carrying a migration this list does not know was written by
    /// a newer ClipTrace and is refused before anything is written.
    private static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: clips with binary fingerprints") { db in
            try db.execute(sql: "PRAGMA application_id = \(SQLiteCatalogue.applicationID)")
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
        }
        // Where the owner says the original lives (a URL or a path), beside the file it was registered from;
        // fingerprints from here on are binary format 3, which ClipTrace 0.1 cannot read, so it must refuse
        // the catalogue as newer rather than fail clip by clip.
        migrator.registerMigration("v2: clip source, fingerprint format 3") { db in
            try db.alter(table: "clip") { t in t.add(column: "source", .text) }
        }
        return migrator
    }()

    public func register(_ clip: NewClip) throws(CatalogueError) -> RegistrationOutcome {
        try insert(clip, id: nil, registeredAt: Date())
    }

    public func importClip(_ clip: NewClip, as original: ClipRecord) throws(CatalogueError) -> RegistrationOutcome {
        try insert(clip, id: original.id, registeredAt: original.registeredAt)
    }

    private func insert(_ clip: NewClip, id: Int64?, registeredAt: Date) throws(CatalogueError) -> RegistrationOutcome {
        let writer = try requireWriter("register the clip")
        let blob = Data(FingerprintBinary.encode(clip.fingerprint))
        do {
            return try writer.write { db -> RegistrationOutcome in
                if let existing = try fetchRecord(db, where: "sha256 = ?", [clip.sha256]) {
                    return .alreadyRegistered(existing)
                }
                // A copied clip keeps its id where it is free.
                var keptID: Int64?
                if let id, try Int.fetchOne(db, sql: "SELECT count(*) FROM clip WHERE id = ?", arguments: [id]) == 0 {
                    keptID = id
                }
                let fingerprint = clip.fingerprint
                try db.execute(
                    sql: """
                        INSERT INTO clip (id, title, owner, source_path, source, sha256, duration, size, frame_rate, width,
                                          height, registered_at, algorithm, algorithm_version, frame_count, fingerprint)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        keptID, clip.title, clip.owner, clip.sourcePath, clip.source, clip.sha256, fingerprint.duration,
                        clip.size, fingerprint.frameRate, fingerprint.width, fingerprint.height, registeredAt,
                        fingerprint.algorithm.name, fingerprint.algorithm.version, fingerprint.frames.count, blob,
                    ])
                let id = db.lastInsertedRowID
                guard let record = try fetchRecord(db, where: "id = ?", [id]) else {
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
        try read("list clips") { db in try self.fetchRecords(db, where: nil, []) }
    }

    public func clip(id: Int64) throws(CatalogueError) -> ClipRecord? {
        try read("read a clip") { db in try self.fetchRecord(db, where: "id = ?", [id]) }
    }

    public func clip(sha256: String) throws(CatalogueError) -> ClipRecord? {
        try read("read a clip") { db in try self.fetchRecord(db, where: "sha256 = ?", [sha256]) }
    }

    public func fingerprint(id: Int64) throws(CatalogueError) -> ReferenceFingerprint? {
        let blob: Data? = try read("read a fingerprint") { db in
            try Data.fetchOne(db, sql: "SELECT fingerprint FROM clip WHERE id = ?", arguments: [id])
        }
        guard let blob else { return nil }
        do {
            return try FingerprintBinary.decode(blob)
        } catch {
            throw CatalogueError(code: .badFingerprint, message: "the fingerprint of clip \(id) is damaged: \(error.message)",
                                 path: path)
        }
    }

    public func loadFingerprints() throws(CatalogueError) -> CatalogueContents {
        let rows: [(ClipRecord, Data)] = try read("load fingerprints") { db in
            try Row.fetchAll(db, sql: "SELECT \(self.recordColumns), fingerprint FROM clip ORDER BY id").map {
                (self.record($0), $0["fingerprint"] as Data)
            }
        }
        var contents = CatalogueContents()
        contents.clips.reserveCapacity(rows.count)
        for (record, blob) in rows {
            switch DamagedClip.decode(blob, of: record) {
            case .success(let fingerprint): contents.clips.append((record, fingerprint))
            case .failure(let damage): contents.damaged.append(damage)
            }
        }
        return contents
    }

    public func forEachFingerprint(ids: [Int64], _ body: (ClipRecord, Result<ReferenceFingerprint, DamagedClip>) throws -> Void) throws {
        // A few hundred ids per statement: SQLite limits bound parameters, and each chunk's blobs are decoded
        // and handed on before the next is read.
        let sorted = ids.sorted()
        var start = 0
        while start < sorted.count {
            let chunk = Array(sorted[start..<min(sorted.count, start + 256)])
            start += chunk.count
            let rows: [(ClipRecord, Data)] = try read("load fingerprints") { db in
                try Row.fetchAll(db, sql: "SELECT \(self.recordColumns), fingerprint FROM clip WHERE id IN (\(chunk.map { _ in "?" }.joined(separator: ","))) ORDER BY id",
                                 arguments: StatementArguments(chunk)).map { (self.record($0), $0["fingerprint"] as Data) }
            }
            for (record, blob) in rows { try body(record, DamagedClip.decode(blob, of: record)) }
        }
    }

    /// `PATH.index`, beside the catalogue file.
    public var indexLocation: String? { path + ".index" }

    public func remove(id: Int64) throws(CatalogueError) -> Bool {
        let writer = try requireWriter("remove the clip")
        do {
            return try writer.write { db in
                try db.execute(sql: "DELETE FROM clip WHERE id = ?", arguments: [id])
                return db.changesCount > 0
            }
        } catch {
            throw Self.translate(error, path: path, action: "remove the clip")
        }
    }

    /// `PRAGMA integrity_check`: "ok" for a sound file, else SQLite's list of problems.
    public func integrityCheck() throws(CatalogueError) -> String {
        try read("check integrity") { db in
            try String.fetchAll(db, sql: "PRAGMA integrity_check").joined(separator: "\n")
        }
    }

    // MARK: - Helpers

    private func requireWriter(_ action: String) throws(CatalogueError) -> any DatabaseWriter {
        guard let writer else {
            throw CatalogueError(code: .readOnly, message: "the catalogue was opened for reading only: could not \(action)",
                                 path: path)
        }
        return writer
    }

    private var recordColumns: String {
        """
        id, title, owner, source_path, \(hasSourceColumn ? "source" : "NULL AS source"), sha256, duration, size, \
        frame_rate, width, height, registered_at, algorithm, algorithm_version, frame_count
        """
    }

    private func read<T>(_ action: String, _ body: (Database) throws -> T) throws(CatalogueError) -> T {
        do {
            return try reader.read(body)
        } catch let error as CatalogueError {
            throw error
        } catch {
            throw Self.translate(error, path: path, action: action)
        }
    }

    private func fetchRecords(_ db: Database, where condition: String?, _ arguments: StatementArguments) throws -> [ClipRecord] {
        let filter = condition.map { " WHERE \($0)" } ?? ""
        return try Row.fetchAll(db, sql: "SELECT \(recordColumns) FROM clip\(filter) ORDER BY id", arguments: arguments)
            .map(record)
    }

    private func fetchRecord(_ db: Database, where condition: String, _ arguments: StatementArguments) throws -> ClipRecord? {
        try fetchRecords(db, where: condition, arguments).first
    }

    private func record(_ row: Row) -> ClipRecord {
        ClipRecord(
            id: row["id"], title: row["title"], owner: row["owner"], sourcePath: row["source_path"],
            source: row["source"], sha256: row["sha256"], duration: row["duration"], size: row["size"],
            frameRate: row["frame_rate"], width: row["width"], height: row["height"],
            registeredAt: registrationDate(row["registered_at"]),
            algorithm: row["algorithm"], algorithmVersion: row["algorithm_version"], frameCount: row["frame_count"])
    }

    /// A stored registration date: GRDB's text form read by ``utcDate(_:)``, anything else (a number written by
    /// another tool) as GRDB reads it.
    private func registrationDate(_ value: DatabaseValue) -> Date {
        if case .string(let text) = value.storage, let date = Self.utcDate(text) { return date }
        return Date.fromDatabaseValue(value) ?? Date(timeIntervalSince1970: 0)
    }

    /// A date as GRDB stores it (`YYYY-MM-DD HH:MM:SS.SSS`, UTC), read without a `Calendar`: GRDB's own decoding
    /// goes through one, which loads the ICU time zone data (4 MB resident for the rest of a scan, for one
    /// date per clip). Nil for any other form, which GRDB then reads.
    package static func utcDate(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 19, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
              bytes[10] == UInt8(ascii: " ") || bytes[10] == UInt8(ascii: "T"),
              bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":")
        else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for index in range {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) else { return nil }
                value = value * 10 + Int(bytes[index] - UInt8(ascii: "0"))
            }
            return value
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
              let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        var fraction = 0.0
        if bytes.count > 19 {
            guard bytes[19] == UInt8(ascii: "."), bytes.count > 20, bytes.count <= 29, let digits = number(20..<bytes.count)
            else { return nil }
            fraction = Double(digits) / pow(10, Double(bytes.count - 20))
        }
        // Days from 1970-01-01 in the proleptic Gregorian calendar (Howard Hinnant's days_from_civil).
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        let seconds = Double(days * 86_400 + hour * 3_600 + minute * 60 + second) + fraction
        return Date(timeIntervalSince1970: seconds)
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
            return CatalogueError(code: .corrupt, message: "the catalogue file is damaged (\(detail)); `cliptrace check` says more",
                                  path: path, sqliteCode: code.rawValue)
        case .SQLITE_FULL:
            return CatalogueError(code: .diskFull, message: "the disk is full: could not \(action); nothing was changed",
                                  path: path, sqliteCode: code.rawValue)
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            return CatalogueError(code: .busy, message: "the catalogue stayed locked by another process: could not \(action)",
                                  path: path, sqliteCode: code.rawValue)
        case .SQLITE_READONLY:
            return CatalogueError(code: .readOnly, message: "could not \(action): the catalogue or its folder is read-only",
                                  path: path, sqliteCode: code.rawValue)
        case .SQLITE_CANTOPEN, .SQLITE_PERM, .SQLITE_IOERR:
            return CatalogueError(code: .cannotOpen, message: "could not \(action): \(detail)", path: path,
                                  sqliteCode: code.rawValue)
        default:
            return CatalogueError(code: .other, message: "could not \(action): \(detail)", path: path,
                                  sqliteCode: code.rawValue)
        }
    }
}
