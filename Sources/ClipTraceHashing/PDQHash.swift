/// A 256-bit PDQ hash.
///
/// Bit `k` (0–255) is bit `k % 64` of `words[k / 64]`; this equals bit `k % 16` of the reference
/// implementation's 16-bit word `k / 16`, so the hex form matches Meta's `toHexString` exactly.
public struct PDQHash: Hashable, Sendable, Comparable {
    public var w0: UInt64
    public var w1: UInt64
    public var w2: UInt64
    public var w3: UInt64

    public static let bitCount = 256
    public static let zero = PDQHash(w0: 0, w1: 0, w2: 0, w3: 0)

    @inlinable
    public init(w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64) {
        self.w0 = w0
        self.w1 = w1
        self.w2 = w2
        self.w3 = w3
    }

    /// Sets bit `index` (0-255), in the layout described above.
    @inline(__always)
    mutating func setBit(_ index: Int) {
        let mask = UInt64(1) << UInt64(index & 63)
        switch index >> 6 {
        case 0: w0 |= mask
        case 1: w1 |= mask
        case 2: w2 |= mask
        default: w3 |= mask
        }
    }

    /// Builds a hash from 256 booleans, bit 0 first.
    public init<S: Sequence>(bits: S) where S.Element == Bool {
        var words: [UInt64] = [0, 0, 0, 0]
        for (index, bit) in bits.enumerated() where bit && index < 256 {
            words[index >> 6] |= 1 << UInt64(index & 63)
        }
        self.init(w0: words[0], w1: words[1], w2: words[2], w3: words[3])
    }

    /// Number of differing bits.
    @inlinable
    public func distance(to other: PDQHash) -> Int {
        (w0 ^ other.w0).nonzeroBitCount + (w1 ^ other.w1).nonzeroBitCount
            + (w2 ^ other.w2).nonzeroBitCount + (w3 ^ other.w3).nonzeroBitCount
    }

    /// Number of set bits.
    public var populationCount: Int {
        w0.nonzeroBitCount + w1.nonzeroBitCount + w2.nonzeroBitCount + w3.nonzeroBitCount
    }

    @inlinable
    public func bit(_ index: Int) -> Bool {
        let word: UInt64
        switch index >> 6 {
        case 0: word = w0
        case 1: word = w1
        case 2: word = w2
        default: word = w3
        }
        return (word >> UInt64(index & 63)) & 1 == 1
    }

    /// The reference implementation's 16-bit word `index` (0–15).
    @inlinable
    public func word16(_ index: Int) -> UInt16 {
        let word: UInt64
        switch index >> 2 {
        case 0: word = w0
        case 1: word = w1
        case 2: word = w2
        default: word = w3
        }
        return UInt16(truncatingIfNeeded: word >> UInt64((index & 3) * 16))
    }

    /// Meta's `toHexString`: 16-bit word 15 first, 64 lowercase hex digits.
    public var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var bytes = [UInt8](repeating: 0, count: 64)
        for position in 0..<16 {
            let word = word16(15 - position)
            for nibble in 0..<4 {
                bytes[position * 4 + nibble] = digits[Int((word >> UInt16(12 - nibble * 4)) & 0xF)]
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Parses Meta's hex layout (64 hex digits, word 15 first). Returns nil for anything else.
    public init?(hexString: some StringProtocol) {
        let utf8 = Array(hexString.utf8)
        guard utf8.count == 64 else { return nil }
        var words: [UInt64] = [0, 0, 0, 0]
        for position in 0..<16 {
            var value: UInt64 = 0
            for nibble in 0..<4 {
                let character = utf8[position * 4 + nibble]
                let digit: UInt64
                switch character {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt64(character - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt64(character - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt64(character - UInt8(ascii: "A") + 10)
                default: return nil
                }
                value = value << 4 | digit
            }
            let wordIndex = 15 - position
            words[wordIndex >> 2] |= value << UInt64((wordIndex & 3) * 16)
        }
        self.init(w0: words[0], w1: words[1], w2: words[2], w3: words[3])
    }

    public static func < (lhs: PDQHash, rhs: PDQHash) -> Bool {
        (lhs.w3, lhs.w2, lhs.w1, lhs.w0) < (rhs.w3, rhs.w2, rhs.w1, rhs.w0)
    }
}

extension PDQHash: CustomStringConvertible {
    public var description: String { hexString }
}

/// The eight symmetries of the square, as PDQ computes them from one DCT.
public enum Dihedral: Int, CaseIterable, Hashable, Sendable, Codable, CustomStringConvertible {
    case original = 0
    case rotate90 = 1       // clockwise
    case rotate180 = 2
    case rotate270 = 3      // clockwise (= 90 counter-clockwise)
    case mirror = 4         // left-right flip
    case flipVertical = 5   // top-bottom flip
    case transpose = 6      // flip about the main diagonal
    case antiTranspose = 7  // flip about the other diagonal

    public var description: String {
        switch self {
        case .original: "original"
        case .rotate90: "rotate90"
        case .rotate180: "rotate180"
        case .rotate270: "rotate270"
        case .mirror: "mirror"
        case .flipVertical: "flip-vertical"
        case .transpose: "transpose"
        case .antiTranspose: "anti-transpose"
        }
    }

    /// Whether the transform swaps width and height.
    public var swapsAxes: Bool { self == .rotate90 || self == .rotate270 || self == .transpose || self == .antiTranspose }
}
