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

    /// Expands folders recursively (sorted, media extensions only, symlink loops and unreadable folders
    /// reported, not fatal); files given by name are kept whatever their extension.
    public static func expand(_ paths: [String]) -> [Entry] {
        var out: [Entry] = []
        let manager = FileManager.default
        for path in paths {
            var isDirectory: ObjCBool = false
            guard manager.fileExists(atPath: path, isDirectory: &isDirectory) else {
                out.append(.unusable(path: path, reason: "no such file or folder"))
                continue
            }
            guard isDirectory.boolValue else {
                out.append(.file(path))
                continue
            }
            out += walk(path, visited: [])
        }
        return out
    }

    private static func walk(_ folder: String, visited: Set<String>) -> [Entry] {
        let manager = FileManager.default
        let resolved = (folder as NSString).resolvingSymlinksInPath
        if visited.contains(resolved) { return [.unusable(path: folder, reason: "symbolic link loop; folder skipped")] }
        let children: [String]
        do {
            children = try manager.contentsOfDirectory(atPath: folder).sorted()
        } catch {
            return [.unusable(path: folder, reason: "the folder cannot be read")]
        }
        var out: [Entry] = []
        for name in children where !name.hasPrefix(".") {
            let child = (folder as NSString).appendingPathComponent(name)
            var isDirectory: ObjCBool = false
            guard manager.fileExists(atPath: child, isDirectory: &isDirectory) else {
                if (try? manager.destinationOfSymbolicLink(atPath: child)) != nil {
                    out.append(.unusable(path: child, reason: "broken or looping symbolic link"))
                }
                continue
            }
            let ext = (name as NSString).pathExtension.lowercased()
            if isDirectory.boolValue {
                // A folder named like a video is still a folder: recurse into it only if it has no media name.
                if videoExtensions.contains(ext) || imageExtensions.contains(ext) {
                    out.append(.unusable(path: child, reason: "this is a folder, not a video file"))
                } else {
                    out += walk(child, visited: visited.union([resolved]))
                }
            } else if videoExtensions.contains(ext) || imageExtensions.contains(ext) {
                out.append(.file(child))
            }
        }
        return out
    }

    /// SHA-256 of a file's bytes, read in 1 MiB chunks (constant memory), as lowercase hex.
    public static func sha256(path: String) throws -> (digest: String, size: Int64) {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ScanError(message: "the file cannot be opened for reading", path: path)
        }
        defer { try? handle.close() }
        var hasher = SHA256()
        var size: Int64 = 0
        while true {
            let chunk = try handle.read(upToCount: 1 << 20) ?? Data()
            if chunk.isEmpty { break }
            size += Int64(chunk.count)
            hasher.update(data: chunk)
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
