import ClipTraceHashing
import Foundation

/// The JSON form of a fingerprint. Field names are a contract other tools read.
///
/// A reference fingerprint round-trips through it whole (frames, the hashes of picture halves, corners). A query's observations can be
/// written in the same shape with each frame's other views as `probes`; those are for reading, not for storing.
public struct FingerprintDocument: Codable, Hashable, Sendable {
    public struct FrameEntry: Codable, Hashable, Sendable {
        public var time: Double
        public var hash: String
        public var quality: Int
        /// Query-side views of the same moment (mirrored, rotated, whole frame, window), when asked for.
        public var probes: [ProbeEntry]?

        public init(time: Double, hash: String, quality: Int, probes: [ProbeEntry]? = nil) {
            self.time = time
            self.hash = hash
            self.quality = quality
            self.probes = probes
        }
    }

    public struct ProbeEntry: Codable, Hashable, Sendable {
        public var hash: String
        public var orientation: String
        public var region: String

        public init(hash: String, orientation: String, region: String) {
            self.hash = hash
            self.orientation = orientation
            self.region = region
        }
    }

    public struct CornerFrameEntry: Codable, Hashable, Sendable {
        public var time: Double
        public var corners: [CornerEntry]
    }

    /// The hashes of the halves of the content at one moment (top, bottom, left, right), with their qualities.
    public struct PartFrameEntry: Codable, Hashable, Sendable {
        public var time: Double
        public var hashes: [String]
        public var qualities: [Int]
    }

    /// A corner: position as fractions of the content's width and height, and its 256-bit descriptor in PDQ's
    /// hex layout.
    public struct CornerEntry: Codable, Hashable, Sendable {
        public var x: Float
        public var y: Float
        public var descriptor: String
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
    /// Which part of each frame the hashes cover: `content` (bars removed, as the catalogue stores) or
    /// `full-frame` (the whole picture, as vPDQ hashes it).
    public var region: String?
    public var frames: [FrameEntry]
    public var cornerAlgorithm: String?
    public var cornerFrames: [CornerFrameEntry]?
    public var partFrames: [PartFrameEntry]?

    enum CodingKeys: String, CodingKey {
        case file, duration, width, height, rotation, codec, algorithm, frames, region
        case frameRate = "frame_rate"
        case algorithmVersion = "algorithm_version"
        case sampleRate = "sample_rate"
        case cornerAlgorithm = "corner_algorithm"
        case cornerFrames = "corner_frames"
        case partFrames = "part_frames"
    }

    public init(file: String, fingerprint: ReferenceFingerprint, region: String? = nil) {
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
        self.region = region
        frames = fingerprint.frames.map {
            FrameEntry(time: Self.milliseconds($0.time), hash: $0.hash.hexString, quality: $0.quality)
        }
        if !fingerprint.partFrames.isEmpty {
            partFrames = fingerprint.partFrames.map {
                PartFrameEntry(time: Self.milliseconds($0.time), hashes: $0.hashes.map(\.hexString), qualities: $0.qualities)
            }
        }
        if !fingerprint.cornerFrames.isEmpty {
            cornerAlgorithm = fingerprint.cornerAlgorithm.description
            cornerFrames = fingerprint.cornerFrames.map { frame in
                CornerFrameEntry(time: Self.milliseconds(frame.time), corners: frame.corners.map {
                    CornerEntry(x: Float(FingerprintBinary.fraction($0.x)) / 65_536,
                                y: Float(FingerprintBinary.fraction($0.y)) / 65_536, descriptor: $0.descriptor.hexString)
                })
            }
        }
    }

    /// Times are written to the millisecond, as the binary form stores them.
    static func milliseconds(_ seconds: Double) -> Double { Double(FingerprintBinary.milliseconds(seconds)) / 1000 }

    /// Converts back to a reference fingerprint (probes, a query-side view, are not part of one); fails on a
    /// malformed hash, descriptor or algorithm name.
    public func fingerprint() throws(FingerprintError) -> ReferenceFingerprint {
        var decoded: [ReferenceFingerprint.Frame] = []
        decoded.reserveCapacity(frames.count)
        for entry in frames {
            guard let hash = PDQHash(hexString: entry.hash) else {
                throw FingerprintError(code: .invalidValue, message: "\"\(entry.hash)\" is not a 64-digit PDQ hash")
            }
            decoded.append(.init(time: entry.time, hash: hash, quality: entry.quality))
        }
        var corners: [ReferenceFingerprint.CornerFrame] = []
        for frame in cornerFrames ?? [] {
            var list: [LocalFeature] = []
            for corner in frame.corners {
                guard let descriptor = PDQHash(hexString: corner.descriptor) else {
                    throw FingerprintError(code: .invalidValue,
                                           message: "\"\(corner.descriptor)\" is not a 64-digit corner descriptor")
                }
                list.append(LocalFeature(x: corner.x, y: corner.y, descriptor: descriptor))
            }
            corners.append(.init(time: frame.time, corners: list))
        }
        var parts: [ReferenceFingerprint.PartFrame] = []
        for frame in partFrames ?? [] {
            let hashes = frame.hashes.compactMap { PDQHash(hexString: $0) }
            guard hashes.count == frame.hashes.count, hashes.count == PicturePart.halves.count,
                  frame.qualities.count == hashes.count, frame.qualities.allSatisfy({ (0...100).contains($0) }) else {
                throw FingerprintError(code: .invalidValue,
                                       message: "the part frame at \(frame.time) s needs \(PicturePart.halves.count) 64-digit hashes and qualities 0-100")
            }
            parts.append(.init(time: frame.time, hashes: hashes, qualities: frame.qualities))
        }
        var cornerAlgorithmValue = ReferenceFingerprint.Algorithm.brief
        if let cornerAlgorithm {
            let parts = cornerAlgorithm.split(separator: "/")
            guard parts.count == 2, let version = Int(parts[1]) else {
                throw FingerprintError(code: .invalidValue, message: "\"\(cornerAlgorithm)\" is not NAME/VERSION")
            }
            cornerAlgorithmValue = .init(name: String(parts[0]), version: version)
        }
        return ReferenceFingerprint(
            algorithm: .init(name: algorithm, version: algorithmVersion), cornerAlgorithm: cornerAlgorithmValue,
            duration: duration, frameRate: frameRate, width: width, height: height, rotation: rotation, codec: codec,
            sampleRate: sampleRate, frames: decoded, cornerFrames: corners, partFrames: parts)
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
    public static func encode(_ fingerprint: ReferenceFingerprint) -> String {
        var text = ""
        for frame in fingerprint.frames {
            let frameNumber = fingerprint.frameRate > 0 ? Int((frame.time * fingerprint.frameRate).rounded()) : 0
            text += "\(frameNumber),\(frame.quality),\(frame.hash.hexString),\(String(format: "%.3f", frame.time))\n"
        }
        return text
    }

    /// Parses vPDQ lines into frames (quality, hash, time).
    public static func decodeFrames(_ text: String) throws(FingerprintError) -> [ReferenceFingerprint.Frame] {
        var frames: [ReferenceFingerprint.Frame] = []
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
