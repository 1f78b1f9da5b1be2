/// The byte layout shared by every index segment, in memory and on disk: a 4 KiB header naming the sections,
/// the sections (each 64-byte aligned), then one checksum per 4 KiB block of the file.
///
///     0     u64 magic "CTSEG\0\0\1"        16  u64 parameters (what shaped the content: options, version)
///     8     u32 format version, u32 kind    24  u64 total length
///     32    u32 section count, u32 0        40  u64 checksums offset, 48 u64 checksum count,
///     56    u64 checksum of the checksums   64  sections: count × { u32 id, u32 0, u64 offset, u64 length }
///     4088  u64 checksum of bytes 0 ..< 4088
///
/// Little-endian (the machines Swift runs on); the magic number fails on anything else.
public struct SegmentLayout: Sendable {
    public enum Kind: UInt32, Sendable {
        case hashes = 1
        case corners = 2
    }

    public static let magic: UInt64 = 0x0100_0047_4553_5443  // "CTSEG\0\0\u{1}"
    public static let formatVersion: UInt32 = 1
    public static let headerSize = 4_096
    static let maximumSections = 64
    static let sectionTableOffset = 64
    static let headerChecksumOffset = 4_088

    public let kind: Kind
    public let parameters: UInt64
    public private(set) var sections: [UInt32: Range<Int>] = [:]
    /// Where the checksum table starts (block aligned) and how many blocks it covers.
    public private(set) var checksumsOffset = 0
    public private(set) var byteCount = headerSize

    public init(kind: Kind, parameters: UInt64) {
        self.kind = kind
        self.parameters = parameters
    }

    public mutating func add(_ id: UInt32, bytes: Int) {
        precondition(sections[id] == nil && sections.count < Self.maximumSections - 1, "one section per id")
        let start = (byteCount + 63) & ~63
        sections[id] = start..<(start + bytes)
        byteCount = start + bytes
    }

    /// Closes the layout with the checksum table.
    public mutating func finish() {
        checksumsOffset = (byteCount + BlockChecksums.blockSize - 1) & ~(BlockChecksums.blockSize - 1)
        let blocks = (checksumsOffset + BlockChecksums.blockSize - 1) / BlockChecksums.blockSize
        byteCount = checksumsOffset + blocks * 8
    }

    var checksumCount: Int { (checksumsOffset + BlockChecksums.blockSize - 1) / BlockChecksums.blockSize }

    /// Writes the header (without checksums: see ``seal(_:)``).
    func writeHeader(into image: UnsafeMutableRawBufferPointer) {
        precondition(image.count == byteCount && checksumsOffset > 0, "a finished layout's own image")
        image.storeBytes(of: Self.magic, toByteOffset: 0, as: UInt64.self)
        image.storeBytes(of: Self.formatVersion, toByteOffset: 8, as: UInt32.self)
        image.storeBytes(of: kind.rawValue, toByteOffset: 12, as: UInt32.self)
        image.storeBytes(of: parameters, toByteOffset: 16, as: UInt64.self)
        image.storeBytes(of: UInt64(byteCount), toByteOffset: 24, as: UInt64.self)
        image.storeBytes(of: UInt32(sections.count), toByteOffset: 32, as: UInt32.self)
        image.storeBytes(of: UInt64(checksumsOffset), toByteOffset: 40, as: UInt64.self)
        image.storeBytes(of: UInt64(checksumCount), toByteOffset: 48, as: UInt64.self)
        for (slot, (id, range)) in sections.sorted(by: { $0.key < $1.key }).enumerated() {
            let entry = Self.sectionTableOffset + slot * 24
            image.storeBytes(of: id, toByteOffset: entry, as: UInt32.self)
            image.storeBytes(of: UInt64(range.lowerBound), toByteOffset: entry + 8, as: UInt64.self)
            image.storeBytes(of: UInt64(range.count), toByteOffset: entry + 16, as: UInt64.self)
        }
    }

    /// Computes every block's checksum and the header's, for an image about to be written to disk. The blocks
    /// of the header and of the checksum table are covered by checksums of their own, checked at open.
    public static func seal(_ image: UnsafeMutableRawBufferPointer) {
        let checksumsOffset = Int(image.load(fromByteOffset: 40, as: UInt64.self))
        let count = Int(image.load(fromByteOffset: 48, as: UInt64.self))
        let readable = UnsafeRawBufferPointer(image)
        for block in 0..<count {
            let start = block * BlockChecksums.blockSize
            let value = block == 0 ? 0 : IndexChecksum.block(
                UnsafeRawBufferPointer(rebasing: readable[start..<min(checksumsOffset, start + BlockChecksums.blockSize)]),
                index: block)
            image.storeBytes(of: value, toByteOffset: checksumsOffset + block * 8, as: UInt64.self)
        }
        let table = UnsafeRawBufferPointer(rebasing: readable[checksumsOffset..<(checksumsOffset + count * 8)])
        image.storeBytes(of: IndexChecksum.region(table), toByteOffset: 56, as: UInt64.self)
        let header = UnsafeRawBufferPointer(rebasing: readable[0..<headerChecksumOffset])
        image.storeBytes(of: IndexChecksum.region(header), toByteOffset: headerChecksumOffset, as: UInt64.self)
    }
}

/// A segment image's header, read back and checked.
public struct SegmentHeader: Sendable {
    public let kind: SegmentLayout.Kind
    public let parameters: UInt64
    public let sections: [UInt32: Range<Int>]
    public let checksumsOffset: Int
    public let checksumCount: Int

    /// Reads and checks the header of `bytes` (a whole image): magic, version, length, header checksum and,
    /// when `checkingChecksums`, the checksum table's own checksum.
    public static func read(_ bytes: UnsafeRawBufferPointer, name: String, checkingChecksums: Bool) throws(IndexDamage) -> SegmentHeader {
        func damaged(_ message: String) -> IndexDamage { IndexDamage(storage: name, message: message) }
        guard bytes.count >= SegmentLayout.headerSize else {
            throw damaged("the index file is \(bytes.count) bytes, shorter than its header: it was truncated")
        }
        guard bytes.load(fromByteOffset: 0, as: UInt64.self) == SegmentLayout.magic else {
            throw damaged("not a ClipTrace index segment")
        }
        let stored = bytes.load(fromByteOffset: SegmentLayout.headerChecksumOffset, as: UInt64.self)
        if checkingChecksums,
           IndexChecksum.region(UnsafeRawBufferPointer(rebasing: bytes[0..<SegmentLayout.headerChecksumOffset])) != stored {
            throw damaged("the index header does not match its checksum: the file is damaged")
        }
        let version = bytes.load(fromByteOffset: 8, as: UInt32.self)
        guard version == SegmentLayout.formatVersion else {
            throw damaged("index segment format \(version), this ClipTrace reads \(SegmentLayout.formatVersion)")
        }
        guard let kind = SegmentLayout.Kind(rawValue: bytes.load(fromByteOffset: 12, as: UInt32.self)) else {
            throw damaged("unknown kind of index segment")
        }
        let total = bytes.load(fromByteOffset: 24, as: UInt64.self)
        guard total == UInt64(bytes.count) else {
            throw damaged("the index file is \(bytes.count) bytes, its header says \(total): it was truncated or extended")
        }
        let sectionCount = Int(bytes.load(fromByteOffset: 32, as: UInt32.self))
        let checksumsOffset = Int(bytes.load(fromByteOffset: 40, as: UInt64.self))
        let checksumCount = Int(bytes.load(fromByteOffset: 48, as: UInt64.self))
        guard sectionCount < SegmentLayout.maximumSections, checksumsOffset >= SegmentLayout.headerSize,
              checksumsOffset % BlockChecksums.blockSize == 0,
              checksumCount == (checksumsOffset + BlockChecksums.blockSize - 1) / BlockChecksums.blockSize,
              checksumsOffset + checksumCount * 8 == bytes.count
        else { throw damaged("the index header's layout does not add up") }
        var sections: [UInt32: Range<Int>] = [:]
        for slot in 0..<sectionCount {
            let entry = SegmentLayout.sectionTableOffset + slot * 24
            let id = bytes.load(fromByteOffset: entry, as: UInt32.self)
            let offset = bytes.load(fromByteOffset: entry + 8, as: UInt64.self)
            let length = bytes.load(fromByteOffset: entry + 16, as: UInt64.self)
            guard offset >= UInt64(SegmentLayout.headerSize), offset % 64 == 0, length <= UInt64(checksumsOffset),
                  offset + length <= UInt64(checksumsOffset)
            else { throw damaged("an index section lies outside the file") }
            sections[id] = Int(offset)..<Int(offset + length)
        }
        if checkingChecksums {
            let table = UnsafeRawBufferPointer(rebasing: bytes[checksumsOffset..<(checksumsOffset + checksumCount * 8)])
            guard IndexChecksum.region(table) == bytes.load(fromByteOffset: 56, as: UInt64.self) else {
                throw damaged("the index's checksum table does not match its checksum: the file is damaged")
            }
        }
        return SegmentHeader(kind: kind, parameters: bytes.load(fromByteOffset: 16, as: UInt64.self), sections: sections,
                             checksumsOffset: checksumsOffset, checksumCount: checksumCount)
    }

    /// The checksum table of a checked header's image.
    public func checksums(in bytes: UnsafeRawBufferPointer) -> BlockChecksums {
        BlockChecksums(values: (bytes.baseAddress! + checksumsOffset).assumingMemoryBound(to: UInt64.self),
                       count: checksumCount)
    }

    func section(_ id: UInt32, name: String, bytes expected: Int) throws(IndexDamage) -> Range<Int> {
        guard let range = sections[id], range.count == expected else {
            throw IndexDamage(storage: name, message: "index section \(id) is missing or has the wrong size")
        }
        return range
    }
}

/// A registered clip as a segment records it: the catalogue's id, the first 16 bytes of the file's SHA-256
/// (so that an id reused for another file is not mistaken for the old one), and its range of rows.
public struct SegmentClip: Hashable, Sendable {
    public var id: Int64
    public var identity: SegmentClip.Identity
    public struct Identity: Hashable, Sendable {
        public var high: UInt64
        public var low: UInt64
        public init(high: UInt64, low: UInt64) {
            self.high = high
            self.low = low
        }

        /// From a SHA-256 in hex (its first 32 digits); zero when it is not hex.
        public init(sha256 hex: String) {
            let digits = Array(hex.utf8.prefix(32))
            func value(_ slice: ArraySlice<UInt8>) -> UInt64 {
                var result: UInt64 = 0
                for digit in slice {
                    let nibble: UInt8
                    switch digit {
                    case 48...57: nibble = digit - 48
                    case 97...102: nibble = digit - 87
                    case 65...70: nibble = digit - 55
                    default: return 0
                    }
                    result = result << 4 | UInt64(nibble)
                }
                return result
            }
            high = digits.count == 32 ? value(digits[0..<16]) : 0
            low = digits.count == 32 ? value(digits[16..<32]) : 0
        }
    }

    public init(id: Int64, identity: Identity) {
        self.id = id
        self.identity = identity
    }

    static let rowSize = 40
}

/// Clip rows: `{ i64 id, u64 identity high, u64 identity low, u64 first row, u64 end row }`.
struct ClipTable {
    let storage: IndexStorage
    let offset: Int
    let count: Int

    static func bytes(_ count: Int) -> Int { count * SegmentClip.rowSize }

    /// Each clip's rows, from the owner (position in the clip list) of each row; rows come grouped by clip.
    static func ranges(owners: [Int32], clipCount: Int) -> [Range<Int>] {
        var ranges = [Range<Int>](repeating: 0..<0, count: clipCount)
        var row = 0
        for clip in 0..<clipCount {
            let start = row
            while row < owners.count, Int(owners[row]) == clip { row += 1 }
            ranges[clip] = start..<row
        }
        precondition(row == owners.count, "rows grouped by clip, owners are positions in the clip list")
        return ranges
    }

    static func write(_ clips: [SegmentClip], ranges: [Range<Int>], into image: UnsafeMutableRawBufferPointer, at offset: Int) {
        for (index, clip) in clips.enumerated() {
            let row = offset + index * SegmentClip.rowSize
            image.storeBytes(of: clip.id, toByteOffset: row, as: Int64.self)
            image.storeBytes(of: clip.identity.high, toByteOffset: row + 8, as: UInt64.self)
            image.storeBytes(of: clip.identity.low, toByteOffset: row + 16, as: UInt64.self)
            image.storeBytes(of: UInt64(ranges[index].lowerBound), toByteOffset: row + 24, as: UInt64.self)
            image.storeBytes(of: UInt64(ranges[index].upperBound), toByteOffset: row + 32, as: UInt64.self)
        }
    }

    func clip(_ index: Int) -> SegmentClip {
        let row = offset + index * SegmentClip.rowSize
        return SegmentClip(id: storage.bytes.load(fromByteOffset: row, as: Int64.self),
                           identity: .init(high: storage.bytes.load(fromByteOffset: row + 8, as: UInt64.self),
                                           low: storage.bytes.load(fromByteOffset: row + 16, as: UInt64.self)))
    }

    func rows(_ index: Int) -> Range<Int> {
        let row = offset + index * SegmentClip.rowSize
        return Int(storage.bytes.load(fromByteOffset: row + 24, as: UInt64.self))
            ..< Int(storage.bytes.load(fromByteOffset: row + 32, as: UInt64.self))
    }

    /// Checks the table and that every clip's rows lie within `rowCount`, in order.
    func validate(rowCount: Int) throws(IndexDamage) {
        try storage.requireIntact(offset..<(offset + Self.bytes(count)), "the clip table")
        var previous = 0
        for index in 0..<count {
            let rows = storage.bytes.load(fromByteOffset: offset + index * SegmentClip.rowSize + 24, as: UInt64.self)
            let end = storage.bytes.load(fromByteOffset: offset + index * SegmentClip.rowSize + 32, as: UInt64.self)
            guard rows == UInt64(previous), end >= rows, end <= UInt64(rowCount) else {
                throw IndexDamage(storage: storage.name, message: "the clip table's rows do not add up")
            }
            previous = Int(end)
        }
        guard previous == rowCount else {
            throw IndexDamage(storage: storage.name, message: "the clip table's rows do not add up")
        }
    }
}
