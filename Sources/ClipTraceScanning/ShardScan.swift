import ClipTraceAlignment
import ClipTraceCatalogue
import ClipTraceEvidence
import ClipTraceExtraction
import ClipTraceHashing
import ClipTraceMatching
import ClipTraceObservations
import Foundation

/// What a scan of one input against one shard of a catalogue found, before every step that looks across the
/// catalogue: the query's timelines and the evidence candidates of the shard's clips (``EvidenceCandidates``).
/// ``merge(_:path:order:options:)`` over every shard's gives the ``FileScanResult`` a scan of the whole
/// catalogue gives: the same caps and weights over all clips, then the same aligner.
public struct ShardScan: Sendable, Equatable {
    /// One sentence when the input could not be scanned.
    public var error: String?
    public var warnings: [String] = []
    /// Seconds of video scanned.
    public var duration: Double = 0
    /// Wall-clock seconds this shard spent.
    public var elapsed: Double = 0
    /// The clips the candidates name, ids ascending; candidates number them by their place here.
    public var clips: [ClipRecord] = []
    public var candidates = EvidenceCandidates()
    /// Per ``EvidenceKind``: the moments the query was looked at (empty when the kind was not searched).
    public var timelines: [QueryTimeline] = []
    /// Per moment of the hash timeline: the share of the frame its content filled (for `letterboxed`).
    public var contentShares: [Float] = []
    /// The shard searched (0-based index, count): a merge needs each shard of one cut exactly once.
    public var shard = Shard.whole
    /// Clips the shard searched, and the catalogue's name (for a merged report's summary).
    public var clipsSearched = 0
    public var catalogue = ""

    public init(error: String? = nil, warnings: [String] = [], duration: Double = 0, elapsed: Double = 0) {
        self.error = error
        self.warnings = warnings
        self.duration = duration
        self.elapsed = elapsed
    }

    /// One input's result over every shard's scan (in shard order), as a scan of the whole catalogue reports
    /// it; the input's error when a shard could not read it.
    public static func merge(_ shards: [ShardScan], path: String, order: Int, options: MatchingOptions) -> FileScanResult {
        precondition(!shards.isEmpty)
        let elapsed = shards.reduce(0) { $0 + $1.elapsed }
        if let failed = shards.first(where: { $0.error != nil }) {
            return FileScanResult(path: path, order: order, matches: [], error: failed.error, warnings: failed.warnings,
                                  duration: failed.duration, elapsed: elapsed)
        }
        if let disagreement = disagreement(among: shards) {
            return FileScanResult(path: path, order: order, matches: [],
                                  error: "the shards' scans of this input cannot be merged: \(disagreement); scan it again on every shard",
                                  warnings: [], duration: shards[0].duration, elapsed: elapsed)
        }
        // The clips of every shard in catalogue order: ids ascending, as one index of the whole numbers them.
        var byID: [Int64: ClipRecord] = [:]
        for shard in shards { for clip in shard.clips { byID[clip.id] = clip } }
        let records = byID.values.sorted { $0.id < $1.id }
        let position = Dictionary(uniqueKeysWithValues: records.enumerated().map { ($1.id, Int32($0)) })
        let parts = shards.map { shard in shard.candidates.renumbered { position[shard.clips[Int($0)].id]! } }
        // Every shard observed the same query; corners only where the shard had corners to meet.
        let first = shards[0]
        var timelines = first.timelines
        for kind in EvidenceKind.allCases {
            let index = Int(kind.rawValue)
            if index >= timelines.count { timelines.append(.empty) }
            if timelines[index].times.isEmpty,
               let observed = shards.first(where: { $0.timelines.count > index && !$0.timelines[index].times.isEmpty }) {
                timelines[index] = observed.timelines[index]
            }
        }
        let corners = Int(EvidenceKind.corners.rawValue)
        if !timelines[corners].times.isEmpty { timelines[corners].referenceStep = EvidenceCandidates.referenceStep(parts) }
        let evidence = CatalogueMatcher.evidence(from: parts, timelines: timelines, options: options)
        let clips = records.map { IndexedClip(id: $0.id, title: $0.title, duration: $0.duration) }
        let hashTimes = timelines[Int(EvidenceKind.hash.rawValue)].times
        let matches = CatalogueMatcher.align(evidence, clips: clips, options: options, queryDuration: first.duration).map {
            ScanMatch(match: $0, clip: byID[$0.clip.id]!,
                      letterboxed: QueryObservations.hadBars(times: hashTimes, contentShares: first.contentShares,
                                                             from: $0.queryStart, to: $0.queryEnd))
        }
        return FileScanResult(path: path, order: order, matches: matches, error: nil, warnings: first.warnings,
                              duration: first.duration, elapsed: elapsed)
    }
}

extension ShardScan {
    /// Why these scans are not the shards of one search of one input, or nil when they are: each shard of one
    /// cut once, the same observations of the query (decoded the same), and the same way of searching.
    static func disagreement(among shards: [ShardScan]) -> String? {
        let count = shards[0].shard.count
        guard shards.allSatisfy({ $0.shard.count == count }),
              Set(shards.map(\.shard.index)).count == shards.count, shards.count == count
        else {
            return "they are not shards 1 to \(count) of one cut, each once (\(shards.map(\.shard.description).joined(separator: ", ")))"
        }
        let first = shards[0]
        let hash = Int(EvidenceKind.hash.rawValue), corners = Int(EvidenceKind.corners.rawValue)
        var cornerTimeline: QueryTimeline?
        for shard in shards {
            guard shard.duration == first.duration, shard.timelines.count == first.timelines.count,
                  shard.timelines[hash] == first.timelines[hash], shard.contentShares == first.contentShares
            else { return "the query was observed differently (another file, or another decoder)" }
            if !shard.timelines[corners].times.isEmpty {
                var timeline = shard.timelines[corners]
                timeline.referenceStep = 0
                if let cornerTimeline, cornerTimeline != timeline {
                    return "the query's corners were observed differently (another file, or another decoder)"
                }
                cornerTimeline = timeline
            }
        }
        // Every shard searches the way a search of the whole catalogue does: all seeded, or none.
        let hashSeeded = shards.filter { $0.candidates.hashSeeds != nil }.count
        let cornerSeeded = shards.filter { $0.candidates.cornerSeeds != nil }.count
        if hashSeeded != 0 && hashSeeded != shards.count || cornerSeeded != 0
            && cornerSeeded != shards.filter({ !$0.timelines[corners].times.isEmpty }).count {
            return "some shards searched directly and others seeded (the catalogue changed size between them, or --index differed)"
        }
        return nil
    }
}

extension ClipScanner {
    /// Scans one file against this scanner's clips as `shard` of a catalogue (with ``Shard/whole``, as the
    /// whole): its observations and evidence candidates, for ``ShardScan/merge(_:path:order:options:)``.
    /// Never throws: failures become the scan's `error`.
    public func gather(path: String, shard: Shard) -> ShardScan {
        let wholeCatalogue = shard.count == 1
        let started = Date()
        do {
            let (extraction, matcher, found) = try extractAndGather(path: path, wholeCatalogue: wholeCatalogue)
            let observations = extraction.observations
            // Only the clips the candidates name travel, numbered by their place among them.
            var named = Set<Int32>()
            for candidate in found.hashes { named.insert(candidate.clip) }
            for candidate in found.corners { named.insert(candidate.clip) }
            for seed in (found.hashSeeds ?? []) + (found.cornerSeeds ?? []) { named.insert(seed.clip) }
            for leading in found.leadingCornerFrames { named.insert(leading.clip) }
            let positions = named.sorted()
            let place = Dictionary(uniqueKeysWithValues: positions.enumerated().map { ($1, Int32($0)) })
            var scan = ShardScan(warnings: extraction.warnings, duration: observations.duration)
            scan.shard = shard
            scan.clipsSearched = matcher.clips.count
            scan.clips = try positions.map { position in
                let id = matcher.clips[Int(position)].id
                guard let record = records[id] else { throw ShardScanError.missingRecord(id) }
                return record
            }
            scan.candidates = found.renumbered { place[$0]! }
            scan.timelines = matcher.timelines(for: observations)
            scan.contentShares = observations.frames.map(\.contentShare)
            scan.elapsed = Date().timeIntervalSince(started)
            return scan
        } catch {
            var failed = ShardScan(error: Self.sentence(for: error), elapsed: Date().timeIntervalSince(started))
            failed.shard = shard
            return failed
        }
    }
}

extension ClipScanner {
    /// Extracts `path` and gathers its candidates. When every source looks at each moment alone (the direct
    /// indexes of a small catalogue or shard), each ten seconds are searched as soon as they are observed and
    /// then forgotten, on a thread of their own while the next are decoded, as ``scan(path:order:)`` does:
    /// memory stays flat however long the recording, with the candidates of one search of the whole, moments
    /// numbered through it.
    func extractAndGather(path: String, wholeCatalogue: Bool) throws -> (Extraction, CatalogueMatcher, EvidenceCandidates) {
        let matcher = search.current.matcher
        if matcher.searchesMomentByMoment {
            var gathered = EvidenceCandidates()
            var (frames, cornerMoments, described) = (Int32(0), Int32(0), Int32(0))
            let (result, damage) = try Self.extractInPieces(path: path, options: extraction) { piece throws(IndexDamage) in
                var found = try matcher.candidates(for: piece, wholeCatalogue: wholeCatalogue)
                for index in found.hashes.indices { found.hashes[index].moment += frames }
                for index in found.corners.indices {
                    found.corners[index].moment += cornerMoments
                    found.corners[index].described += described
                }
                // The reference spacing's frames are the same for every piece: kept once.
                if !gathered.leadingCornerFrames.isEmpty { found.leadingCornerFrames = [] }
                gathered.absorb(found)
                frames += Int32(piece.frames.count)
                cornerMoments += Int32(CornerIndex.timeline(of: piece).times.count)
                described += Int32(piece.cornerFrames.count)
            }
            if damage == nil { return (result, matcher, gathered) }
            // Direct indexes live in memory; should one be found damaged, the whole query's search repairs it.
        }
        let result = try Fingerprinter(options: extraction).extract(path: path)
        let (current, found) = try search.candidates(for: result.observations, wholeCatalogue: wholeCatalogue)
        return (result, current, found)
    }
}

/// Why a shard's stored scan could not be read or made.
public enum ShardScanError: Error, CustomStringConvertible {
    case missingRecord(Int64)
    case malformed(String)

    public var description: String {
        switch self {
        case .missingRecord(let id): "the catalogue has no record of clip \(id), which its search index holds"
        case .malformed(let what): "a shard's stored scan is malformed: \(what)"
        }
    }
}

// MARK: - Stored form

extension ShardScan {
    /// "CTSS": ClipTrace shard scan.
    static let magic: [UInt8] = Array("CTSS".utf8)
    static let version: UInt32 = 1

    /// The facts that are not bulk arrays.
    private struct Header: Codable {
        var error: String?
        var warnings: [String]
        var duration: Double
        var elapsed: Double
        var clips: [ClipRecord]
        var shard: Int
        var shards: Int
        var clipsSearched: Int
        var catalogue: String
    }

    /// The stored form: a magic and version, a JSON header (error, warnings, clips), then the timelines and
    /// candidates as little-endian binary (exact bit patterns, so a merge weighs exactly what the shard found).
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let header = try encoder.encode(Header(error: error, warnings: warnings, duration: duration, elapsed: elapsed,
                                               clips: clips, shard: shard.index, shards: shard.count,
                                               clipsSearched: clipsSearched, catalogue: catalogue))
        var out = BinaryWriter()
        out.bytes += Self.magic
        out.put(Self.version)
        out.put(UInt32(header.count))
        out.bytes += header
        out.put(UInt32(timelines.count))
        for timeline in timelines {
            out.put(timeline.step.bitPattern)
            out.put(timeline.referenceStep.bitPattern)
            out.put(UInt32(timeline.times.count))
            for time in timeline.times { out.put(time.bitPattern) }
            for usable in timeline.usable { out.put(UInt8(usable ? 1 : 0)) }
        }
        out.put(UInt32(contentShares.count))
        for share in contentShares { out.put(share.bitPattern) }
        out.put(UInt32(candidates.hashes.count))
        for candidate in candidates.hashes {
            out.put(candidate.moment)
            out.put(candidate.clip)
            out.put(candidate.entryInClip)
            out.put(candidate.distance)
            out.put(candidate.view)
            out.put(candidate.referenceTime.bitPattern)
        }
        out.put(candidates.hashSeeds)
        out.put(Int64(candidates.hashSeeded))
        out.put(UInt32(candidates.corners.count))
        for candidate in candidates.corners {
            out.put(candidate.moment)
            out.put(candidate.described)
            out.put(candidate.clip)
            out.put(candidate.frameInClip)
            out.put(candidate.referenceTime.bitPattern)
            out.put(candidate.pairCount)
            out.put(candidate.inliers)
            out.put(candidate.distance)
            out.put(candidate.view)
        }
        out.put(candidates.cornerSeeds)
        out.put(Int64(candidates.cornerSeeded))
        out.put(UInt32(candidates.leadingCornerFrames.count))
        for leading in candidates.leadingCornerFrames {
            out.put(leading.clip)
            out.put(UInt32(leading.times.count))
            for time in leading.times { out.put(time.bitPattern) }
        }
        return Data(out.bytes)
    }

    /// Whether `data` looks like a stored shard scan (and not a result stored by an earlier version).
    public static func isStored(_ data: Data) -> Bool { data.prefix(4).elementsEqual(magic) }

    public init(decoding data: Data) throws {
        var input = BinaryReader(bytes: [UInt8](data))
        guard Array(try input.take(4)) == Self.magic else { throw ShardScanError.malformed("it does not start with CTSS") }
        let version: UInt32 = try input.get()
        guard version == Self.version else { throw ShardScanError.malformed("version \(version) is not known") }
        let headerLength: UInt32 = try input.get()
        let header = try JSONDecoder().decode(Header.self, from: Data(try input.take(Int(headerLength))))
        self.init(error: header.error, warnings: header.warnings, duration: header.duration, elapsed: header.elapsed)
        guard header.shards >= 1, (0..<header.shards).contains(header.shard),
              header.clips.map(\.id) == header.clips.map(\.id).sorted(), Set(header.clips.map(\.id)).count == header.clips.count
        else { throw ShardScanError.malformed("its shard or its clips are not valid") }
        shard = Shard(index: header.shard, count: header.shards)
        clips = header.clips
        clipsSearched = header.clipsSearched
        catalogue = header.catalogue
        for _ in 0..<(try input.count(atLeast: 16)) {
            let step = Double(bitPattern: try input.get())
            let referenceStep = Double(bitPattern: try input.get())
            let count = try input.count(atLeast: 9)
            var times: [Double] = []
            for _ in 0..<count { times.append(Double(bitPattern: try input.get())) }
            var usable: [Bool] = []
            for _ in 0..<count { usable.append(try input.get() as UInt8 != 0) }
            timelines.append(QueryTimeline(times: times, usable: usable, step: step, referenceStep: referenceStep))
        }
        for _ in 0..<(try input.count(atLeast: 4)) { contentShares.append(Float(bitPattern: try input.get())) }
        for _ in 0..<(try input.count(atLeast: 21)) {
            candidates.hashes.append(HashCandidate(
                moment: try input.get(), clip: try input.clip(below: clips.count), entryInClip: try input.get(),
                distance: try input.get(), view: try input.view(), referenceTime: Float(bitPattern: try input.get())))
        }
        candidates.hashSeeds = try input.seeds(below: clips.count)
        candidates.hashSeeded = Int(try input.get() as Int64)
        for _ in 0..<(try input.count(atLeast: 33)) {
            candidates.corners.append(CornerCandidate(
                moment: try input.get(), described: try input.get(), clip: try input.clip(below: clips.count),
                frameInClip: try input.get(), referenceTime: Float(bitPattern: try input.get()), pairCount: try input.get(),
                inliers: try input.get(), distance: try input.get(), view: try input.view()))
        }
        candidates.cornerSeeds = try input.seeds(below: clips.count)
        candidates.cornerSeeded = Int(try input.get() as Int64)
        for _ in 0..<(try input.count(atLeast: 8)) {
            let clip = try input.clip(below: clips.count)
            var times: [Float] = []
            for _ in 0..<(try input.count(atLeast: 4)) { times.append(Float(bitPattern: try input.get())) }
            candidates.leadingCornerFrames.append(LeadingFrames(clip: clip, times: times))
        }
        guard input.isAtEnd else { throw ShardScanError.malformed("bytes follow its end") }
        try validate()
    }

    /// Candidates point into the timelines and clips they travel with, and the seeds name each clip once.
    private func validate() throws {
        // A scan that failed carries its sentence and nothing else.
        if error != nil {
            guard candidates == EvidenceCandidates() else { throw ShardScanError.malformed("a failed scan holds candidates") }
            return
        }
        let kinds = EvidenceKind.allCases.count
        guard timelines.count == kinds, contentShares.count == timelines[Int(EvidenceKind.hash.rawValue)].times.count
        else { throw ShardScanError.malformed("its timelines are not complete") }
        let hashMoments = timelines[Int(EvidenceKind.hash.rawValue)].times.count
        let cornerMoments = timelines[Int(EvidenceKind.corners.rawValue)].times.count
        guard candidates.hashes.allSatisfy({ (0..<hashMoments).contains(Int($0.moment)) && $0.distance >= 0 }),
              candidates.corners.allSatisfy({
                  (0..<cornerMoments).contains(Int($0.moment)) && $0.described >= 0 && $0.pairCount >= 0 && $0.inliers >= 0
              }),
              zip(candidates.hashes, candidates.hashes.dropFirst()).allSatisfy({ $0.moment <= $1.moment }),
              zip(candidates.corners, candidates.corners.dropFirst()).allSatisfy({ ($0.moment, $0.described) <= ($1.moment, $1.described) })
        else { throw ShardScanError.malformed("a candidate lies outside its query's moments") }
        for seeds in [candidates.hashSeeds, candidates.cornerSeeds] {
            if let seeds, Set(seeds.map(\.clip)).count != seeds.count { throw ShardScanError.malformed("a clip is seeded twice") }
        }
    }
}

private struct BinaryWriter {
    var bytes: [UInt8] = []

    mutating func put<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
    }

    mutating func put(_ view: View) {
        put(UInt8(view.orientation.rawValue))
        put(view.region.rawValue)
        put(view.part.rawValue)
    }

    mutating func put(_ seeds: [ClipSeed]?) {
        guard let seeds else { return put(UInt8(0)) }
        put(UInt8(1))
        put(UInt32(seeds.count))
        for seed in seeds {
            put(seed.clip)
            put(seed.strength)
            put(seed.pairs)
        }
    }
}

private struct BinaryReader {
    let bytes: [UInt8]
    var offset = 0

    var isAtEnd: Bool { offset == bytes.count }

    mutating func take(_ count: Int) throws -> ArraySlice<UInt8> {
        guard count >= 0, bytes.count - offset >= count else { throw ShardScanError.malformed("it is cut short") }
        defer { offset += count }
        return bytes[offset..<offset + count]
    }

    mutating func get<T: FixedWidthInteger>() throws -> T {
        var value = T.zero
        let raw = try take(MemoryLayout<T>.size)
        withUnsafeMutableBytes(of: &value) { $0.copyBytes(from: raw) }
        return T(littleEndian: value)
    }

    /// A count of items of at least `size` bytes each, refused when the bytes left cannot hold them.
    mutating func count(atLeast size: Int) throws -> Int {
        let count = Int(try get() as UInt32)
        guard count <= (bytes.count - offset) / size else { throw ShardScanError.malformed("a count runs past its end") }
        return count
    }

    mutating func clip(below count: Int) throws -> Int32 {
        let clip: Int32 = try get()
        guard clip >= 0, Int(clip) < count else { throw ShardScanError.malformed("clip \(clip) is not among its clips") }
        return clip
    }

    mutating func view() throws -> View {
        guard let orientation = Dihedral(rawValue: Int(try get() as UInt8)),
              let region = ViewRegion(rawValue: try get()), let part = PicturePart(rawValue: try get())
        else { throw ShardScanError.malformed("a view is unknown") }
        return View(orientation: orientation, region: region, part: part)
    }

    mutating func seeds(below count: Int) throws -> [ClipSeed]? {
        guard try get() as UInt8 != 0 else { return nil }
        var seeds: [ClipSeed] = []
        for _ in 0..<(try self.count(atLeast: 12)) {
            seeds.append(ClipSeed(clip: try clip(below: count), strength: try get(), pairs: try get()))
        }
        return seeds
    }
}

/// A file of one shard's scans of some inputs: what `cliptrace scan --shard K/N --save-shard FILE` writes and
/// `cliptrace merge` reads, so that shards searched on different machines (or at different times) can be merged
/// without a server. A header, then per input its place in the input list, its path and its ``ShardScan``.
public enum ShardScanFile {
    static let magic: [UInt8] = Array("CTSF".utf8)
    static let version: UInt32 = 1

    /// One input of a file.
    public struct Entry: Sendable {
        public var path: String
        public var order: Int
        public var scan: ShardScan
    }

    /// The bytes a file starts with.
    public static var header: [UInt8] {
        var out = BinaryWriter()
        out.bytes += magic
        out.put(version)
        return out.bytes
    }

    /// The bytes of one input, to follow the header (inputs may come in any order).
    public static func record(path: String, order: Int, scan: ShardScan) throws -> [UInt8] {
        let payload = try scan.encoded()
        var out = BinaryWriter()
        out.put(UInt64(order))
        out.put(UInt32(path.utf8.count))
        out.bytes += path.utf8
        out.put(UInt64(payload.count))
        out.bytes += payload
        return out.bytes
    }

    /// Every input of a file.
    public static func read(_ data: Data) throws -> [Entry] {
        var input = BinaryReader(bytes: [UInt8](data))
        guard Array(try input.take(4)) == magic else {
            throw ShardScanError.malformed("it is not a file of shard scans (written by `cliptrace scan --shard K/N --save-shard FILE`)")
        }
        let found: UInt32 = try input.get()
        guard found == version else { throw ShardScanError.malformed("its version \(found) is not known") }
        var entries: [Entry] = []
        while !input.isAtEnd {
            let order = Int(clamping: try input.get() as UInt64)
            let path = String(decoding: try input.take(Int(try input.get() as UInt32)), as: UTF8.self)
            let length = try input.get() as UInt64
            guard length <= UInt64(Int.max) else { throw ShardScanError.malformed("a record's length is too large") }
            entries.append(Entry(path: path, order: order, scan: try ShardScan(decoding: Data(try input.take(Int(length))))))
        }
        return entries
    }
}
