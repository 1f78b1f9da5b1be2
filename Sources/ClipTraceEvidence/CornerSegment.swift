import ClipTraceFingerprint
import ClipTraceHashing

/// The corners of some clips as flat arrays: frames grouped by clip in order, each frame's corners contiguous.
public struct CornerEntries: Sendable {
    /// Per frame: its clip (a position in the clip list), its time, and its corners' range.
    public var frameOwners: [Int32] = []
    public var frameTimes: [Float] = []
    public var frameStarts: [Int] = [0]
    /// Per corner: its descriptor and position (fractions of the picture × 65,536).
    public var descriptors: [PDQHash] = []
    public var xs: [UInt16] = []
    public var ys: [UInt16] = []

    public init() {}

    public var frameCount: Int { frameOwners.count }

    /// Appends `other`'s frames and corners, its owners moved up by `ownerOffset` (clips listed after this one's).
    public mutating func append(contentsOf other: CornerEntries, ownerOffset: Int32) {
        let base = descriptors.count
        frameOwners += other.frameOwners.map { $0 + ownerOffset }
        frameTimes += other.frameTimes
        frameStarts += other.frameStarts.dropFirst().map { $0 + base }
        descriptors += other.descriptors
        xs += other.xs
        ys += other.ys
    }

    /// Room for about `frames` frames and `corners` corners, so that building a large index does not hold
    /// each array twice while it grows.
    public mutating func reserveCapacity(frames: Int, corners: Int) {
        frameOwners.reserveCapacity(frames)
        frameTimes.reserveCapacity(frames)
        frameStarts.reserveCapacity(frames + 1)
        descriptors.reserveCapacity(corners)
        xs.reserveCapacity(corners)
        ys.reserveCapacity(corners)
    }
    public var cornerCount: Int { descriptors.count }

    public init(clips: [ReferenceFingerprint]) {
        for (index, fingerprint) in clips.enumerated() { append(fingerprint, owner: Int32(index)) }
    }

    /// Appends the corner frames of `fingerprint` (BRIEF corners only) as clip `owner`.
    public mutating func append(_ fingerprint: ReferenceFingerprint, owner: Int32) {
        guard fingerprint.cornerAlgorithm == .brief else { return }
        for frame in fingerprint.cornerFrames where !frame.corners.isEmpty {
            frameOwners.append(owner)
            frameTimes.append(Float(frame.time))
            for corner in frame.corners {
                descriptors.append(corner.descriptor)
                xs.append(Self.fraction(corner.x))
                ys.append(Self.fraction(corner.y))
            }
            frameStarts.append(descriptors.count)
        }
    }

    public mutating func appendFrame(owner: Int32, time: Float, corners: [(descriptor: PDQHash, x: UInt16, y: UInt16)]) {
        frameOwners.append(owner)
        frameTimes.append(time)
        for corner in corners {
            descriptors.append(corner.descriptor)
            xs.append(corner.x)
            ys.append(corner.y)
        }
        frameStarts.append(descriptors.count)
    }

    static func median(_ gaps: [Float]) -> Double? {
        let positive = gaps.filter { $0 > 1e-4 }.sorted()
        return positive.isEmpty ? nil : Double(positive[(positive.count - 1) / 2])
    }

    @inline(__always) static func fraction(_ value: Float) -> UInt16 {
        UInt16(clamping: Int((value * 65_536).rounded()))
    }
}

/// The corners of some clips, laid out for the seeded corner search (``SeededCornerSource``): frame rows,
/// one 40-byte record per corner and six key tables over the descriptors (70 bytes per corner).
///
/// Frame row: `{ f32 time, u32 clip row, u32 first corner, u32 end corner }`.
/// Corner record: `{ 32 bytes descriptor, u16 x, u16 y, u32 frame row }`.
public final class CornerSegment: Sendable {
    public let storage: IndexStorage
    public let clipCount: Int
    public let frameCount: Int
    public let cornerCount: Int
    let clips: ClipTable
    let frames: Int
    let records: Int
    let keys: KeyTables

    /// Six keys of 24 bits: a seed needs one whole key, and a copy shows dozens of corners per moment.
    static let tableCount = 6
    static let frameRowSize = 16
    static let recordSize = 40
    enum Section {
        static let clips: UInt32 = 1
        static let frames: UInt32 = 2
        static let records: UInt32 = 3
        static let keys: UInt32 = 16
    }

    public static let parameters = UInt64(tableCount) << 48 | UInt64(KeyTables.keyBits) << 40 | 1

    public static func layout(clipCount: Int, frameCount: Int, cornerCount: Int) -> SegmentLayout {
        var layout = SegmentLayout(kind: .corners, parameters: parameters)
        layout.add(Section.clips, bytes: ClipTable.bytes(clipCount))
        layout.add(Section.frames, bytes: frameCount * frameRowSize)
        layout.add(Section.records, bytes: cornerCount * recordSize)
        KeyTables.addSections(to: &layout, base: Section.keys, tables: tableCount, rows: cornerCount)
        layout.finish()
        return layout
    }

    public static func write(clips: [SegmentClip], entries: CornerEntries, layout: SegmentLayout,
                             into image: UnsafeMutableRawBufferPointer, written: (Range<Int>) -> Void = { _ in }) {
        precondition(entries.cornerCount < Int(UInt32.max) && clips.count < Int(UInt32.max), "32-bit rows")
        layout.writeHeader(into: image)
        ClipTable.write(clips, ranges: ClipTable.ranges(owners: entries.frameOwners, clipCount: clips.count),
                        into: image, at: layout.sections[Section.clips]!.lowerBound)
        let frameBase = layout.sections[Section.frames]!.lowerBound
        let recordBase = layout.sections[Section.records]!.lowerBound
        for frame in 0..<entries.frameCount {
            let offset = frameBase + frame * frameRowSize
            image.storeBytes(of: entries.frameTimes[frame], toByteOffset: offset, as: Float.self)
            image.storeBytes(of: UInt32(entries.frameOwners[frame]), toByteOffset: offset + 4, as: UInt32.self)
            image.storeBytes(of: UInt32(entries.frameStarts[frame]), toByteOffset: offset + 8, as: UInt32.self)
            image.storeBytes(of: UInt32(entries.frameStarts[frame + 1]), toByteOffset: offset + 12, as: UInt32.self)
            for corner in entries.frameStarts[frame]..<entries.frameStarts[frame + 1] {
                let record = recordBase + corner * recordSize
                HashSegment.store(entries.descriptors[corner], into: image, at: record)
                image.storeBytes(of: entries.xs[corner], toByteOffset: record + 32, as: UInt16.self)
                image.storeBytes(of: entries.ys[corner], toByteOffset: record + 34, as: UInt16.self)
                image.storeBytes(of: UInt32(frame), toByteOffset: record + 36, as: UInt32.self)
            }
        }
        written(layout.sections[Section.records]!)
        KeyTables.build(into: image, layout: layout, base: Section.keys, tables: tableCount, rows: entries.cornerCount,
                        written: written) { row in
            entries.descriptors[row]
        }
    }

    /// A segment in memory.
    public convenience init(clips: [SegmentClip], entries: CornerEntries) {
        let layout = Self.layout(clipCount: clips.count, frameCount: entries.frameCount, cornerCount: entries.cornerCount)
        let storage = IndexStorage(allocating: layout.byteCount, name: "corner index in memory") { image in
            Self.write(clips: clips, entries: entries, layout: layout, into: image)
        }
        try! self.init(storage: storage)  // built just above: cannot be damaged
    }

    /// Opens the segment in `storage`, checking its header, clip table, frame rows and bucket offsets.
    public init(storage: IndexStorage) throws(IndexDamage) {
        let header = try SegmentHeader.read(storage.bytes, name: storage.name, checkingChecksums: false)
        guard header.kind == .corners, header.parameters == Self.parameters else {
            throw IndexDamage(storage: storage.name, message: "the corner index was built with other settings")
        }
        guard let clipSection = header.sections[Section.clips], clipSection.count % SegmentClip.rowSize == 0,
              let frameSection = header.sections[Section.frames], frameSection.count % Self.frameRowSize == 0,
              let recordSection = header.sections[Section.records], recordSection.count % Self.recordSize == 0
        else { throw IndexDamage(storage: storage.name, message: "the corner index's sections are missing") }
        self.storage = storage
        clipCount = clipSection.count / SegmentClip.rowSize
        frameCount = frameSection.count / Self.frameRowSize
        cornerCount = recordSection.count / Self.recordSize
        frames = frameSection.lowerBound
        records = recordSection.lowerBound
        clips = ClipTable(storage: storage, offset: clipSection.lowerBound, count: clipCount)
        try clips.validate(rowCount: frameCount)
        // Frame rows are read at random by the seeding: check them all now (16 bytes per frame), and that their
        // clips and corner ranges hold together.
        try storage.requireIntact(frameSection, "the corner frame rows")
        var expected: UInt32 = 0
        for clip in 0..<clipCount {
            for frame in clips.rows(clip) {
                let offset = frames + frame * Self.frameRowSize
                guard storage.bytes.load(fromByteOffset: offset + 4, as: UInt32.self) == UInt32(clip),
                      storage.bytes.load(fromByteOffset: offset + 8, as: UInt32.self) == expected
                else { throw IndexDamage(storage: storage.name, message: "the corner frame rows do not add up") }
                expected = storage.bytes.load(fromByteOffset: offset + 12, as: UInt32.self)
            }
        }
        guard Int(expected) == cornerCount else {
            throw IndexDamage(storage: storage.name, message: "the corner frame rows do not add up")
        }
        keys = try KeyTables(storage: storage, header: header, base: Section.keys, tables: Self.tableCount, rows: cornerCount)
    }

    public func clip(_ index: Int) -> SegmentClip { clips.clip(index) }

    /// The clip row of frame row `frame` (frame rows were checked at open).
    @inline(__always)
    func clipOfFrame(_ frame: Int) -> Int { Int(storage.bytes.load(fromByteOffset: frames + frame * Self.frameRowSize + 4, as: UInt32.self)) }

    /// One corner record, checked: descriptor, position and frame row; nil when its bytes are damaged.
    @inline(__always)
    func corner(_ row: Int) -> (descriptor: PDQHash, x: UInt16, y: UInt16, frame: Int)? {
        let offset = records + row * Self.recordSize
        guard storage.intact(offset..<(offset + Self.recordSize)) else { return nil }
        let frame = Int(storage.bytes.load(fromByteOffset: offset + 36, as: UInt32.self))
        guard frame < frameCount else { return nil }
        return (HashSegment.hash(storage.bytes, offset), storage.bytes.load(fromByteOffset: offset + 32, as: UInt16.self),
                storage.bytes.load(fromByteOffset: offset + 34, as: UInt16.self), frame)
    }

    /// Appends the corner frames of clip row `clip` to `entries` as clip `owner`.
    func appendFrames(of clip: Int, owner: Int32, to entries: inout CornerEntries) throws(IndexDamage) {
        for frame in clips.rows(clip) {
            let offset = frames + frame * Self.frameRowSize
            let start = Int(storage.bytes.load(fromByteOffset: offset + 8, as: UInt32.self))
            let end = Int(storage.bytes.load(fromByteOffset: offset + 12, as: UInt32.self))
            try storage.requireIntact((records + start * Self.recordSize)..<(records + end * Self.recordSize),
                                      "the corners of a clip")
            entries.frameOwners.append(owner)
            entries.frameTimes.append(storage.bytes.load(fromByteOffset: offset, as: Float.self))
            for row in start..<end {
                let record = records + row * Self.recordSize
                entries.descriptors.append(HashSegment.hash(storage.bytes, record))
                entries.xs.append(storage.bytes.load(fromByteOffset: record + 32, as: UInt16.self))
                entries.ys.append(storage.bytes.load(fromByteOffset: record + 34, as: UInt16.self))
            }
            entries.frameStarts.append(entries.descriptors.count)
        }
    }

    /// Corners of clip row `clip`.
    public func cornerCount(of clip: Int) -> Int {
        let rows = clips.rows(clip)
        guard !rows.isEmpty else { return 0 }
        let first = frames + rows.lowerBound * Self.frameRowSize, last = frames + (rows.upperBound - 1) * Self.frameRowSize
        return Int(storage.bytes.load(fromByteOffset: last + 12, as: UInt32.self))
            - Int(storage.bytes.load(fromByteOffset: first + 8, as: UInt32.self))
    }
}
