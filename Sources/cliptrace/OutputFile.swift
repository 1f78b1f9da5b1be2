import ClipTraceDecoding
import ClipTraceScanning
import Foundation

/// Why an output path cannot be written, in words for the terminal.
struct OutputError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// The file a command writes because the user asked for it with `-o`: the only path ClipTrace may replace.
///
/// Checked before any work starts: a folder, the catalogue in use (or its `-wal`/`-shm`), or one of the inputs
/// is refused. A symbolic link is followed to what it names. A regular file (or a new one) is written to a
/// temporary file beside it and renamed over it when complete, so a reader sees the old report or the new one,
/// never half of one. A device, pipe or socket (`/dev/null`, `/dev/stdout`, a FIFO) is written through: it is
/// never unlinked or renamed over.
struct OutputFile {
    enum Mode: Equatable {
        /// Standard output.
        case standardOutput
        /// A regular file, existing or new, replaced whole when the output is complete.
        case replace
        /// A device, pipe or socket, opened and written in place.
        case writeThrough
        /// A descriptor this process inherited, named as `/dev/stdout`, `/dev/fd/N` or `/proc/self/fd/N`:
        /// written where it points now (a pipe, or the end of a file opened with `>>`), never reopened or replaced.
        case inheritedDescriptor(Int32)
    }

    /// The path as the user gave it, for messages.
    let givenPath: String
    /// Where the bytes go: the path with symbolic links resolved.
    let target: String
    let mode: Mode

    static let standardOutput = OutputFile(givenPath: "standard output", target: "", mode: .standardOutput)

    /// Plans writing to `path` (nil: standard output). `catalogue` and `inputs` are paths that must never be
    /// the output, compared by device and inode (so a hard link or another spelling is caught too).
    static func plan(_ path: String?, catalogue: String? = nil, inputs: [String] = []) throws(OutputError) -> OutputFile {
        guard let path else { return .standardOutput }
        guard !path.isEmpty else { throw OutputError(message: "The output path is empty.") }
        if let descriptor = inheritedDescriptor(named: path) {
            guard fcntl(descriptor, F_GETFD) != -1 else {
                throw OutputError(message: "The output \(path) names descriptor \(descriptor), which this process was not given.")
            }
            return descriptor == STDOUT_FILENO
                ? OutputFile(givenPath: path, target: "", mode: .standardOutput)
                : OutputFile(givenPath: path, target: "", mode: .inheritedDescriptor(descriptor))
        }
        var target = path
        var info = stat()
        if PathBytes.withCString(path, { lstat($0, &info) }) == 0, (info.st_mode & S_IFMT) == S_IFLNK {
            // Follow the link to what it names: that is what the user writes to.
            guard let resolved = MediaFiles.resolvedPath(path) else {
                throw OutputError(message: "The output \(path) is a symbolic link to nothing (or a loop); give the file itself.")
            }
            target = resolved
        }
        let exists = PathBytes.withCString(target, { stat($0, &info) }) == 0
        if exists {
            switch info.st_mode & S_IFMT {
            case S_IFDIR:
                throw OutputError(message: "The output \(path) is a folder; give a file name inside it, such as \((path as NSString).appendingPathComponent("report.html")).")
            case S_IFREG:
                break
            default:
                // A device, pipe or socket: written through, never replaced.
                return OutputFile(givenPath: path, target: target, mode: .writeThrough)
            }
            let identity = FileIdentity(info)
            if let catalogue {
                for companion in [catalogue, catalogue + "-wal", catalogue + "-shm"] where FileIdentity(path: companion) == identity {
                    throw OutputError(message: "The output \(path) is the catalogue in use (\(catalogue)); writing the report there would destroy it.")
                }
            }
            for input in inputs where FileIdentity(path: input) == identity {
                throw OutputError(message: "The output \(path) is one of the inputs (\(input)); writing there would destroy it.")
            }
        }
        if let catalogue {
            // SQLite's companions of the catalogue, existing or not: a report written there would be read back as
            // the catalogue's log.
            let resolved = Self.absolute(target)
            for suffix in ["", "-wal", "-shm", "-journal"] where resolved == Self.absolute(catalogue) + suffix {
                throw OutputError(message: "The output \(path) is the catalogue in use (\(catalogue)) or its SQLite log; writing the report there would destroy it.")
            }
            // The search index's folder belongs to ClipTrace: a report inside it could be taken for one of its files.
            let index = Self.absolute(catalogue) + ".index"
            if resolved == index || resolved.hasPrefix(index + "/") {
                throw OutputError(message: "The output \(path) is inside the catalogue's search index (\(index)); write the report elsewhere.")
            }
        }
        let folder = (target as NSString).deletingLastPathComponent
        let directory = folder.isEmpty ? "." : folder
        var folderInfo = stat()
        guard PathBytes.withCString(directory, { stat($0, &folderInfo) }) == 0 else {
            throw OutputError(message: "The folder \(directory) of the output \(path) does not exist.")
        }
        guard (folderInfo.st_mode & S_IFMT) == S_IFDIR else {
            throw OutputError(message: "The output \(path) is inside \(directory), which is not a folder.")
        }
        guard PathBytes.withCString(directory, { access($0, W_OK) }) == 0 else {
            throw OutputError(message: "This user may not write in the folder \(directory) of the output \(path).")
        }
        return OutputFile(givenPath: path, target: target, mode: .replace)
    }

    /// The descriptor a path names when it is one this process inherited: `/dev/stdout`, `/dev/stderr`,
    /// `/dev/fd/N`, `/proc/self/fd/N` or `/proc/PID/fd/N` of this process, directly or through symbolic links.
    /// Opening such a name again would start a file from its beginning (or fail, for a pipe), and resolving it
    /// would replace the file a shell redirected to; writing to the descriptor itself does neither.
    static func inheritedDescriptor(named path: String) -> Int32? {
        var current = path
        for _ in 0..<40 {
            switch current {
            case "/dev/stdout": return STDOUT_FILENO
            case "/dev/stderr": return STDERR_FILENO
            default: break
            }
            for prefix in ["/dev/fd/", "/proc/self/fd/", "/proc/\(getpid())/fd/"] where current.hasPrefix(prefix) {
                if let descriptor = Int32(current.dropFirst(prefix.count)), descriptor >= 0 { return descriptor }
            }
            // Follow one link at a time, so that a link to /dev/stdout is recognised before /proc resolves it.
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let length = PathBytes.withCString(current) { readlink($0, &buffer, buffer.count - 1) }
            guard length > 0 else { return nil }
            let link = PathBytes.string(fromBytes: buffer[0..<length].map { UInt8(bitPattern: $0) })
            current = link.hasPrefix("/") ? link : ((current as NSString).deletingLastPathComponent as NSString).appendingPathComponent(link)
        }
        return nil
    }

    /// `path` made absolute, its folder's symbolic links resolved (the file itself need not exist).
    static func absolute(_ path: String) -> String {
        let folder = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        let resolved = MediaFiles.absolutePath(folder.isEmpty ? "." : folder)
        guard resolved.hasPrefix("/") else { return path }
        return (resolved as NSString).appendingPathComponent(name)
    }

    /// The temporary name a report is written to before it replaces `target`.
    static func partialPath(for target: String, pid: Int32 = getpid()) -> String { target + ".partial-\(pid)" }

    /// Removes what killed runs left behind for `target`: `TARGET.partial-PID` files whose process is gone.
    static func sweepStalePartials(of target: String) {
        let folder = (target as NSString).deletingLastPathComponent
        let directory = folder.isEmpty ? "." : folder
        let prefix = (target as NSString).lastPathComponent + ".partial-"
        guard let names = MediaFiles.names(in: directory) else { return }
        for name in names where name.hasPrefix(prefix) {
            guard let pid = Int32(name.dropFirst(prefix.count)), pid > 0, pid != getpid() else { continue }
            // kill(pid, 0) fails with ESRCH when no such process exists: its partial file can go.
            if kill(pid, 0) != 0, errno == ESRCH {
                let stale = (directory as NSString).appendingPathComponent(name)
                var info = stat()
                if PathBytes.withCString(stale, { lstat($0, &info) }) == 0, (info.st_mode & S_IFMT) == S_IFREG {
                    _ = PathBytes.withCString(stale) { unlink($0) }
                }
            }
        }
    }
}

/// A file's device and inode: two paths name the same file when these are equal.
struct FileIdentity: Equatable {
    var device: UInt64
    var inode: UInt64

    init(_ info: stat) {
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }

    init?(path: String) {
        var info = stat()
        guard PathBytes.withCString(path, { stat($0, &info) }) == 0 else { return nil }
        self.init(info)
    }
}

/// Writes the output: to standard output, through to a device or pipe, or to a temporary file renamed over
/// the target when ``commit()`` is called. Every write is checked: a full disk or a closed pipe is an error,
/// never a silently short report. SIGINT, SIGTERM and SIGHUP remove the temporary file before the process ends.
final class OutputSink {
    let output: OutputFile
    private let descriptor: Int32
    private let temporaryPath: String?
    private var closed = false

    /// Plans and opens `path` (nil: standard output) for a command; an unusable output ends the command with
    /// status 2 and one sentence.
    static func opening(_ path: String?, catalogue: String? = nil, inputs: [String] = []) throws -> OutputSink {
        do {
            return try OutputSink(OutputFile.plan(path, catalogue: catalogue, inputs: inputs))
        } catch {
            Terminal.error(error.message)
            throw ExitStatus.fatal
        }
    }

    init(_ output: OutputFile) throws(OutputError) {
        self.output = output
        switch output.mode {
        case .standardOutput:
            descriptor = STDOUT_FILENO
            temporaryPath = nil
        case .inheritedDescriptor(let inherited):
            descriptor = inherited
            temporaryPath = nil
        case .writeThrough:
            let opened = PathBytes.withCString(output.target) { open($0, O_WRONLY | O_CLOEXEC) }
            guard opened >= 0 else {
                throw OutputError(message: "Cannot open \(output.givenPath) for writing: \(String(cString: strerror(errno))).")
            }
            descriptor = opened
            temporaryPath = nil
        case .replace:
            OutputFile.sweepStalePartials(of: output.target)
            let temporary = OutputFile.partialPath(for: output.target)
            let opened = PathBytes.withCString(temporary) { open($0, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666) }
            guard opened >= 0 else {
                throw OutputError(message: "Cannot write beside \(output.givenPath): \(String(cString: strerror(errno))).")
            }
            descriptor = opened
            temporaryPath = temporary
            PartialFiles.shared.register(temporary)
        }
    }

    func write(_ text: String) throws(OutputError) {
        try write(Array(text.utf8))
    }

    func write(_ bytes: [UInt8]) throws(OutputError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                throw OutputError(message: "Could not write to \(output.givenPath): \(String(cString: strerror(errno))).")
            }
            offset += written
        }
    }

    /// Finishes the output: the temporary file is flushed to disk and renamed over the target.
    func commit() throws(OutputError) {
        guard !closed else { return }
        closed = true
        switch output.mode {
        case .standardOutput, .inheritedDescriptor:
            return
        case .writeThrough:
            close(descriptor)
        case .replace:
            guard let temporaryPath else { return }
            defer { PartialFiles.shared.forget(temporaryPath) }
            if fsync(descriptor) != 0 || close(descriptor) != 0 {
                let reason = String(cString: strerror(errno))
                _ = PathBytes.withCString(temporaryPath) { unlink($0) }
                throw OutputError(message: "Could not write to \(output.givenPath): \(reason).")
            }
            // Only a regular file (or nothing) is ever replaced.
            var info = stat()
            if PathBytes.withCString(output.target, { lstat($0, &info) }) == 0, (info.st_mode & S_IFMT) != S_IFREG {
                _ = PathBytes.withCString(temporaryPath) { unlink($0) }
                throw OutputError(message: "\(output.givenPath) stopped being a regular file while the report was written; it was left alone.")
            }
            if PathBytes.withCString(temporaryPath, { from in PathBytes.withCString(output.target) { rename(from, $0) } }) != 0 {
                let reason = String(cString: strerror(errno))
                _ = PathBytes.withCString(temporaryPath) { unlink($0) }
                throw OutputError(message: "Could not put the report at \(output.givenPath): \(reason).")
            }
        }
    }

    /// Gives up: a temporary file is removed and the target left as it was.
    func abandon() {
        guard !closed else { return }
        closed = true
        if output.mode == .writeThrough || output.mode == .replace { close(descriptor) }
        if let temporaryPath {
            _ = PathBytes.withCString(temporaryPath) { unlink($0) }
            PartialFiles.shared.forget(temporaryPath)
        }
    }
}

/// Temporary output files of this process, removed when SIGINT, SIGTERM or SIGHUP ends it.
final class PartialFiles: @unchecked Sendable {
    static let shared = PartialFiles()
    private let lock = NSLock()
    private var paths: Set<String> = []
    private var sources: [DispatchSourceSignal] = []

    func register(_ path: String) {
        lock.withLock {
            paths.insert(path)
            guard sources.isEmpty else { return }
            // SIGHUP too: a closed terminal ends a long scan as surely as Ctrl-C.
            for signalNumber in [SIGINT, SIGTERM, SIGHUP] {
                signal(signalNumber, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
                source.setEventHandler { [weak self] in
                    self?.removeAll()
                    // The conventional status of a process ended by a signal.
                    exit(128 + signalNumber)
                }
                source.resume()
                sources.append(source)
            }
        }
    }

    func forget(_ path: String) { lock.withLock { _ = paths.remove(path) } }

    private func removeAll() {
        lock.withLock {
            for path in paths { _ = PathBytes.withCString(path) { unlink($0) } }
            paths.removeAll()
        }
    }
}
