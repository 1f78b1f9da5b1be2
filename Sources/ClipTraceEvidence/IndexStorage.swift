import Synchronization

/// Why an index's bytes cannot be used: a block whose checksum does not match, a truncated file, a header
/// that does not add up. Whoever opened the storage rebuilds it; a damaged index never answers a query.
public struct IndexDamage: Error, Hashable, Sendable, CustomStringConvertible {
    /// The storage's name (a file path for a file on disk).
    public var storage: String
    public var message: String

    public init(storage: String, message: String) {
        self.storage = storage
        self.message = message
    }

    public var description: String { "\(message) (\(storage))" }
}

/// The bytes an index reads: memory it allocated itself, or a file mapped into memory whose blocks are
/// checked against their checksums the first time anything in them is read.
///
/// Checking on first read keeps opening cheap however large the file is (a query of a 1,000-hour catalogue
/// touches a small share of it) while no byte is used unchecked.
public final class IndexStorage: @unchecked Sendable {
    public let bytes: UnsafeRawBufferPointer
    public let name: String
    let verifier: BlockVerifier?
    private let release: @Sendable (UnsafeRawBufferPointer) -> Void

    /// `byteCount` bytes of zeroed memory, filled by `fill`, trusted without checksums.
    public init(allocating byteCount: Int, name: String, fill: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows {
        let memory = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, byteCount), alignment: 64)
        memory.initializeMemory(as: UInt8.self, repeating: 0)
        do {
            try fill(UnsafeMutableRawBufferPointer(rebasing: memory[0..<byteCount]))
        } catch {
            memory.deallocate()
            throw error
        }
        bytes = UnsafeRawBufferPointer(rebasing: memory[0..<byteCount])
        self.name = name
        verifier = nil
        // The rebased buffer starts where the allocation does.
        release = { bytes in UnsafeMutableRawPointer(mutating: bytes.baseAddress!).deallocate() }
    }

    /// Bytes someone else mapped; `release` unmaps them when the storage goes. With `checksums`, each block is
    /// verified before its first use.
    public init(mapped bytes: UnsafeRawBufferPointer, name: String, checksums: BlockChecksums?,
                release: @escaping @Sendable (UnsafeRawBufferPointer) -> Void) {
        self.bytes = bytes
        self.name = name
        verifier = checksums.map { BlockVerifier(checksums: $0, byteCount: bytes.count) }
        self.release = release
    }

    deinit { release(bytes) }

    /// Whether `range` is intact, checking the blocks it covers that were not checked before.
    @inline(__always)
    public func intact(_ range: Range<Int>) -> Bool {
        guard let verifier else { return true }
        return verifier.verify(range, in: bytes)
    }

    /// Checks `range` or reports which storage is damaged.
    public func requireIntact(_ range: Range<Int>, _ what: @autoclosure () -> String) throws(IndexDamage) {
        guard range.lowerBound >= 0, range.upperBound <= bytes.count else {
            throw IndexDamage(storage: name, message: "\(what()) lies outside the file (\(bytes.count) bytes)")
        }
        guard intact(range) else { throw damage(what()) }
    }

    func damage(_ what: String) -> IndexDamage {
        IndexDamage(storage: name, message: "\(what) failed its checksum: the index file is damaged")
    }

    /// A typed pointer to `count` values at `offset` (whose alignment the layout guarantees).
    @inline(__always)
    public func pointer<T>(_ type: T.Type, at offset: Int) -> UnsafePointer<T> {
        (bytes.baseAddress! + offset).assumingMemoryBound(to: T.self)
    }
}

/// The checksum of every block of a file, in a section of the file itself.
public struct BlockChecksums: @unchecked Sendable {
    public static let blockShift = 12
    public static let blockSize = 1 << blockShift
    /// One checksum per block; 0 for blocks that are not checked (the header and this section, which are
    /// verified as a whole when the file is opened).
    public let values: UnsafePointer<UInt64>
    public let count: Int

    public init(values: UnsafePointer<UInt64>, count: Int) {
        self.values = values
        self.count = count
    }
}

/// Verified blocks of one storage, shared by every thread reading it.
final class BlockVerifier: @unchecked Sendable {
    let checksums: BlockChecksums
    let byteCount: Int
    private let verified: UnsafeMutablePointer<Atomic<UInt64>>
    private let words: Int
    private let damaged = Atomic<Bool>(false)

    init(checksums: BlockChecksums, byteCount: Int) {
        self.checksums = checksums
        self.byteCount = byteCount
        words = (checksums.count + 63) / 64
        verified = .allocate(capacity: max(1, words))
        for index in 0..<max(1, words) { (verified + index).initialize(to: Atomic(0)) }
    }

    deinit {
        verified.deinitialize(count: max(1, words))
        verified.deallocate()
    }

    @inline(__always)
    func verify(_ range: Range<Int>, in bytes: UnsafeRawBufferPointer) -> Bool {
        guard !range.isEmpty else { return true }
        let first = range.lowerBound >> BlockChecksums.blockShift
        let last = (range.upperBound - 1) >> BlockChecksums.blockShift
        guard last < checksums.count else { return false }
        var block = first
        while block <= last {
            let word = verified[block >> 6].load(ordering: .acquiring)
            if word & (1 << UInt64(block & 63)) == 0, !check(block, bytes) { return false }
            block += 1
        }
        return true
    }

    private func check(_ block: Int, _ bytes: UnsafeRawBufferPointer) -> Bool {
        if damaged.load(ordering: .relaxed) { return false }
        let expected = checksums.values[block]
        let start = block << BlockChecksums.blockShift
        let end = min(byteCount, start + BlockChecksums.blockSize)
        // 0 marks a block checked as a whole when the file was opened.
        guard expected == 0 || IndexChecksum.block(UnsafeRawBufferPointer(rebasing: bytes[start..<end]), index: block) == expected
        else {
            damaged.store(true, ordering: .relaxed)
            return false
        }
        verified[block >> 6].bitwiseOr(1 << UInt64(block & 63), ordering: .releasing)
        return true
    }
}

/// A fast 64-bit checksum for index blocks: four independent multiply-rotate lanes over 8-byte words, so that
/// a block of 4 KiB costs about a microsecond. Every step is a bijection of the lane, so any change of one word
/// changes the result; the block's index is mixed in, so blocks swapped within a file do not pass.
public enum IndexChecksum {
    @inline(__always) static func rotate(_ value: UInt64, _ by: UInt64) -> UInt64 { (value << by) | (value >> (64 - by)) }
    static let prime1: UInt64 = 0x9E37_79B1_85EB_CA87
    static let prime2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    static let prime3: UInt64 = 0x1656_67B1_9E37_79F9

    /// The checksum of `bytes` as block `index`; never 0 (0 marks blocks that are not checked).
    public static func block(_ bytes: UnsafeRawBufferPointer, index: Int) -> UInt64 {
        var a = prime1 &+ UInt64(truncatingIfNeeded: index), b = prime2, c = prime3, d = UInt64(bytes.count)
        let wordCount = bytes.count / 8
        var position = 0
        // Unaligned loads: a block of a section may start anywhere in the caller's buffer.
        while position + 4 <= wordCount {
            let base = position * 8
            a = rotate((a ^ bytes.loadUnaligned(fromByteOffset: base, as: UInt64.self)) &* prime1, 31)
            b = rotate((b ^ bytes.loadUnaligned(fromByteOffset: base + 8, as: UInt64.self)) &* prime1, 31)
            c = rotate((c ^ bytes.loadUnaligned(fromByteOffset: base + 16, as: UInt64.self)) &* prime1, 31)
            d = rotate((d ^ bytes.loadUnaligned(fromByteOffset: base + 24, as: UInt64.self)) &* prime1, 31)
            position += 4
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        for offset in (position * 8)..<bytes.count {
            if shift == 64 {
                a = rotate((a ^ tail) &* prime1, 31)
                (tail, shift) = (0, 0)
            }
            tail |= UInt64(bytes[offset]) << shift
            shift += 8
        }
        a = rotate((a ^ tail) &* prime1, 31)
        var result = rotate(a, 1) &+ rotate(b, 7) &+ rotate(c, 12) &+ rotate(d, 18)
        result = (result ^ (result >> 33)) &* prime2
        result = (result ^ (result >> 29)) &* prime3
        result ^= result >> 32
        return result == 0 ? 1 : result
    }

    /// The checksum of a whole region (a header, the checksum table), as one block numbered `index`.
    public static func region(_ bytes: UnsafeRawBufferPointer, index: Int = -1) -> UInt64 { block(bytes, index: index) }
}
