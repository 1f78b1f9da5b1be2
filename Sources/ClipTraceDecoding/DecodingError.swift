/// An error from opening or decoding a video, shaped after swift-nio's `FileSystemError`:
/// a stable ``Code`` to branch on, a human message, the file, and the failing C call with its FFmpeg error code.
public struct DecodingError: Error, Hashable, Sendable {
    /// What went wrong, as a value callers can switch over.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case notFound, isDirectory, permissionDenied, emptyFile, unrecognizedFormat, noVideoStream
            case unsupportedCodec, corruptData, noDecodableFrames, limitExceeded, resourceExhausted, invalidArgument, timedOut, notARegularFile
            case unreachable, cancelled
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The path does not exist.
        public static let notFound = Code(.notFound)
        /// The path is a directory, not a file.
        public static let isDirectory = Code(.isDirectory)
        /// The file cannot be read by this user.
        public static let permissionDenied = Code(.permissionDenied)
        /// The file has no bytes.
        public static let emptyFile = Code(.emptyFile)
        /// FFmpeg does not recognise the container (text, random bytes, truncated header).
        public static let unrecognizedFormat = Code(.unrecognizedFormat)
        /// The container holds no video stream (an audio-only file, a subtitle file).
        public static let noVideoStream = Code(.noVideoStream)
        /// The video codec has no decoder in this FFmpeg build.
        public static let unsupportedCodec = Code(.unsupportedCodec)
        /// The data is corrupt beyond recovery.
        public static let corruptData = Code(.corruptData)
        /// The stream was read to the end and not one frame decoded.
        public static let noDecodableFrames = Code(.noDecodableFrames)
        /// A declared dimension, stream count or duration is beyond ClipTrace's limits.
        public static let limitExceeded = Code(.limitExceeded)
        /// FFmpeg could not allocate memory or another resource.
        public static let resourceExhausted = Code(.resourceExhausted)
        /// A caller passed an option that makes no sense (a negative rate, say).
        public static let invalidArgument = Code(.invalidArgument)
        /// The file took longer than its time budget (a stalled read, a pathological stream).
        public static let timedOut = Code(.timedOut)
        /// A pipe, socket or device: reading it could block forever.
        public static let notARegularFile = Code(.notARegularFile)
        /// A live source could not be reached (connection refused, no such host, a closed listener).
        public static let unreachable = Code(.unreachable)
        /// Reading was stopped on request (``DecodingCancellation``).
        public static let cancelled = Code(.cancelled)

        public var description: String { base.rawValue }
    }

    public var code: Code
    /// One sentence a person can read.
    public var message: String
    /// The file being decoded.
    public var path: String
    /// The FFmpeg function that failed, if one did.
    public var cFunction: String?
    /// The FFmpeg error code it returned (a negative `AVERROR`), if any.
    public var cErrorCode: Int32?

    public init(code: Code, message: String, path: String, cFunction: String? = nil, cErrorCode: Int32? = nil) {
        self.code = code
        self.message = message
        self.path = path
        self.cFunction = cFunction
        self.cErrorCode = cErrorCode
    }
}

extension DecodingError: CustomStringConvertible {
    public var description: String {
        var text = "\(message) (\(path))"
        if let cFunction {
            text += " [\(cFunction)"
            if let cErrorCode { text += " returned \(cErrorCode): \(FFmpegError.describe(cErrorCode))" }
            text += "]"
        }
        return text
    }
}
