import ClipTraceCatalogue
import Foundation

/// Where a PostgreSQL catalogue lives, read from a `postgres://` URL the way libpq reads one.
///
/// `postgres://[USER@][HOST][:PORT][/DATABASE][?host=/socket/folder&sslmode=MODE&application_name=NAME]`. HOST
/// may be a Unix socket folder, percent-encoded (`%2Fvar%2Frun%2Fpostgresql`) or as `?host=`; when it is
/// absent, PGHOST, then the default socket folder `/var/run/postgresql`. USER defaults to PGUSER, then the
/// login name; DATABASE to PGDATABASE, then USER; PORT to PGPORT, then 5432. The password never comes from the
/// URL (a command line is readable by every user of the machine): it comes from PGPASSWORD or the password
/// file (PGPASSFILE, else `~/.pgpass`).
public struct PostgresLocation: Sendable, Hashable, CustomStringConvertible {
    public enum Endpoint: Sendable, Hashable {
        case tcp(host: String, port: Int)
        /// The socket file `FOLDER/.s.PGSQL.PORT`.
        case unixSocket(folder: String, port: Int)
    }

    /// libpq's `sslmode`: whether to encrypt, and how much to check the server's certificate.
    public enum TLSMode: String, Sendable, Hashable, CaseIterable {
        case disable, allow, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    public var endpoint: Endpoint
    public var user: String
    public var database: String
    public var tls: TLSMode
    public var password: String?
    /// `sslrootcert`: the certificate authorities (PEM) that verify-ca and verify-full trust instead of the
    /// system's.
    public var rootCertificates: String?

    /// True for a `postgres://` or `postgresql://` URL (anything else is a SQLite file's path).
    public static func isURL(_ text: String) -> Bool {
        let lower = text.lowercased()
        return lower.hasPrefix("postgres://") || lower.hasPrefix("postgresql://")
    }

    /// Reads `url`; `environment` supplies libpq's PG* defaults and HOME for the password file.
    public init(url: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(CatalogueError) {
        func invalid(_ why: String) -> CatalogueError {
            CatalogueError(code: .cannotOpen, message: "the catalogue URL is not usable: \(why)", path: Self.redacted(url))
        }
        guard Self.isURL(url), let schemeEnd = url.range(of: "://") else {
            throw invalid("it must start with postgres:// or postgresql://")
        }
        var rest = Substring(url[schemeEnd.upperBound...])
        var parameters: [String: String] = [:]
        if let question = rest.firstIndex(of: "?") {
            for pair in rest[rest.index(after: question)...].split(separator: "&") where !pair.isEmpty {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2, let key = Self.decode(parts[0]), let value = Self.decode(parts[1]) else {
                    throw invalid("the parameter \"\(pair)\" is not KEY=VALUE")
                }
                parameters[key] = value
            }
            rest = rest[..<question]
        }
        // The user part ends at the last "@" before the path (a password, refused below, may hold "/" or "@").
        var userInfo: Substring?
        let pathStart = rest.firstIndex(of: "/") ?? rest.endIndex
        if let at = rest[..<pathStart].lastIndex(of: "@") ?? rest.lastIndex(of: "@") {
            userInfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
        }
        var authority = rest
        var path = Substring("")
        if let slash = rest.firstIndex(of: "/") {
            authority = rest[..<slash]
            path = rest[rest.index(after: slash)...]
        }
        var user: String?
        if let userInfo {
            if userInfo.contains(":") {
                throw invalid("it contains a password; put the password in PGPASSWORD or ~/.pgpass instead, where other users of the machine cannot read it")
            }
            guard let decoded = Self.decode(userInfo) else { throw invalid("the user name is not valid percent-encoding") }
            user = decoded.isEmpty ? nil : decoded
        }
        var host: String?
        var port: Int?
        var hostPart = authority
        if hostPart.hasPrefix("["), let close = hostPart.firstIndex(of: "]") {  // [IPv6]:port
            host = String(hostPart[hostPart.index(after: hostPart.startIndex)..<close])
            hostPart = hostPart[hostPart.index(after: close)...]
            if !hostPart.hasPrefix(":") { hostPart = "" }
        }
        if let colon = hostPart.lastIndex(of: ":") {
            guard let number = Int(hostPart[hostPart.index(after: colon)...]), (1...65535).contains(number) else {
                throw invalid("the port is not a number from 1 to 65535")
            }
            port = number
            hostPart = hostPart[..<colon]
        }
        if host == nil, !hostPart.isEmpty {
            guard let decoded = Self.decode(hostPart) else { throw invalid("the host is not valid percent-encoding") }
            host = decoded
        }
        if let fromParameter = parameters["host"], !fromParameter.isEmpty { host = fromParameter }
        if let fromParameter = parameters["port"] {
            guard let number = Int(fromParameter), (1...65535).contains(number) else {
                throw invalid("the port is not a number from 1 to 65535")
            }
            port = number
        }
        if let fromParameter = parameters["user"], !fromParameter.isEmpty { user = fromParameter }
        guard let database = Self.decode(path) else { throw invalid("the database name is not valid percent-encoding") }
        let resolvedHost = host ?? environment["PGHOST"].flatMap { $0.isEmpty ? nil : $0 } ?? "/var/run/postgresql"
        if port == nil, let text = environment["PGPORT"], !text.isEmpty {
            guard let number = Int(text), (1...65535).contains(number) else { throw invalid("PGPORT is not a port number") }
            port = number
        }
        let resolvedPort = port ?? 5432
        let resolvedUser = user ?? environment["PGUSER"].flatMap { $0.isEmpty ? nil : $0 } ?? Self.loginName()
        self.user = resolvedUser
        self.database = !database.isEmpty ? database
            : (parameters["dbname"] ?? environment["PGDATABASE"]).flatMap { $0.isEmpty ? nil : $0 } ?? resolvedUser
        endpoint = resolvedHost.hasPrefix("/") ? .unixSocket(folder: resolvedHost, port: resolvedPort)
            : .tcp(host: resolvedHost, port: resolvedPort)
        let modeText = parameters["sslmode"] ?? environment["PGSSLMODE"] ?? "prefer"
        guard let mode = TLSMode(rawValue: modeText) else {
            throw invalid("sslmode must be one of \(TLSMode.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        tls = mode
        rootCertificates = (parameters["sslrootcert"] ?? environment["PGSSLROOTCERT"]).flatMap { $0.isEmpty ? nil : $0 }
        password = environment["PGPASSWORD"].flatMap { $0.isEmpty ? nil : $0 }
            ?? Self.passwordFromFile(environment: environment, endpoint: endpoint, database: self.database, user: resolvedUser)
    }

    /// The URL without any secret, for messages and logs.
    public var description: String {
        var text = "postgres://\(Self.encode(user))@"
        switch endpoint {
        case .tcp(let host, let port): text += (host.contains(":") ? "[\(host)]" : Self.encode(host)) + ":\(port)"
        case .unixSocket(let folder, let port): text += "\(Self.encode(folder)):\(port)"
        }
        text += "/\(Self.encode(database))"
        if tls != .prefer, case .tcp = endpoint { text += "?sslmode=\(tls.rawValue)" }
        return text
    }

    /// `url` with anything after "user:" up to "@" hidden, for an error about a URL that did not parse.
    static func redacted(_ url: String) -> String {
        guard let schemeEnd = url.range(of: "://"),
              let at = url[schemeEnd.upperBound...].lastIndex(of: "@") else { return url }
        let userInfo = url[schemeEnd.upperBound..<at]
        guard let colon = userInfo.firstIndex(of: ":") else { return url }
        return String(url[..<colon]) + ":***" + String(url[at...])
    }

    static func decode(_ text: Substring) -> String? { String(text).removingPercentEncoding }

    static func encode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    public static func loginName() -> String {
        if let name = ProcessInfo.processInfo.environment["USER"], !name.isEmpty { return name }
        if let entry = getpwuid(geteuid()), let name = entry.pointee.pw_name { return String(cString: name) }
        return "postgres"
    }

    /// The password-file line that matches, as libpq picks it: the first of `host:port:database:user:password`
    /// whose fields equal the connection's or are `*` (a socket connection's host is `localhost`, or its
    /// folder). A file that others can read is ignored, as libpq does.
    static func passwordFromFile(environment: [String: String], endpoint: Endpoint, database: String, user: String)
        -> String?
    {
        let path: String
        if let file = environment["PGPASSFILE"], !file.isEmpty {
            path = file
        } else if let home = environment["HOME"], !home.isEmpty {
            path = (home as NSString).appendingPathComponent(".pgpass")
        } else {
            return nil
        }
        var status = stat()
        guard stat(path, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG, status.st_mode & 0o077 == 0,
              let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        let hosts: [String]
        let port: Int
        switch endpoint {
        case .tcp(let host, let p): hosts = [host]; port = p
        case .unixSocket(let folder, let p): hosts = ["localhost", folder]; port = p
        }
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) where !line.hasPrefix("#") {
            let fields = Self.passwordFileFields(line)
            guard fields.count == 5 else { continue }
            func matches(_ field: String, _ values: [String]) -> Bool { field == "*" || values.contains(field) }
            if matches(fields[0], hosts), matches(fields[1], [String(port)]), matches(fields[2], [database]),
               matches(fields[3], [user])
            {
                return fields[4]
            }
        }
        return nil
    }

    /// A password-file line split at its unescaped colons (`\:` and `\\` are literal).
    static func passwordFileFields(_ line: Substring) -> [String] {
        var fields: [String] = []
        var current = ""
        var escaped = false
        for character in line {
            if escaped {
                current.append(character)
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == ":" && fields.count < 4 {
                fields.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        fields.append(current)
        return fields
    }
}
