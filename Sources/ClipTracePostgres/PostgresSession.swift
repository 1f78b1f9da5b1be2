import ClipTraceCatalogue
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO

/// One connection to a PostgreSQL server, used by blocking calls (the ``Catalogue`` protocol is synchronous).
///
/// postgres-nio runs the connection on its own event-loop thread; a call here waits for its future on the
/// caller's thread, never on Swift's cooperative pool, so a scan that calls the catalogue from many tasks
/// cannot starve the pool. One caller at a time holds the connection (a transaction is one holder); a
/// connection the server dropped is opened again by the next call.
public final class PostgresSession: @unchecked Sendable {
    public let location: PostgresLocation
    let logger: Logger
    private let lock = NSLock()
    private var connection: PostgresConnection?
    /// Every transaction read-only, on this connection and any that replaces it.
    private var readOnly = false
    private static let nextID = NSLock()
    nonisolated(unsafe) private static var lastID = 0

    public init(location: PostgresLocation, logger: Logger = Logger(label: "cliptrace.postgres")) throws(CatalogueError) {
        self.location = location
        self.logger = logger
        connection = try Self.connect(location, logger: logger)
    }

    deinit {
        if let connection, !connection.isClosed { _ = try? connection.close().wait() }
    }

    /// From now on nothing can be written through this session.
    func makeReadOnly() throws(CatalogueError) {
        try withConnection { link in
            readOnly = true
            try link.execute("SET default_transaction_read_only = on")
        }
    }

    /// Closes the connection now (a later call opens a new one).
    public func close() {
        lock.withLock {
            if let connection, !connection.isClosed { _ = try? connection.close().wait() }
            connection = nil
        }
    }

    /// Runs `body` holding the connection: its statements are not interleaved with any other caller's.
    @discardableResult
    func withConnection<T>(_ body: (Link) throws -> T) throws(CatalogueError) -> T {
        lock.lock()
        defer { lock.unlock() }
        if connection == nil || connection!.isClosed {
            let fresh = try Self.connect(location, logger: logger)
            if readOnly {
                do {
                    _ = try fresh.query("SET default_transaction_read_only = on", logger: logger).wait()
                } catch {
                    _ = try? fresh.close().wait()
                    throw Self.translate(error, location: location, action: "open the catalogue read-only")
                }
            }
            connection = fresh
        }
        let link = Link(connection: connection!, logger: logger, location: location)
        do {
            return try body(link)
        } catch let error as CatalogueError {
            throw error
        } catch {
            throw Self.translate(error, location: location, action: "use the catalogue")
        }
    }

    /// Runs `body` in one transaction: committed when it returns, rolled back when it throws.
    func transaction<T>(_ action: String, _ body: (Link) throws -> T) throws(CatalogueError) -> T {
        try withConnection { link in
            try link.execute("BEGIN")
            do {
                let value = try body(link)
                try link.execute("COMMIT")
                return value
            } catch {
                _ = try? link.execute("ROLLBACK")
                if let error = error as? CatalogueError { throw error }
                throw Self.translate(error, location: location, action: action)
            }
        }
    }

    /// The connection while held: statements wait for the server's answer.
    struct Link {
        let connection: PostgresConnection
        let logger: Logger
        let location: PostgresLocation

        @discardableResult
        func query(_ query: PostgresQuery) throws -> [PostgresRow] {
            let result = try connection.query(query, logger: logger).wait()
            return Array(result.rows)
        }

        /// Runs a statement and returns how many rows it changed.
        @discardableResult
        func execute(_ query: PostgresQuery) throws -> Int {
            let result = try connection.query(query, logger: logger).wait()
            return result.metadata.rows ?? 0
        }
    }

    /// A new connection of its own (for `LISTEN`, which holds a connection).
    public static func connect(_ location: PostgresLocation, logger: Logger) throws(CatalogueError) -> PostgresConnection {
        var configuration: PostgresConnection.Configuration
        switch location.endpoint {
        case .unixSocket(let folder, let port):
            configuration = .init(unixSocketPath: "\(folder)/.s.PGSQL.\(port)", username: location.user,
                                  password: location.password, database: location.database)
        case .tcp(let host, let port):
            let tls: PostgresConnection.Configuration.TLS
            do {
                switch location.tls {
                case .disable, .allow:
                    tls = .disable
                case .prefer, .require:
                    // libpq's require encrypts without checking who answers; verify-* check the certificate.
                    var settings = TLSConfiguration.makeClientConfiguration()
                    settings.certificateVerification = .none
                    let context = try NIOSSLContext(configuration: settings)
                    tls = location.tls == .prefer ? .prefer(context) : .require(context)
                case .verifyCA, .verifyFull:
                    // The certificate chains to the system's roots, or to sslrootcert's (a private CA).
                    var settings = TLSConfiguration.makeClientConfiguration()
                    settings.certificateVerification = location.tls == .verifyFull ? .fullVerification : .noHostnameVerification
                    if let roots = location.rootCertificates { settings.trustRoots = .file(roots) }
                    tls = .require(try NIOSSLContext(configuration: settings))
                }
            } catch {
                throw CatalogueError(code: .cannotOpen, message: "cannot set up TLS for the catalogue server: \(error)",
                                     path: location.description)
            }
            configuration = .init(host: host, port: port, username: location.user, password: location.password,
                                  database: location.database, tls: tls)
        }
        configuration.options.connectTimeout = .seconds(10)
        let id = nextID.withLock { () -> Int in
            lastID += 1
            return lastID
        }
        do {
            return try PostgresConnection.connect(
                on: MultiThreadedEventLoopGroup.singleton.next(), configuration: configuration, id: id, logger: logger
            ).wait()
        } catch {
            throw translate(error, location: location, action: "connect to the catalogue server")
        }
    }

    /// A CatalogueError with PostgreSQL's own words (SQLSTATE, message) or the connection's failure.
    static func translate(_ error: any Error, location: PostgresLocation, action: String) -> CatalogueError {
        let path = location.description
        guard let error = error as? PSQLError else {
            return CatalogueError(code: .cannotOpen, message: "cannot \(action): \(error)", path: path)
        }
        if let info = error.serverInfo, let state = info[.sqlState] {
            let message = info[.message] ?? "server error"
            let code: CatalogueError.Code
            switch state {
            case "3D000": code = .notFound  // database does not exist
            case "28000", "28P01": code = .cannotOpen  // authentication
            case "53100": code = .diskFull
            case "40001", "40P01", "55P03": code = .busy
            case "42501", "25006": code = .readOnly
            case "57P01", "57P02", "57P03", "08000", "08003", "08006": code = .cannotOpen
            default: code = .other
            }
            var text = "cannot \(action): PostgreSQL says \"\(message)\""
            if let detail = info[.detail] { text += " (\(detail))" }
            return CatalogueError(code: code, message: text, path: path, sqlState: state)
        }
        var text = "cannot \(action)"
        switch error.code {
        case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown:
            text += ": the connection to the server failed"
            if let underlying = error.underlying { text += " (\(underlying))" }
        case .sslUnsupported:
            text += ": the server does not offer TLS, which sslmode=\(location.tls.rawValue) requires"
        case .authMechanismRequiresPassword:
            text += ": the server wants a password; set PGPASSWORD or add a line to ~/.pgpass"
        default:
            text += ": \(error.code)"
            if let underlying = error.underlying { text += " (\(underlying))" }
        }
        return CatalogueError(code: .cannotOpen, message: text, path: path)
    }
}
