import ClipTraceHashing
import Foundation

/// The JSON form of a fingerprint. Field names are a contract other tools read.
public struct FingerprintDocument: Codable, Hashable, Sendable {
    public struct FrameEntry: Codable, Hashable, Sendable {
        public var time: Double
        public var hash: String
        public var quality: Int
        /// Query-side alternative hashes, present only when asked for.
        public var probes: [ProbeEntry]?
    }

    public struct ProbeEntry: Codable, Hashable, Sendable {
        public var hash: String
        public var orientation: String
        public var region: String
    }

    public var file: String
    public var duration: Double
    public var width: Int
    public var height: Int
    public var frameRate: Double
    public var rotation: Int
    public var codec: String
    public var algorithm: String
    public var algorithmVersion: Int
    public var sampleRate: Double
    public var frames: [FrameEntry]

    enum CodingKeys: String, CodingKey {
        case file, duration, width, height, rotation, codec, algorithm, frames
        case frameRate = "frame_rate"
        case algorithmVersion = "algorithm_version"
        case sampleRate = "sample_rate"
    }

    public init(file: String, fingerprint: Fingerprint) {
        self.file = file
        duration = fingerprint.duration
        width = fingerprint.width
        height = fingerprint.height
        frameRate = fingerprint.frameRate
        rotation = fingerprint.rotation
        codec = fingerprint.codec
        algorithm = fingerprint.algorithm.name
        algorithmVersion = fingerprint.algorithm.version
        sampleRate = fingerprint.sampleRate
        frames = fingerprint.frames.map {
            FrameEntry(
                time: ($0.time * 1000).rounded() / 1000, hash: $0.hash.hexString, quality: $0.quality,
                probes: $0.probes.isEmpty ? nil : $0.probes.map {
                    ProbeEntry(hash: $0.hash.hexString, orientation: $0.orientation.description,
                               region: $0.region.description)
                })
        }
    }

    /// Converts back to a fingerprint; fails on a malformed hash.
    public func fingerprint() throws(FingerprintError) -> Fingerprint {
        var decoded: [Fingerprint.Frame] = []
        decoded.reserveCapacity(frames.count)
        for entry in frames {
            guard let hash = PDQHash(hexString: entry.hash) else {
                throw FingerprintError(code: .invalidValue, message: "\"\(entry.hash)\" is not a 64-digit PDQ hash")
            }
            decoded.append(.init(time: entry.time, hash: hash, quality: entry.quality))
        }
        return Fingerprint(
            algorithm: .init(name: algorithm, version: algorithmVersion), duration: duration, frameRate: frameRate,
            width: width, height: height, rotation: rotation, codec: codec, sampleRate: sampleRate, frames: decoded)
    }

    public func encoded(pretty: Bool = false) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.withoutEscapingSlashes]
        return try encoder.encode(self)
    }
}

/// Meta's vPDQ line format, `frame_number,quality,hash,timestamp_seconds`, one line per sampled frame,
/// as vPDQ's hashers write and its matchers read.
public enum VPDQFormat {
    public static func encode(_ fingerprint: Fingerprint) -> String {
        var text = ""
        for frame in fingerprint.frames {
            let frameNumber = fingerprint.frameRate > 0 ? Int((frame.time * fingerprint.frameRate).rounded()) : 0
            text += "\(frameNumber),\(frame.quality),\(frame.hash.hexString),\(String(format: "%.3f", frame.time))\n"
        }
        return text
    }

    /// Parses vPDQ lines into frames (quality, hash, time).
    public static func decodeFrames(_ text: String) throws(FingerprintError) -> [Fingerprint.Frame] {
        var frames: [Fingerprint.Frame] = []
        for (index, line) in text.split(whereSeparator: \.isNewline).enumerated() {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            guard fields.count == 4, let quality = Int(fields[1]), let hash = PDQHash(hexString: fields[2]),
                  let time = Double(fields[3]), time.isFinite
            else {
                throw FingerprintError(code: .invalidValue, message: "line \(index + 1) is not a vPDQ record")
            }
            frames.append(.init(time: time, hash: hash, quality: quality))
        }
        return frames
    }
}
