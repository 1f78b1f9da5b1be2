import ClipTraceCatalogue
import ClipTraceFingerprint
import Foundation
import Logging
import PostgresNIO

/// The catalogue on a PostgreSQL server, shared by many machines: the same clips, the same rules as the SQLite
/// file (one transaction per registration, the same SHA-256 no-op), fingerprints in their binary encoding as
/// `bytea`.
///
/// Everything ClipTrace keeps lives in the schema `cliptrace`, marked by its table `cliptrace.catalogue`
/// (application name, schema version, the catalogue's id). A database that holds anything else and not that
/// mark belongs to another application: it is refused and nothing is written to it. A catalogue opened for
/// reading runs in read-only transactions. Schema changes are versioned migrations, applied by one process at a
/// time under an advisory lock.
public final class PostgresCatalogue: Catalogue, @unchecked Sendable {
    public typealias Access = CatalogueAccess

    /// The value of `cliptrace.catalogue.application`.
    static let application = "cliptrace"
    /// Key of the advisory lock taken while migrating ("CTRC").
    static let migrationLock: Int64 = 0x4354_5243
    /// The notification channel told of every registration and removal.
    public static let changeChannel = "cliptrace_catalogue"

    public let location: PostgresLocation
    public let access: Access
    public let session: PostgresSession
    /// A random id made with the catalogue: names its search index on each machine's disk.
    public let catalogueID: String

    /// Opens the catalogue at `location`; `.create` creates it in an empty database.
    public init(location: PostgresLocation, access: Access, logger: Logger = Logger(label: "cliptrace.postgres"))
        throws(CatalogueError)
    {
        self.location = location
        self.access = access
        session = try PostgresSession(location: location, logger: logger)
        catalogueID = try Self.prepare(session, access: access)
    }

    public convenience init(url: String, access: Access) throws(CatalogueError) {
        try self.init(location: PostgresLocation(url: url), access: access)
    }

    // MARK: - Schema

    /// Each migration's statements, in order; `cliptrace.catalogue.schema_version` counts those applied.
    static let migrations: [[String]] = [
        [
            "CREATE SCHEMA cliptrace",
            """
            CREATE TABLE cliptrace.catalogue (
                singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
                application text NOT NULL,
                schema_version integer NOT NULL,
                catalogue_id text NOT NULL,
                generation bigint NOT NULL DEFAULT 0,
                created_at timestamptz NOT NULL DEFAULT now())
            """,
            """
            CREATE TABLE cliptrace.clip (
                id bigserial PRIMARY KEY,
                title text NOT NULL,
                owner text,
                source_path text NOT NULL,
                source text,
                sha256 text NOT NULL UNIQUE,
                duration double precision NOT NULL,
                size bigint NOT NULL,
                frame_rate double precision NOT NULL,
                width integer NOT NULL,
                height integer NOT NULL,
                registered_at timestamptz NOT NULL,
                algorithm text NOT NULL,
                algorithm_version integer NOT NULL,
                frame_count integer NOT NULL,
                fingerprint bytea NOT NULL)
            """,
            // Workers follow the catalogue: a generation counter they read with each claim, and a notification
            // that wakes them when it moves. Per row: a registration that inserted nothing changes nothing.
            """
            CREATE FUNCTION cliptrace.clip_changed() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                UPDATE cliptrace.catalogue SET generation = generation + 1;
                PERFORM pg_notify('\(changeChannel)', TG_OP);
                RETURN NULL;
            END
            $$
            """,
            """
            CREATE TRIGGER clip_changed AFTER INSERT OR DELETE ON cliptrace.clip
                FOR EACH ROW EXECUTE FUNCTION cliptrace.clip_changed()
            """,
            """
            CREATE TABLE cliptrace.batch (
                id bigserial PRIMARY KEY,
                shard_count integer NOT NULL CHECK (shard_count > 0),
                inputs integer NOT NULL,
                submitted_at timestamptz NOT NULL DEFAULT now(),
                submitted_by text)
            """,
            """
            CREATE TABLE cliptrace.job (
                id bigserial PRIMARY KEY,
                batch_id bigint NOT NULL REFERENCES cliptrace.batch ON DELETE CASCADE,
                position integer NOT NULL,
                input text NOT NULL,
                display text NOT NULL,
                shard integer NOT NULL,
                shard_count integer NOT NULL,
                state text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done', 'failed')),
                attempts integer NOT NULL DEFAULT 0,
                worker text,
                lease_until timestamptz,
                started_at timestamptz,
                finished_at timestamptz,
                result bytea,
                error text,
                UNIQUE (batch_id, position, shard))
            """,
            "CREATE INDEX job_waiting ON cliptrace.job (shard_count, shard, id) WHERE state IN ('queued', 'running')",
            """
            CREATE TABLE cliptrace.worker (
                name text PRIMARY KEY,
                shard integer NOT NULL CHECK (shard >= 0 AND shard < shard_count),
                shard_count integer NOT NULL CHECK (shard_count > 0),
                host text NOT NULL,
                started_at timestamptz NOT NULL,
                seen_at timestamptz NOT NULL)
            """,
        ],
    ]

    /// Checks the database is ClipTrace's (or empty, and may then be created), migrates it when `access` allows,
    /// and returns the catalogue's id. Nothing is written to a database that is not ClipTrace's.
    static func prepare(_ session: PostgresSession, access: Access) throws(CatalogueError) -> String {
        let path = session.location.description
        let state = try inspect(session)
        switch state {
        case .foreign(let what):
            throw CatalogueError(code: .notACatalogue,
                                 message: "the database \(session.location.database) is not a ClipTrace catalogue (it holds \(what)); it was left untouched. Use an empty database for a new catalogue",
                                 path: path)
        case .catalogue(let version, _) where version > migrations.count:
            throw CatalogueError(code: .unsupportedVersion,
                                 message: "this catalogue was written by a newer ClipTrace (schema \(version)); upgrade to use it (it was left untouched)",
                                 path: path)
        case .catalogue(let version, let id) where version == migrations.count:
            if access == .read { try session.makeReadOnly() }
            return id
        case .empty where access != .create:
            throw CatalogueError(code: .notFound,
                                 message: "the database \(session.location.database) holds no ClipTrace catalogue yet; registering a clip creates it (cliptrace register --catalogue \(path) FILE)",
                                 path: path)
        case .catalogue where access == .read:
            throw CatalogueError(code: .unsupportedVersion,
                                 message: "this catalogue was made by an older ClipTrace; run a command that changes it (register, remove) once to upgrade it",
                                 path: path)
        default:
            break
        }
        return try session.transaction("create the catalogue") { link in
            // One migrator at a time; the state is read again under the lock (another may have just finished).
            try link.execute("SELECT pg_advisory_xact_lock(\(migrationLock))")
            var applied = 0
            var id = UUID().uuidString.lowercased()
            switch try inspect(link, path: path) {
            case .foreign(let what):
                throw CatalogueError(code: .notACatalogue,
                                     message: "the database is not a ClipTrace catalogue (it holds \(what)); it was left untouched",
                                     path: path)
            case .catalogue(let version, let existing):
                applied = version
                id = existing
            case .empty:
                break
            }
            for (number, statements) in migrations.enumerated() where number >= applied {
                for statement in statements { try link.execute(PostgresQuery(unsafeSQL: statement)) }
                if number == 0 {
                    try link.execute("""
                        INSERT INTO cliptrace.catalogue (application, schema_version, catalogue_id)
                        VALUES (\(application), 1, \(id))
                        """)
                } else {
                    try link.execute("UPDATE cliptrace.catalogue SET schema_version = \(number + 1)")
                }
            }
            return id
        }
    }

    enum DatabaseState {
        case empty
        case catalogue(version: Int, id: String)
        /// Another application's: what it holds, in words.
        case foreign(String)
    }

    static func inspect(_ session: PostgresSession) throws(CatalogueError) -> DatabaseState {
        let path = session.location.description
        return try session.withConnection { link in try inspect(link, path: path) }
    }

    static func inspect(_ link: PostgresSession.Link, path: String) throws -> DatabaseState {
        // pg_class itself, not to_regclass: after waiting for another process's migration, the name cache may
        // not have heard of its tables yet, while a query of the catalog sees what was committed.
        let marked = try link.query("""
            SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                           WHERE n.nspname = 'cliptrace' AND c.relname = 'catalogue' AND c.relkind = 'r')
            """)
        if try marked.first?.decode(Bool.self) == true {
            let rows = try link.query("SELECT application, schema_version, catalogue_id FROM cliptrace.catalogue")
            guard let row = rows.first, rows.count == 1 else { return .foreign("a table cliptrace.catalogue without ClipTrace's mark") }
            let (name, version, id) = try row.decode((String, Int, String).self)
            guard name == application else { return .foreign("a table cliptrace.catalogue of \"\(name)\"") }
            return .catalogue(version: version, id: id)
        }
        // Anything of the user's own (tables, views, sequences, functions, types, schemas) means another
        // application's database. Extensions' objects are left aside: a server may install some in every
        // database (PostGIS, pg_stat_statements).
        let rows = try link.query("""
            SELECT (SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'
                      AND n.nspname NOT LIKE 'pg\\_temp%' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
                      AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')),
                   (SELECT count(*) FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
                    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
                      AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')),
                   (SELECT count(*) FROM pg_catalog.pg_namespace n WHERE n.nspname = 'cliptrace')
            """)
        let (relations, functions, schema) = try rows[0].decode((Int, Int, Int).self)
        if relations > 0 { return .foreign("\(relations) table\(relations == 1 ? "" : "s"), views or sequences") }
        if functions > 0 { return .foreign("\(functions) function\(functions == 1 ? "" : "s")") }
        if schema > 0 { return .foreign("a schema named cliptrace") }
        return .empty
    }

    // MARK: - Catalogue

    static let recordColumns = """
        id, title, owner, source_path, source, sha256, duration, size, frame_rate, width, height, registered_at, \
        algorithm, algorithm_version, frame_count
        """

    static func record(_ row: PostgresRow) throws -> ClipRecord {
        let cells = row.makeRandomAccess()
        return ClipRecord(
            id: try cells["id"].decode(Int64.self), title: try cells["title"].decode(String.self),
            owner: try cells["owner"].decode(String?.self), sourcePath: try cells["source_path"].decode(String.self),
            source: try cells["source"].decode(String?.self), sha256: try cells["sha256"].decode(String.self),
            duration: try cells["duration"].decode(Double.self), size: try cells["size"].decode(Int64.self),
            frameRate: try cells["frame_rate"].decode(Double.self), width: try cells["width"].decode(Int.self),
            height: try cells["height"].decode(Int.self), registeredAt: try cells["registered_at"].decode(Date.self),
            algorithm: try cells["algorithm"].decode(String.self),
            algorithmVersion: try cells["algorithm_version"].decode(Int.self),
            frameCount: try cells["frame_count"].decode(Int.self))
    }

    private func requireWriter(_ action: String) throws(CatalogueError) {
        if access == .read {
            throw CatalogueError(code: .readOnly, message: "the catalogue was opened for reading only: could not \(action)",
                                 path: location.description)
        }
    }

    private func records(where condition: String = "", _ binds: PostgresBindings = PostgresBindings(),
                         action: String) throws(CatalogueError) -> [ClipRecord] {
        try session.withConnection { link in
            let sql = "SELECT \(Self.recordColumns) FROM cliptrace.clip \(condition) ORDER BY id"
            return try link.query(PostgresQuery(unsafeSQL: sql, binds: binds)).map(Self.record)
        }
    }

    public func register(_ clip: NewClip) throws(CatalogueError) -> RegistrationOutcome {
        try insert(clip: clip, id: nil, registeredAt: Date())
    }

    public func importClip(_ clip: NewClip, as original: ClipRecord) throws(CatalogueError) -> RegistrationOutcome {
        try insert(clip: clip, id: original.id, registeredAt: original.registeredAt)
    }

    /// Inserts `clip` (with `id` and its registration date, when copying a catalogue); the same bytes already
    /// registered are a no-op. Concurrent registrations of one file: the unique SHA-256 decides, and the loser
    /// finds the winner's clip.
    func insert(clip: NewClip, id: Int64?, registeredAt: Date) throws(CatalogueError) -> RegistrationOutcome {
        try requireWriter("register the clip")
        let blob = Data(FingerprintBinary.encode(clip.fingerprint))
        let fingerprint = clip.fingerprint
        return try session.transaction("register the clip") { link in
            var binds = PostgresBindings()
            binds.append(clip.sha256)
            let existing = try link.query(PostgresQuery(
                unsafeSQL: "SELECT \(Self.recordColumns) FROM cliptrace.clip WHERE sha256 = $1", binds: binds))
            if let row = existing.first { return .alreadyRegistered(try Self.record(row)) }
            let inserted = try link.query("""
                INSERT INTO cliptrace.clip (id, title, owner, source_path, source, sha256, duration, size, frame_rate,
                    width, height, registered_at, algorithm, algorithm_version, frame_count, fingerprint)
                VALUES (CASE WHEN \(id)::bigint IS NOT NULL AND NOT EXISTS (SELECT 1 FROM cliptrace.clip WHERE id = \(id))
                             THEN \(id) ELSE nextval('cliptrace.clip_id_seq') END, \(clip.title), \(clip.owner),
                    \(clip.sourcePath), \(clip.source), \(clip.sha256), \(fingerprint.duration), \(clip.size),
                    \(fingerprint.frameRate), \(fingerprint.width), \(fingerprint.height), \(registeredAt),
                    \(fingerprint.algorithm.name), \(fingerprint.algorithm.version), \(fingerprint.frames.count), \(blob))
                ON CONFLICT (sha256) DO NOTHING
                RETURNING \(unescaped: Self.recordColumns)
                """)
            if let row = inserted.first {
                if id != nil {
                    // A copied id: the sequence must not hand it out again.
                    try link.execute("""
                        SELECT setval('cliptrace.clip_id_seq', greatest((SELECT max(id) FROM cliptrace.clip), 1))
                        """)
                }
                return .registered(try Self.record(row))
            }
            let winner = try link.query(PostgresQuery(
                unsafeSQL: "SELECT \(Self.recordColumns) FROM cliptrace.clip WHERE sha256 = $1", binds: binds))
            guard let row = winner.first else {
                throw CatalogueError(code: .other, message: "the clip vanished while registering", path: location.description)
            }
            return .alreadyRegistered(try Self.record(row))
        }
    }

    public func clips() throws(CatalogueError) -> [ClipRecord] { try records(action: "list clips") }

    public func clip(id: Int64) throws(CatalogueError) -> ClipRecord? {
        var binds = PostgresBindings()
        binds.append(id)
        return try records(where: "WHERE id = $1", binds, action: "read a clip").first
    }

    public func clip(sha256: String) throws(CatalogueError) -> ClipRecord? {
        var binds = PostgresBindings()
        binds.append(sha256)
        return try records(where: "WHERE sha256 = $1", binds, action: "read a clip").first
    }

    public func fingerprint(id: Int64) throws(CatalogueError) -> ReferenceFingerprint? {
        let blob: Data? = try session.withConnection { link in
            try link.query("SELECT fingerprint FROM cliptrace.clip WHERE id = \(id)").first?.decode(Data.self)
        }
        guard let blob else { return nil }
        do {
            return try FingerprintBinary.decode(blob)
        } catch {
            throw CatalogueError(code: .badFingerprint, message: "the fingerprint of clip \(id) is damaged: \(error.message)",
                                 path: location.description)
        }
    }

    public func loadFingerprints() throws(CatalogueError) -> CatalogueContents {
        try fingerprints(of: try clips().map(\.id), name: location.description)
    }

    public func forEachFingerprint(ids: [Int64], _ body: (ClipRecord, Result<ReferenceFingerprint, DamagedClip>) throws -> Void) throws {
        // A few dozen clips per round trip: each chunk's fingerprints are decoded and handed on before the next
        // is read, so a large catalogue is never in memory at once.
        let sorted = ids.sorted()
        var start = 0
        while start < sorted.count {
            let chunk = Array(sorted[start..<min(sorted.count, start + 64)])
            start += chunk.count
            let rows: [(ClipRecord, Data)] = try session.withConnection { link in
                try link.query("""
                    SELECT \(unescaped: Self.recordColumns), fingerprint FROM cliptrace.clip
                    WHERE id = ANY(\(chunk)) ORDER BY id
                    """).map { row in (try Self.record(row), try row.makeRandomAccess()["fingerprint"].decode(Data.self)) }
            }
            for (record, blob) in rows { try body(record, DamagedClip.decode(blob, of: record)) }
        }
    }

    public func remove(id: Int64) throws(CatalogueError) -> Bool {
        try requireWriter("remove the clip")
        return try session.transaction("remove the clip") { link in
            try link.execute("DELETE FROM cliptrace.clip WHERE id = \(id)") > 0
        }
    }

    /// The index folder on this machine's disk: `$XDG_CACHE_HOME/cliptrace/index/CATALOGUE-ID` (else
    /// `~/.cache/…`), one per catalogue whatever server or name it is reached by.
    public var indexLocation: String? { Self.indexFolder(catalogueID: catalogueID) }

    public static func indexFolder(catalogueID: String, environment: [String: String] = ProcessInfo.processInfo.environment)
        -> String
    {
        let cache: String
        if let xdg = environment["XDG_CACHE_HOME"], xdg.hasPrefix("/") {
            cache = xdg
        } else {
            cache = ((environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()) as NSString)
                .appendingPathComponent(".cache")
        }
        return "\(cache)/cliptrace/index/\(catalogueID)"
    }

    /// Increases with every registration and removal (see the trigger `clip_changed`).
    public func generation() throws(CatalogueError) -> Int64 {
        try session.withConnection { link in
            try link.query("SELECT generation FROM cliptrace.catalogue").first?.decode(Int64.self) ?? 0
        }
    }
}
