import ClipTraceHashing

/// What the catalogue keeps of a registered clip: a PDQ hash of its content at each sampled frame, and the
/// corners of its content at a lower rate.
///
/// This is the stored, versioned format (see ``FingerprintBinary``). It describes the clip as it is, upright and
/// whole; how a query is looked at (mirrored, through a window, at another zoom) belongs to the query's
/// observations, and what a search found to the matcher's results. Neither is ever stored here.
public struct ReferenceFingerprint: Hashable, Sendable {
    /// One sampled frame.
    public struct Frame: Hashable, Sendable {
        /// Presentation time in seconds from the first frame.
        public var time: Double
        /// PDQ hash of the frame's content rectangle (bars removed).
        public var hash: PDQHash
        /// PDQ quality 0–100: below about 20 the frame is flat, dark or blurred and its hash says little.
        public var quality: Int

        public init(time: Double, hash: PDQHash, quality: Int) {
            self.time = time
            self.hash = hash
            self.quality = quality
        }
    }

    /// The corners of the content at one sampled moment (see ``LocalFeature``).
    public struct CornerFrame: Hashable, Sendable {
        public var time: Double
        public var corners: [LocalFeature]

        public init(time: Double, corners: [LocalFeature]) {
            self.time = time
            self.corners = corners
        }
    }

    /// Hashes of the halves of the content at one sampled moment (see ``PicturePart``): a copy with an overlay
    /// over part of the picture still matches through the halves it leaves clean.
    public struct PartFrame: Hashable, Sendable {
        public var time: Double
        /// One hash per half, in the order of ``PicturePart/halves``.
        public var hashes: [PDQHash]
        /// PDQ quality (0–100) of each half.
        public var qualities: [Int]

        public init(time: Double, hashes: [PDQHash], qualities: [Int]) {
            precondition(hashes.count == PicturePart.halves.count && qualities.count == hashes.count,
                         "one hash and quality per half")
            self.time = time
            self.hashes = hashes
            self.qualities = qualities
        }
    }

    /// An algorithm and its version. Hashes (or corners) of different algorithms never compare.
    public struct Algorithm: Hashable, Sendable, CustomStringConvertible {
        public var name: String
        public var version: Int

        public init(name: String, version: Int) {
            self.name = name
            self.version = version
        }

        /// PDQ on the detected content rectangle, sampled by time.
        public static let pdq = Algorithm(name: "pdq", version: 1)
        /// Harris corners with BRIEF descriptors on a 256-pixel square of the content (``LocalFeatureExtractor``).
        public static let brief = Algorithm(name: "brief", version: 1)

        public var description: String { "\(name)/\(version)" }
    }

    /// The algorithm of ``frames``' hashes.
    public var algorithm: Algorithm
    /// The algorithm of ``cornerFrames``' descriptors.
    public var cornerAlgorithm: Algorithm
    /// Duration in seconds (0 for a still image).
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
    public var cornerFrames: [CornerFrame]
    /// Hashes of the content's halves, at a lower rate than ``frames``.
    public var partFrames: [PartFrame]

    public init(
        algorithm: Algorithm = .pdq, cornerAlgorithm: Algorithm = .brief, duration: Double, frameRate: Double,
        width: Int, height: Int, rotation: Int, codec: String, sampleRate: Double, frames: [Frame],
        cornerFrames: [CornerFrame] = [], partFrames: [PartFrame] = []
    ) {
        self.algorithm = algorithm
        self.cornerAlgorithm = cornerAlgorithm
        self.duration = duration
        self.frameRate = frameRate
        self.width = width
        self.height = height
        self.rotation = rotation
        self.codec = codec
        self.sampleRate = sampleRate
        self.frames = frames
        self.cornerFrames = cornerFrames
        self.partFrames = partFrames
    }

    /// Corners stored in all ``cornerFrames``.
    public var cornerCount: Int { cornerFrames.reduce(0) { $0 + $1.corners.count } }
}
