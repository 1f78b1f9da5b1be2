import ClipTraceDecoding
import Crypto
import Foundation

/// Finding the media files of a scan, and identifying files by content.
public enum MediaFiles {
    /// Extensions `scan` picks up inside folders (a file named explicitly is always tried).
    public static let videoExtensions: Set<String> = [
        "mp4", "m4v", "mov", "mkv", "webm", "avi", "ts", "mts", "m2ts", "flv", "wmv", "mpg", "mpeg", "3gp", "ogv",
        "h264", "264", "hevc", "265", "gif",
    ]
    public static let imageExtensions: Set<String> = ["png", "jpg", "jpeg", "webp", "bmp", "tif", "tiff"]

    /// One input of a scan: a file to process, or a path that cannot be (reported as an error record).
    public enum Entry: Hashable, Sendable {
        case file(String)
        case unusable(path: String, reason: String)
    }

    /// Expands folders recursively, sorted, media extensions only; files given by name are kept whatever their
    /// extension. Each real folder is visited once and each real file listed once (by device and inode), however
    /// many paths or symbolic links lead to it: a link loop is reported, never followed round. With
    /// `followLinks` false, symbolic links found inside folders are skipped. Unreadable folders, broken links and
    /// loops become entries with a reason, never a silent skip.
    public static func expand(_ paths: [String], followLinks: Bool = true) -> [Entry] {
        expansion(of: paths, followLinks: followLinks).entries
    }

    /// What a scan of some paths covers, and what it passed by on purpose.
    public struct Expansion: Sendable {
        public var entries: [Entry]
        /// Folders reached a second time (a symbolic link loop, or two links to one folder), with why: they
        /// were scanned once already, so they are told about, not failed.
        public var skipped: [(path: String, reason: String)]
    }

    public static func expansion(of paths: [String], followLinks: Bool = true) -> Expansion {
        var walker = FolderWalker(followLinks: followLinks)
        for path in paths { walker.add(path, named: true) }
        return Expansion(entries: walker.entries, skipped: walker.skipped)
    }

    /// The walk's state: what was seen, by device and inode.
    struct FolderWalker {
        let followLinks: Bool
        var entries: [Entry] = []
        var skipped: [(path: String, reason: String)] = []
        var visitedFolders: Set<FileKey> = []
        var listedFiles: Set<FileKey> = []

        struct FileKey: Hashable {
            var device: UInt64
            var inode: UInt64
        }

        init(followLinks: Bool) { self.followLinks = followLinks }

        mutating func add(_ path: String, named: Bool) {
            var info = stat()
            guard PathBytes.withCString(path, { stat($0, &info) }) == 0 else {
                let reason: String
                switch errno {
                case ELOOP: reason = "a loop of symbolic links leads nowhere"
                case EACCES: reason = "permission denied"
                default:
                    var link = stat()
                    reason = PathBytes.withCString(path, { lstat($0, &link) }) == 0
                        ? "a symbolic link to nothing" : "no such file or folder"
                }
                entries.append(.unusable(path: path, reason: reason))
                return
            }
            let key = FileKey(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
            if (info.st_mode & S_IFMT) == S_IFDIR {
                walk(path, key: key)
            } else if listedFiles.insert(key).inserted {
                entries.append(.file(path))
            } else if named {
                // The same file named twice (or once directly and once through a folder) is scanned once.
                return
            }
        }

        private mutating func walk(_ folder: String, key: FileKey) {
            guard visitedFolders.insert(key).inserted else {
                skipped.append((folder, "this folder was already scanned through another path (a symbolic link loop, or a second link to it)"))
                return
            }
            guard let names = MediaFiles.names(in: folder) else {
                entries.append(.unusable(path: folder, reason: "the folder cannot be read"))
                return
            }
            for name in names where !name.hasPrefix(".") {
                let child = folder.hasSuffix("/") ? folder + name : folder + "/" + name
                var link = stat()
                guard PathBytes.withCString(child, { lstat($0, &link) }) == 0 else { continue }
                let isLink = (link.st_mode & S_IFMT) == S_IFLNK
                if isLink, !followLinks { continue }
                var info = stat()
                guard PathBytes.withCString(child, { stat($0, &info) }) == 0 else {
                    if isLink {
                        entries.append(.unusable(path: child, reason: errno == ELOOP ? "a loop of symbolic links" : "a symbolic link to nothing"))
                    }
                    continue
                }
                let ext = (name as NSString).pathExtension.lowercased()
                let isMedia = videoExtensions.contains(ext) || imageExtensions.contains(ext)
                if (info.st_mode & S_IFMT) == S_IFDIR {
                    // A folder named like a video is still a folder: recurse into it only if it has no media name.
                    if isMedia {
                        entries.append(.unusable(path: child, reason: "this is a folder, not a video file"))
                    } else {
                        walk(child, key: FileKey(device: UInt64(info.st_dev), inode: UInt64(info.st_ino)))
                    }
                } else if isMedia {
                    add(child, named: false)
                }
            }
        }
    }

    /// A folder's entries, sorted by their bytes, names that are not UTF-8 included (escaped, see
    /// ``PathBytes``); nil when the folder cannot be read.
    public static func names(in folder: String) -> [String]? {
        guard let directory = PathBytes.withCString(folder, { opendir($0) }) else { return nil }
        defer { closedir(directory) }
        var names: [[UInt8]] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                Array(raw.prefix { $0 != 0 })
            }
            if name == [46] || name == [46, 46] { continue }
            names.append(name)
        }
        return names.sorted { $0.lexicographicallyPrecedes($1) }.map { PathBytes.string(fromBytes: $0) }
    }

    /// The absolute path of `path` with symbolic links resolved (as given, when it cannot be resolved).
    public static func absolutePath(_ path: String) -> String { resolvedPath(path) ?? path }

    /// The absolute path of `path` with symbolic links resolved; nil when it cannot be resolved (a link to
    /// nothing, a loop, a missing part).
    public static func resolvedPath(_ path: String) -> String? {
        guard let resolved = PathBytes.withCString(path, { realpath($0, nil) }) else { return nil }
        defer { free(resolved) }
        let length = strlen(resolved)
        return resolved.withMemoryRebound(to: UInt8.self, capacity: length) {
            PathBytes.string(fromBytes: UnsafeBufferPointer(start: $0, count: length))
        }
    }

    /// SHA-256 of a file's bytes, read in 1 MiB chunks (constant memory), as lowercase hex.
    public static func sha256(path: String) throws -> (digest: String, size: Int64) {
        let descriptor = PathBytes.withCString(path) { open($0, O_RDONLY | O_CLOEXEC) }
        guard descriptor >= 0 else {
            throw ScanError(message: "the file cannot be opened for reading (\(String(cString: strerror(errno))))", path: path)
        }
        defer { close(descriptor) }
        var hasher = SHA256()
        var size: Int64 = 0
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress!, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw ScanError(message: "the file could not be read (\(String(cString: strerror(errno))))", path: path)
            }
            if count == 0 { break }
            size += Int64(count)
            buffer.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0.prefix(count))) }
        }
        let digest = hasher.finalize().map { String(format: "%02x", $0) }.joined()
        return (digest, size)
    }
}

/// A failure that is not the decoder's or the catalogue's.
public struct ScanError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public var path: String

    public init(message: String, path: String) {
        self.message = message
        self.path = path
    }

    public var description: String { "\(message) (\(path))" }
}
