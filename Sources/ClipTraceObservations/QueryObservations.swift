import ClipTraceHashing

/// Which part of a query frame a view shows.
public enum ViewRegion: UInt8, CaseIterable, Hashable, Sendable, Codable, CustomStringConvertible {
    /// The content rectangle: the picture inside any bars (the whole frame when there are none). References are
    /// hashed on the same region.
    case content = 0
    /// The whole decoded frame, bars included.
    case fullFrame = 1
    /// A window found inside the frame (picture-in-picture, a player in a screen recording).
    case window = 2

    public var description: String {
        switch self {
        case .content: "content"
        case .fullFrame: "full-frame"
        case .window: "window"
        }
    }
}

/// How a query frame was looked at: which region, turned or mirrored how. A copy that was mirrored matches
/// its reference through the `.mirror` view of its content; one shown in a picture-in-picture window through
/// the `.window` region.
public struct View: Hashable, Sendable, Codable, CustomStringConvertible {
    public var orientation: Dihedral
    public var region: ViewRegion
    /// The part of the region the hash covers, in the reference's terms (a mirrored view's left half shows the
    /// original's right half, and is labelled so).
    public var part: PicturePart

    public init(orientation: Dihedral = .original, region: ViewRegion = .content, part: PicturePart = .whole) {
        self.orientation = orientation
        self.region = region
        self.part = part
    }

    /// The content, upright: what every reference shows.
    public static let upright = View()

    public var description: String {
        var text = "\(region) \(orientation)"
        if part != .whole { text += " \(part)" }
        return text
    }
}

/// Everything a scan observed in a query video: per sampled frame its hashes under several views, and the
/// corners of its content and windows at a lower rate. Built by the extraction, read by the evidence sources,
/// never stored (the stored form of a clip is a ``ClipTraceFingerprint/ReferenceFingerprint``).
public struct QueryObservations: Sendable {
    /// One hash of a frame under one view.
    public struct ViewHash: Hashable, Sendable {
        public var view: View
        public var hash: PDQHash

        public init(view: View, hash: PDQHash) {
            self.view = view
            self.hash = hash
        }
    }

    /// One sampled frame.
    public struct Frame: Hashable, Sendable {
        /// Presentation time in seconds from the first frame.
        public var time: Double
        /// PDQ quality of the content (0–100).
        public var quality: Int
        /// The frame under each view taken; the first is always ``View/upright``. Empty for a frame kept as a
        /// moment only: a scan in pieces keeps of each searched piece its times, qualities and content shares.
        public var hashes: [ViewHash]
        /// Share of the frame's area inside its content rectangle: 1 without bars.
        public var contentShare: Float

        public init(time: Double, quality: Int, hashes: [ViewHash], contentShare: Float = 1) {
            precondition(hashes.isEmpty || hashes[0].view == .upright, "a frame's first hash is its upright content")
            self.time = time
            self.quality = quality
            self.hashes = hashes
            self.contentShare = contentShare
        }

        /// The upright content's hash (a frame kept as a moment only has none).
        public var hash: PDQHash {
            precondition(!hashes.isEmpty, "a frame kept as a moment only has no hash")
            return hashes[0].hash
        }
    }

    /// The corners of one region of a frame at one zoom, described under one orientation.
    public struct CornerFrame: Hashable, Sendable {
        public var time: Double
        public var view: View
        /// Scale of the region's square relative to ``LocalFeatureExtractor/side``: below 1 for copies that
        /// show the content larger than their reference (cropped and stretched back).
        public var zoom: Double
        public var corners: [LocalFeature]

        public init(time: Double, view: View, zoom: Double, corners: [LocalFeature]) {
            self.time = time
            self.view = view
            self.zoom = zoom
            self.corners = corners
        }
    }

    /// Facts about the video stream.
    public var duration: Double
    public var frameRate: Double
    public var width: Int
    public var height: Int
    /// Frames sampled per second; 0 when frames came at irregular times (keyframes only).
    public var sampleRate: Double
    public var frames: [Frame]
    public var cornerFrames: [CornerFrame]

    public init(duration: Double, frameRate: Double, width: Int, height: Int, sampleRate: Double, frames: [Frame],
                cornerFrames: [CornerFrame] = []) {
        self.duration = duration
        self.frameRate = frameRate
        self.width = width
        self.height = height
        self.sampleRate = sampleRate
        self.frames = frames
        self.cornerFrames = cornerFrames
    }

    /// The spacing of the frames: 1 / ``sampleRate``, or the median gap when frames came at irregular times.
    public var frameStep: Double {
        if sampleRate > 0 { return 1 / sampleRate }
        return Self.medianGap(frames.map(\.time)) ?? 0.25
    }

    /// The median gap between consecutive distinct times, or nil with fewer than two.
    public static func medianGap(_ times: [Double]) -> Double? {
        var gaps: [Double] = []
        for (a, b) in zip(times, times.dropFirst()) where b - a > 1e-6 { gaps.append(b - a) }
        guard !gaps.isEmpty else { return nil }
        gaps.sort()
        return max(0.01, gaps[(gaps.count - 1) / 2])
    }

    /// Frames whose content rectangle is below this share of the frame count as shown inside bars (a 16:9
    /// picture letterboxed in 4:3 keeps 75 %; a few rows cut at the edges for encoder noise, over 93 %).
    public static let barredContentShare: Float = 0.93

    /// Whether the frames between two times were mostly shown inside bars (letterbox, pillarbox, borders).
    public func hadBars(from start: Double, to end: Double) -> Bool {
        Self.hadBars(times: frames.lazy.map(\.time), contentShares: frames.lazy.map(\.contentShare), from: start, to: end)
    }

    /// The same over frames known by their times and content shares (a shard's stored scan).
    public static func hadBars(times: some Sequence<Double>, contentShares: some Sequence<Float>,
                               from start: Double, to end: Double) -> Bool {
        var shares: [Float] = []
        for (time, share) in zip(times, contentShares) where time >= start && time <= end { shares.append(share) }
        guard !shares.isEmpty else { return false }
        shares.sort()
        return shares[shares.count / 2] < Self.barredContentShare
    }
}
