internal import CFFmpeg
import Foundation
import Synchronization

/// Keeps a live source's video as it arrives, in segment files of about ten seconds (MPEG-TS; Matroska for a
/// codec MPEG-TS cannot carry), so that the stretch around a match can be kept as evidence. Packets are copied
/// as they were read, never re-encoded; each segment starts on a keyframe, so each plays on its own.
///
/// Segments nobody asked to keep are deleted once they are older than ``retention`` seconds: the recorder
/// only ever deletes files it wrote itself.
public final class StreamRecorder {
    /// One file written: its path and the stretch of stream it holds (decoder seconds).
    public struct Segment: Hashable, Sendable {
        public let path: String
        public let start: Double
        public internal(set) var end: Double
        /// Asked to be kept (it overlaps a match).
        public internal(set) var kept: Bool
        /// Still being written.
        public internal(set) var open: Bool
    }

    public let directory: String
    /// Names start with this (the source, made safe for a file name) and the wall-clock time.
    public let prefix: String
    /// A new segment starts at the first keyframe this many seconds after the current one began.
    public var segmentSeconds = 10.0
    /// Segments not kept are deleted when they ended this long before the newest packet.
    public var retention = 40.0
    public private(set) var segments: [Segment] = []
    /// Why recording stopped, if it did (a full disk, a codec no container takes): the stream goes on.
    public private(set) var failure: String?

    private let input: UnsafeMutablePointer<AVStream>
    private var output: OutputFile?
    private let packet: UnsafeMutablePointer<AVPacket>

    init?(directory: String, prefix: String, stream: UnsafeMutablePointer<AVStream>) {
        guard let packet = av_packet_alloc() else { return nil }
        self.packet = packet
        self.directory = directory
        self.prefix = prefix
        input = stream
    }

    deinit {
        finish()
        var pointer: UnsafeMutablePointer<AVPacket>? = packet
        av_packet_free(&pointer)
    }

    /// Writes one packet of the recorded stream; `time` is its presentation time in decoder seconds.
    func write(_ source: UnsafeMutablePointer<AVPacket>, time: Double) {
        guard failure == nil else { return }
        let isKey = source.pointee.flags & AV_PKT_FLAG_KEY != 0
        if let current = segments.last, current.open {
            if isKey, time - current.start >= segmentSeconds { rotate(at: time) }
        } else {
            guard isKey else { return }  // a segment starts where it can be played from
            rotate(at: time)
        }
        guard let output, failure == nil else { return }
        guard av_packet_ref(packet, source) == 0 else { return }
        packet.pointee.stream_index = 0
        av_packet_rescale_ts(packet, input.pointee.time_base, output.stream.pointee.time_base)
        let status = av_interleaved_write_frame(output.context, packet)  // takes the reference
        av_packet_unref(packet)
        if status == cffmpeg_averror(EINVAL) {
            // Timestamps that went back (a sender restarted, a discontinuity): this segment ends here and the
            // next keyframe starts another, instead of recording nothing more.
            finish()
            return
        }
        if status < 0 {
            stop("writing \(segments.last?.path ?? directory) failed: \(FFmpegError.describe(status))")
            return
        }
        segments[segments.count - 1].end = max(segments[segments.count - 1].end, time)
        prune(now: time)
    }

    /// Keeps every segment that overlaps `start...end` (decoder seconds).
    public func keep(from start: Double, to end: Double) {
        for index in segments.indices where segments[index].start <= end && segments[index].end >= start {
            segments[index].kept = true
        }
    }

    /// The kept files overlapping `start...end`.
    public func files(from start: Double, to end: Double) -> [String] {
        segments.filter { $0.kept && $0.start <= end && $0.end >= start }.map(\.path)
    }

    /// Closes the segment being written.
    public func finish() {
        if let output {
            if let problem = output.close(), failure == nil { failure = problem }
            self.output = nil
        }
        if let last = segments.indices.last { segments[last].open = false }
    }

    /// Ends recording and deletes every segment nobody asked to keep: what remains is evidence.
    public func discardUnkept() {
        finish()
        for segment in segments where !segment.kept { unlink(segment.path) }
        segments.removeAll { !$0.kept }
    }

    /// Deletes the closed segments nobody kept that ended `retention` seconds before `now`, and forgets them.
    func prune(now: Double) {
        let old = segments.filter { !$0.open && !$0.kept && $0.end < now - retention }
        for segment in old { unlink(segment.path) }
        segments.removeAll { !$0.open && !$0.kept && $0.end < now - retention }
    }

    private func rotate(at time: Double) {
        finish()
        let stamp = Self.stampFormatter.string(from: Date())
        // The process and a number no other recorder of this process uses: two sources whose names look
        // alike, or a reconnection within the second, never share a file.
        let unique = "\(getpid())-\(Self.nextNumber.add(1, ordering: .relaxed).newValue)"
        for (format, suffix) in [("mpegts", "ts"), ("matroska", "mkv")] {
            let path = "\(directory)/\(prefix)-\(stamp)-\(unique).\(suffix)"
            // Created here, exclusively: a file already at that path is someone else's and is never touched.
            let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else {
                stop("cannot create \(path): \(String(cString: strerror(errno)))")
                return
            }
            close(descriptor)
            do {
                output = try OutputFile(path: path, format: format, copying: input)
                segments.append(Segment(path: path, start: time, end: time, kept: false, open: true))
                return
            } catch {
                unlink(path)
                if format == "matroska" { stop(error.message) }
            }
        }
    }

    private func stop(_ reason: String) {
        failure = reason
        finish()
    }

    private static let nextNumber = Atomic<Int>(0)

    private static let stampFormatter: DateFormatter = {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return formatter
    }()

    /// A muxer writing one file, with the one stream copied from the source; it owns the C objects.
    final class OutputFile {
        let context: UnsafeMutablePointer<AVFormatContext>
        let stream: UnsafeMutablePointer<AVStream>
        let path: String
        private var closed = false

        init(path: String, format: String, copying input: UnsafeMutablePointer<AVStream>) throws(DecodingError) {
            self.path = path
            var allocated: UnsafeMutablePointer<AVFormatContext>? = nil
            let made = avformat_alloc_output_context2(&allocated, nil, format, path)
            guard made >= 0, let allocated else {
                throw DecodingError(code: .resourceExhausted, message: "cannot make a \(format) muxer", path: path,
                                    cFunction: "avformat_alloc_output_context2", cErrorCode: made)
            }
            guard let stream = avformat_new_stream(allocated, nil) else {
                avformat_free_context(allocated)
                throw DecodingError(code: .resourceExhausted, message: "cannot add a stream to the recording", path: path,
                                    cFunction: "avformat_new_stream")
            }
            var status = avcodec_parameters_copy(stream.pointee.codecpar, input.pointee.codecpar)
            stream.pointee.codecpar.pointee.codec_tag = 0
            stream.pointee.time_base = input.pointee.time_base
            if status >= 0 { status = avio_open(&allocated.pointee.pb, path, AVIO_FLAG_WRITE) }
            if status >= 0 {
                status = avformat_write_header(allocated, nil)
                if status < 0 { avio_closep(&allocated.pointee.pb); unlink(path) }
            }
            guard status >= 0 else {
                avformat_free_context(allocated)
                throw DecodingError(code: .unsupportedCodec, message: "cannot record the stream as \(format): \(FFmpegError.describe(status))",
                                    path: path, cFunction: "avformat_write_header", cErrorCode: status)
            }
            context = allocated
            self.stream = stream
        }

        /// Finishes the file; a sentence when it could not be written whole (a full disk).
        @discardableResult
        func close() -> String? {
            guard !closed else { return nil }
            closed = true
            let trailer = av_write_trailer(context)
            let closing = avio_closep(&context.pointee.pb)
            let status = trailer < 0 ? trailer : closing
            return status < 0 ? "finishing \(path) failed: \(FFmpegError.describe(status))" : nil
        }

        deinit {
            close()
            avformat_free_context(context)
        }
    }
}
