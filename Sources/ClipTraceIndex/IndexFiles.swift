import ClipTraceEvidence
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why the index folder or one of its files could not be used. The catalogue is never affected: a search
/// falls back to an index built in memory.
public struct IndexFileError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Hashable, Sendable {
        /// The path exists and is not a ClipTrace index folder: it is left alone.
        case notAnIndexFolder
        /// The folder or a file could not be created (permissions, read-only medium, missing parent).
        case cannotCreate
        /// Writing a file failed.
        case cannotWrite
        /// The disk is full.
        case diskFull
        /// A file could not be read or mapped.
        case cannotRead
    }

    public var code: Code
    public var message: String
    public var path: String
    /// The system call that failed and its `errno`.
    public var systemCall: String?
    public var errno: Int32?

    public init(code: Code, message: String, path: String, systemCall: String? = nil, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.path = path
        self.systemCall = systemCall
        self.errno = errno
    }

    static func system(_ call: String, _ code: Code, _ message: String, path: String, errno given: Int32? = nil) -> IndexFileError {
        let value = given ?? Glibc.errno
        return IndexFileError(code: value == ENOSPC || value == EDQUOT ? .diskFull : code,
                       message: value == ENOSPC || value == EDQUOT ? "the disk is full: \(message)" : message,
                       path: path, systemCall: call, errno: value)
    }

    public var description: String {
        var text = "\(message) (\(path))"
        if let systemCall, let errno { text += " [\(systemCall): \(String(cString: strerror(errno)))]" }
        return text
    }
}

/// Segment files: written whole under a temporary name and renamed into place, then only ever mapped for
/// reading, so a reader never sees a file half written and a crash leaves at most a temporary file behind.
enum SegmentFile {
    /// Maps `path` and checks its header and checksum table; the blocks are checked as they are read.
    static func open(_ path: String) throws -> IndexStorage {
        let descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw IndexFileError.system("open", .cannotRead, "cannot open an index file", path: path) }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw IndexFileError.system("fstat", .cannotRead, "cannot read an index file", path: path)
        }
        let size = Int(status.st_size)
        guard size >= SegmentLayout.headerSize else {
            throw IndexDamage(storage: path, message: "the index file is \(size) bytes, shorter than its header: it was truncated")
        }
        guard let address = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0), address != MAP_FAILED else {
            throw IndexFileError.system("mmap", .cannotRead, "cannot map an index file", path: path)
        }
        let bytes = UnsafeRawBufferPointer(start: address, count: size)
        let header: SegmentHeader
        do {
            header = try SegmentHeader.read(bytes, name: path, checkingChecksums: true)
        } catch {
            munmap(address, size)
            throw error
        }
        return IndexStorage(mapped: bytes, name: path, checksums: header.checksums(in: bytes)) { bytes in
            munmap(UnsafeMutableRawPointer(mutating: bytes.baseAddress!), bytes.count)
        }
    }

    /// Writes a segment of `layout` as `directory/name`: space is reserved first (a full disk is an error, not
    /// a crash while writing through the mapping), `fill` writes the image, checksums seal it, and the file is
    /// synced and renamed into place.
    /// `fill` gets the image and a function to call with each section it has finished: those pages are
    /// handed to the kernel to write back, so building a large segment does not hold it all in memory.
    static func write(layout: SegmentLayout, directory: String, name: String,
                      fill: (UnsafeMutableRawBufferPointer, (Range<Int>) -> Void) throws -> Void) throws {
        try IndexFolder.replace(name, in: directory, what: "an index file") { descriptor, temporary in
            let size = layout.byteCount
            let reserved = posix_fallocate(descriptor, 0, off_t(size))
            if reserved == EOPNOTSUPP || reserved == EINVAL {
                guard ftruncate(descriptor, off_t(size)) == 0 else {
                    throw IndexFileError.system("ftruncate", .cannotWrite, "cannot size an index file", path: temporary)
                }
            } else if reserved != 0 {
                throw IndexFileError.system("posix_fallocate", .cannotWrite, "cannot reserve space for an index file",
                                            path: temporary, errno: reserved)
            }
            guard let address = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor, 0), address != MAP_FAILED else {
                throw IndexFileError.system("mmap", .cannotWrite, "cannot map an index file for writing", path: temporary)
            }
            let image = UnsafeMutableRawBufferPointer(start: address, count: size)
            let page = Int(sysconf(Int32(_SC_PAGESIZE)))
            func written(_ range: Range<Int>) {
                let start = range.lowerBound / page * page
                guard range.upperBound > start else { return }
                msync(address + start, range.upperBound - start, MS_ASYNC)
                madvise(address + start, range.upperBound - start, MADV_DONTNEED)
            }
            do {
                try fill(image, written)
            } catch {
                munmap(address, size)
                throw error
            }
            SegmentLayout.seal(image)
            let synced = msync(address, size, MS_SYNC)
            let syncError = errno
            munmap(address, size)
            guard synced == 0 else {
                throw IndexFileError.system("msync", .cannotWrite, "cannot write an index file", path: temporary, errno: syncError)
            }
        }
    }
}

/// The list of segment files in use, replaced whole (written aside, then renamed) so readers always find a
/// consistent set: a first line naming the format, the JSON list, and its checksum.
struct IndexManifest: Codable, Equatable {
    static let firstLine = "cliptrace-index 1"
    var generation: Int = 0
    var hashes: [String] = []
    var corners: [String] = []

    static func read(_ path: String) throws -> IndexManifest? {
        guard let data = FileManager.default.contents(atPath: path) else {
            if access(path, F_OK) != 0 && errno == ENOENT { return nil }
            throw IndexFileError.system("open", .cannotRead, "cannot read the index list", path: path)
        }
        let lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        guard lines.count >= 3, String(decoding: lines[0], as: UTF8.self) == firstLine else {
            throw IndexDamage(storage: path, message: "the index list is not ClipTrace's or is damaged")
        }
        let body = Data(lines[1])
        let checksum = body.withUnsafeBytes { IndexChecksum.region($0) }
        guard String(decoding: lines[2], as: UTF8.self) == String(checksum, radix: 16),
              let manifest = try? JSONDecoder().decode(IndexManifest.self, from: body)
        else { throw IndexDamage(storage: path, message: "the index list does not match its checksum") }
        return manifest
    }

    func write(to directory: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let body = try encoder.encode(self)
        let checksum = body.withUnsafeBytes { IndexChecksum.region($0) }
        var data = Data((Self.firstLine + "\n").utf8)
        data.append(body)
        data.append(Data(("\n" + String(checksum, radix: 16) + "\n").utf8))
        try IndexFolder.replace(IndexFolder.manifestName, in: directory, what: "the index list") { descriptor, temporary in
            let written = data.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            guard written == data.count else {
                throw IndexFileError.system("write", .cannotWrite, "cannot write the index list", path: temporary)
            }
        }
    }
}

/// The folder of a persisted index: created by ClipTrace (a marker file says so) and never anything else's.
/// Only files of the index's own names are ever removed from it.
struct IndexFolder {
    static let markerName = "cliptrace-index.lock"
    static let manifestName = "manifest"
    let path: String

    /// The folder at `path`, created when missing. A path that exists and is not an index folder (no marker,
    /// and not empty) is refused and left alone.
    static func prepare(_ path: String, create: Bool) throws -> IndexFolder? {
        var status = stat()
        if lstat(path, &status) != 0 {
            guard errno == ENOENT else {
                throw IndexFileError.system("lstat", .cannotRead, "cannot look at the index folder", path: path)
            }
            guard create else { return nil }
            // A cache folder (a PostgreSQL catalogue's index on a worker) may not exist yet; a catalogue file's
            // folder always does.
            let parent = (path as NSString).deletingLastPathComponent
            if !parent.isEmpty { try? FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true) }
            guard mkdir(path, 0o755) == 0 || errno == EEXIST else {
                throw IndexFileError.system("mkdir", .cannotCreate, "cannot create the index folder", path: path)
            }
        } else if status.st_mode & S_IFMT != S_IFDIR {
            throw IndexFileError(code: .notAnIndexFolder, message: "something that is not ClipTrace's index is in the index's place; it is left alone",
                                 path: path)
        }
        let marker = path + "/" + markerName
        if access(marker, F_OK) != 0 {
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            guard entries.isEmpty else {
                throw IndexFileError(code: .notAnIndexFolder, message: "a folder that is not ClipTrace's index is in the index's place; it is left alone",
                                     path: path)
            }
            guard create else { return nil }
            let descriptor = Glibc.open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else {
                throw IndexFileError.system("open", .cannotCreate, "cannot create the index folder's marker", path: marker)
            }
            close(descriptor)
        }
        return IndexFolder(path: path)
    }

    /// Holds the folder's lock (`flock` on the marker) until the returned object is released: one process at a
    /// time changes the index; readers never wait.
    final class Lock {
        let descriptor: Int32
        init(_ folder: IndexFolder, waiting: () -> Void) throws {
            let marker = folder.path + "/" + IndexFolder.markerName
            descriptor = Glibc.open(marker, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else {
                throw IndexFileError.system("open", .cannotRead, "cannot open the index folder's marker", path: marker)
            }
            if flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
                waiting()
                while flock(descriptor, LOCK_EX) != 0 {
                    guard errno == EINTR else {
                        let error = errno
                        close(descriptor)
                        throw IndexFileError.system("flock", .cannotWrite, "cannot lock the index folder", path: marker, errno: error)
                    }
                }
            }
        }
        deinit { close(descriptor) }
    }

    func readManifest() throws -> IndexManifest? { try IndexManifest.read(path + "/" + Self.manifestName) }

    /// Removes segment files and leftovers of interrupted writes that `manifest` does not list: only names the
    /// index itself gives (`h-….seg`, `c-….seg`, `….partial-PID` of processes that are gone).
    func removeUnlisted(keeping manifest: IndexManifest) {
        let listed = Set(manifest.hashes + manifest.corners)
        for name in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] {
            let segment = (name.hasPrefix("h-") || name.hasPrefix("c-")) && name.hasSuffix(".seg")
            var stale = false
            if let range = name.range(of: ".partial-"), let pid = Int32(name[range.upperBound...]) {
                stale = pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH
            }
            if (segment && !listed.contains(name)) || stale { unlink(path + "/" + name) }
        }
    }

    /// Replaces `directory/name` whole: `write` fills a new file beside it, which is synced and renamed over it,
    /// so a reader or a crash sees the old file or the new one, never half of one. The new file is removed when
    /// anything fails; `what` names the file in errors.
    static func replace(_ name: String, in directory: String, what: String,
                        write: (_ descriptor: Int32, _ temporary: String) throws -> Void) throws {
        let final = directory + "/" + name
        let temporary = final + ".partial-\(getpid())"
        let descriptor = Glibc.open(temporary, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw IndexFileError.system("open", .cannotCreate, "cannot create \(what)", path: temporary)
        }
        var renamed = false
        defer {
            close(descriptor)
            if !renamed { unlink(temporary) }
        }
        try write(descriptor, temporary)
        guard fsync(descriptor) == 0 else {
            throw IndexFileError.system("fsync", .cannotWrite, "cannot write \(what)", path: temporary)
        }
        guard rename(temporary, final) == 0 else {
            throw IndexFileError.system("rename", .cannotWrite, "cannot put \(what) in place", path: final)
        }
        renamed = true
        syncDirectory(directory)
    }

    static func syncDirectory(_ path: String) {
        let descriptor = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        fsync(descriptor)
        close(descriptor)
    }
}
