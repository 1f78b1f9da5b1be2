import ClipTraceFingerprint
import Foundation

/// A registered clip, without its fingerprint.
public struct ClipRecord: Hashable, Sendable, Codable {
    public var id: Int64
    public var title: String
    public var owner: String?
    /// The absolute path (symbolic links resolved) of the file the clip was registered from; its size and
    /// SHA-256 tell whether a file found there later is still that file.
    public var sourcePath: String
    /// Where the owner says the original lives (a URL or a path), when given at registration.
    public var source: String?
    /// SHA-256 of the file's bytes, lowercase hex: registering the same file twice is a no-op.
    public var sha256: String
    public var duration: Double
    public var size: Int64
    public var frameRate: Double
    public var width: Int
    public var height: Int
    public var registeredAt: Date
    public var algorithm: String
    public var algorithmVersion: Int
    public var frameCount: Int

    public init(
        id: Int64, title: String, owner: String?, sourcePath: String, source: String? = nil, sha256: String,
        duration: Double, size: Int64,
        frameRate: Double, width: Int, height: Int, registeredAt: Date, algorithm: String, algorithmVersion: Int,
        frameCount: Int
    ) {
        self.id = id
        self.title = title
        self.owner = owner
        self.sourcePath = sourcePath
        self.source = source
        self.sha256 = sha256
        self.duration = duration
        self.size = size
        self.frameRate = frameRate
        self.width = width
        self.height = height
        self.registeredAt = registeredAt
        self.algorithm = algorithm
        self.algorithmVersion = algorithmVersion
        self.frameCount = frameCount
    }
}

/// What to register.
public struct NewClip: Sendable {
    public var title: String
    public var owner: String?
    /// The absolute path of the file registered.
    public var sourcePath: String
    /// Where the original lives, as the owner says (a URL or a path); optional.
    public var source: String?
    public var sha256: String
    public var size: Int64
    public var fingerprint: ReferenceFingerprint

    public init(title: String, owner: String?, sourcePath: String, source: String? = nil, sha256: String, size: Int64,
                fingerprint: ReferenceFingerprint) {
        self.title = title
        self.owner = owner
        self.sourcePath = sourcePath
        self.source = source
        self.sha256 = sha256
        self.size = size
        self.fingerprint = fingerprint
    }
}

public enum RegistrationOutcome: Sendable, Hashable {
    case registered(ClipRecord)
    /// The same bytes were registered before; nothing changed.
    case alreadyRegistered(ClipRecord)
}

/// What a command needs of a catalogue.
public enum CatalogueAccess: Sendable, Hashable {
    /// Listing and scanning: the catalogue must exist and is never written.
    case read
    /// Changing clips (`remove`): the catalogue must exist; an older schema is upgraded.
    case write
    /// Registering: the catalogue is created when missing.
    case create
}

/// The catalogue of registered clips, behind which every storage sits: the embedded SQLite file
/// (``SQLiteCatalogue``) and a PostgreSQL server (ClipTracePostgres).
public protocol Catalogue: Sendable {
    /// Registers a clip in one transaction: afterwards the clip is there whole, or not at all.
    func register(_ clip: NewClip) throws(CatalogueError) -> RegistrationOutcome
    func clips() throws(CatalogueError) -> [ClipRecord]
    func clip(id: Int64) throws(CatalogueError) -> ClipRecord?
    func clip(sha256: String) throws(CatalogueError) -> ClipRecord?
    func fingerprint(id: Int64) throws(CatalogueError) -> ReferenceFingerprint?
    /// Every clip with its fingerprint, for building a search index; clips whose fingerprint cannot be read
    /// are listed apart, so that one damaged clip does not stop a scan against the others.
    func loadFingerprints() throws(CatalogueError) -> CatalogueContents
    /// Registers a clip copied from another catalogue (`cliptrace catalogue copy`): it keeps `original`'s id and
    /// registration date when the id is free here, else it gets a new id. The same bytes already registered are
    /// a no-op, as for ``register(_:)``.
    func importClip(_ clip: NewClip, as original: ClipRecord) throws(CatalogueError) -> RegistrationOutcome
    /// Removes a clip; false when there was none with this id.
    func remove(id: Int64) throws(CatalogueError) -> Bool
    /// Calls `body` with the fingerprint of each clip of `ids` still registered, in id order, reading them a few
    /// at a time so that a large catalogue never has to be in memory at once. A fingerprint that cannot be
    /// decoded comes as a failure. Errors `body` throws end the reading and are rethrown.
    func forEachFingerprint(ids: [Int64], _ body: (ClipRecord, Result<ReferenceFingerprint, DamagedClip>) throws -> Void) throws
    /// The folder where this catalogue's search index is saved (see `PersistedIndex`), or nil for none.
    var indexLocation: String? { get }
}

extension Catalogue {
    /// The clips of `ids` with their fingerprints, read a few at a time through ``forEachFingerprint(ids:_:)``;
    /// `name` names the catalogue in an error.
    public func fingerprints(of ids: [Int64], name: String) throws(CatalogueError) -> CatalogueContents {
        var contents = CatalogueContents()
        do {
            try forEachFingerprint(ids: ids) { record, result in
                switch result {
                case .success(let fingerprint): contents.clips.append((record, fingerprint))
                case .failure(let damage): contents.damaged.append(damage)
                }
            }
        } catch let error as CatalogueError {
            throw error
        } catch {
            throw CatalogueError(code: .other, message: "could not load fingerprints: \(error)", path: name)
        }
        return contents
    }
}

extension DamagedClip {
    /// A stored fingerprint decoded, or the damage that stops it.
    public static func decode(_ blob: Data, of record: ClipRecord) -> Result<ReferenceFingerprint, DamagedClip> {
        do {
            return .success(try FingerprintBinary.decode(blob))
        } catch {
            return .failure(DamagedClip(record: record, problem: error.message))
        }
    }
}

/// A clip whose stored fingerprint cannot be decoded (damaged on disk, or from a newer ClipTrace).
public struct DamagedClip: Error, Hashable, Sendable {
    public var record: ClipRecord
    public var problem: String

    public init(record: ClipRecord, problem: String) {
        self.record = record
        self.problem = problem
    }
}

/// What ``Catalogue/loadFingerprints()`` found.
public struct CatalogueContents: Sendable {
    public var clips: [(ClipRecord, ReferenceFingerprint)] = []
    public var damaged: [DamagedClip] = []

    public init(clips: [(ClipRecord, ReferenceFingerprint)] = [], damaged: [DamagedClip] = []) {
        self.clips = clips
        self.damaged = damaged
    }
}

/// Why a catalogue operation failed.
public struct CatalogueError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Hashable, Sendable {
        /// The file is not a SQLite database, or a database (SQLite, PostgreSQL) of another application.
        case notACatalogue
        /// The catalogue was written by a newer ClipTrace.
        case unsupportedVersion
        /// The database file is damaged.
        case corrupt
        /// The catalogue could not be opened or created (missing folder, permissions).
        case cannotOpen
        /// There is no catalogue at the path yet (and the command does not create one).
        case notFound
        /// The command needs to change the catalogue and may not.
        case readOnly
        /// The disk is full or the database reached a size limit.
        case diskFull
        /// Another process held the catalogue for too long.
        case busy
        /// A stored fingerprint could not be decoded.
        case badFingerprint
        case other
    }

    public var code: Code
    public var message: String
    public var path: String
    /// SQLite's result code, when SQLite reported the failure.
    public var sqliteCode: Int32?
    /// PostgreSQL's SQLSTATE, when a PostgreSQL server reported the failure.
    public var sqlState: String?

    public init(code: Code, message: String, path: String, sqliteCode: Int32? = nil, sqlState: String? = nil) {
        self.code = code
        self.message = message
        self.path = path
        self.sqliteCode = sqliteCode
        self.sqlState = sqlState
    }

    public var description: String {
        var text = "\(message) (\(path))"
        if let sqliteCode { text += " [SQLite code \(sqliteCode)]" }
        if let sqlState { text += " [SQLSTATE \(sqlState)]" }
        return text
    }
}
