/// Why a fingerprint could not be read.
public struct FingerprintError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Hashable, Sendable {
        case badMagic, unsupportedVersion, truncated, checksumMismatch, invalidValue, trailingBytes
    }

    public var code: Code
    public var message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
