internal import CFFmpeg

/// Helpers for FFmpeg's integer error codes.
enum FFmpegError {
    static let tryAgain = cffmpeg_averror_eagain()
    static let endOfFile = cffmpeg_averror_eof()
    static let invalidData = cffmpeg_averror_invaliddata()
    static let noMemory = cffmpeg_averror(ENOMEM)

    /// `av_err2str` as a Swift string.
    static func describe(_ code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        return buffer.withUnsafeMutableBufferPointer { pointer in
            String(cString: cffmpeg_err2str(code, pointer.baseAddress!, pointer.count))
        }
    }
}

// Each FFmpeg object below has exactly one owner that frees it in `deinit`.
// The C object is acquired first and wrapped only when acquisition succeeded, so a failure cannot leak.

/// A deadline FFmpeg polls through its interrupt callback, so that no read can block past it.
final class Deadline {
    /// Seconds on the monotonic clock (`CLOCK_MONOTONIC`, unaffected by changes to the wall clock);
    /// .infinity for none.
    let instant: Double
    /// A live source is given up when nothing has been read for this long (nil: wait for ever).
    let idleLimit: Double?
    /// When data last arrived, on the same clock.
    private(set) var lastActivity: Double
    /// Set from any thread to stop reading at once.
    let cancellation: DecodingCancellation?

    init(seconds: Double?, idleLimit: Double? = nil, cancellation: DecodingCancellation? = nil) {
        let now = Self.now()
        instant = seconds.map { $0 > 0 ? now + $0 : .infinity } ?? .infinity
        self.idleLimit = idleLimit.flatMap { $0 > 0 ? $0 : nil }
        self.cancellation = cancellation
        lastActivity = now
    }

    static func now() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    /// The time budget of the whole file is spent.
    var hasPassed: Bool {
        guard instant.isFinite else { return false }
        return Self.now() > instant
    }

    /// Nothing has arrived for longer than the idle limit: the source stalled.
    var isIdle: Bool {
        guard let idleLimit else { return false }
        return Self.now() - lastActivity > idleLimit
    }

    var isCancelled: Bool { cancellation?.isCancelled ?? false }

    /// Whether FFmpeg should abandon a blocking call now. An interruption for idleness is remembered: FFmpeg
    /// may report it a call later (a demuxer that had read ahead), when data looks recent again.
    var shouldInterrupt: Bool {
        if isCancelled || hasPassed { return true }
        if isIdle {
            interruptedWhileIdle = true
            return true
        }
        return false
    }

    /// A read was interrupted because nothing arrived for the idle limit.
    private(set) var interruptedWhileIdle = false

    /// Data arrived.
    func touch() { if idleLimit != nil { lastActivity = Self.now() } }
}

/// Owns an `AVFormatContext` opened with `avformat_open_input`.
final class FormatContext {
    let pointer: UnsafeMutablePointer<AVFormatContext>
    /// Kept alive as long as the context that polls it.
    private let deadline: Deadline

    /// Opens `path`, or `url` when given (a network address or `pipe:0`, with `path` naming it in errors).
    init(path: String, url: String? = nil, options: [String: String] = [:], deadline: Deadline) throws(DecodingError) {
        self.deadline = deadline
        guard let allocated = avformat_alloc_context() else {
            throw DecodingError(code: .resourceExhausted, message: "could not allocate a demuxer", path: path,
                                cFunction: "avformat_alloc_context")
        }
        allocated.pointee.interrupt_callback.callback = { opaque in
            guard let opaque else { return 0 }
            return Unmanaged<Deadline>.fromOpaque(opaque).takeUnretainedValue().shouldInterrupt ? 1 : 0
        }
        allocated.pointee.interrupt_callback.opaque = Unmanaged.passUnretained(deadline).toOpaque()
        var context: UnsafeMutablePointer<AVFormatContext>? = allocated
        // On failure avformat_open_input frees the context it was given.
        var dictionary: OpaquePointer? = nil
        for (key, value) in options { av_dict_set(&dictionary, key, value, 0) }
        defer { av_dict_free(&dictionary) }
        deadline.touch()
        let status = PathBytes.withCString(url ?? path) { avformat_open_input(&context, $0, nil, &dictionary) }
        guard status >= 0, let context else {
            if deadline.isCancelled {
                throw DecodingError(code: .cancelled, message: "stopped while opening", path: path,
                                    cFunction: "avformat_open_input", cErrorCode: status)
            }
            if deadline.hasPassed || deadline.isIdle {
                throw DecodingError(code: .timedOut, message: url == nil ? "the file took too long to open"
                                        : "nothing arrived within \(String(format: "%g", deadline.idleLimit ?? 0)) seconds",
                                    path: path, cFunction: "avformat_open_input", cErrorCode: status)
            }
            if url != nil {
                throw DecodingError(code: .unreachable, message: "the stream could not be opened: \(FFmpegError.describe(status))",
                                    path: path, cFunction: "avformat_open_input", cErrorCode: status)
            }
            throw DecodingError(
                code: status == FFmpegError.noMemory ? .resourceExhausted : .unrecognizedFormat,
                message: "FFmpeg does not recognise this file as video or image",
                path: path, cFunction: "avformat_open_input", cErrorCode: status)
        }
        pointer = context
    }

    deinit {
        var context: UnsafeMutablePointer<AVFormatContext>? = pointer
        avformat_close_input(&context)
    }
}

/// Owns an `AVCodecContext`.
final class CodecContext {
    let pointer: UnsafeMutablePointer<AVCodecContext>

    init(codec: UnsafePointer<AVCodec>, path: String) throws(DecodingError) {
        guard let context = avcodec_alloc_context3(codec) else {
            throw DecodingError(code: .resourceExhausted, message: "could not allocate a decoder", path: path,
                                cFunction: "avcodec_alloc_context3")
        }
        pointer = context
    }

    deinit {
        var context: UnsafeMutablePointer<AVCodecContext>? = pointer
        avcodec_free_context(&context)
    }
}

/// Owns an `AVPacket`.
final class Packet {
    let pointer: UnsafeMutablePointer<AVPacket>

    init(path: String) throws(DecodingError) {
        guard let packet = av_packet_alloc() else {
            throw DecodingError(code: .resourceExhausted, message: "could not allocate a packet", path: path,
                                cFunction: "av_packet_alloc")
        }
        pointer = packet
    }

    deinit {
        var packet: UnsafeMutablePointer<AVPacket>? = pointer
        av_packet_free(&packet)
    }
}

/// Owns an `AVFrame`.
final class Frame {
    let pointer: UnsafeMutablePointer<AVFrame>

    init(path: String) throws(DecodingError) {
        guard let frame = av_frame_alloc() else {
            throw DecodingError(code: .resourceExhausted, message: "could not allocate a frame", path: path,
                                cFunction: "av_frame_alloc")
        }
        pointer = frame
    }

    deinit {
        var frame: UnsafeMutablePointer<AVFrame>? = pointer
        av_frame_free(&frame)
    }
}

/// Owns a `SwsContext`, rebuilt only when the source geometry or pixel format changes.
final class ScaleContext {
    private(set) var pointer: OpaquePointer?
    private struct Key: Equatable {
        var sourceWidth, sourceHeight, sourceFormat, width, height: Int32
        var sourceFullRange: Bool
        var destinationFormat: Int32
    }
    private var key: Key?

    /// Converts the whole of `frame` to a full-range `width`×`height` picture in `format` (GRAY8 for hashing,
    /// YUVJ420P for thumbnails), writing plane `i` at `planes[i].offset` of `buffer`, rows `stride` bytes apart.
    func convert(
        _ frame: UnsafeMutablePointer<AVFrame>, width: Int, height: Int, format: AVPixelFormat,
        planes: [(offset: Int, stride: Int)], into buffer: inout [UInt8], path: String
    ) throws(DecodingError) {
        let raw = frame.pointee
        let context = try context(
            sourceWidth: raw.width, sourceHeight: raw.height, sourceFormat: raw.format,
            sourceFullRange: Self.isFullRange(raw), width: Int32(width), height: Int32(height),
            destinationFormat: format.rawValue, path: path)
        let scaled: Int32 = buffer.withUnsafeMutableBufferPointer { bytes in
            var destinations = [UnsafeMutablePointer<UInt8>?](repeating: nil, count: 4)
            var strides = [Int32](repeating: 0, count: 4)
            for (index, plane) in planes.enumerated() {
                destinations[index] = bytes.baseAddress! + plane.offset
                strides[index] = Int32(plane.stride)
            }
            return withUnsafePointer(to: frame.pointee.data) { dataTuple in
                withUnsafePointer(to: frame.pointee.linesize) { lineTuple in
                    dataTuple.withMemoryRebound(to: UnsafePointer<UInt8>?.self, capacity: 8) { data in
                        lineTuple.withMemoryRebound(to: Int32.self, capacity: 8) { lines in
                            sws_scale(context, data, lines, 0, raw.height, &destinations, &strides)
                        }
                    }
                }
            }
        }
        if scaled <= 0 {
            throw DecodingError(code: .corruptData, message: "FFmpeg could not convert a decoded frame",
                                path: path, cFunction: "sws_scale", cErrorCode: scaled)
        }
    }

    /// Whether a decoded frame's samples span 0–255 (RGB, grey, JPEG-range YUV) rather than video range.
    static func isFullRange(_ raw: AVFrame) -> Bool {
        let descriptor = av_pix_fmt_desc_get(AVPixelFormat(rawValue: raw.format))
        let isRGB = descriptor.map { ($0.pointee.flags & UInt64(AV_PIX_FMT_FLAG_RGB)) != 0 } ?? false
        let isGray = descriptor.map { $0.pointee.nb_components <= 2 } ?? false
        return isRGB || isGray || raw.color_range == AVCOL_RANGE_JPEG
            || [AV_PIX_FMT_YUVJ420P, AV_PIX_FMT_YUVJ422P, AV_PIX_FMT_YUVJ444P, AV_PIX_FMT_YUVJ440P]
                .map(\.rawValue).contains(raw.format)
    }

    /// A context converting `source` frames to the given size and format, reused while they stay the same.
    private func context(
        sourceWidth: Int32, sourceHeight: Int32, sourceFormat: Int32, sourceFullRange: Bool,
        width: Int32, height: Int32, destinationFormat: Int32, path: String
    ) throws(DecodingError) -> OpaquePointer {
        let wanted = Key(sourceWidth: sourceWidth, sourceHeight: sourceHeight, sourceFormat: sourceFormat, width: width,
                         height: height, sourceFullRange: sourceFullRange, destinationFormat: destinationFormat)
        if let pointer, key == wanted {
            return pointer
        }
        if let pointer { sws_freeContext(pointer) }
        pointer = nil
        guard let created = sws_getContext(
            sourceWidth, sourceHeight, AVPixelFormat(rawValue: sourceFormat),
            width, height, AVPixelFormat(rawValue: destinationFormat), SWS_AREA, nil, nil, nil)
        else {
            throw DecodingError(code: .unsupportedCodec, message: "FFmpeg cannot convert this pixel format",
                                path: path, cFunction: "sws_getContext")
        }
        // PDQ works on full-range luma (0.299 R + 0.587 G + 0.114 B); expand limited-range video to match.
        let coefficients = sws_getCoefficients(SWS_CS_DEFAULT)
        _ = sws_setColorspaceDetails(created, coefficients, sourceFullRange ? 1 : 0, coefficients, 1, 0, 1 << 16, 1 << 16)
        pointer = created
        key = wanted
        return created
    }

    deinit {
        if let pointer { sws_freeContext(pointer) }
    }
}
