import ClipTraceCatalogue
import ClipTracePostgres
import Foundation
import TestSupport
import Testing

/// Reading `postgres://` URLs and password files the way libpq does (no server needed).
@Suite("PostgreSQL locations")
struct PostgresLocationTests {
    @Test("a URL gives the endpoint, user, database and TLS mode; libpq's defaults fill the gaps")
    func parsing() throws {
        let tcp = try PostgresLocation(url: "postgres://alice@db.example:6543/catalogue?sslmode=require", environment: [:])
        #expect(tcp.endpoint == .tcp(host: "db.example", port: 6543))
        #expect(tcp.user == "alice" && tcp.database == "catalogue" && tcp.tls == .require)
        let socket = try PostgresLocation(url: "postgresql://bob@%2Ftmp%2Fpg:7000/c", environment: [:])
        #expect(socket.endpoint == .unixSocket(folder: "/tmp/pg", port: 7000))
        let parameter = try PostgresLocation(url: "postgres:///c?host=/run/pg&user=carol", environment: [:])
        #expect(parameter.endpoint == .unixSocket(folder: "/run/pg", port: 5432) && parameter.user == "carol")
        let defaults = try PostgresLocation(url: "postgres://", environment: ["PGUSER": "dan", "PGHOST": "h", "PGPORT": "15"])
        #expect(defaults.endpoint == .tcp(host: "h", port: 15) && defaults.user == "dan" && defaults.database == "dan")
        let ipv6 = try PostgresLocation(url: "postgres://e@[::1]:5433/d", environment: [:])
        #expect(ipv6.endpoint == .tcp(host: "::1", port: 5433))
        #expect(ipv6.description == "postgres://e@[::1]:5433/d")
    }

    @Test("a password in the URL, a bad port or an unknown sslmode are refused with a reason")
    func refusals() throws {
        let secret = #expect(throws: CatalogueError.self) {
            try PostgresLocation(url: "postgres://alice:hunter2@db/c", environment: [:])
        }
        #expect(secret?.message.contains("PGPASSWORD") == true)
        #expect(secret.map { !$0.description.contains("hunter2") } == true, "the password never appears in messages")
        let awkward = #expect(throws: CatalogueError.self) {
            try PostgresLocation(url: "postgres://alice:p@ss/w0rd@db/c", environment: [:])
        }
        #expect(awkward.map { !$0.description.contains("ss/w0rd") && $0.message.contains("PGPASSWORD") } == true, "\(String(describing: awkward))")
        let rooted = try PostgresLocation(url: "postgres://a@db/c?sslmode=verify-full&sslrootcert=/etc/ca.pem", environment: [:])
        #expect(rooted.tls == .verifyFull && rooted.rootCertificates == "/etc/ca.pem")
        #expect(throws: CatalogueError.self) { try PostgresLocation(url: "postgres://a@db:99999/c", environment: [:]) }
        #expect(throws: CatalogueError.self) { try PostgresLocation(url: "postgres://a@db/c?sslmode=maybe", environment: [:]) }
        #expect(!PostgresLocation.isURL("catalogue.sqlite") && PostgresLocation.isURL("PostgreSQL://x"))
    }

    @Test("the password comes from PGPASSWORD, else the first matching line of a private password file")
    func passwords() throws {
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let file = folder.file("pgpass")
        try """
            # comment
            other:5432:*:alice:wrong
            db.example:6543:cat:alice:pa\\:ss
            *:*:*:alice:fallback
            """.write(toFile: file, atomically: true, encoding: .utf8)
        chmod(file, 0o600)
        let environment = ["PGPASSFILE": file]
        #expect(try PostgresLocation(url: "postgres://alice@db.example:6543/cat", environment: environment).password == "pa:ss")
        #expect(try PostgresLocation(url: "postgres://alice@elsewhere/cat", environment: environment).password == "fallback")
        #expect(try PostgresLocation(url: "postgres://bob@db.example:6543/cat", environment: environment).password == nil)
        #expect(try PostgresLocation(url: "postgres://alice@db.example:6543/cat",
                                     environment: environment.merging(["PGPASSWORD": "env"]) { $1 }).password == "env")
        // A password file others can read is ignored, as libpq ignores it.
        chmod(file, 0o644)
        #expect(try PostgresLocation(url: "postgres://alice@db.example:6543/cat", environment: environment).password == nil)
    }
}

/// The catalogue on a real PostgreSQL server the tests start themselves.
@Suite("PostgreSQL catalogue", .serialized)
struct PostgresCatalogueTests {
    static let references = ["life_colony", "mandelbrot_zoom", "spinning_pattern"].map {
        Repository.path("testmedia/references/\($0).mp4")
    }

    @Test("register, list, info, scan and remove work as on SQLite, and the same file twice is a no-op")
    func sameCommandsAsSQLite() throws {
        let server = try PostgresServer.shared()
        let url = try server.makeDatabase()
        let binary = try Repository.cliptraceBinary()
        let registered = try run(binary, ["register", "-q", "--catalogue", url, "--owner", "Lan"] + Self.references)
        #expect(registered.status == 0, "\(registered.stderr)")
        let again = try run(binary, ["register", "--catalogue", url, Self.references[0]])
        #expect(again.status == 0 && again.stdout.contains("already registered"), "\(again.stdout)\(again.stderr)")
        let listed = try run(binary, ["list", "--catalogue", url])
        #expect(listed.status == 0 && listed.stdout.split(separator: "\n").count == 4, "\(listed.stdout)\(listed.stderr)")
        let info = try run(binary, ["info", "--catalogue", url, "2"])
        #expect(info.status == 0 && info.stdout.contains("mandelbrot_zoom"), "\(info.stdout)\(info.stderr)")
        let recording = Repository.path("testmedia/recordings/stream_with_mirrored_copy.mp4")
        let scanned = try run(binary, ["scan", "-q", "--catalogue", url, recording])
        #expect(scanned.status == 0 && scanned.stdout.contains("\"reference\":\"mandelbrot_zoom\""), "\(scanned.stdout)\(scanned.stderr)")
        let removed = try run(binary, ["remove", "--catalogue", url, "2"])
        #expect(removed.status == 0, "\(removed.stderr)")
        let after = try run(binary, ["scan", "-q", "--catalogue", url, recording])
        #expect(after.status == 0 && !after.stdout.contains("mandelbrot_zoom"), "\(after.stdout)")
        #expect(try server.sql("SELECT count(*) FROM cliptrace.clip", database: Self.database(of: url)) == "2")
    }

    @Test("catalogue copy moves every clip between SQLite and PostgreSQL with its id, date and fingerprint")
    func copyBothWays() throws {
        let server = try PostgresServer.shared()
        let url = try server.makeDatabase()
        let binary = try Repository.cliptraceBinary()
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let original = folder.file("original.sqlite")
        #expect(try run(binary, ["register", "-q", "--catalogue", original] + Self.references).status == 0)
        #expect(try run(binary, ["remove", "--catalogue", original, "1"]).status == 0)  // ids 2 and 3 remain
        let toServer = try run(binary, ["catalogue", "copy", "-q", original, url])
        #expect(toServer.status == 0, "\(toServer.stderr)")
        let back = folder.file("back.sqlite")
        let toFile = try run(binary, ["catalogue", "copy", "-q", url, back])
        #expect(toFile.status == 0, "\(toFile.stderr)")
        let lists = try [original, url, back].map { try run(binary, ["list", "--json", "--catalogue", $0]).stdout }
        #expect(lists[0] == lists[1] && lists[1] == lists[2], "\(lists)")
        let a = try SQLiteCatalogue(path: original, access: .read)
        let b = try PostgresCatalogue(url: url, access: .read)
        for id: Int64 in [2, 3] { #expect(try a.fingerprint(id: id) == b.fingerprint(id: id)) }
        // Scans against the three give the same records.
        let recording = Repository.path("testmedia/recordings/stream_with_compilation.mp4")
        let scans = try [original, url, back].map { try run(binary, ["scan", "-q", "--catalogue", $0, recording]).stdout }
        #expect(scans[0] == scans[1] && scans[1] == scans[2] && scans[0].contains("spinning_pattern"), "\(scans)")
        // Copying again changes nothing.
        let twice = try run(binary, ["catalogue", "copy", original, url])
        #expect(twice.status == 0 && twice.stderr.contains("copied 0 clip(s)") && twice.stderr.contains("2 already there"), "\(twice.stderr)")
    }

    @Test("a database of another application is refused and left untouched")
    func foreignDatabase() throws {
        let server = try PostgresServer.shared()
        let url = try server.makeDatabase()
        let database = Self.database(of: url)
        try server.sql("CREATE TABLE orders (id serial PRIMARY KEY, item text); INSERT INTO orders (item) VALUES ('tea')", database: database)
        let before = try server.sql(Self.schemaSnapshot, database: database)
        let binary = try Repository.cliptraceBinary()
        for arguments in [["register", "-q", "--catalogue", url, Self.references[0]], ["list", "--catalogue", url],
                          ["submit", "--catalogue", url, Self.references[0]]] {
            let refused = try run(binary, arguments)
            #expect(refused.status == 2 && refused.stderr.contains("not a ClipTrace catalogue"), "\(arguments[0]): \(refused.stderr)")
        }
        #expect(try server.sql(Self.schemaSnapshot, database: database) == before)
        #expect(try server.sql("SELECT count(*) FROM pg_namespace WHERE nspname = 'cliptrace'", database: database) == "0")
    }

    @Test("read-only commands on an empty database say how to create a catalogue and create nothing")
    func emptyDatabase() throws {
        let server = try PostgresServer.shared()
        let url = try server.makeDatabase()
        let binary = try Repository.cliptraceBinary()
        let listed = try run(binary, ["list", "--catalogue", url])
        #expect(listed.status == 2 && listed.stderr.contains("no ClipTrace catalogue yet"), "\(listed.stderr)")
        #expect(try server.sql("SELECT count(*) FROM pg_namespace WHERE nspname = 'cliptrace'", database: Self.database(of: url)) == "0")
    }

    @Test("over TCP the password comes from PGPASSWORD or ~/.pgpass; without one the error says where to put it")
    func passwordsOverTCP() throws {
        let server = try PostgresServer.shared()
        let database = Self.database(of: try server.makeDatabase())
        let url = server.tcpURL(database: database, parameters: "sslmode=disable")
        let binary = try Repository.cliptraceBinary()
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let noPassword = ["PGPASSWORD": "", "PGPASSFILE": folder.file("none")]
        let refused = try run(binary, ["register", "-q", "--catalogue", url, Self.references[0]], environment: noPassword)
        #expect(refused.status == 2 && refused.stderr.contains("PGPASSWORD"), "\(refused.stderr)")
        let withEnvironment = try run(binary, ["register", "-q", "--catalogue", url, Self.references[0]],
                                      environment: ["PGPASSWORD": server.password])
        #expect(withEnvironment.status == 0, "\(withEnvironment.stderr)")
        let file = folder.file("pgpass")
        try "127.0.0.1:\(server.port):\(database):\(server.user):\(server.password)\n".write(toFile: file, atomically: true, encoding: .utf8)
        chmod(file, 0o600)
        let withFile = try run(binary, ["list", "--catalogue", url], environment: ["PGPASSWORD": "", "PGPASSFILE": file])
        #expect(withFile.status == 0 && withFile.stdout.contains("life_colony"), "\(withFile.stderr)")
        let wrong = try run(binary, ["list", "--catalogue", url], environment: ["PGPASSWORD": "wrong"])
        #expect(wrong.status == 2 && wrong.stderr.contains("password authentication failed"), "\(wrong.stderr)")
        // The catalogue is also found through $CLIPTRACE_CATALOGUE.
        let fromEnvironment = try run(binary, ["list"], environment: ["CLIPTRACE_CATALOGUE": url, "PGPASSWORD": server.password])
        #expect(fromEnvironment.status == 0 && fromEnvironment.stdout.contains("life_colony"), "\(fromEnvironment.stderr)")
    }

    @Test("a server that does not answer is a clear error, not a hang")
    func unreachable() throws {
        let binary = try Repository.cliptraceBinary()
        let result = try run(binary, ["list", "--catalogue", "postgres://nobody@127.0.0.1:1/none?sslmode=disable"], timeout: 60)
        #expect(!result.timedOut && result.status == 2 && result.stderr.contains("onnect to the catalogue server"), "\(result.stderr)")
    }

    /// Two processes creating one catalogue at once: one migrates, the other waits and finds it made.
    @Test("concurrent registrations into a new database both succeed")
    func concurrentCreation() async throws {
        let server = try PostgresServer.shared()
        let url = try server.makeDatabase()
        let binary = try Repository.cliptraceBinary()
        async let first = Task.detached { try run(binary, ["register", "-q", "--catalogue", url, Self.references[0]]) }.value
        async let second = Task.detached { try run(binary, ["register", "-q", "--catalogue", url, Self.references[1]]) }.value
        let results = try await [first, second]
        #expect(results.allSatisfy { $0.status == 0 }, "\(results.map(\.stderr))")
        #expect(try server.sql("SELECT count(*) FROM cliptrace.clip", database: Self.database(of: url)) == "2")
    }

    static let schemaSnapshot = """
        SELECT string_agg(c.relname || ':' || c.relkind::text, ',' ORDER BY c.relname) || '|' ||
               (SELECT string_agg(item, ',') FROM orders)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'
        """

    static func database(of url: String) -> String {
        String(url.split(separator: "/").last!.split(separator: "?").first!)
    }
}
