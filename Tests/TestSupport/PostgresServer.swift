import Foundation

/// A throwaway PostgreSQL cluster for the tests: Debian's `initdb` into a temporary folder and `pg_ctl start` on a
/// Unix socket in that folder and a loopback port, run as an unprivileged user when the tests run as root
/// (PostgreSQL refuses root). One server per test process, started by the first test that asks and stopped when
/// the process exits; each test takes a database of its own.
///
/// No server binaries is a failure with the command that installs them, never a skip.
public final class PostgresServer: @unchecked Sendable {
    public let folder: String
    public let socketFolder: String
    public let port: Int
    /// The superuser, which has a password for TCP connections (sockets trust every local user).
    public let user = "cliptrace"
    public let password = "test-\(UUID().uuidString.prefix(8))"
    private let binaries: String
    private let runAs: String?
    private static let lock = NSLock()
    nonisolated(unsafe) private static var started: Result<PostgresServer, any Error>?

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// The shared server of this test process.
    public static func shared() throws -> PostgresServer {
        try lock.withLock {
            if let started { return try started.get() }
            let result = Result { try PostgresServer() }
            started = result
            if case .success = result { atexit { PostgresServer.stopShared() } }
            return try result.get()
        }
    }

    private init() throws {
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        guard let version = versions.compactMap(Int.init).max() else {
            throw Failure(description: "PostgreSQL's server is not installed: apt-get install postgresql (scripts/setup.sh --for-tests does it)")
        }
        binaries = "/usr/lib/postgresql/\(version)/bin"
        // As root, the cluster belongs to `nobody`; its folder must be reachable by that user.
        runAs = geteuid() == 0 ? "nobody" : nil
        folder = "/tmp/cliptrace-pg-\(getpid())-\(UUID().uuidString.prefix(6))"
        socketFolder = folder
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o755])
        if runAs != nil {
            guard let entry = getpwnam("nobody") else { throw Failure(description: "no user named nobody to run PostgreSQL as") }
            chown(folder, entry.pointee.pw_uid, entry.pointee.pw_gid)
        }
        // The search indexes of the tests' catalogues go to this folder, removed with the server, not to the
        // user's ~/.cache: every command the tests run inherits the setting.
        setenv("XDG_CACHE_HOME", "\(folder)/cache", 1)
        port = Self.freePort()
        let passwordFile = "\(folder)/password"
        try password.write(toFile: passwordFile, atomically: false, encoding: .utf8)
        if let runAs, let entry = getpwnam(runAs) { chown(passwordFile, entry.pointee.pw_uid, entry.pointee.pw_gid) }
        try command("initdb", ["-D", "\(folder)/data", "-U", user, "--pwfile", passwordFile, "--auth-local", "trust",
                               "--auth-host", "scram-sha-256", "--no-sync", "-E", "UTF8", "--locale", "C"])
        try command("pg_ctl", [
            "-D", "\(folder)/data", "-l", "\(folder)/server.log", "-w", "-t", "60", "start", "-o",
            "-k \(socketFolder) -p \(port) -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
        ])
    }

    /// At exit, no child process can be waited for: the server gets SIGQUIT (immediate shutdown) directly.
    static func stopShared() {
        guard case .success(let server) = started,
              let text = try? String(contentsOfFile: "\(server.folder)/data/postmaster.pid", encoding: .utf8),
              let line = text.split(separator: "\n").first, let pid = pid_t(line) else { return }
        kill(pid, SIGQUIT)
        for _ in 0..<100 where kill(pid, 0) == 0 { usleep(20_000) }
        try? FileManager.default.removeItem(atPath: server.folder)
    }

    /// Stops the server and removes its folder.
    public func stop() {
        try? command("pg_ctl", ["-D", "\(folder)/data", "-m", "immediate", "-w", "stop"])
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// Runs a server tool with its output in a file: the server that `pg_ctl start` leaves running inherits the
    /// tool's descriptors, and a pipe it held open would never reach end of file.
    private func command(_ tool: String, _ arguments: [String]) throws {
        let output = "\(folder)/\(tool).out"
        let quoted = ([runAs.map { "/usr/sbin/runuser -u \($0) --" } ?? ""] + ["\(binaries)/\(tool)"] + arguments.map(Self.quote))
            .joined(separator: " ")
        let status = try Self.spawnAndWait(["/bin/sh", "-c", "\(quoted) > \(Self.quote(output)) 2>&1 < /dev/null"])
        guard status == 0 else {
            let said = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            let log = (try? String(contentsOfFile: "\(folder)/server.log", encoding: .utf8)) ?? ""
            throw Failure(description: "\(tool) failed (\(status)): \(said)\n\(log.suffix(2000))")
        }
    }

    /// posix_spawn and waitpid, with every descriptor above 2 closed in the child. Foundation's Process is no use
    /// here: it learns that a child ended when a socket the child inherits closes, and the server that pg_ctl
    /// leaves running would inherit it too and hold it open.
    static func spawnAndWait(_ arguments: [String]) throws -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        let open = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).compactMap(Int32.init)
        for descriptor in open where descriptor > 2 && fcntl(descriptor, F_GETFD) >= 0 {
            posix_spawn_file_actions_addclose(&actions, descriptor)
        }
        var pid: pid_t = 0
        let argv = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let spawned = posix_spawn(&pid, arguments[0], &actions, nil, argv, environ)
        guard spawned == 0 else { throw Failure(description: "cannot run \(arguments[0]): error \(spawned)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    static func quote(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    /// Runs SQL as the superuser through `psql` on the socket.
    @discardableResult
    public func sql(_ statement: String, database: String = "postgres") throws -> String {
        let result = try run("/usr/bin/psql", ["-h", socketFolder, "-p", String(port), "-U", user, "-d", database,
                                               "-v", "ON_ERROR_STOP=1", "-X", "-q", "-t", "-A", "-c", statement],
                             timeout: 60)
        guard result.status == 0 else { throw Failure(description: "psql failed: \(result.stderr)") }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A new, empty database; returns its URL on the Unix socket.
    public func makeDatabase(_ prefix: String = "t") throws -> String {
        let name = "\(prefix)_\(UUID().uuidString.prefix(8).lowercased())"
        try sql("CREATE DATABASE \(name)")
        return socketURL(database: name)
    }

    public func socketURL(database: String) -> String {
        let encoded = socketFolder.replacingOccurrences(of: "/", with: "%2F")
        return "postgres://\(user)@\(encoded):\(port)/\(database)"
    }

    public func tcpURL(database: String, parameters: String = "") -> String {
        "postgres://\(user)@127.0.0.1:\(port)/\(database)\(parameters.isEmpty ? "" : "?" + parameters)"
    }

    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        let port = Int(UInt16(bigEndian: address.sin_port))
        return port == 0 ? 25_432 + Int(getpid() % 1000) : port
    }
}
