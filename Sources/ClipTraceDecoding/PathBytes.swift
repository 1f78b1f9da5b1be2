#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// File names are bytes; Swift strings are Unicode. So that a file whose name is not valid UTF-8 can still be
/// found in a folder, opened and decoded, ClipTrace carries such a name in a `String` with each byte that is not
/// part of valid UTF-8 mapped to the private-use scalar U+10FF00 + byte, and maps it back at every call into the
/// operating system or FFmpeg. People see those bytes as `\xNN` (``display(_:)``).
///
/// (A name that really contains U+10FF80…U+10FFFF, the last private-use characters of plane 16, would be
/// misread; no known system or person uses them in file names.)
public enum PathBytes {
    static let escapeBase: UInt32 = 0x10_FF00

    /// A name's bytes as a string, invalid UTF-8 escaped.
    public static func string(fromBytes bytes: some Collection<UInt8>) -> String {
        var scalars = String.UnicodeScalarView()
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var pending = Array(bytes)[...]
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded):
                scalars.append(Unicode.UTF8.decode(encoded))
                pending = pending.dropFirst(encoded.count)
            case .error(let length):
                for byte in pending.prefix(length) { scalars.append(Unicode.Scalar(escapeBase + UInt32(byte))!) }
                pending = pending.dropFirst(length)
            case .emptyInput:
                return String(scalars)
            }
        }
    }

    /// The bytes a path string stands for (escaped bytes restored).
    public static func bytes(of path: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(path.utf8.count)
        for scalar in path.unicodeScalars {
            if scalar.value >= escapeBase + 0x80, scalar.value <= escapeBase + 0xFF {
                out.append(UInt8(scalar.value - escapeBase))
            } else {
                out.append(contentsOf: String(scalar).utf8)
            }
        }
        return out
    }

    /// Calls `body` with the path as the NUL-terminated bytes the operating system takes.
    public static func withCString<Result>(_ path: String, _ body: (UnsafePointer<CChar>) throws -> Result) rethrows -> Result {
        var bytes = bytes(of: path)
        bytes.append(0)
        return try bytes.withUnsafeBufferPointer { buffer in
            try buffer.withMemoryRebound(to: CChar.self) { try body($0.baseAddress!) }
        }
    }

    /// Whether the path holds bytes that are not valid UTF-8.
    public static func hasInvalidBytes(_ path: String) -> Bool {
        path.unicodeScalars.contains { $0.value >= escapeBase + 0x80 && $0.value <= escapeBase + 0xFF }
    }

    /// The path for people and for reports (JSON, CSV, HTML): bytes that are not UTF-8 as `\xNN`; with
    /// `controls`, also control characters (for a terminal, where they would run as escape sequences).
    public static func display(_ path: String, controls: Bool = false) -> String {
        guard controls || hasInvalidBytes(path) else { return path }
        var out = ""
        for scalar in path.unicodeScalars {
            let value = scalar.value
            if value >= escapeBase + 0x80, value <= escapeBase + 0xFF {
                out += hex(UInt8(value - escapeBase))
            } else if controls, value < 0x20 || (value >= 0x7F && value < 0xA0) {
                out += value == 0x0A ? "\\n" : value == 0x09 ? "\\t" : value == 0x0D ? "\\r" : hex(UInt8(value))
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789abcdef")
        return "\\x" + String(digits[Int(byte >> 4)]) + String(digits[Int(byte & 15)])
    }
}
