import ClipTraceDecoding
import ClipTraceFingerprint
import ClipTraceHashing

@_exported import struct ClipTraceDecoding.DecodingError
@_exported import struct ClipTraceDecoding.DecodingOptions
@_exported import struct ClipTraceDecoding.VideoStreamInfo

/// What to compute for each sampled frame.
public struct ExtractionOptions: Hashable, Sendable {
    public var decoding: DecodingOptions
    /// Remove letterbox / pillarbox / screen bars before hashing.
    public var detectContentRectangle: Bool
    /// Extra query-side hashes: orientations other than `.original` tried for mirrored or rotated copies.
    public var probeOrientations: [Dihedral]
    /// Also hash the whole frame when it differs from the content rectangle.
    public var probeFullFrame: Bool
    /// Look for a picture-in-picture or player window and hash it too (query side).
    public var probeWindows: Bool
    /// Reference side: extra hashes of crops of the content rectangle, as fractions (x, y, width, height).
    public var referenceCrops: [CropFraction]
    /// Local features (corners) per second of video; 0 takes none. They find cropped copies (see
    /// ``LocalFeature``).
    public var featuresPerSecond: Double
    /// Zooms at which the content (and any window) is described: 1 for references; below 1 for queries, whose
    /// cropped copies show the content larger than the reference does.
    public var featureZooms: [Double]
    /// Most corners kept per region and zoom.
    public var featuresPerFrame: Int
    /// Also describe each region's corners as seen in a mirror (query side: mirrored and cropped copies).
    public var mirroredFeatures: Bool

    public struct CropFraction: Hashable, Sendable {
        public var x: Double, y: Double, width: Double, height: Double
        public init(x: Double, y: Double, width: Double, height: Double) {
            self.x = x
            self.y = y
            self.width = width
            self.height = height
        }
    }

    public init(
        decoding: DecodingOptions = DecodingOptions(), detectContentRectangle: Bool = true,
        probeOrientations: [Dihedral] = [], probeFullFrame: Bool = false, probeWindows: Bool = false,
        referenceCrops: [CropFraction] = [], featuresPerSecond: Double = 0, featureZooms: [Double] = [1],
        featuresPerFrame: Int = 96, mirroredFeatures: Bool = false
    ) {
        self.decoding = decoding
        self.detectContentRectangle = detectContentRectangle
        self.probeOrientations = probeOrientations
        self.probeFullFrame = probeFullFrame
        self.probeWindows = probeWindows
        self.referenceCrops = referenceCrops
        self.featuresPerSecond = featuresPerSecond
        self.featureZooms = featureZooms
        self.featuresPerFrame = featuresPerFrame
        self.mirroredFeatures = mirroredFeatures
    }

    /// 85 % crops at the centre and the four corners: a copy cropped by 10–20 % and stretched back is within
    /// a few percent of one of them.
    public static let standardCrops: [CropFraction] = [
        .init(x: 0.075, y: 0.075, width: 0.85, height: 0.85),
        .init(x: 0, y: 0, width: 0.85, height: 0.85), .init(x: 0.15, y: 0, width: 0.85, height: 0.85),
        .init(x: 0, y: 0.15, width: 0.85, height: 0.85), .init(x: 0.15, y: 0.15, width: 0.85, height: 0.85),
    ]

    /// Samples per second for references: dense enough that a query sample usually has a reference sample
    /// within a frame or two. On fast content (games, music visualisers) one frame apart is already 50-60 bits,
    /// and at 4 per second the nearest reference sample can be 4 frames away; 8 per second found a mirrored,
    /// overlaid game copy that 4 missed (public split: F1 0.868 -> 0.889, segment AP 0.733 -> 0.768), for twice
    /// the index per hour of reference.
    public static let referenceSamplesPerSecond = 8.0
    /// Samples per second for queries: a little denser than the old 4 so that more query samples fall near
    /// reference ones (found a music-visualiser copy; segment AP 0.777 -> 0.799 together with the reference
    /// density), at about a third more scan time. Denser still (8) cost 40 % more time and found nothing more.
    public static let querySamplesPerSecond = 6.0

    /// For registering references: one hash of the content rectangle per frame. (`standardCrops` would add five
    /// more per frame; on the evaluation they found no extra copy, since PDQ needs the crop to within a few
    /// percent, so they are not worth six times the index.)
    public static let reference = ExtractionOptions(
        decoding: DecodingOptions(samplesPerSecond: referenceSamplesPerSecond),
        featuresPerSecond: featuresPerSecond, featureZooms: [1], featuresPerFrame: 64)

    /// Local features per second on both sides: corners move little within half a second, and the matcher
    /// needs only a few frames of them to place a copy.
    public static let featuresPerSecond = 2.0
    /// Query zooms: a copy cropped to 80-90 % of its reference and stretched back shows the content 1.1-1.25
    /// times larger, and BRIEF patches tolerate about a tenth of scale either way.
    public static let queryFeatureZooms = [0.86]

    /// For scanning recordings: every orientation, the whole frame and any window, besides the content.
    public static let query = ExtractionOptions(
        decoding: DecodingOptions(samplesPerSecond: querySamplesPerSecond),
        probeOrientations: Dihedral.allCases.filter { $0 != .original }, probeFullFrame: true, probeWindows: true,
        featuresPerSecond: featuresPerSecond, featureZooms: queryFeatureZooms, mirroredFeatures: true)
}

/// Progress of one extraction, for progress lines.
public struct ExtractionProgress: Sendable {
    /// Presentation time reached, seconds.
    public var time: Double
    /// Declared duration, if known.
    public var duration: Double?
}

/// Turns a video file into a ``Fingerprint``: decode, sample by time, find the content rectangle, hash.
public struct Fingerprinter: Sendable {
    public var options: ExtractionOptions

    public init(options: ExtractionOptions = .reference) {
        self.options = options
    }

    /// The result of fingerprinting one file.
    public struct Result: Sendable {
        public var fingerprint: Fingerprint
        public var info: VideoStreamInfo
        /// Problems that did not stop decoding.
        public var warnings: [String]
        /// For each fingerprint frame, the share of the picture inside its content rectangle (1: no bars).
        public var contentShares: [Float] = []

        /// Whether the frames between two times were mostly shown inside bars (letterbox, pillarbox, borders).
        public func hadBars(from start: Double, to end: Double) -> Bool {
            var shares: [Float] = []
            for (frame, share) in zip(fingerprint.frames, contentShares) where frame.time >= start && frame.time <= end {
                shares.append(share)
            }
            guard !shares.isEmpty else { return false }
            return shares.sorted()[shares.count / 2] < 0.93
        }
    }

    public func fingerprint(
        path: String, progress: ((ExtractionProgress) -> Void)? = nil
    ) throws(DecodingError) -> Result {
        let decoder = try VideoDecoder(path: path, options: options.decoding)
        let hasher = PDQHasher()
        var frames: [Fingerprint.Frame] = []
        var featureFrames: [Fingerprint.FeatureFrame] = []
        let featureExtractor = LocalFeatureExtractor(maxFeatures: options.featuresPerFrame)
        // Every n-th sample is described, so feature frames share their times with hashed frames; keyframes
        // (`--fast`) are a second or more apart already, so each is described.
        let featureEvery: Int
        if !(options.featuresPerSecond > 0) {
            featureEvery = 0
        } else if options.decoding.keyFramesOnly {
            featureEvery = 1
        } else {
            featureEvery = Int(min(1_000, max(1, (options.decoding.samplesPerSecond / options.featuresPerSecond).rounded())))
        }
        var contentShares: [Float] = []
        if let duration = decoder.info.duration {
            frames.reserveCapacity(Int(min(duration, 36_000) * options.decoding.samplesPerSecond) + 16)
        }
        // ±2 s of neighbours settle the content rectangle.
        var tracker = ContentRectangleTracker(
            radius: options.detectContentRectangle ? max(1, Int(2 * options.decoding.samplesPerSecond)) : 0)
        let orientations: [Dihedral] = [.original] + options.probeOrientations.filter { $0 != .original }
        var lastReport = -1.0
        var windowDetector = WindowDetector(samplesPerSecond: options.decoding.samplesPerSecond)
        var windows: [PixelRegion] = []
        // Windows found at each search, with the time of the newest frame then: a frame is hashed about two
        // seconds after it is decoded, when a window that closed since is already fading from the detector's
        // running means, so it also gets the windows seen at its own time.
        var windowHistory: [(time: Double, windows: [PixelRegion])] = []
        var framesSinceWindowSearch = Int.max

        func hash(_ frame: SampledFrame, _ region: PixelRegion) {
            let image = frame.image
            let full = PixelRegion(x: 0, y: 0, width: image.width, height: image.height)
            let area = options.detectContentRectangle ? region : full
            contentShares.append(Float(area.width * area.height) / Float(max(1, full.width * full.height)))
            image.pixels.withUnsafeBufferPointer { pixels in
                let content = hasher.hashes(pixels: pixels, width: image.width, height: image.height, region: area,
                                            variants: orientations)
                var probes: [Fingerprint.Probe] = []
                for (index, orientation) in orientations.enumerated().dropFirst() {
                    probes.append(.init(hash: content.hashes[index], orientation: orientation, region: .content))
                }
                if options.probeFullFrame, area != full {
                    let whole = hasher.hashes(pixels: pixels, width: image.width, height: image.height, region: full,
                                              variants: orientations)
                    for (index, orientation) in orientations.enumerated() {
                        probes.append(.init(hash: whole.hashes[index], orientation: orientation, region: .fullFrame))
                    }
                }
                var frameWindows = windows
                if let then = windowHistory.last(where: { $0.time <= frame.time }) {
                    for window in then.windows where !frameWindows.contains(where: {
                        WindowDetector.nearlySame($0, window, width: image.width, height: image.height)
                    }) {
                        frameWindows.append(window)
                    }
                }
                for window in frameWindows where window.x + window.width <= image.width && window.y + window.height <= image.height {
                    let inside = hasher.hashes(pixels: pixels, width: image.width, height: image.height, region: window,
                                               variants: orientations)
                    for (index, orientation) in orientations.enumerated() {
                        probes.append(.init(hash: inside.hashes[index], orientation: orientation, region: .window))
                    }
                }
                for crop in options.referenceCrops {
                    let x = area.x + Int(crop.x * Double(area.width)), y = area.y + Int(crop.y * Double(area.height))
                    let width = min(area.x + area.width - x, Int((crop.width * Double(area.width)).rounded()))
                    let height = min(area.y + area.height - y, Int((crop.height * Double(area.height)).rounded()))
                    guard width >= 8, height >= 8 else { continue }
                    let cropped = hasher.hash(pixels: pixels, width: image.width, height: image.height,
                                              region: PixelRegion(x: x, y: y, width: width, height: height))
                    probes.append(.init(hash: cropped.hash, orientation: .original, region: .crop))
                }
                if featureEvery > 0, frames.count % featureEvery == 0 {
                    let regions = [(area, Fingerprint.ProbeRegion.content)] + frameWindows.map { ($0, .window) }
                    for (described, kind) in regions
                    where described.x + described.width <= image.width && described.y + described.height <= image.height {
                        for zoom in options.featureZooms {
                            let features = featureExtractor.features(pixels: pixels, width: image.width,
                                                                     height: image.height, region: described, zoom: zoom)
                            guard !features.isEmpty else { continue }
                            featureFrames.append(.init(time: frame.time, region: kind, zoom: zoom, features: features))
                            if options.mirroredFeatures {
                                featureFrames.append(.init(time: frame.time, region: kind, orientation: .mirror,
                                                           zoom: zoom, features: featureExtractor.mirroredFeatures()))
                            }
                        }
                    }
                }
                frames.append(.init(time: frame.time, hash: content.hashes[0], quality: content.quality, probes: probes))
            }
            if let progress, frame.time - lastReport >= 1 {
                lastReport = frame.time
                progress(ExtractionProgress(time: frame.time, duration: decoder.info.duration))
            }
        }

        while let sample = try decoder.nextSample() {
            if options.probeWindows {
                // The detector runs ahead of hashing by the tracker's delay, so a window is known when hashed.
                windowDetector.push(sample.image)
                framesSinceWindowSearch = framesSinceWindowSearch == Int.max ? Int.max : framesSinceWindowSearch + 1
                if framesSinceWindowSearch >= 4 {
                    windows = windowDetector.windows()
                    windowHistory.append((sample.time, windows))
                    // Only searches since the oldest frame still waiting to be hashed matter.
                    windowHistory.removeAll { $0.time < sample.time - 4 - 2 * Double(tracker.radius) / options.decoding.samplesPerSecond }
                    framesSinceWindowSearch = 0
                }
            }
            for (frame, region) in tracker.push(sample) { hash(frame, region) }
        }
        for (frame, region) in tracker.finish() { hash(frame, region) }

        var info = decoder.info
        let lastTime = frames.last?.time ?? 0
        let frameStep = info.frameRate > 0 ? 1 / info.frameRate : 0
        let duration = info.isStillImage ? 0 : max(info.duration ?? 0, lastTime + frameStep)
        info.duration = duration
        var warnings = decoder.warnings
        // Samples are a step apart (and keyframes further), so the last one may sit that far before the end.
        let step = options.decoding.keyFramesOnly ? 10 : 1 / options.decoding.samplesPerSecond
        if !info.isStillImage, let declared = decoder.info.duration,
           declared - lastTime > max(2.0, 0.1 * declared) + step
        {
            warnings.append(String(format: "decoded up to %.1f s of a declared %.1f s; the file may be truncated",
                                   lastTime, declared))
        }
        let fingerprint = Fingerprint(
            duration: duration, frameRate: info.frameRate, width: info.width, height: info.height,
            rotation: info.rotation, codec: info.codec,
            // Keyframes come when the encoder put them, not on a grid: 0 tells the matcher to use their spacing.
            sampleRate: options.decoding.keyFramesOnly ? 0 : options.decoding.samplesPerSecond, frames: frames,
            featureFrames: featureFrames)
        return Result(fingerprint: fingerprint, info: info, warnings: warnings, contentShares: contentShares)
    }
}
