import ClipTraceDecoding
import Foundation
import ClipTraceFingerprint
import ClipTraceHashing
import ClipTraceObservations

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
    /// Hashes of the halves of the content (and, on a query, of each window) per second; 0 takes none.
    public var partsPerSecond: Double
    /// Corners per second of video; 0 takes none. They find cropped copies (see ``LocalFeature``).
    public var cornersPerSecond: Double
    /// Zooms at which the content (and any window) is described: 1 for references; below 1 for queries, whose
    /// cropped copies show the content larger than the reference does.
    public var cornerZooms: [Double]
    /// Most corners kept per region and zoom.
    public var cornersPerFrame: Int
    /// Also describe each region's corners as seen in a mirror (query side: mirrored and cropped copies).
    public var mirroredCorners: Bool

    public init(
        decoding: DecodingOptions = DecodingOptions(), detectContentRectangle: Bool = true,
        probeOrientations: [Dihedral] = [], probeFullFrame: Bool = false, probeWindows: Bool = false,
        partsPerSecond: Double = 0, cornersPerSecond: Double = 0, cornerZooms: [Double] = [1], cornersPerFrame: Int = 96,
        mirroredCorners: Bool = false
    ) {
        self.decoding = decoding
        self.detectContentRectangle = detectContentRectangle
        self.probeOrientations = probeOrientations
        self.probeFullFrame = probeFullFrame
        self.probeWindows = probeWindows
        self.partsPerSecond = partsPerSecond
        self.cornersPerSecond = cornersPerSecond
        self.cornerZooms = cornerZooms
        self.cornersPerFrame = cornersPerFrame
        self.mirroredCorners = mirroredCorners
    }

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
    /// The sampling rates a user may ask for: below half a frame per second a short copy has no frame at all,
    /// above 60 there is nothing more to sample in ordinary video.
    public static let sampleRates: ClosedRange<Double> = 0.5...60

    /// For registering references: one hash of the content rectangle per frame, and 44 corners of it once a
    /// second. (Extra hashes of 85 % crops were tried: they found no extra copy on the evaluation, since PDQ
    /// needs the crop to within a few percent, and cost six times the index; corners find crops instead.)
    public static let reference = ExtractionOptions(
        decoding: DecodingOptions(samplesPerSecond: referenceSamplesPerSecond), partsPerSecond: referencePartsPerSecond,
        cornersPerSecond: referenceCornersPerSecond, cornerZooms: [1], cornersPerFrame: referenceCornersPerFrame)

    /// Corners of a reference: 44 once a second, 36 bytes each, store 5.7 MB per hour of reference (64 twice a
    /// second stored 17 MB). On the evaluation it kept every cropped copy (64 corners twice a second: segment AP
    /// 0.978 public, 0.901 dev; this: 0.976, 0.883, reference start 0.065 s off instead of 0.04), while 22
    /// corners twice a second, the same bytes, lost crops (F1 0.983 public, 0.978 dev): a crop keeps a part of
    /// the picture, and a dozen corners must fall in it.
    public static let referenceCornersPerSecond = 1.0
    public static let referenceCornersPerFrame = 44

    /// Halves per second on a reference: half its frames, since a query hashes the halves of every frame it
    /// samples and needs only some of them to meet a reference half (4 hashes each: the index grows by half).
    public static let referencePartsPerSecond = 4.0

    /// Corners per second of a query: they move little within half a second, and a query taken twice as often
    /// as its reference meets each reference moment within a quarter of a second.
    public static let cornersPerSecond = 2.0
    /// Query zooms: a copy cropped to 80-90 % of its reference and stretched back shows the content 1.1-1.25
    /// times larger, and BRIEF patches tolerate about a tenth of scale either way (0.86); an uncropped copy that
    /// hashes cannot place, a tilted one, shows it at its own size (1): testmedia's copy tilted by 6 degrees was
    /// placed 0.7 s off without it. It costs about 15 % more scan time.
    public static let queryCornerZooms = [1, 0.86]

    /// For scanning recordings: every orientation, the whole frame and any window, besides the content.
    public static let query = ExtractionOptions(
        decoding: DecodingOptions(samplesPerSecond: querySamplesPerSecond),
        probeOrientations: Dihedral.allCases.filter { $0 != .original }, probeFullFrame: true, probeWindows: true,
        partsPerSecond: querySamplesPerSecond, cornersPerSecond: cornersPerSecond, cornerZooms: queryCornerZooms, mirroredCorners: true)
}

/// Halves flatter than this are not searched (the index leaves out reference halves below its own minimum
/// quality, the same 20): a half of sky or wall matches anything.
enum HalfQuality {
    static let minimum = 20
}

/// Progress of one extraction, for progress lines.
public struct ExtractionProgress: Sendable {
    /// Presentation time reached, seconds.
    public var time: Double
    /// Declared duration, if known.
    public var duration: Double?
}

/// What one extraction saw in a video file.
public struct Extraction: Sendable {
    /// Every view of every sampled frame, and the corners: what a scan searches with.
    public var observations: QueryObservations
    public var info: VideoStreamInfo
    /// Problems that did not stop decoding.
    public var warnings: [String]
    /// The halves of the upright content, as a reference stores them.
    public var partFrames: [ReferenceFingerprint.PartFrame] = []

    /// The clip as the catalogue stores it: its upright content's hashes, and its upright content's corners at
    /// zoom 1 (whatever else was observed is a query's view and is not kept).
    public var reference: ReferenceFingerprint {
        ReferenceFingerprint(
            duration: observations.duration, frameRate: observations.frameRate, width: info.width, height: info.height,
            rotation: info.rotation, codec: info.codec, sampleRate: observations.sampleRate,
            frames: observations.frames.map { .init(time: $0.time, hash: $0.hash, quality: $0.quality) },
            cornerFrames: observations.cornerFrames.filter { $0.view == .upright && $0.zoom == 1 }
                .map { .init(time: $0.time, corners: $0.corners) },
            partFrames: partFrames)
    }
}

/// Turns a video file into observations: decode, sample by time, find the content rectangle and any window,
/// hash each view, take corners.
public struct Fingerprinter: Sendable {
    public var options: ExtractionOptions

    public init(options: ExtractionOptions = .reference) {
        self.options = options
    }

    public func extract(
        path: String, progress: ((ExtractionProgress) -> Void)? = nil
    ) throws(DecodingError) -> Extraction {
        let decoder = try VideoDecoder(path: path, options: options.decoding)
        let hasher = PDQHasher()
        var frames: [QueryObservations.Frame] = []
        var cornerFrames: [QueryObservations.CornerFrame] = []
        var partFrames: [ReferenceFingerprint.PartFrame] = []
        let cornerExtractor = LocalFeatureExtractor(maxFeatures: options.cornersPerFrame)
        // Every n-th sample is described, so corner frames share their times with hashed frames; keyframes
        // (`--fast`) are a second or more apart already, so each is described.
        let cornersEvery: Int
        if !(options.cornersPerSecond > 0) {
            cornersEvery = 0
        } else if options.decoding.keyFramesOnly {
            cornersEvery = 1
        } else {
            cornersEvery = Int(min(1_000, max(1, (options.decoding.samplesPerSecond / options.cornersPerSecond).rounded())))
        }
        let partsEvery = !(options.partsPerSecond > 0) ? 0 : options.decoding.keyFramesOnly ? 1
            : Int(min(1_000, max(1, (options.decoding.samplesPerSecond / options.partsPerSecond).rounded())))
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
        // The content rectangle most recently settled: windows are looked for inside it.
        var latestContent: PixelRegion? = nil

        func observe(_ frame: SampledFrame, _ region: PixelRegion) {
            let image = frame.image
            let full = PixelRegion(x: 0, y: 0, width: image.width, height: image.height)
            let area = options.detectContentRectangle ? region : full
            let contentShare = Float(area.width * area.height) / Float(max(1, full.width * full.height))
            image.pixels.withUnsafeBufferPointer { pixels in
                let content = hasher.hashes(pixels: pixels, width: image.width, height: image.height, region: area,
                                            variants: orientations)
                var hashes: [QueryObservations.ViewHash] = []
                hashes.reserveCapacity(orientations.count * 4)
                for (index, orientation) in orientations.enumerated() {
                    hashes.append(.init(view: View(orientation: orientation, region: .content), hash: content.hashes[index]))
                }
                if options.probeFullFrame, area != full {
                    let whole = hasher.hashes(pixels: pixels, width: image.width, height: image.height, region: full,
                                              variants: orientations)
                    for (index, orientation) in orientations.enumerated() {
                        hashes.append(.init(view: View(orientation: orientation, region: .fullFrame), hash: whole.hashes[index]))
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
                frameWindows.removeAll { $0.x + $0.width > image.width || $0.y + $0.height > image.height }
                for window in frameWindows {
                    let inside = hasher.hashes(pixels: pixels, width: image.width, height: image.height, region: window,
                                               variants: orientations)
                    for (index, orientation) in orientations.enumerated() {
                        hashes.append(.init(view: View(orientation: orientation, region: .window), hash: inside.hashes[index]))
                    }
                }
                if partsEvery > 0, frames.count % partsEvery == 0 {
                    // Halves of the content, upright and mirrored (a mirrored copy's left half shows its
                    // original's right half), and of each window, upright. Each rescue a view stacks (a window,
                    // a mirror, a half) multiplies the chances of a chance match: no view stacks all three.
                    let regions = [(area, ViewRegion.content)] + frameWindows.map { ($0, ViewRegion.window) }
                    for (index, (described, kind)) in regions.enumerated() {
                        let variants: [Dihedral] = kind == .content && orientations.contains(.mirror)
                            ? [.original, .mirror] : [.original]
                        let square = PartHashes.square(pixels: pixels, width: image.width, region: described)
                        let halves = PartHashes.hashes(of: square, parts: PicturePart.halves, variants: variants,
                                                       hasher: hasher)
                        if index == 0 {
                            partFrames.append(.init(time: frame.time, hashes: halves.map { $0.hashes[0] },
                                                    qualities: halves.map(\.quality)))
                        }
                        for half in halves where half.quality >= HalfQuality.minimum {
                            for (orientation, hash) in zip(variants, half.hashes) {
                                let part = orientation == .mirror ? half.part.mirrored : half.part
                                hashes.append(.init(view: View(orientation: orientation, region: kind, part: part), hash: hash))
                            }
                        }
                    }
                }
                if cornersEvery > 0, frames.count % cornersEvery == 0 {
                    let regions = [(area, ViewRegion.content)] + frameWindows.map { ($0, ViewRegion.window) }
                    for (described, kind) in regions {
                        for zoom in options.cornerZooms {
                            let corners = cornerExtractor.features(pixels: pixels, width: image.width,
                                                                   height: image.height, region: described, zoom: zoom)
                            guard !corners.isEmpty else { continue }
                            cornerFrames.append(.init(time: frame.time, view: View(region: kind), zoom: zoom,
                                                      corners: corners))
                            if options.mirroredCorners {
                                cornerFrames.append(.init(time: frame.time, view: View(orientation: .mirror, region: kind),
                                                          zoom: zoom, corners: cornerExtractor.mirroredFeatures()))
                            }
                        }
                    }
                }
                frames.append(.init(time: frame.time, quality: content.quality, hashes: hashes, contentShare: contentShare))
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
                    windows = windowDetector.windows(within: options.detectContentRectangle ? latestContent : nil)
                    windowHistory.append((sample.time, windows))
                    // Only searches since the oldest frame still waiting to be hashed matter.
                    windowHistory.removeAll { $0.time < sample.time - 4 - 2 * Double(tracker.radius) / options.decoding.samplesPerSecond }
                    framesSinceWindowSearch = 0
                }
            }
            for (frame, region) in tracker.push(sample) {
                latestContent = region
                observe(frame, region)
            }
        }
        for (frame, region) in tracker.finish() { observe(frame, region) }

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
        let observations = QueryObservations(
            duration: duration, frameRate: info.frameRate, width: info.width, height: info.height,
            // Keyframes come when the encoder put them, not on a grid: 0 tells the matcher to use their spacing.
            sampleRate: options.decoding.keyFramesOnly ? 0 : options.decoding.samplesPerSecond, frames: frames,
            cornerFrames: cornerFrames)
        return Extraction(observations: observations, info: info, warnings: warnings, partFrames: partFrames)
    }
}
