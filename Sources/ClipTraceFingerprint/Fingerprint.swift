import ClipTraceHashing

/// The perceptual fingerprint of one video: a PDQ hash per sampled frame plus facts about the stream.
public struct Fingerprint: Hashable, Sendable {
    /// One sampled frame.
    public struct Frame: Hashable, Sendable {
        /// Presentation time in seconds from the start of the video.
        public var time: Double
        /// PDQ hash of the frame's content rectangle.
        public var hash: PDQHash
        /// PDQ quality 0–100.
        public var quality: Int
        /// Alternative hashes of the same moment: for a query, the frame seen mirrored, rotated or through a
        /// window; for a reference, crops of it (so cropped copies still match).
        public var probes: [Probe]

        public init(time: Double, hash: PDQHash, quality: Int, probes: [Probe] = []) {
            self.time = time
            self.hash = hash
            self.quality = quality
            self.probes = probes
        }
    }

    /// An alternative hash of a query frame and how it was taken.
    public struct Probe: Hashable, Sendable {
        public var hash: PDQHash
        /// The orientation that, applied to the query frame, gives this hash.
        public var orientation: Dihedral
        public var region: ProbeRegion

        public init(hash: PDQHash, orientation: Dihedral, region: ProbeRegion) {
            self.hash = hash
            self.orientation = orientation
            self.region = region
        }
    }

    /// Which part of a query frame a probe hashes.
    public enum ProbeRegion: UInt8, Hashable, Sendable, CustomStringConvertible {
        /// The content rectangle (bars removed): the same region references are hashed on.
        case content = 0
        /// The whole decoded frame.
        case fullFrame = 1
        /// A window found inside the frame (picture-in-picture, screen recording).
        case window = 2
        /// A central part of the content (for copies with overlays at the edges).
        case centre = 3
        /// A reference-side crop of the content (for copies that were cropped and stretched back).
        case crop = 4
        /// Corners matched under one shift and scale (``LocalFeature``), not a whole-frame hash.
        case localFeatures = 5

        public var description: String {
            switch self {
            case .content: "content"
            case .fullFrame: "full-frame"
            case .window: "window"
            case .centre: "centre"
            case .crop: "crop"
            case .localFeatures: "local features"
            }
        }
    }

    /// The algorithm that produced the hashes. Fingerprints of different algorithms never compare.
    public struct Algorithm: Hashable, Sendable, CustomStringConvertible {
        public var name: String
        public var version: Int

        public init(name: String, version: Int) {
            self.name = name
            self.version = version
        }

        /// PDQ on the detected content rectangle, sampled by time.
        public static let current = Algorithm(name: "pdq", version: 1)

        public var description: String { "\(name)/\(version)" }
    }

    public var algorithm: Algorithm
    /// Duration in seconds (for stills 0).
    public var duration: Double
    public var frameRate: Double
    /// Displayed size after rotation.
    public var width: Int
    public var height: Int
    /// Clockwise rotation applied from the display matrix.
    public var rotation: Int
    public var codec: String
    /// Samples per second used when fingerprinting.
    public var sampleRate: Double
    public var frames: [Frame]
    /// Corners and their descriptors at a lower rate than the hashes (see ``LocalFeature``): for a reference,
    /// of its content rectangle; for a query, of its content and windows at a few zooms.
    public var featureFrames: [FeatureFrame]

    /// The local features of one sampled moment, taken from one region at one zoom.
    public struct FeatureFrame: Hashable, Sendable {
        public var time: Double
        public var region: ProbeRegion
        /// `.mirror` when the corners describe the region seen in a mirror (a query's mirrored probe).
        public var orientation: Dihedral
        /// Scale of the region's square relative to ``LocalFeatureExtractor/side`` (1 for references).
        public var zoom: Double
        public var features: [LocalFeature]

        public init(time: Double, region: ProbeRegion, orientation: Dihedral = .original, zoom: Double,
                    features: [LocalFeature]) {
            self.time = time
            self.region = region
            self.orientation = orientation
            self.zoom = zoom
            self.features = features
        }
    }

    public init(
        algorithm: Algorithm = .current, duration: Double, frameRate: Double, width: Int, height: Int, rotation: Int,
        codec: String, sampleRate: Double, frames: [Frame], featureFrames: [FeatureFrame] = []
    ) {
        self.algorithm = algorithm
        self.duration = duration
        self.frameRate = frameRate
        self.width = width
        self.height = height
        self.rotation = rotation
        self.codec = codec
        self.sampleRate = sampleRate
        self.frames = frames
        self.featureFrames = featureFrames
    }
}
