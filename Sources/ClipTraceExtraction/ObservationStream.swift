import ClipTraceDecoding
import ClipTraceFingerprint
import ClipTraceHashing
import ClipTraceObservations

/// Turns sampled frames, pushed one at a time as they are decoded, into observations: the content rectangle
/// and windows, every view's hash, halves and corners. A file's extraction pushes all its samples; a live
/// stream's watcher pushes them as they arrive and takes the observations made so far (``takeObservations()``),
/// so memory stays flat however long the stream runs.
///
/// A frame is observed about two seconds after it is pushed: the content rectangle of a frame is settled by
/// the frames around it, and a window is known when its frame is hashed. ``finish()`` observes the rest.
public final class ObservationStream {
    public let options: ExtractionOptions
    /// Observed so far and not yet taken.
    public private(set) var frames: [QueryObservations.Frame] = []
    public private(set) var cornerFrames: [QueryObservations.CornerFrame] = []
    public private(set) var partFrames: [ReferenceFingerprint.PartFrame] = []
    /// Frames observed since the stream began (taken or not).
    public private(set) var observedCount = 0

    private let hasher = PDQHasher()
    private let cornerExtractor: LocalFeatureExtractor
    private let cornersEvery: Int
    private let partsEvery: Int
    private var tracker: ContentRectangleTracker
    private let orientations: [Dihedral]
    private var windowDetector: WindowDetector
    private var windows: [PixelRegion] = []
    // Windows found at each search, with the time of the newest frame then: a frame is hashed about two
    // seconds after it is decoded, when a window that closed since is already fading from the detector's
    // running means, so it also gets the windows seen at its own time.
    private var windowHistory: [(time: Double, windows: [PixelRegion])] = []
    private var framesSinceWindowSearch = Int.max
    // The content rectangle most recently settled: windows are looked for inside it.
    private var latestContent: PixelRegion? = nil

    public init(options: ExtractionOptions) {
        self.options = options
        cornerExtractor = LocalFeatureExtractor(maxFeatures: options.cornersPerFrame)
        // Every n-th sample is described, so corner frames share their times with hashed frames; keyframes
        // (`--fast`) are a second or more apart already, so each is described.
        if !(options.cornersPerSecond > 0) {
            cornersEvery = 0
        } else if options.decoding.keyFramesOnly {
            cornersEvery = 1
        } else {
            cornersEvery = Int(min(1_000, max(1, (options.decoding.samplesPerSecond / options.cornersPerSecond).rounded())))
        }
        partsEvery = !(options.partsPerSecond > 0) ? 0 : options.decoding.keyFramesOnly ? 1
            : Int(min(1_000, max(1, (options.decoding.samplesPerSecond / options.partsPerSecond).rounded())))
        // ±2 s of neighbours settle the content rectangle.
        tracker = ContentRectangleTracker(
            radius: options.detectContentRectangle ? max(1, Int(2 * options.decoding.samplesPerSecond)) : 0)
        orientations = [.original] + options.probeOrientations.filter { $0 != .original }
        windowDetector = WindowDetector(samplesPerSecond: options.decoding.samplesPerSecond)
    }

    /// Room for the observations of `seconds` of video (a file's declared duration).
    public func reserveCapacity(seconds: Double) {
        frames.reserveCapacity(Int(min(max(0, seconds), 36_000) * options.decoding.samplesPerSecond) + 16)
    }

    /// Seconds between pushing a frame and its observation: the content rectangle's look-ahead.
    public var delay: Double { Double(tracker.radius) / options.decoding.samplesPerSecond }

    /// Pushes the next sampled frame; frames whose turn has come are observed.
    public func push(_ sample: SampledFrame) {
        if options.probeWindows {
            // The detector runs ahead of hashing by the tracker's delay, so a window is known when hashed.
            windowDetector.push(sample.image)
            framesSinceWindowSearch = framesSinceWindowSearch == Int.max ? Int.max : framesSinceWindowSearch + 1
            if framesSinceWindowSearch >= 4 {
                windows = windowDetector.windows(within: options.detectContentRectangle ? latestContent : nil)
                windowHistory.append((sample.time, windows))
                // Only searches since the oldest frame still waiting to be hashed matter.
                windowHistory.removeAll { $0.time < sample.time - 4 - 2 * delay }
                framesSinceWindowSearch = 0
            }
        }
        for (frame, region) in tracker.push(sample) {
            latestContent = region
            observe(frame, region)
        }
    }

    /// Observes the frames still waiting for their look-ahead: the end of the video.
    public func finish() {
        for (frame, region) in tracker.finish() { observe(frame, region) }
    }

    /// The observations made since the last call, handed over and forgotten.
    public func takeObservations() -> (frames: [QueryObservations.Frame], cornerFrames: [QueryObservations.CornerFrame]) {
        defer {
            frames.removeAll(keepingCapacity: true)
            cornerFrames.removeAll(keepingCapacity: true)
            partFrames.removeAll(keepingCapacity: true)
        }
        return (frames, cornerFrames)
    }

    private func observe(_ frame: SampledFrame, _ region: PixelRegion) {
        let image = frame.image
        let full = PixelRegion(x: 0, y: 0, width: image.width, height: image.height)
        let area = options.detectContentRectangle ? region : full
        let contentShare = Float(area.width * area.height) / Float(max(1, full.width * full.height))
        let index = observedCount
        observedCount += 1
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
            if partsEvery > 0, index % partsEvery == 0 {
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
            if cornersEvery > 0, index % cornersEvery == 0 {
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
    }
}
