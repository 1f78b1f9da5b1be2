internal import CFFmpeg

/// A small JPEG picture of one moment of a video, for reports.
public struct Thumbnail: Hashable, Sendable {
    /// The time asked for, seconds on the same timeline as ``SampledFrame/time``.
    public var requestedTime: Double
    /// The time of the frame shown.
    public var time: Double
    public var width: Int
    public var height: Int
    /// Baseline JPEG bytes (FFmpeg's MJPEG encoder).
    public var jpeg: [UInt8]
}

extension VideoDecoder {
    /// Pictures of `times` (seconds from the video's first frame, as in fingerprints and matches), at most
    /// `maxSide` pixels on their longer side, the display rotation applied. Times past the end show the last
    /// frame. Seeks where the container allows it, so a few pictures of a two-hour file cost a few decodes.
    public static func thumbnails(
        path: String, at times: [Double], maxSide: Int = 320, quality: Int = 5, timeLimit: Double? = 60
    ) throws(DecodingError) -> [Thumbnail] {
        // Every frame decoded fully: a thumbnail is looked at, not hashed.
        var options = DecodingOptions(samplesPerSecond: 1, maxAnalysisSide: 16)
        options.skipLoopFilter = false
        options.skipNonReferenceFrames = false
        options.timeLimit = timeLimit
        options.threads = 1
        let decoder = try VideoDecoder(path: path, options: options)
        let encoder = try JPEGEncoder(path: path, quality: quality)
        var pictures = [Thumbnail?](repeating: nil, count: times.count)
        // In time order so that a file that cannot seek is still read once, forwards.
        var still: HeldFrame? = nil
        for index in times.indices.sorted(by: { times[$0] < times[$1] }) {
            let time = times[index]
            let frame: HeldFrame
            if decoder.info.isStillImage {
                // One picture serves every time.
                if let still {
                    frame = still
                } else {
                    frame = try decoder.decodeFrame(at: 0)
                    still = frame
                }
            } else {
                frame = try decoder.decodeFrame(at: max(0, time))
            }
            pictures[index] = try encoder.encode(frame, requestedTime: time, maxSide: maxSide,
                                                 rotation: decoder.info.rotation, path: path)
        }
        return pictures.compactMap { $0 }
    }
}

/// A decoded frame held for conversion, with its time.
struct HeldFrame {
    let frame: Frame
    let time: Double
}

extension VideoDecoder {
    /// Decodes up to the frame shown at `time` and returns a reference to it.
    func decodeFrame(at time: Double) throws(DecodingError) -> HeldFrame {
        if originTime == nil {
            // The timeline starts at the first frame; learn where that is before seeking anywhere.
            guard let first = try receiveFrame() else {
                throw DecodingError(code: .noDecodableFrames, message: "the video stream holds no frames", path: path)
            }
            if info.isStillImage || first.time + frameDuration / 2 >= time { return first }
        }
        if !info.isStillImage, let origin = originTime, timeBase > 0,
           time > (lastFrameTime ?? 0) + 2 || time < (lastFrameTime ?? 0)
        {
            // Seek to the keyframe at or before the target; a container that cannot seek is read forwards.
            let target = Int64(((time + origin) / timeBase).rounded(.down))
            if av_seek_frame(format.pointer, streamIndex, target, AVSEEK_FLAG_BACKWARD) >= 0 {
                avcodec_flush_buffers(codec.pointer)
                sentFlush = false
                finished = false
                lastFrameTime = nil
            }
        }
        var best: HeldFrame? = nil
        while let next = try receiveFrame() {
            best = next
            if next.time + frameDuration / 2 >= time { break }
        }
        guard let best else {
            throw DecodingError(code: .noDecodableFrames, message: "no frame could be decoded near \(time) s", path: path)
        }
        return best
    }

    /// The next decoded frame (moved out of the decoder), or nil at the end of the stream.
    private func receiveFrame() throws(DecodingError) -> HeldFrame? {
        guard try receiveNextFrame() else { return nil }
        let time = frameTime()
        let held = try Frame(path: path)
        av_frame_move_ref(held.pointer, frame.pointer)
        return HeldFrame(frame: held, time: time)
    }
}

/// Owns an MJPEG encoder and the YUV frame it encodes from.
final class JPEGEncoder {
    private let codec: UnsafePointer<AVCodec>
    private let quality: Int
    private let scaler = ScaleContext()
    private let packet: Packet

    init(path: String, quality: Int) throws(DecodingError) {
        guard let codec = avcodec_find_encoder(AV_CODEC_ID_MJPEG) else {
            throw DecodingError(code: .unsupportedCodec, message: "this FFmpeg build has no JPEG encoder", path: path,
                                cFunction: "avcodec_find_encoder")
        }
        self.codec = codec
        self.quality = min(31, max(2, quality))
        packet = try Packet(path: path)
    }

    func encode(
        _ held: HeldFrame, requestedTime: Double, maxSide: Int, rotation: Int, path: String
    ) throws(DecodingError) -> Thumbnail {
        let raw = held.frame.pointer.pointee
        guard raw.width > 0, raw.height > 0 else {
            throw DecodingError(code: .corruptData, message: "a decoded frame has no size", path: path)
        }
        let displayWidth = VideoDecoder.displayWidth(raw)
        let scale = min(1, Double(maxSide) / max(displayWidth, Double(raw.height)))
        // 4:2:0 wants even sides.
        let width = max(2, Int((displayWidth * scale / 2).rounded()) * 2)
        let height = max(2, Int((Double(raw.height) * scale / 2).rounded()) * 2)

        // Scale into planes of our own, turn them, then hand them to the encoder.
        let lumaSize = width * height, chromaSize = width * height / 4
        var yuv = [UInt8](repeating: 128, count: lumaSize + 2 * chromaSize)
        try scaler.convert(held.frame.pointer, width: width, height: height, format: AV_PIX_FMT_YUVJ420P,
                           planes: [(0, width), (lumaSize, width / 2), (lumaSize + chromaSize, width / 2)],
                           into: &yuv, path: path)
        let planes = [LumaImage(width: width, height: height, pixels: Array(yuv[..<lumaSize])),
                      LumaImage(width: width / 2, height: height / 2, pixels: Array(yuv[lumaSize..<(lumaSize + chromaSize)])),
                      LumaImage(width: width / 2, height: height / 2, pixels: Array(yuv[(lumaSize + chromaSize)...]))]
            .map { VideoDecoder.rotate($0, clockwise: rotation) }
        let outWidth = planes[0].width, outHeight = planes[0].height

        let encoder = try CodecContext(codec: codec, path: path)
        encoder.pointer.pointee.width = Int32(outWidth)
        encoder.pointer.pointee.height = Int32(outHeight)
        encoder.pointer.pointee.pix_fmt = AV_PIX_FMT_YUVJ420P
        encoder.pointer.pointee.color_range = AVCOL_RANGE_JPEG
        encoder.pointer.pointee.time_base = AVRational(num: 1, den: 25)
        encoder.pointer.pointee.flags |= AV_CODEC_FLAG_QSCALE
        encoder.pointer.pointee.global_quality = Int32(quality) * FF_QP2LAMBDA
        var status = avcodec_open2(encoder.pointer, codec, nil)
        if status < 0 {
            throw DecodingError(code: .unsupportedCodec, message: "FFmpeg could not open the JPEG encoder", path: path,
                                cFunction: "avcodec_open2", cErrorCode: status)
        }
        let picture = try Frame(path: path)
        picture.pointer.pointee.width = Int32(outWidth)
        picture.pointer.pointee.height = Int32(outHeight)
        picture.pointer.pointee.format = AV_PIX_FMT_YUVJ420P.rawValue
        picture.pointer.pointee.quality = Int32(quality) * FF_QP2LAMBDA
        picture.pointer.pointee.pts = 0
        status = av_frame_get_buffer(picture.pointer, 0)
        if status < 0 {
            throw DecodingError(code: .resourceExhausted, message: "could not allocate a picture", path: path,
                                cFunction: "av_frame_get_buffer", cErrorCode: status)
        }
        withUnsafePointer(to: picture.pointer.pointee.data) { dataTuple in
            withUnsafePointer(to: picture.pointer.pointee.linesize) { lineTuple in
                dataTuple.withMemoryRebound(to: UnsafeMutablePointer<UInt8>?.self, capacity: 8) { data in
                    lineTuple.withMemoryRebound(to: Int32.self, capacity: 8) { lines in
                        for (index, plane) in planes.enumerated() {
                            guard let destination = data[index] else { continue }
                            let stride = Int(lines[index])
                            plane.pixels.withUnsafeBufferPointer { source in
                                for row in 0..<plane.height {
                                    (destination + row * stride).update(
                                        from: source.baseAddress! + row * plane.width, count: plane.width)
                                }
                            }
                        }
                    }
                }
            }
        }
        status = avcodec_send_frame(encoder.pointer, picture.pointer)
        if status >= 0 { status = avcodec_send_frame(encoder.pointer, nil) }
        if status < 0 {
            throw DecodingError(code: .corruptData, message: "FFmpeg could not encode a picture", path: path,
                                cFunction: "avcodec_send_frame", cErrorCode: status)
        }
        status = avcodec_receive_packet(encoder.pointer, packet.pointer)
        if status < 0 {
            throw DecodingError(code: .corruptData, message: "FFmpeg could not encode a picture", path: path,
                                cFunction: "avcodec_receive_packet", cErrorCode: status)
        }
        defer { av_packet_unref(packet.pointer) }
        let bytes = [UInt8](UnsafeBufferPointer(start: packet.pointer.pointee.data, count: Int(packet.pointer.pointee.size)))
        return Thumbnail(requestedTime: requestedTime, time: held.time, width: outWidth, height: outHeight, jpeg: bytes)
    }
}
