internal import CFFmpeg
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Facts about the decoded video stream.
public struct VideoStreamInfo: Hashable, Sendable {
    /// FFmpeg's short codec name, e.g. `h264`, `vp9`, `png`.
    public var codec: String
    /// The container's short name, e.g. `mov,mp4,m4a,3gp,3g2,mj2`.
    public var container: String
    /// Displayed size in pixels, after rotation.
    public var width: Int
    public var height: Int
    /// Clockwise rotation applied to honour the display matrix: 0, 90, 180 or 270.
    public var rotation: Int
    /// Average frame rate in frames per second (0 when unknown, e.g. a still image).
    public var frameRate: Double
    /// Duration in seconds, when the container declares one.
    public var duration: Double?
    /// True for a still image decoded as a one-frame video.
    public var isStillImage: Bool
}

/// How frames are chosen and converted.
/// Stops a live source's reads from another thread: FFmpeg's interrupt callback polls it.
public final class DecodingCancellation: Sendable {
    private let flag = Atomic<Bool>(false)

    public init() {}

    public func cancel() { flag.store(true, ordering: .releasing) }
    public var isCancelled: Bool { flag.load(ordering: .acquiring) }
}

public struct DecodingOptions: Hashable, Sendable {
    /// Frames sampled per second of presentation time. Each sample takes the decoded frame nearest its time.
    public var samplesPerSecond: Double
    /// The longer side of the luminance image handed to hashing (never upscaled).
    public var maxAnalysisSide: Int
    /// FFmpeg decoder threads; 0 lets FFmpeg choose from the core count.
    public var threads: Int
    /// Ask the decoder to skip the in-loop deblocking filter: faster, slightly softer frames.
    public var skipLoopFilter: Bool
    /// Drop non-reference frames before decoding when samples are sparse (frame rate ≥ 2.5 × sampling rate).
    public var skipNonReferenceFrames: Bool
    /// Decode key frames only (a fast, coarse pass). The reference frame that follows each keyframe in decode
    /// order is decoded too and handed over as its companion (``SampledFrame/isCompanion``): keyframes a second
    /// or two apart show where the picture is, not what moves, and a window on a moving background is told by
    /// how differently its inside moves.
    public var keyFramesOnly: Bool
    /// Give up on a file after this many seconds (nil: no limit). FFmpeg's reads are interrupted too.
    public var timeLimit: Double?
    /// Decode only around these stretches of the timeline (see ``VideoDecoder/decodeOnly(_:)``); nil: all.
    public var stretches: [ClosedRange<Double>]? = nil

    public init(
        samplesPerSecond: Double = 4, maxAnalysisSide: Int = 512, threads: Int = 0,
        skipLoopFilter: Bool = true, skipNonReferenceFrames: Bool = true, keyFramesOnly: Bool = false,
        timeLimit: Double? = nil
    ) {
        self.timeLimit = timeLimit
        self.samplesPerSecond = samplesPerSecond
        self.maxAnalysisSide = maxAnalysisSide
        self.threads = threads
        self.skipLoopFilter = skipLoopFilter
        self.skipNonReferenceFrames = skipNonReferenceFrames
        self.keyFramesOnly = keyFramesOnly
    }
}

/// An 8-bit full-range luminance image, row-major, `width * height` bytes.
public struct LumaImage: Hashable, Sendable {
    public var width: Int
    public var height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height, "pixel buffer does not match the size")
        self.width = width
        self.height = height
        self.pixels = pixels
    }
}

/// One sampled frame: its presentation time (seconds from the start of the stream) and its luminance.
public struct SampledFrame: Hashable, Sendable {
    public var time: Double
    public var image: LumaImage
    /// A frame decoded only to show what moves since the keyframe before it (``DecodingOptions/keyFramesOnly``),
    /// a fraction of a second later: not a sample of its own.
    public var isCompanion: Bool

    public init(time: Double, image: LumaImage, isCompanion: Bool = false) {
        self.time = time
        self.image = image
        self.isCompanion = isCompanion
    }
}

/// Limits that protect the process from absurd or hostile files.
public enum DecodingLimits {
    public static let maxDimension = 16_384
    public static let maxPixels = 8_192 * 8_192
    public static let maxStreams = 1_024
    /// A declared duration above this (one week) is treated as nonsense.
    public static let maxDuration: Double = 7 * 24 * 3600
    /// Corrupt packets tolerated in a row before the stream is declared unreadable.
    public static let maxConsecutiveErrors = 200
}

/// Decodes the best video stream of a file and yields luminance frames sampled by presentation time.
///
/// Memory is constant in the length of the video: the decoder holds FFmpeg's few reference frames plus one
/// small luminance image at a time. Not thread-safe; use one decoder per task.
public final class VideoDecoder {
    public let path: String
    public let info: VideoStreamInfo
    public let options: DecodingOptions
    /// Problems that did not stop decoding (corrupt packets skipped, for example).
    public private(set) var warnings: [String] = []
    /// Frames decoded so far (sampled or not).
    public private(set) var decodedFrameCount = 0
    /// Corrupt packets or frames skipped.
    public private(set) var skippedErrorCount = 0
    /// Frames the decoder returned with damage it concealed (corrupt data patched from neighbouring pictures).
    public private(set) var concealedFrameCount = 0

    let format: FormatContext
    let deadline: Deadline
    let codec: CodecContext
    private let packet: Packet
    let frame: Frame
    private let scaler = ScaleContext()
    let streamIndex: Int32
    let timeBase: Double
    let frameDuration: Double
    var originTime: Double?
    var lastFrameTime: Double?
    private var nextSampleTime = 0.0
    var sentFlush = false
    var finished = false
    /// Stretches of the timeline still to decode (``decodeOnly(_:)``), the current one first; nil decodes all.
    private var stretches: [ClosedRange<Double>]? = nil
    /// The decoder is being drained at the end of a stretch, before the jump to the next one.
    private var drainingStretch = false
    private var consecutiveErrors = 0
    /// With keyframes only: the packet after a keyframe's is decoded when it is a reference frame (a companion).
    private var companionNext = false
    /// With keyframes only: the time of the last keyframe decoded, which a companion must follow.
    private var lastKeyframeTime: Double? = nil

    /// The recorder keeping this source's packets as segment files, once ``startRecording(into:prefix:)`` ran.
    public private(set) var recorder: StreamRecorder?

    /// Keeps every packet of the video stream from now on in segment files in `directory` (see ``StreamRecorder``).
    public func startRecording(into directory: String, prefix: String) -> StreamRecorder? {
        if recorder == nil {
            recorder = StreamRecorder(directory: directory, prefix: prefix,
                                      stream: format.pointer.pointee.streams[Int(streamIndex)]!)
        }
        return recorder
    }

    /// Why decoding ended, once ``nextSample()`` has returned nil.
    public private(set) var endReason: EndReason?

    /// How a stream came to an end.
    public enum EndReason: Hashable, Sendable {
        /// The source said it was finished (the end of a file, a sender that closed the stream).
        case endOfStream
        /// Reading failed (a dropped connection, a truncated file): FFmpeg's words.
        case readError(String)
        /// A live source sent nothing for longer than its read timeout.
        case stalled
        /// ``DecodingCancellation/cancel()`` was called.
        case cancelled
    }

    /// Opens `path` and prepares its best video stream for decoding.
    public convenience init(path: String, options: DecodingOptions = DecodingOptions()) throws(DecodingError) {
        try Self.checkOptions(options, path: path)
        try Self.checkReadableFile(path)
        try self.init(opening: path, url: nil, options: options, deadline: Deadline(seconds: options.timeLimit))
    }

    /// Opens a live source: anything FFmpeg's protocols read (`udp://`, `srt://`, `rtmp://`, `http(s)://` HLS,
    /// `tcp://`, a file still being written) or `-` for standard input. Reads give up when nothing arrives for
    /// `readTimeout` seconds (the end reason is then ``EndReason/stalled``), and at once when `cancellation` is
    /// cancelled.
    public convenience init(source: String, options: DecodingOptions = DecodingOptions(), readTimeout: Double,
                            cancellation: DecodingCancellation? = nil) throws(DecodingError) {
        try Self.checkOptions(options, path: source)
        Self.enableNetwork()
        let url = source == "-" ? "pipe:0" : source
        if !Self.isNetworkSource(source), source != "-" {
            // A growing file (an MPEG-TS being recorded) may be a FIFO too; a folder or nothing is refused.
            var status = stat()
            guard PathBytes.withCString(source, { stat($0, &status) }) == 0 else {
                throw DecodingError(code: .notFound, message: "no such file", path: source, cFunction: "stat")
            }
            guard status.st_mode & S_IFMT != S_IFDIR else {
                throw DecodingError(code: .isDirectory, message: "this is a folder, not a stream", path: source)
            }
        }
        // An MPEG-TS file still being written is read on past its current end (until nothing arrives for the
        // read timeout); standard input is made non-blocking so that the timeout and a stop reach a quiet pipe.
        let growing = ["ts", "m2ts", "mts"].contains((source as NSString).pathExtension.lowercased())
            && !Self.isNetworkSource(source)
        var restoreInput: Int32? = nil
        if source == "-" {
            let flags = fcntl(0, F_GETFL)
            if flags >= 0, flags & O_NONBLOCK == 0, fcntl(0, F_SETFL, flags | O_NONBLOCK) == 0 { restoreInput = flags }
        }
        do {
            try self.init(opening: source, url: url, options: options, formatOptions: growing ? ["follow": "1"] : [:],
                          deadline: Deadline(seconds: options.timeLimit, idleLimit: readTimeout, cancellation: cancellation),
                          live: true)
        } catch {
            if let restoreInput { _ = fcntl(0, F_SETFL, restoreInput) }
            throw error
        }
        self.restoreInputFlags = restoreInput
    }

    /// Standard input's flags before it was made non-blocking, restored when the decoder goes.
    private var restoreInputFlags: Int32?
    /// A live source: no limit on its length, and reads that may wait.
    private var isLive = false

    deinit {
        if let restoreInputFlags { _ = fcntl(0, F_SETFL, restoreInputFlags) }
    }

    /// Whether `source` names a network address (a URL scheme other than `file:`) rather than a path.
    public static func isNetworkSource(_ source: String) -> Bool {
        guard let colon = source.firstIndex(of: ":"), source[colon...].hasPrefix("://") else { return false }
        let scheme = source[..<colon]
        return !scheme.isEmpty && scheme.lowercased() != "file" && scheme.allSatisfy { $0.isLetter || $0.isNumber || $0 == "+" || $0 == "-" }
    }

    private static func checkOptions(_ options: DecodingOptions, path: String) throws(DecodingError) {
        guard options.samplesPerSecond > 0, options.samplesPerSecond.isFinite, options.maxAnalysisSide >= 16 else {
            throw DecodingError(code: .invalidArgument,
                                message: "the sampling rate must be positive and the analysis size at least 16",
                                path: path)
        }
    }

    private init(opening path: String, url: String?, options: DecodingOptions, formatOptions: [String: String] = [:],
                 deadline: Deadline, live: Bool = false) throws(DecodingError) {
        self.path = path
        self.options = options
        isLive = live
        Self.quietFFmpegLogs()

        self.deadline = deadline
        format = try FormatContext(path: path, url: url, options: formatOptions, deadline: deadline)
        deadline.touch()
        let status = avformat_find_stream_info(format.pointer, nil)
        if status < 0, deadline.isCancelled {
            throw DecodingError(code: .cancelled, message: "stopped while opening", path: path,
                                cFunction: "avformat_find_stream_info", cErrorCode: status)
        }
        if status < 0, deadline.isIdle {
            throw DecodingError(code: .timedOut,
                                message: "nothing arrived within \(String(format: "%g", deadline.idleLimit ?? 0)) seconds",
                                path: path, cFunction: "avformat_find_stream_info", cErrorCode: status)
        }
        if status < 0 {
            throw DecodingError(code: .corruptData, message: "FFmpeg could not read the stream parameters",
                                path: path, cFunction: "avformat_find_stream_info", cErrorCode: status)
        }
        if format.pointer.pointee.nb_streams > UInt32(DecodingLimits.maxStreams) {
            throw DecodingError(code: .limitExceeded,
                                message: "the file declares \(format.pointer.pointee.nb_streams) streams, more than ClipTrace accepts",
                                path: path)
        }

        var decoderPointer: UnsafePointer<AVCodec>? = nil
        let best = av_find_best_stream(format.pointer, AVMEDIA_TYPE_VIDEO, -1, -1, &decoderPointer, 0)
        if best < 0 {
            if best == cffmpeg_averror_decoder_not_found() {
                throw DecodingError(code: .unsupportedCodec,
                                    message: "the video codec is not supported by this FFmpeg build",
                                    path: path, cFunction: "av_find_best_stream", cErrorCode: best)
            }
            throw DecodingError(code: .noVideoStream, message: "the file has no video stream",
                                path: path, cFunction: "av_find_best_stream", cErrorCode: best)
        }
        streamIndex = best
        let stream = format.pointer.pointee.streams[Int(best)]!
        let parameters = stream.pointee.codecpar!
        guard let decoder = decoderPointer else {
            throw DecodingError(code: .unsupportedCodec, message: "the video codec is not supported by this FFmpeg build",
                                path: path, cFunction: "av_find_best_stream")
        }
        let width = Int(parameters.pointee.width), height = Int(parameters.pointee.height)
        if width > DecodingLimits.maxDimension || height > DecodingLimits.maxDimension
            || width * height > DecodingLimits.maxPixels
        {
            throw DecodingError(code: .limitExceeded,
                                message: width > DecodingLimits.maxDimension || height > DecodingLimits.maxDimension
                                    ? "the file declares \(width)×\(height) pixels, beyond ClipTrace's limit of \(DecodingLimits.maxDimension) per side"
                                    : "the file declares \(width)×\(height) pixels (\((width * height + 500_000) / 1_000_000) megapixels), beyond ClipTrace's limit of \(DecodingLimits.maxPixels / 1_000_000) megapixels per frame",
                                path: path)
        }

        codec = try CodecContext(codec: decoder, path: path)
        var result = avcodec_parameters_to_context(codec.pointer, parameters)
        if result < 0 {
            throw DecodingError(code: .corruptData, message: "the codec parameters are invalid",
                                path: path, cFunction: "avcodec_parameters_to_context", cErrorCode: result)
        }
        codec.pointer.pointee.thread_count = Int32(max(0, options.threads))
        codec.pointer.pointee.thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE
        codec.pointer.pointee.pkt_timebase = stream.pointee.time_base
        if options.skipLoopFilter { codec.pointer.pointee.skip_loop_filter = AVDISCARD_ALL }
        // Frames nobody references (most B-frames) can be dropped unseen when samples are sparse: a sample then
        // takes the nearest reference frame, at most a frame or two away.
        let declaredRate = stream.pointee.avg_frame_rate.den > 0
            ? Double(stream.pointee.avg_frame_rate.num) / Double(stream.pointee.avg_frame_rate.den) : 0
        if options.keyFramesOnly {
            codec.pointer.pointee.skip_frame = AVDISCARD_NONKEY
        } else if options.skipNonReferenceFrames, declaredRate >= 2.5 * options.samplesPerSecond {
            codec.pointer.pointee.skip_frame = AVDISCARD_NONREF
        }
        result = avcodec_open2(codec.pointer, decoder, nil)
        if result < 0 {
            throw DecodingError(code: .unsupportedCodec, message: "FFmpeg could not open the video decoder",
                                path: path, cFunction: "avcodec_open2", cErrorCode: result)
        }
        packet = try Packet(path: path)
        frame = try Frame(path: path)

        let timeBaseRational = stream.pointee.time_base
        timeBase = timeBaseRational.den > 0 ? Double(timeBaseRational.num) / Double(timeBaseRational.den) : 0
        var rate = av_guess_frame_rate(format.pointer, stream, nil)
        if rate.num <= 0 || rate.den <= 0 { rate = stream.pointee.avg_frame_rate }
        var frameRate = rate.num > 0 && rate.den > 0 ? Double(rate.num) / Double(rate.den) : 0
        if !frameRate.isFinite || frameRate > 1000 { frameRate = 0 }
        frameDuration = frameRate > 0 ? 1 / frameRate : 1.0 / 25

        var duration: Double? = nil
        if stream.pointee.duration > 0, timeBase > 0 {
            duration = Double(stream.pointee.duration) * timeBase
        } else if format.pointer.pointee.duration > 0 {
            duration = Double(format.pointer.pointee.duration) / Double(cffmpeg_time_base())
        }
        if let declared = duration, !(declared.isFinite && declared <= DecodingLimits.maxDuration) {
            throw DecodingError(code: .limitExceeded,
                                message: "the file declares a duration of \(declared) seconds, which is not plausible",
                                path: path)
        }
        if stream.pointee.start_time != cffmpeg_nopts_value(), timeBase > 0 {
            originTime = Double(stream.pointee.start_time) * timeBase
        }

        let formatName = String(cString: format.pointer.pointee.iformat.pointee.name)
        let codecName = String(cString: avcodec_get_name(parameters.pointee.codec_id))
        let still = formatName.hasPrefix("image2") || formatName.hasSuffix("_pipe")
        // av_display_rotation_get is counter-clockwise; the picture must be turned clockwise by its negation.
        let counterClockwise = cffmpeg_stream_rotation(stream)
        var rotation = Int((-counterClockwise).rounded()) % 360
        if rotation < 0 { rotation += 360 }
        rotation = (rotation + 45) / 90 * 90 % 360
        let swapsSides = rotation == 90 || rotation == 270
        info = VideoStreamInfo(
            codec: codecName, container: formatName,
            width: swapsSides ? height : width, height: swapsSides ? width : height,
            rotation: rotation, frameRate: still ? 0 : frameRate,
            duration: still ? nil : duration, isStillImage: still)
    }

    /// The next sampled frame, or `nil` at the end of the stream (after the decoder has been flushed).
    public func nextSample() throws(DecodingError) -> SampledFrame? {
        while try receiveNextFrame() {
            defer { av_frame_unref(frame.pointer) }
            if let sample = try sampleFromCurrentFrame() { return sample }
        }
        if concealedFrameCount > 0, !warnings.contains(where: { $0.hasPrefix("corrupt video data concealed") }) {
            appendWarning("corrupt video data concealed by the decoder in \(concealedFrameCount) of \(decodedFrameCount) frames")
        }
        if decodedFrameCount == 0, endReason != .cancelled {
            throw DecodingError(code: .noDecodableFrames,
                                message: skippedErrorCount > 0
                                    ? "no frame could be decoded; the video data is corrupt or truncated"
                                    : "the video stream holds no frames",
                                path: path)
        }
        return nil
    }

    /// Decodes only around `stretches` (seconds of the timeline, increasing, not overlapping) from here on: the
    /// decoder jumps to the keyframe at or before each stretch, decodes a second past its end and drains, so
    /// every frame of a stretch is decoded as a full decode would decode it. For a second pass over what a
    /// keyframe pass found. A source that cannot seek is read on to the end instead.
    public func decodeOnly(_ stretches: [ClosedRange<Double>]) {
        // Without the stream's start time, times are counted from the first frame decoded: it must be the first.
        guard originTime != nil else { return }
        self.stretches = stretches.sorted { $0.lowerBound < $1.lowerBound }
        if self.stretches!.isEmpty {
            finished = true
        } else if !jumpToStretch() {
            self.stretches = nil
        }
    }

    /// Seeks to the keyframe at or before the current stretch; false when the source cannot seek.
    private func jumpToStretch() -> Bool {
        guard let stretch = stretches?.first, timeBase > 0, !info.isStillImage else { return false }
        let origin = originTime ?? 0
        let target = Int64(((max(0, stretch.lowerBound) + origin) / timeBase).rounded(.down))
        guard av_seek_frame(format.pointer, streamIndex, target, AVSEEK_FLAG_BACKWARD) >= 0 else { return false }
        avcodec_flush_buffers(codec.pointer)
        sentFlush = false
        finished = false
        drainingStretch = false
        // Times before the stretch are not a step back in the stream.
        lastFrameTime = nil
        return true
    }

    /// Receives the next decoded frame into `frame`: true when one arrived, false at the end of the stream
    /// (after the flush). Corrupt frames are skipped and counted; the time budget is checked on the way.
    func receiveNextFrame() throws(DecodingError) -> Bool {
        while !finished {
            if deadline.hasPassed {
                throw DecodingError(code: .timedOut,
                                    message: "gave up after \(String(format: "%g", options.timeLimit ?? 0)) seconds (the time budget of one file)",
                                    path: path)
            }
            let received = avcodec_receive_frame(codec.pointer, frame.pointer)
            if received == 0 {
                consecutiveErrors = 0
                if frame.pointer.pointee.decode_error_flags != 0 || frame.pointer.pointee.flags & AV_FRAME_FLAG_CORRUPT != 0 {
                    concealedFrameCount += 1
                }
                return true
            }
            if received == FFmpegError.endOfFile {
                if drainingStretch, var remaining = stretches {
                    // The stretch is decoded to its end: on to the next one, or done.
                    remaining.removeFirst()
                    stretches = remaining
                    if !remaining.isEmpty, jumpToStretch() { continue }
                }
                finished = true
                break
            }
            if received != FFmpegError.tryAgain {
                // A frame that failed to decode: note it and go on with the next packet.
                try noteError("avcodec_receive_frame", received)
            }
            try feedDecoder()
        }
        return false
    }

    /// Reads the next packet of the video stream and sends it to the decoder; at the end, sends the flush packet.
    func feedDecoder() throws(DecodingError) {
        if sentFlush {
            // The decoder has everything; it will answer EOF once drained.
            return
        }
        while true {
            // The read timeout counts time spent waiting for data, not time spent on the frames before.
            deadline.touch()
            let read = av_read_frame(format.pointer, packet.pointer)
            if read < 0 {
                if deadline.isCancelled {
                    endReason = .cancelled
                } else if deadline.isIdle || deadline.interruptedWhileIdle {
                    endReason = .stalled
                } else if read != FFmpegError.endOfFile {
                    endReason = .readError(FFmpegError.describe(read))
                    appendWarning("reading stopped early: \(FFmpegError.describe(read)); the file may be truncated")
                } else {
                    endReason = .endOfStream
                }
                avcodec_send_packet(codec.pointer, nil)  // Always flush: the last frames live in the decoder.
                sentFlush = true
                return
            }
            defer { av_packet_unref(packet.pointer) }
            guard packet.pointer.pointee.stream_index == streamIndex else { continue }
            if let stretch = stretches?.first, packet.pointer.pointee.pts != cffmpeg_nopts_value(), timeBase > 0,
               Double(packet.pointer.pointee.pts) * timeBase - (originTime ?? 0) > stretch.upperBound + 1
            {
                // A second past the stretch (frames come out of decode order by less): drain what the decoder holds.
                avcodec_send_packet(codec.pointer, nil)
                sentFlush = true
                drainingStretch = true
                return
            }
            if let recorder {
                let stamp = packet.pointer.pointee.pts != cffmpeg_nopts_value() ? packet.pointer.pointee.pts : packet.pointer.pointee.dts
                let time = stamp != cffmpeg_nopts_value() && timeBase > 0
                    ? Double(stamp) * timeBase - (originTime ?? Double(stamp) * timeBase) : (lastFrameTime ?? 0)
                recorder.write(packet.pointer, time: time)
            }
            if packet.pointer.pointee.pts == cffmpeg_nopts_value(), codec.pointer.pointee.skip_frame == AVDISCARD_NONREF {
                // Without timestamps, times are counted frame by frame: every frame must be seen.
                codec.pointer.pointee.skip_frame = AVDISCARD_DEFAULT
            }
            if options.keyFramesOnly {
                // Frame threads take the skip setting with each packet.
                let isKey = packet.pointer.pointee.flags & AV_PKT_FLAG_KEY != 0
                codec.pointer.pointee.skip_frame = !isKey && companionNext ? AVDISCARD_NONREF : AVDISCARD_NONKEY
                companionNext = isKey
            }
            let sent = avcodec_send_packet(codec.pointer, packet.pointer)
            if sent == 0 || sent == FFmpegError.tryAgain { return }
            try noteError("avcodec_send_packet", sent)
        }
    }

    func noteError(_ function: String, _ code: Int32) throws(DecodingError) {
        skippedErrorCount += 1
        consecutiveErrors += 1
        if skippedErrorCount == 1 {
            appendWarning("corrupt video data skipped (\(function): \(FFmpegError.describe(code)))")
        }
        if consecutiveErrors > DecodingLimits.maxConsecutiveErrors {
            if decodedFrameCount > 0 {
                appendWarning("gave up after \(consecutiveErrors) corrupt packets in a row")
                endReason = .readError("\(consecutiveErrors) corrupt packets in a row")
                finished = true
                return
            }
            throw DecodingError(code: .corruptData, message: "the video data is corrupt: no packet decodes",
                                path: path, cFunction: function, cErrorCode: code)
        }
    }

    private func appendWarning(_ warning: String) {
        if warnings.count < 20 { warnings.append(warning) }
    }

    /// Decides whether the frame just received is the one for the next sample time, and converts it if so.
    private func sampleFromCurrentFrame() throws(DecodingError) -> SampledFrame? {
        let time = frameTime()

        // A timestamp beyond any plausible length (a hostile or broken muxer jumping by years) ends the stream:
        // nothing after it has a meaningful time.
        // (A live source runs as long as it runs.)
        guard time <= DecodingLimits.maxDuration || isLive else {
            appendWarning(String(format: "a frame's timestamp jumps to %.0f s, beyond a week; the rest of the file was ignored", time))
            finished = true
            return nil
        }
        if options.keyFramesOnly {
            guard cffmpeg_frame_is_key(frame.pointer) == 0 else {
                lastKeyframeTime = time
                return try sample(at: time)
            }
            // A keyframe's companion, not a sample time of its own: the next reference frame, a few frames after
            // it. A leading picture of an open group of pictures (shown before the next keyframe, decoded without
            // its references) is further from the last keyframe, or before it, and shows nothing useful.
            guard let keyframe = lastKeyframeTime, time > keyframe, time - keyframe <= 8 * frameDuration
            else { return nil }
            return SampledFrame(time: max(0, time), image: try convertCurrentFrame(), isCompanion: true)
        }
        return try sample(at: time)
    }

    /// The frame just received, for every sample time it is the nearest decoded frame to; nil if none.
    private func sample(at time: Double) throws(DecodingError) -> SampledFrame? {
        // Take this frame for every sample time it is the nearest decoded frame to.
        guard time + frameDuration / 2 >= nextSampleTime else { return nil }
        let step = 1 / options.samplesPerSecond
        nextSampleTime += step
        if nextSampleTime <= time {
            // A gap in the stream: the next sample time after this frame, computed rather than stepped to, so
            // that a jump of days costs nothing.
            nextSampleTime += ((time - nextSampleTime) / step).rounded(.down) * step + step
            if nextSampleTime <= time { nextSampleTime += step }
        }
        return SampledFrame(time: max(0, time), image: try convertCurrentFrame())
    }

    /// The time of the frame just received, seconds from the first frame; counts it as decoded.
    func frameTime() -> Double {
        decodedFrameCount += 1
        let raw = frame.pointer.pointee
        var time: Double
        let stamp = raw.best_effort_timestamp != cffmpeg_nopts_value() ? raw.best_effort_timestamp : raw.pts
        if stamp != cffmpeg_nopts_value(), timeBase > 0 {
            time = Double(stamp) * timeBase
            if originTime == nil { originTime = time }
            time -= originTime!
            // Timestamps that go backwards (broken muxers) fall back to synthesized ones.
            if let last = lastFrameTime, time <= last { time = last + frameDuration }
        } else {
            time = lastFrameTime.map { $0 + frameDuration } ?? 0
        }
        lastFrameTime = time
        return info.isStillImage ? 0 : time
    }

    /// Scales the current frame straight to small full-range luminance and applies the display rotation.
    private func convertCurrentFrame() throws(DecodingError) -> LumaImage {
        let raw = frame.pointer.pointee
        let sourceWidth = Int(raw.width), sourceHeight = Int(raw.height)
        guard sourceWidth > 0, sourceHeight > 0, sourceWidth <= DecodingLimits.maxDimension,
              sourceHeight <= DecodingLimits.maxDimension
        else {
            throw DecodingError(code: .limitExceeded, message: "a decoded frame has an impossible size \(sourceWidth)×\(sourceHeight)",
                                path: path)
        }
        let displayWidth = Self.displayWidth(raw)
        let longSide = max(displayWidth, Double(sourceHeight))
        let scale = min(1, Double(options.maxAnalysisSide) / longSide)
        let width = max(8, Int((displayWidth * scale).rounded()))
        let height = max(8, Int((Double(sourceHeight) * scale).rounded()))
        var pixels = [UInt8](repeating: 0, count: width * height)
        try scaler.convert(frame.pointer, width: width, height: height, format: AV_PIX_FMT_GRAY8,
                           planes: [(offset: 0, stride: width)], into: &pixels, path: path)
        return Self.rotate(LumaImage(width: width, height: height, pixels: pixels), clockwise: info.rotation)
    }

    /// The width people see: the coded width stretched by the sample aspect ratio (when it is plausible).
    static func displayWidth(_ raw: AVFrame) -> Double {
        let sar = raw.sample_aspect_ratio
        guard sar.num > 0, sar.den > 0 else { return Double(raw.width) }
        let ratio = Double(sar.num) / Double(sar.den)
        return ratio > 0.1 && ratio < 10 ? Double(raw.width) * ratio : Double(raw.width)
    }

    /// Turns an image clockwise by 90, 180 or 270 degrees.
    static func rotate(_ image: LumaImage, clockwise degrees: Int) -> LumaImage {
        let w = image.width, h = image.height
        switch degrees {
        case 90, 270:
            var out = [UInt8](repeating: 0, count: w * h)
            image.pixels.withUnsafeBufferPointer { src in
                out.withUnsafeMutableBufferPointer { dst in
                    for y in 0..<h {
                        for x in 0..<w {
                            // 90° clockwise: (x, y) → (h-1-y, x); 270°: (x, y) → (y, w-1-x). Output is h wide.
                            let (nx, ny) = degrees == 90 ? (h - 1 - y, x) : (y, w - 1 - x)
                            dst[ny * h + nx] = src[y * w + x]
                        }
                    }
                }
            }
            return LumaImage(width: h, height: w, pixels: out)
        case 180:
            return LumaImage(width: w, height: h, pixels: image.pixels.reversed())
        default:
            return image
        }
    }

    /// Refuses what cannot be a video file before anything reads it: a missing path, a folder, an empty file,
    /// a file this user may not read, and pipes, sockets and devices (reading them can block or never end).
    public static func checkReadableFile(_ path: String) throws(DecodingError) {
        guard !path.isEmpty else {
            throw DecodingError(code: .notFound, message: "the path is empty", path: path)
        }
        var status = stat()
        guard PathBytes.withCString(path, { stat($0, &status) }) == 0 else {
            switch errno {
            case EACCES:
                throw DecodingError(code: .permissionDenied, message: "permission denied", path: path)
            case ELOOP:
                throw DecodingError(code: .notFound, message: "a loop of symbolic links leads nowhere", path: path)
            case ENOTDIR:
                throw DecodingError(code: .notFound, message: "a part of the path is a file, not a folder", path: path)
            default:
                var link = stat()
                let dangling = PathBytes.withCString(path, { lstat($0, &link) }) == 0
                throw DecodingError(code: .notFound, message: dangling ? "a symbolic link to nothing" : "no such file",
                                    path: path)
            }
        }
        if (status.st_mode & S_IFMT) == S_IFDIR {
            throw DecodingError(code: .isDirectory, message: "this is a folder, not a video file", path: path)
        }
        if (status.st_mode & S_IFMT) != S_IFREG {
            throw DecodingError(code: .notARegularFile,
                                message: "this is a pipe, socket or device, not a video file", path: path)
        }
        if PathBytes.withCString(path, { access($0, R_OK) }) != 0 {
            throw DecodingError(code: .permissionDenied, message: "permission denied", path: path)
        }
        if status.st_size == 0 {
            // A kernel pseudo-file (/proc, /sys) says 0 bytes and still has content: not a video either way.
            let descriptor = PathBytes.withCString(path) { open($0, O_RDONLY | O_NONBLOCK | O_CLOEXEC) }
            var byte: UInt8 = 0
            let read = descriptor >= 0 ? Glibc.read(descriptor, &byte, 1) : 0
            if descriptor >= 0 { close(descriptor) }
            if read > 0 {
                throw DecodingError(code: .notARegularFile,
                                    message: "this is a system pseudo-file (it reports no size), not a video file",
                                    path: path)
            }
            throw DecodingError(code: .emptyFile, message: "the file is empty (0 bytes)", path: path)
        }
    }

    private static let quietOnce: Void = { av_log_set_level(AV_LOG_QUIET) }()
    /// FFmpeg's own log would interleave with ours on stderr; problems are reported as warnings instead.
    private static func quietFFmpegLogs() { _ = quietOnce }

    private static let networkOnce: Void = { avformat_network_init() }()
    private static func enableNetwork() { _ = networkOnce }
}
