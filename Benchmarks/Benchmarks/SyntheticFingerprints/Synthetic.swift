import ClipTraceHashing

/// Deterministic synthetic hashes for the benchmarks (SplitMix64), so runs compare across machines.
public struct SyntheticGenerator {
    var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public mutating func hash() -> PDQHash { PDQHash(w0: next(), w1: next(), w2: next(), w3: next()) }

    /// `hash` with `bits` random bits flipped (a re-encode, or the drift from one frame to the next).
    public mutating func flip(_ hash: PDQHash, bits: Int) -> PDQHash {
        var words = [hash.w0, hash.w1, hash.w2, hash.w3]
        for _ in 0..<bits {
            let bit = Int(next() % 256)
            words[bit / 64] ^= 1 << UInt64(bit % 64)
        }
        return PDQHash(w0: words[0], w1: words[1], w2: words[2], w3: words[3])
    }

    /// Hashes of one clip shaped like `cliptrace register` output of real video: consecutive frames drift
    /// 6 bits apart and a cut starts a new scene every 20 frames (5 s at 4 per second).
    public static func clipHashes(seed: UInt64, count: Int) -> [PDQHash] {
        var generator = SyntheticGenerator(seed: seed)
        var current = generator.hash()
        return (0..<count).map { index in
            current = index % 20 == 0 ? generator.hash() : generator.flip(current, bits: 6)
            return current
        }
    }
}
