import ClipTraceCatalogue
import ClipTraceEvidence
import ClipTraceFingerprint
import ClipTraceMatching
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A catalogue's search index, saved beside it (``Catalogue/indexLocation``) so that a scan maps it instead of
/// rebuilding it: hash and corner segments (``HashSegment``, ``CornerSegment``), each a file written once and
/// then only read, and a list of the files in use.
///
/// Opening brings the index up to date with the catalogue: clips registered since (by any process, any
/// version) get a new segment, clips removed are ignored and dropped when segments merge, and a file that is
/// missing, unreadable or damaged is rebuilt from the catalogue, with a message. Each segment row names its
/// clip's id and the first half of its file's SHA-256, so a row is used only for the very clip it was built
/// from. When the folder cannot be written (a read-only medium, another program's folder in its place) the
/// missing part is built in memory for this run only.
///
/// Segments merge like the digits of a binary counter: a new segment merges with the one before it while it is
/// at least half its size, so registering clip after clip keeps a few segments and writes each hash
/// O(log n) times in all.
public final class PersistedIndex: Sendable {
    /// The catalogue's clips, in the order votes number them.
    public let records: [ClipRecord]
    public let hashes: SeededHashSource
    public let corners: SeededCornerSource?
    /// The folder the index is saved in, or nil when it lives in memory for this run.
    public let location: String?
    /// Clips whose stored fingerprint cannot be decoded: they are not searched.
    public let damaged: [DamagedClip]
    /// Seconds spent opening (and, if needed, bringing up to date).
    public let openingSeconds: Double

    /// What the index holds and how it is shaped.
    public struct Settings: Sendable, Hashable {
        /// Hashes below this quality are not indexed (``HashSearchOptions/minimumQuality``).
        public var minimumQuality: Int = HashSearchOptions.defaultMinimumQuality
        /// Whether corner segments are opened (and built): off when the corner search is off.
        public var corners: Bool = true
        /// Whether the index may be saved (and updated) on disk.
        public var persist: Bool = true

        public init(minimumQuality: Int = HashSearchOptions.defaultMinimumQuality, corners: Bool = true, persist: Bool = true) {
            self.minimumQuality = minimumQuality
            self.corners = corners
            self.persist = persist
        }
    }

    init(records: [ClipRecord], hashes: SeededHashSource, corners: SeededCornerSource?, location: String?,
         damaged: [DamagedClip], openingSeconds: Double) {
        self.records = records
        self.hashes = hashes
        self.corners = corners
        self.location = location
        self.damaged = damaged
        self.openingSeconds = openingSeconds
    }

    /// A matcher over the index. `auto` decides by `size`: the whole catalogue's when this index holds a
    /// shard of it, its own clips' by default.
    public func matcher(options: MatchingOptions = MatchingOptions(), strategy: SearchStrategy = .auto,
                        corners cornerSearch: CornerSearch = .auto,
                        size: CatalogueMatcher.CatalogueSize? = nil) throws(IndexDamage) -> CatalogueMatcher {
        try CatalogueMatcher(
            clips: records.map { IndexedClip(id: $0.id, title: $0.title, duration: $0.duration) }, hashes: hashes,
            corners: cornerSearch == .off ? nil : corners,
            size: size ?? CatalogueMatcher.CatalogueSize(records.map { ($0.frameCount, $0.duration) }),
            options: options, strategy: strategy, cornerSearch: cornerSearch)
    }

    /// Opens `catalogue`'s index, bringing it up to date. `discarding` names segment files found damaged while
    /// searching: they are rebuilt. `log` hears what was rebuilt and why.
    public static func open(catalogue: any Catalogue, settings: Settings = Settings(), discarding: Set<String> = [],
                            log: @escaping (String) -> Void = { _ in }) throws -> PersistedIndex {
        let started = Date()
        let records = try catalogue.clips()
        var folder: IndexFolder?
        if settings.persist, let location = catalogue.indexLocation {
            do {
                folder = try IndexFolder.prepare(location, create: true)
            } catch {
                log("the search index cannot be saved beside the catalogue, so it is built in memory for this run: \(error)")
            }
        }
        var lock: IndexFolder.Lock?
        if let folder {
            do {
                lock = try IndexFolder.Lock(folder) { log("waiting for another ClipTrace process that is updating the search index") }
            } catch {
                log("the search index cannot be updated, so what it lacks is built in memory for this run: \(error)")
            }
        }
        let writable = lock != nil
        var builder = Builder(records: records, settings: settings, folder: writable ? folder : nil, log: log)
        var manifest = IndexManifest()
        if let folder {
            do {
                manifest = try folder.readManifest() ?? IndexManifest()
            } catch {
                log("the search index's list of files is unreadable (\(error)); the index is rebuilt")
            }
            builder.generation = manifest.generation
            builder.hashSegments = manifest.hashes.compactMap { builder.openHashSegment(folder.path + "/" + $0, discarding: discarding) }
            if settings.corners {
                builder.cornerSegments = manifest.corners.compactMap { builder.openCornerSegment(folder.path + "/" + $0, discarding: discarding) }
            }
        }
        try builder.addMissing(from: catalogue)
        if writable { builder.merge() }
        let updated = IndexManifest(generation: builder.generation,
                                    hashes: builder.hashSegments.compactMap(\.file),
                                    corners: settings.corners ? builder.cornerSegments.compactMap(\.file) : manifest.corners)
        if let folder, writable {
            if updated != manifest {
                do {
                    try updated.write(to: folder.path)
                } catch {
                    log("the search index's list of files could not be saved (\(error)); the index works for this run")
                }
            }
            folder.removeUnlisted(keeping: updated)
        }
        lock = nil
        let hashPlacement = builder.placement(builder.hashSegments.map(\.clips))
        let hashes = SeededHashSource(segments: builder.hashSegments.map(\.segment), placement: hashPlacement,
                                      options: HashSearchOptions(minimumQuality: settings.minimumQuality))
        var corners: SeededCornerSource?
        if settings.corners {
            corners = SeededCornerSource(segments: builder.cornerSegments.map(\.segment),
                                         placement: builder.placement(builder.cornerSegments.map(\.clips)))
        }
        return PersistedIndex(records: records, hashes: hashes, corners: corners,
                              location: folder?.path, damaged: builder.damaged,
                              openingSeconds: Date().timeIntervalSince(started))
    }

    /// What ``verify(location:)`` found.
    public struct Verification: Sendable {
        /// Whether a saved index exists at all.
        public var exists = false
        public var files = 0
        public var bytes = 0
        /// One sentence per damaged or missing file.
        public var problems: [String] = []
    }

    /// Reads every block of every file of the saved index at `location` against its checksum, changing nothing.
    public static func verify(location: String) -> Verification {
        var result = Verification()
        guard let folder = try? IndexFolder.prepare(location, create: false) else { return result }
        let manifest: IndexManifest
        do {
            guard let read = try folder.readManifest() else { return result }
            manifest = read
        } catch {
            result.exists = true
            result.problems.append("\(error)")
            return result
        }
        result.exists = true
        for name in manifest.hashes + manifest.corners {
            let path = folder.path + "/" + name
            do {
                let storage = try SegmentFile.open(path)
                let header = try SegmentHeader.read(storage.bytes, name: path, checkingChecksums: false)
                try storage.requireIntact(0..<header.checksumsOffset, "a block")
                result.files += 1
                result.bytes += storage.bytes.count
            } catch {
                result.problems.append("\(error)")
            }
        }
        return result
    }

    /// Brings the index of `catalogue` up to date (after registering or removing clips), if it is saved.
    public static func update(catalogue: any Catalogue, settings: Settings = Settings(), log: @escaping (String) -> Void = { _ in }) throws {
        _ = try open(catalogue: catalogue, settings: settings, log: log)
    }
}

/// One opened segment with the clips of its rows.
struct Opened<Segment> {
    var segment: Segment
    var clips: [SegmentClip]
    /// The file name within the folder; nil for a segment in memory.
    var file: String?
}

/// Opening, building and merging segments.
private struct Builder {
    let records: [ClipRecord]
    let settings: PersistedIndex.Settings
    let folder: IndexFolder?
    let log: (String) -> Void
    var generation = 0
    var hashSegments: [Opened<HashSegment>] = []
    var cornerSegments: [Opened<CornerSegment>] = []
    var damaged: [DamagedClip] = []
    /// Catalogue position of each clip id, and the identity it must have.
    let positions: [Int64: (position: Int, identity: SegmentClip.Identity)]

    init(records: [ClipRecord], settings: PersistedIndex.Settings, folder: IndexFolder?, log: @escaping (String) -> Void) {
        self.records = records
        self.settings = settings
        self.folder = folder
        self.log = log
        var positions: [Int64: (Int, SegmentClip.Identity)] = [:]
        for (position, record) in records.enumerated() { positions[record.id] = (position, SegmentClip.Identity(sha256: record.sha256)) }
        self.positions = positions
    }

    func openHashSegment(_ path: String, discarding: Set<String>) -> Opened<HashSegment>? {
        guard !discarding.contains(path) else {
            log("rebuilding the damaged search index file \(path)")
            return nil
        }
        do {
            let segment = try HashSegment(storage: try SegmentFile.open(path), minimumQuality: settings.minimumQuality)
            return Opened(segment: segment, clips: (0..<segment.clipCount).map(segment.clip), file: (path as NSString).lastPathComponent)
        } catch {
            log("rebuilding a search index file: \(error)")
            return nil
        }
    }

    func openCornerSegment(_ path: String, discarding: Set<String>) -> Opened<CornerSegment>? {
        guard !discarding.contains(path) else {
            log("rebuilding the damaged search index file \(path)")
            return nil
        }
        do {
            let segment = try CornerSegment(storage: try SegmentFile.open(path))
            return Opened(segment: segment, clips: (0..<segment.clipCount).map(segment.clip), file: (path as NSString).lastPathComponent)
        } catch {
            log("rebuilding a search index file: \(error)")
            return nil
        }
    }

    /// Per segment, the catalogue position of each row: -1 for a clip no longer registered (or registered
    /// again from another file), or already held by an earlier segment.
    func placement(_ segments: [[SegmentClip]]) -> SegmentPlacement {
        SegmentPlacement(positions: segments.map { clips in
            clips.map { clip in
                guard let (position, identity) = positions[clip.id], identity == clip.identity else { return -1 }
                return Int32(position)
            }
        }, clipCount: records.count)
    }

    /// Catalogue positions no segment holds.
    func missing(_ segments: [[SegmentClip]]) -> [Int] {
        let placed = placement(segments).rows
        return records.indices.filter { placed[$0] == nil }
    }

    /// Builds one segment of each kind for the clips the index lacks, reading their fingerprints from the
    /// catalogue a few at a time.
    mutating func addMissing(from catalogue: any Catalogue) throws {
        let missingHashes = Set(missing(hashSegments.map(\.clips)))
        let missingCorners = settings.corners ? Set(missing(cornerSegments.map(\.clips))) : []
        let wanted = missingHashes.union(missingCorners).sorted()
        guard !wanted.isEmpty else { return }
        if wanted.count > 1, wanted.count == records.count {
            log("building the search index of \(records.count) clips\(folder == nil ? " in memory" : "")")
        }
        // Hashes and corners in two passes over the catalogue when there is much to read: the flat arrays of
        // one kind are built, written and freed before the other's (a whole 1,000 hours: 1.2 GB, then 5.7 GB).
        let passes: [(hashes: Bool, corners: Bool)] = wanted.count > 64 ? [(true, false), (false, true)] : [(true, true)]
        var reported = Set<Int64>()
        for pass in passes {
            var hashClips: [SegmentClip] = [], hashEntries = HashEntries()
            var cornerClips: [SegmentClip] = [], cornerEntries = CornerEntries()
            let ids = wanted.filter { (pass.hashes && missingHashes.contains($0)) || (pass.corners && missingCorners.contains($0)) }
            guard !ids.isEmpty else { continue }
            // Reserved from what the catalogue says of each clip, with a margin (untouched room costs no memory),
            // but never more than a share of the machine: clips may hold far fewer corners than their length
            // suggests (none at all, registered by an older version).
            let affordable = Int(min(ProcessInfo.processInfo.physicalMemory / 4, UInt64(Int.max)))
            if pass.hashes {
                let estimate = ids.lazy.filter(missingHashes.contains).reduce(0) { $0 + records[$1].frameCount } * 9 / 8 + 1024
                hashEntries.reserveCapacity(min(estimate, affordable / 41))
            }
            if pass.corners {
                let seconds = ids.lazy.filter(missingCorners.contains).reduce(0.0) { $0 + max(0, records[$1].duration) }
                cornerEntries.reserveCapacity(frames: min(Int(seconds * 1.1) + 1024, affordable / 16),
                                              corners: min(Int(seconds * 48) + 1024, affordable / 36))
            }
            try catalogue.forEachFingerprint(ids: ids.map { records[$0].id }) { record, result in
                guard let (position, identity) = positions[record.id] else { return }
                switch result {
                case .failure(let clip):
                    if reported.insert(record.id).inserted { damaged.append(clip) }
                case .success(let fingerprint):
                    let clip = SegmentClip(id: record.id, identity: identity)
                    if pass.hashes, missingHashes.contains(position) {
                        hashEntries.append(fingerprint, owner: Int32(hashClips.count), minimumQuality: settings.minimumQuality)
                        hashClips.append(clip)
                    }
                    if pass.corners, missingCorners.contains(position) {
                        cornerEntries.append(fingerprint, owner: Int32(cornerClips.count))
                        cornerClips.append(clip)
                    }
                }
            }
            if !hashClips.isEmpty { hashSegments.append(try writeHashSegment(hashClips, hashEntries)) }
            if !cornerClips.isEmpty { cornerSegments.append(try writeCornerSegment(cornerClips, cornerEntries)) }
        }
    }

    mutating func writeHashSegment(_ clips: [SegmentClip], _ entries: HashEntries) throws -> Opened<HashSegment> {
        if let folder {
            generation += 1
            let name = String(format: "h-%06d.seg", generation)
            let layout = HashSegment.layout(clipCount: clips.count, entryCount: entries.count, minimumQuality: settings.minimumQuality)
            do {
                try SegmentFile.write(layout: layout, directory: folder.path, name: name) { image, written in
                    HashSegment.write(clips: clips, entries: entries, layout: layout, into: image, written: written)
                }
                if let opened = openHashSegment(folder.path + "/" + name, discarding: []) { return opened }
            } catch {
                log("a search index file could not be saved (\(error)); that part of the index is kept in memory for this run")
            }
        }
        return Opened(segment: HashSegment(clips: clips, entries: entries, minimumQuality: settings.minimumQuality),
                      clips: clips, file: nil)
    }

    mutating func writeCornerSegment(_ clips: [SegmentClip], _ entries: CornerEntries) throws -> Opened<CornerSegment> {
        if let folder {
            generation += 1
            let name = String(format: "c-%06d.seg", generation)
            let layout = CornerSegment.layout(clipCount: clips.count, frameCount: entries.frameCount, cornerCount: entries.cornerCount)
            do {
                try SegmentFile.write(layout: layout, directory: folder.path, name: name) { image, written in
                    CornerSegment.write(clips: clips, entries: entries, layout: layout, into: image, written: written)
                }
                if let opened = openCornerSegment(folder.path + "/" + name, discarding: []) { return opened }
            } catch {
                log("a search index file could not be saved (\(error)); that part of the index is kept in memory for this run")
            }
        }
        return Opened(segment: CornerSegment(clips: clips, entries: entries), clips: clips, file: nil)
    }

    /// Merges saved segments: the newest with the one before while it holds at least half as many live rows,
    /// and any segment with more than a quarter of its rows dead (clips removed) on its own.
    mutating func merge() {
        do {
            try mergeHashes()
            if settings.corners { try mergeCorners() }
        } catch {
            log("the search index's files could not be merged (\(error)); they are used as they are")
        }
    }

    /// Which saved segments to merge next, from each one's live and total rows: the newest with the one before
    /// while it holds at least half as many live rows, else the first with more than a quarter of its rows dead.
    static func segmentsToMerge(_ rows: [(live: Int, total: Int)]) -> [Int]? {
        let count = rows.count
        if count >= 2, rows[count - 1].live * 2 >= rows[count - 2].live { return [count - 2, count - 1] }
        if let dead = rows.indices.first(where: { rows[$0].total > 0 && (rows[$0].total - rows[$0].live) * 4 > rows[$0].total }) {
            return [dead]
        }
        return nil
    }

    /// The rows of segment `index` whose clips are still registered.
    private static func liveRows(_ placement: SegmentPlacement, _ index: Int) -> [Int] {
        placement.positions[index].indices.filter { placement.positions[index][$0] >= 0 }
    }

    private mutating func mergeHashes() throws {
        while true {
            let placement = self.placement(hashSegments.map(\.clips))
            let rows = hashSegments.indices.map { index in
                let segment = hashSegments[index].segment
                return (live: Self.liveRows(placement, index).reduce(0) { $0 + segment.entryCount(of: $1) }, total: segment.entryCount)
            }
            guard let chosen = Self.segmentsToMerge(rows) else { return }
            var clips: [SegmentClip] = [], entries = HashEntries()
            for index in chosen {
                let opened = hashSegments[index]
                let live = Self.liveRows(placement, index)
                let source = SeededHashSource(segments: [opened.segment],
                                              placement: SegmentPlacement(positions: [placement.positions[index]], clipCount: records.count))
                entries.append(contentsOf: try source.entries(of: live.map { Int(placement.positions[index][$0]) }),
                               ownerOffset: Int32(clips.count))
                clips += live.map { opened.clips[$0] }
            }
            hashSegments.removeSubrange(chosen.first!...chosen.last!)
            guard !clips.isEmpty else { continue }
            let merged = try writeHashSegment(clips, entries)
            hashSegments.insert(merged, at: chosen.first!)
            if merged.file == nil { return }
        }
    }

    private mutating func mergeCorners() throws {
        while true {
            let placement = self.placement(cornerSegments.map(\.clips))
            let rows = cornerSegments.indices.map { index in
                let segment = cornerSegments[index].segment
                return (live: Self.liveRows(placement, index).reduce(0) { $0 + segment.cornerCount(of: $1) }, total: segment.cornerCount)
            }
            guard let chosen = Self.segmentsToMerge(rows) else { return }
            var clips: [SegmentClip] = [], entries = CornerEntries()
            for index in chosen {
                let opened = cornerSegments[index]
                let live = Self.liveRows(placement, index)
                let source = SeededCornerSource(segments: [opened.segment],
                                                placement: SegmentPlacement(positions: [placement.positions[index]], clipCount: records.count))
                entries.append(contentsOf: try source.entries(of: live.map { Int(placement.positions[index][$0]) }),
                               ownerOffset: Int32(clips.count))
                clips += live.map { opened.clips[$0] }
            }
            cornerSegments.removeSubrange(chosen.first!...chosen.last!)
            guard !clips.isEmpty else { continue }
            let merged = try writeCornerSegment(clips, entries)
            cornerSegments.insert(merged, at: chosen.first!)
            if merged.file == nil { return }
        }
    }
}
