import ClipTraceDecoding
import Dispatch
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

    // One thread's hashers, or a pool of threads that observe frames in batches.
    private let context: ObserverContext
    private let pool: ObserverPool?
    private let schedule: Schedule
    private var tracker: ContentRectangleTracker
    private let orientations: [Dihedral]
    private var windowDetector: WindowDetector
    private var windows: [PixelRegion] = []
    // Windows found at each search, with the time of the newest frame then: a frame is hashed about two
    // seconds after it is decoded, when a window that closed since is already fading from the detector's
    // running means, so it also gets the windows seen at its own time.
    private var windowHistory: [(time: Double, windows: [PixelRegion])] = []
    private var framesSinceWindowSearch = Int.max
    private let windowSearchEvery: Int
    // The content rectangle most recently settled: windows are looked for inside it.
    private var latestContent: PixelRegion? = nil

    /// `observerThreads` above 1 observes frames on that many threads (a file's extraction: results as from
    /// one thread, a batch later); a live stream's watcher keeps one, so that each frame is observed at once.
    public init(options: ExtractionOptions, observerThreads: Int = 1) {
        self.options = options
        context = ObserverContext(cornersPerFrame: options.cornersPerFrame)
        schedule = Schedule(options)
        // ±2 s of neighbours settle the content rectangle: with keyframes (a second or two apart in a
        // livestream recording) one on each side. Eight keyframes would put the frames hashed 16 s or more
        // behind the window search and settle a short copy's bars by the material around it.
        let neighbours = options.decoding.keyFramesOnly ? 1 : max(1, Int(2 * options.decoding.samplesPerSecond))
        tracker = ContentRectangleTracker(radius: options.detectContentRectangle ? neighbours : 0)
        orientations = [.original] + options.probeOrientations.filter { $0 != .original }
        // Keyframes (`--fast`) come a second or two apart: the detector's memory and its searches go by them.
        windowDetector = options.decoding.keyFramesOnly
            ? WindowDetector(samplesPerSecond: 0.5, pairedMotion: true)
            : WindowDetector(samplesPerSecond: options.decoding.samplesPerSecond)
        windowSearchEvery = options.decoding.keyFramesOnly ? 1 : 4
        if observerThreads > 1 {
            let options = self.options, orientations = self.orientations
            let schedule = self.schedule
            pool = ObserverPool(threads: observerThreads, cornersPerFrame: options.cornersPerFrame) { job, context in
                Self.observe(job, options: options, orientations: orientations, schedule: schedule, context: context)
            }
        } else {
            pool = nil
        }
    }

    /// Room for the observations of `seconds` of video (a file's declared duration).
    public func reserveCapacity(seconds: Double) {
        frames.reserveCapacity(Self.frameCount(seconds: seconds, options: options))
    }

    /// Room for the frames sampled in `seconds` (up to ten hours: a wrong declared duration reserves no more).
    static func frameCount(seconds: Double, options: ExtractionOptions) -> Int {
        Int(min(max(0, seconds), 36_000) * options.decoding.samplesPerSecond) + 16
    }

    /// Pushes the next sampled frame; frames whose turn has come are observed.
    public func push(_ sample: SampledFrame) {
        if sample.isCompanion {
            // It shows what moves since the keyframe before it; it is not observed itself.
            if options.probeWindows { windowDetector.pushCompanion(sample.image) }
            return
        }
        if options.probeWindows {
            // The detector runs ahead of hashing by the tracker's look-ahead, so a window is known when hashed.
            windowDetector.push(sample.image)
            framesSinceWindowSearch = framesSinceWindowSearch == Int.max ? Int.max : framesSinceWindowSearch + 1
            if framesSinceWindowSearch >= windowSearchEvery {
                windows = windowDetector.windows(within: options.detectContentRectangle ? latestContent : nil)
                // Only the search at or before the oldest frame still waiting to be hashed, and those since,
                // matter: however far apart the frames (keyframes can be ten seconds apart), each gets the
                // windows seen at its own time.
                let oldestWaiting = tracker.oldestWaitingTime ?? sample.time
                if let kept = windowHistory.lastIndex(where: { $0.time <= oldestWaiting }) {
                    windowHistory.removeFirst(kept)
                }
                windowHistory.append((sample.time, windows))
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
        if let pool {
            for observation in pool.drain() { append(observation) }
        }
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

    /// A frame whose turn has come, with everything the sequential stages decided for it: from here on its
    /// observation depends on nothing else, so frames can be observed on several threads at once.
    private struct Job {
        var frame: SampledFrame
        var area: PixelRegion
        var windows: [PixelRegion]
        var index: Int
    }

    /// What one frame showed.
    private struct FrameObservation {
        var frame: QueryObservations.Frame
        var cornerFrames: [QueryObservations.CornerFrame]
        var partFrame: ReferenceFingerprint.PartFrame?
    }

    private func observe(_ frame: SampledFrame, _ region: PixelRegion) {
        let image = frame.image
        let full = PixelRegion(x: 0, y: 0, width: image.width, height: image.height)
        var frameWindows = windows
        if let then = windowHistory.last(where: { $0.time <= frame.time }) {
            for window in then.windows where !frameWindows.contains(where: {
                WindowDetector.nearlySame($0, window, width: image.width, height: image.height)
            }) {
                frameWindows.append(window)
            }
        }
        frameWindows.removeAll { $0.x + $0.width > image.width || $0.y + $0.height > image.height }
        let job = Job(frame: frame, area: options.detectContentRectangle ? region : full, windows: frameWindows,
                      index: observedCount)
        observedCount += 1
        if let pool {
            pool.submit(job)
            for observation in pool.completed() { append(observation) }
        } else {
            append(Self.observe(job, options: options, orientations: orientations, schedule: schedule,
                                context: context))
        }
    }

    private func append(_ observation: FrameObservation) {
        frames.append(observation.frame)
        cornerFrames.append(contentsOf: observation.cornerFrames)
        if let part = observation.partFrame { partFrames.append(part) }
    }

    /// Which samples get halves and corners: every n-th (0: none), so that they share their times with hashed
    /// frames. Keyframes (`--fast`) are a second or more apart already, so each gets them.
    struct Schedule: Sendable {
        var partsEvery = 0
        /// Every variant of the corners: each zoom, mirrored or not.
        var cornersEvery = 0
        /// The upright corners at zoom 1 alone, in between.
        var uprightCornersEvery = 0

        init(_ options: ExtractionOptions) {
            func every(_ perSecond: Double) -> Int {
                guard perSecond > 0 else { return 0 }
                if options.decoding.keyFramesOnly { return 1 }
                return Int(min(1_000, max(1, (options.decoding.samplesPerSecond / perSecond).rounded())))
            }
            partsEvery = every(options.partsPerSecond)
            cornersEvery = every(options.cornersPerSecond)
            uprightCornersEvery = cornersEvery == 0 ? 0 : every(max(options.cornersPerSecond, options.uprightCornersPerSecond))
        }

        /// The corner zooms and whether mirrored corners are taken at sample `index`.
        func corners(at index: Int, zooms: [Double]) -> (zooms: [Double], mirrored: Bool)? {
            if cornersEvery > 0, index % cornersEvery == 0 { return (zooms, true) }
            if uprightCornersEvery > 0, index % uprightCornersEvery == 0, zooms.contains(1) { return ([1], false) }
            return nil
        }
    }

    /// The hashers one thread needs: they keep scratch buffers, so each thread has its own.
    private final class ObserverContext {
        let hasher = PDQHasher()
        let cornerExtractor: LocalFeatureExtractor
        init(cornersPerFrame: Int) { cornerExtractor = LocalFeatureExtractor(maxFeatures: cornersPerFrame) }
    }

    private static func observe(
        _ job: Job, options: ExtractionOptions, orientations: [Dihedral], schedule: Schedule,
        context: ObserverContext
    ) -> FrameObservation {
        let frame = job.frame, area = job.area, frameWindows = job.windows, index = job.index
        let hasher = context.hasher, cornerExtractor = context.cornerExtractor
        let image = frame.image
        let full = PixelRegion(x: 0, y: 0, width: image.width, height: image.height)
        let contentShare = Float(area.width * area.height) / Float(max(1, full.width * full.height))
        var cornerFrames: [QueryObservations.CornerFrame] = []
        var partFrame: ReferenceFingerprint.PartFrame? = nil
        return image.pixels.withUnsafeBufferPointer { pixels in
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
            for window in frameWindows {
                let inside = hasher.hashes(pixels: pixels, width: image.width, height: image.height, region: window,
                                           variants: orientations)
                for (index, orientation) in orientations.enumerated() {
                    hashes.append(.init(view: View(orientation: orientation, region: .window), hash: inside.hashes[index]))
                }
            }
            if schedule.partsEvery > 0, index % schedule.partsEvery == 0 {
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
                        partFrame = .init(time: frame.time, hashes: halves.map { $0.hashes[0] },
                                          qualities: halves.map(\.quality))
                    }
                    for half in halves where half.quality >= HalfQuality.minimum {
                        for (orientation, hash) in zip(variants, half.hashes) {
                            let part = orientation == .mirror ? half.part.mirrored : half.part
                            hashes.append(.init(view: View(orientation: orientation, region: kind, part: part), hash: hash))
                        }
                    }
                }
            }
            if let (zooms, mirrored) = schedule.corners(at: index, zooms: options.cornerZooms) {
                let regions = [(area, ViewRegion.content)] + frameWindows.map { ($0, ViewRegion.window) }
                for (described, kind) in regions {
                    for zoom in zooms {
                        let corners = cornerExtractor.features(pixels: pixels, width: image.width,
                                                               height: image.height, region: described, zoom: zoom)
                        guard !corners.isEmpty else { continue }
                        cornerFrames.append(.init(time: frame.time, view: View(region: kind), zoom: zoom,
                                                  corners: corners))
                        if mirrored, options.mirroredCorners {
                            cornerFrames.append(.init(time: frame.time, view: View(orientation: .mirror, region: kind),
                                                      zoom: zoom, corners: cornerExtractor.mirroredFeatures()))
                        }
                    }
                }
            }
            return FrameObservation(
                frame: .init(time: frame.time, quality: content.quality, hashes: hashes, contentShare: contentShare),
                cornerFrames: cornerFrames, partFrame: partFrame)
        }
    }

    /// Observes frames on several threads, a batch at a time, while the caller decides the next batch (content
    /// rectangle, windows): one batch is observed while the next is gathered, and results come back in the
    /// order the frames were pushed, so they are the same as those of one thread.
    private final class ObserverPool: @unchecked Sendable {
        private let contexts: [ObserverContext]
        private let observeJob: @Sendable (Job, ObserverContext) -> FrameObservation
        private let batchSize: Int
        private var gathering: [Job] = []
        private var inFlight: Batch? = nil

        /// Jobs handed to the threads and their results, each slot written by one thread only.
        private final class Batch: @unchecked Sendable {
            let jobs: [Job]
            var results: [FrameObservation?]
            let group = DispatchGroup()
            init(jobs: [Job]) {
                self.jobs = jobs
                results = Array(repeating: nil, count: jobs.count)
            }
        }

        init(threads: Int, cornersPerFrame: Int,
             observe: @escaping @Sendable (Job, ObserverContext) -> FrameObservation)
        {
            contexts = (0..<threads).map { _ in ObserverContext(cornersPerFrame: cornersPerFrame) }
            observeJob = observe
            // A few frames per thread: enough that threads rarely wait for one another, few enough that a
            // batch is a fraction of a second of video.
            batchSize = 8 * threads
        }

        func submit(_ job: Job) {
            gathering.append(job)
        }

        /// Results of the batch in flight once the next batch is full (it then goes in flight), else none.
        func completed() -> [FrameObservation] {
            guard gathering.count >= batchSize else { return [] }
            let done = waitForBatch()
            launch()
            return done
        }

        /// Everything still gathered or in flight, observed.
        func drain() -> [FrameObservation] {
            var done = waitForBatch()
            launch()
            done += waitForBatch()
            return done
        }

        private func waitForBatch() -> [FrameObservation] {
            guard let batch = inFlight else { return [] }
            batch.group.wait()
            inFlight = nil
            return batch.results.map { $0! }
        }

        private func launch() {
            guard !gathering.isEmpty else { return }
            let batch = Batch(jobs: gathering)
            gathering.removeAll(keepingCapacity: true)
            let threads = min(contexts.count, batch.jobs.count)
            let observeJob = self.observeJob
            for thread in 0..<threads {
                let context = UncheckedBox(contexts[thread])
                DispatchQueue.global().async(group: batch.group) {
                    // Every threads-th job, so the threads share the batch evenly.
                    for slot in stride(from: thread, to: batch.jobs.count, by: threads) {
                        batch.results[slot] = observeJob(batch.jobs[slot], context.value)
                    }
                }
            }
            inFlight = batch
        }
    }
}
