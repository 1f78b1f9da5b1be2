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
    /// Corners of the upright content at zoom 1 alone, per second, when denser than ``cornersPerSecond``.
    public var uprightCornersPerSecond: Double
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
        mirroredCorners: Bool = false, uprightCornersPerSecond: Double = 0
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
        self.uprightCornersPerSecond = uprightCornersPerSecond
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

    /// Corners per second of a query, every variant (both zooms, mirrored or not): a query taken twice as often
    /// as its reference meets each reference moment within a quarter of a second.
    public static let cornersPerSecond = 2.0
    /// ... and the upright corners at zoom 1 alone at every sample in between. A copy whose start is not a
    /// multiple of half a second off its reference's corner frames is otherwise seen only 0.17-0.33 s away from
    /// them, and in lively content (game footage, flickering light) most corners have moved by then: a tilted,
    /// blur-filled game clip starting 1.167 s into its reference was found with every sample described and
    /// missed with one in two (dev split: segment AP 0.878 -> 0.929). Only the upright zoom-1 set, because a
    /// tilted or overlaid copy that hashes cannot place is shown at its own size, and it is a quarter of the cost.
    public static let uprightCornersPerSecond = 6.0
    /// Query zooms: a copy cropped to 80-90 % of its reference and stretched back shows the content 1.1-1.25
    /// times larger, and BRIEF patches tolerate about a tenth of scale either way (0.86); an uncropped copy that
    /// hashes cannot place, a tilted one, shows it at its own size (1): testmedia's copy tilted by 6 degrees was
    /// placed 0.7 s off without it. It costs about 15 % more scan time.
    public static let queryCornerZooms = [1, 0.86]

    /// For scanning recordings: every orientation, the whole frame and any window, besides the content.
    public static let query = ExtractionOptions(
        decoding: DecodingOptions(samplesPerSecond: querySamplesPerSecond),
        probeOrientations: Dihedral.allCases.filter { $0 != .original }, probeFullFrame: true, probeWindows: true,
        partsPerSecond: querySamplesPerSecond, cornersPerSecond: cornersPerSecond, cornerZooms: queryCornerZooms, mirroredCorners: true,
        uprightCornersPerSecond: uprightCornersPerSecond)
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

    /// FFmpeg frame threads for each of `filesAtOnce` files decoded at once (what a decoder thread count of 0
    /// means here). A file alone gets two per core: H.264 frame threads wait on the rows of the frames they
    /// reference, and more frames in flight fill those waits (60 s of 720p: 2.84 s with four, 3.15 s with two,
    /// on two cores). When each sample costs little beside its decoding (`options` hashes no probes: a
    /// reference), four per core: decoding alone keeps only 1.5 of 2 cores busy, and eight threads fingerprint
    /// 60 s of real 720p in 1.6 s instead of 1.73 s (1080p 2.85 s instead of 3.15 s). A scan's own work fills
    /// the waits already, and each thread holds frames (15 MB more at 720p with eight). Several files at once
    /// share the cores out, one thread each at least.
    public static func decoderThreads(filesAtOnce: Int, observing options: ExtractionOptions? = nil) -> Int {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        guard filesAtOnce <= 1 else { return max(1, cores / filesAtOnce) }
        let isLight = options.map { !$0.probeWindows && !$0.probeFullFrame && $0.probeOrientations.isEmpty } ?? false
        return min(16, (isLight ? 4 : 2) * cores)
    }

    public func extract(
        path: String, progress: ((ExtractionProgress) -> Void)? = nil
    ) throws(DecodingError) -> Extraction {
        try run(path: path, progress: progress, pieces: nil)
    }

    /// Extracts as ``extract(path:progress:)`` does, handing the observations over in consecutive pieces of
    /// about `pieceSeconds` as they are made (to `piece`, on the extracting thread), and keeping only what
    /// placing matches needs: the observations returned hold each frame's time, quality and content share (no
    /// hashes), each corner frame's time and view without its corners, and no halves (so no ``Extraction/reference``).
    /// Memory then stays flat however long the video.
    public func extract(
        path: String, pieceSeconds: Double, progress: ((ExtractionProgress) -> Void)? = nil,
        piece: (QueryObservations) -> Void
    ) throws(DecodingError) -> Extraction {
        try withoutActuallyEscaping(piece) { (piece) throws(DecodingError) in
            try run(path: path, progress: progress, pieces: (max(0, pieceSeconds), piece))
        }
    }

    private func run(
        path: String, progress: ((ExtractionProgress) -> Void)?,
        pieces: (seconds: Double, handler: (QueryObservations) -> Void)?
    ) throws(DecodingError) -> Extraction {
        var decoding = options.decoding
        if decoding.threads == 0 { decoding.threads = Self.decoderThreads(filesAtOnce: 1, observing: options) }
        let decoder = try VideoDecoder(path: path, options: decoding)
        if let stretches = decoding.stretches { decoder.decodeOnly(stretches) }
        // Frames are observed on as many threads as the decoder was given, up to one per core.
        let stream = ObservationStream(
            options: options, observerThreads: min(decoding.threads, ProcessInfo.processInfo.activeProcessorCount))
        // Handed over in pieces, the stream holds one piece at a time; what is kept of the whole grows with it.
        var keptFrames: [QueryObservations.Frame] = [], keptCornerFrames: [QueryObservations.CornerFrame] = []
        if let duration = decoder.info.duration {
            if let pieces {
                stream.reserveCapacity(seconds: min(duration, pieces.seconds + 2))
                keptFrames.reserveCapacity(ObservationStream.frameCount(seconds: duration, options: options))
            } else {
                stream.reserveCapacity(seconds: duration)
            }
        }
        // Decoding and conversion run on their own thread, up to a second or two of samples ahead of hashing
        // (the stages' pace varies from frame to frame); the observations are the same as one after the other.
        // Eight samples keep a 720p scan as fast as 32 did (2.99 s against 3.00 s) with fewer images held.
        let samples = SampleQueue(capacity: 8)
        let producing = UncheckedBox(decoder)
        let producer = Thread {
            defer { samples.finishProducing() }
            do throws(DecodingError) {
                while let sample = try producing.value.nextSample() {
                    guard samples.put(sample) else { return }
                }
            } catch {
                samples.fail(error)
            }
        }
        producer.stackSize = 8 << 20
        producer.start()
        defer { samples.abandon() }
        // Frames and corner frames handed over as pieces are kept as moments, without their hashes and corners:
        // no array per frame (two hours of 720p: about 3 MB less).
        let sampleRate = options.decoding.keyFramesOnly ? 0 : options.decoding.samplesPerSecond
        func handOver(_ handler: (QueryObservations) -> Void) {
            let (frames, cornerFrames) = stream.takeObservations()
            guard let last = frames.last else { return }
            handler(QueryObservations(duration: last.time, frameRate: decoder.info.frameRate, width: decoder.info.width,
                                      height: decoder.info.height, sampleRate: sampleRate, frames: frames,
                                      cornerFrames: cornerFrames))
            keptFrames += frames.map {
                .init(time: $0.time, quality: $0.quality, hashes: [], contentShare: $0.contentShare)
            }
            // Of corner frames only their moments are needed (the corner timeline): one per time, not one per
            // region, zoom and mirror (a tenth as many).
            for frame in cornerFrames where keptCornerFrames.last.map({ abs($0.time - frame.time) >= 1e-6 }) ?? true {
                keptCornerFrames.append(.init(time: frame.time, view: frame.view, zoom: frame.zoom, corners: []))
            }
        }
        var lastReport = -1.0
        while let sample = try samples.take() {
            stream.push(sample)
            if let progress, let time = stream.frames.last?.time ?? keptFrames.last?.time, time - lastReport >= 1 {
                lastReport = time
                progress(ExtractionProgress(time: time, duration: decoder.info.duration))
            }
            if let pieces, let first = stream.frames.first, let last = stream.frames.last,
               last.time - first.time >= pieces.seconds
            {
                handOver(pieces.handler)
            }
        }
        samples.waitForProducer()
        stream.finish()
        if let pieces { handOver(pieces.handler) }
        let frames = pieces == nil ? stream.frames : keptFrames
        let cornerFrames = pieces == nil ? stream.cornerFrames : keptCornerFrames
        // Halves are a reference's: pieces hand none over, so none are kept either.
        let partFrames = pieces == nil ? stream.partFrames : []

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
        // Keyframes come when the encoder put them, not on a grid: a sample rate of 0 tells the matcher to use
        // their spacing.
        let observations = QueryObservations(
            duration: duration, frameRate: info.frameRate, width: info.width, height: info.height,
            sampleRate: sampleRate, frames: frames, cornerFrames: cornerFrames)
        return Extraction(observations: observations, info: info, warnings: warnings, partFrames: partFrames)
    }
}

/// Holds a value that is handed to exactly one other thread and used by it alone until that thread ends.
struct UncheckedBox<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// A bounded queue of decoded samples from one producer thread to one consumer: the producer waits when it is
/// `capacity` frames ahead (constant memory), and stops when the consumer abandons the queue.
final class SampleQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [SampledFrame] = []
    private var head = 0
    private let capacity: Int
    private var finished = false
    private var producerDone = false
    private var abandoned = false
    private var failure: DecodingError?

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// False when the consumer is gone: stop producing.
    func put(_ sample: SampledFrame) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while items.count - head >= capacity, !abandoned { condition.wait() }
        guard !abandoned else { return false }
        items.append(sample)
        condition.broadcast()
        return true
    }

    func fail(_ error: DecodingError) {
        condition.withLock {
            failure = error
            condition.broadcast()
        }
    }

    func finishProducing() {
        condition.withLock {
            finished = true
            producerDone = true
            condition.broadcast()
        }
    }

    /// The next sample, nil at the end, or the producer's error.
    func take() throws(DecodingError) -> SampledFrame? {
        condition.lock()
        defer { condition.unlock() }
        while head == items.count, !finished, failure == nil { condition.wait() }
        if head < items.count {
            let sample = items[head]
            head += 1
            if head > 64, head * 2 > items.count {
                items.removeFirst(head)
                head = 0
            }
            condition.broadcast()
            return sample
        }
        if let failure { throw failure }
        return nil
    }

    /// Waits until the producer has returned, so that the decoder may be read again.
    func waitForProducer() {
        condition.lock()
        defer { condition.unlock() }
        while !producerDone { condition.wait() }
    }

    /// The consumer stops early (an error): the producer is released and waited for.
    func abandon() {
        condition.lock()
        abandoned = true
        condition.broadcast()
        while !producerDone { condition.wait() }
        condition.unlock()
    }
}
