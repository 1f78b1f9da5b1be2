import ClipTraceHashing

/// The hashes of some clips, laid out for the seeded search (``SeededHashSource``): one 40-byte record per
/// indexed hash, grouped by clip, and ten key tables over them. The same bytes serve in memory and mapped
/// from a file (``IndexStorage``): 90 bytes per indexed hash, plus 2.6 MB of bucket offsets.
///
/// Record: `{ 32 bytes hash, f32 time, u32 clip << 3 | part }` (the clip is its row in the segment's clip
/// table, the part a ``PicturePart``).
public final class HashSegment: Sendable {
    public let storage: IndexStorage
    public let clipCount: Int
    public let entryCount: Int
    let clips: ClipTable
    let records: Int
    let keys: KeyTables

    package static let tableCount = 10
    static let recordSize = 40
    enum Section {
        static let clips: UInt32 = 1
        static let records: UInt32 = 2
        static let keys: UInt32 = 16
    }

    /// What shaped a segment's content, so that a segment built under other settings is rebuilt, not misread.
    public static func parameters(minimumQuality: Int) -> UInt64 {
        UInt64(tableCount) << 48 | UInt64(KeyTables.keyBits) << 40 | UInt64(UInt8(clamping: minimumQuality)) << 32 | 1
    }

    public static func layout(clipCount: Int, entryCount: Int, minimumQuality: Int) -> SegmentLayout {
        var layout = SegmentLayout(kind: .hashes, parameters: parameters(minimumQuality: minimumQuality))
        layout.add(Section.clips, bytes: ClipTable.bytes(clipCount))
        layout.add(Section.records, bytes: entryCount * recordSize)
        KeyTables.addSections(to: &layout, base: Section.keys, tables: tableCount, rows: entryCount)
        layout.finish()
        return layout
    }

    /// Writes the segment of `clips`, whose entries are `entries` (grouped by clip in order; owners are
    /// positions in `clips`), into `image`, laid out by ``layout(clipCount:entryCount:minimumQuality:)``.
    public static func write(clips: [SegmentClip], entries: HashEntries, layout: SegmentLayout,
                             into image: UnsafeMutableRawBufferPointer, written: (Range<Int>) -> Void = { _ in }) {
        precondition(zip(entries.owners, entries.owners.dropFirst()).allSatisfy { $0 <= $1 }, "entries grouped by clip")
        precondition(clips.count < 1 << 29 && entries.parts.allSatisfy { $0 < 8 }, "clip rows and parts fit their bits")
        layout.writeHeader(into: image)
        ClipTable.write(clips, ranges: ClipTable.ranges(owners: entries.owners, clipCount: clips.count),
                        into: image, at: layout.sections[Section.clips]!.lowerBound)
        let base = layout.sections[Section.records]!.lowerBound
        for row in 0..<entries.count {
            let offset = base + row * recordSize
            Self.store(entries.hashes[row], into: image, at: offset)
            image.storeBytes(of: entries.times[row], toByteOffset: offset + 32, as: Float.self)
            image.storeBytes(of: UInt32(entries.owners[row]) << 3 | UInt32(entries.parts[row] & 7),
                             toByteOffset: offset + 36, as: UInt32.self)
        }
        written(layout.sections[Section.records]!)
        // Keys come from the arrays in memory, not the records just written: those pages were handed back
        // to the kernel, and reading them ten times would bring the whole section back.
        KeyTables.build(into: image, layout: layout, base: Section.keys, tables: tableCount, rows: entries.count,
                        written: written) { row in
            entries.hashes[row]
        }
    }

    /// A segment in memory, for catalogues searched without a persisted index.
    public convenience init(clips: [SegmentClip], entries: HashEntries, minimumQuality: Int) {
        let layout = Self.layout(clipCount: clips.count, entryCount: entries.count, minimumQuality: minimumQuality)
        let storage = IndexStorage(allocating: layout.byteCount, name: "hash index in memory") { image in
            Self.write(clips: clips, entries: entries, layout: layout, into: image)
        }
        try! self.init(storage: storage, minimumQuality: minimumQuality)  // built just above: cannot be damaged
    }

    /// Opens the segment in `storage`, checking its header, clip table and bucket offsets (the rest is checked
    /// block by block as it is read). A segment built under other settings is refused.
    public init(storage: IndexStorage, minimumQuality: Int) throws(IndexDamage) {
        let header = try SegmentHeader.read(storage.bytes, name: storage.name, checkingChecksums: false)
        guard header.kind == .hashes, header.parameters == Self.parameters(minimumQuality: minimumQuality) else {
            throw IndexDamage(storage: storage.name, message: "the hash index was built with other settings")
        }
        guard let clipSection = header.sections[Section.clips], clipSection.count % SegmentClip.rowSize == 0,
              let recordSection = header.sections[Section.records], recordSection.count % Self.recordSize == 0
        else { throw IndexDamage(storage: storage.name, message: "the hash index's sections are missing") }
        self.storage = storage
        clipCount = clipSection.count / SegmentClip.rowSize
        entryCount = recordSection.count / Self.recordSize
        records = recordSection.lowerBound
        clips = ClipTable(storage: storage, offset: clipSection.lowerBound, count: clipCount)
        try clips.validate(rowCount: entryCount)
        keys = try KeyTables(storage: storage, header: header, base: Section.keys, tables: Self.tableCount, rows: entryCount)
    }

    public func clip(_ index: Int) -> SegmentClip { clips.clip(index) }

    /// Writes a 256-bit code as four words, as ``hash(_:_:)`` reads it (corner descriptors too).
    @inline(__always)
    static func store(_ hash: PDQHash, into image: UnsafeMutableRawBufferPointer, at offset: Int) {
        image.storeBytes(of: hash.w0, toByteOffset: offset, as: UInt64.self)
        image.storeBytes(of: hash.w1, toByteOffset: offset + 8, as: UInt64.self)
        image.storeBytes(of: hash.w2, toByteOffset: offset + 16, as: UInt64.self)
        image.storeBytes(of: hash.w3, toByteOffset: offset + 24, as: UInt64.self)
    }

    @inline(__always)
    static func hash(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> PDQHash {
        PDQHash(w0: bytes.load(fromByteOffset: offset, as: UInt64.self),
                w1: bytes.load(fromByteOffset: offset + 8, as: UInt64.self),
                w2: bytes.load(fromByteOffset: offset + 16, as: UInt64.self),
                w3: bytes.load(fromByteOffset: offset + 24, as: UInt64.self))
    }

    /// One record, checked: its hash, owner (clip row) and part; nil when its bytes are damaged.
    @inline(__always)
    func record(_ row: Int) -> (hash: PDQHash, clip: Int, part: UInt8)? {
        let offset = records + row * Self.recordSize
        guard storage.intact(offset..<(offset + Self.recordSize)) else { return nil }
        let packed = storage.bytes.load(fromByteOffset: offset + 36, as: UInt32.self)
        return (Self.hash(storage.bytes, offset), Int(packed >> 3), UInt8(packed & 7))
    }

    /// Appends the entries of clip row `clip` to `entries` with owner `owner`.
    func appendEntries(of clip: Int, owner: Int32, to entries: inout HashEntries) throws(IndexDamage) {
        let rows = clips.rows(clip)
        try storage.requireIntact((records + rows.lowerBound * Self.recordSize)..<(records + rows.upperBound * Self.recordSize),
                                  "the hashes of a clip")
        for row in rows {
            let offset = records + row * Self.recordSize
            entries.hashes.append(Self.hash(storage.bytes, offset))
            entries.times.append(storage.bytes.load(fromByteOffset: offset + 32, as: Float.self))
            entries.parts.append(UInt8(storage.bytes.load(fromByteOffset: offset + 36, as: UInt32.self) & 7))
            entries.owners.append(owner)
        }
    }

    /// Entries of clip row `clip`.
    public func entryCount(of clip: Int) -> Int { clips.rows(clip).count }
}
