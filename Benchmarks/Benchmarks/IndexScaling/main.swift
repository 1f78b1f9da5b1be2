// Index scaling: a 1-hour query against synthetic catalogues of 100, 1,000 and 10,000 hours.
//
//   swift run -c release --package-path Benchmarks IndexScaling HOURS [direct|seeded] [REFERENCE_RATE] [QUERY_RATE]
//
// The catalogue has the shape `cliptrace register` gives real video: 8 hashes per second by default
// (`ExtractionOptions.referenceSamplesPerSecond`), frames drifting a few bits from one to the next with a cut every
// 20 frames, in 10-minute clips. The query is an hour of unrelated video at 6 frames per second
// (`ExtractionOptions.querySamplesPerSecond`), 16 hashes per frame as scan computes them (8 orientations of the
// content, searched with one-bit word neighbours, and of the whole frame), with three copies planted
// in it: 5 minutes, 2 minutes and 30 seconds of catalogue clips, each frame re-encoded (16 bits flipped).
// Prints build time, index bytes per frame, query time, whether each planted copy was found on both timelines,
// and peak RSS.
import ClipTraceEvidence
import ClipTraceFingerprint
import ClipTraceHashing
import ClipTraceMatching
import ClipTraceObservations
import Foundation
import SyntheticFingerprints

let arguments = CommandLine.arguments
let referenceRate = arguments.count > 3 ? Double(arguments[3]) ?? 8 : 8
let queryRate = arguments.count > 4 ? Double(arguments[4]) ?? 6 : 6
let framesPerClip = Int(10 * 60 * referenceRate)

/// The hashes of synthetic clip `clip`, regenerated on demand (the catalogue is never held twice).
func clipFrames(_ clip: Int) -> [PDQHash] {
    SyntheticGenerator.clipHashes(seed: 0xC11F_0000 &+ UInt64(clip), count: framesPerClip)
}

func peakRSSMegabytes() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
    else { return 0 }
    let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
    return (Double(fields.dropFirst().first ?? "0") ?? 0) / 1024
}

guard arguments.count >= 2, let hours = Int(arguments[1]), hours > 0 else {
    FileHandle.standardError.write(Data("usage: IndexScaling HOURS [direct|seeded] [REFERENCE_RATE] [QUERY_RATE]\n".utf8))
    exit(64)
}
let strategy = arguments.count > 2 ? arguments[2] : "seeded"
let clipCount = hours * 6

// The catalogue, as flat arrays.
var started = Date()
var clips: [IndexedClip] = [], hashes: [PDQHash] = [], owners: [Int32] = [], times: [Float] = []
hashes.reserveCapacity(clipCount * framesPerClip)
owners.reserveCapacity(clipCount * framesPerClip)
times.reserveCapacity(clipCount * framesPerClip)
for clip in 0..<clipCount {
    clips.append(IndexedClip(id: Int64(clip + 1), title: "clip \(clip + 1)", duration: 600))
    for (index, hash) in clipFrames(clip).enumerated() {
        hashes.append(hash)
        owners.append(Int32(clip))
        times.append(Float(Double(index) / referenceRate))
    }
}
let generated = Date().timeIntervalSince(started)

// The query: an hour of unrelated frames with three planted copies.
struct Planted { var clip: Int; var referenceStart: Double; var queryStart: Double; var seconds: Double }
let planted = [
    Planted(clip: clipCount / 3, referenceStart: 120, queryStart: 600, seconds: 300),
    Planted(clip: clipCount - 1, referenceStart: 30, queryStart: 2_000, seconds: 120),
    Planted(clip: 0, referenceStart: 400, queryStart: 3_300, seconds: 30),
]
var generator = SyntheticGenerator(seed: 99)
var queryFrames: [QueryObservations.Frame] = []
for index in 0..<Int(3_600 * queryRate) {
    let time = Double(index) / queryRate
    var hash = generator.hash()
    if let copy = planted.first(where: { time >= $0.queryStart && time < $0.queryStart + $0.seconds }) {
        let referenceIndex = Int(((copy.referenceStart + time - copy.queryStart) * referenceRate).rounded())
        hash = generator.flip(clipFrames(copy.clip)[referenceIndex], bits: 16)
    }
    let views = [QueryObservations.ViewHash(view: .upright, hash: hash)] + (1..<16).map { view in
        QueryObservations.ViewHash(view: View(orientation: Dihedral(rawValue: view % 8)!,
                                              region: view < 8 ? .content : .fullFrame), hash: generator.hash())
    }
    queryFrames.append(.init(time: time, quality: 90, hashes: views))
}
let query = QueryObservations(duration: 3_600, frameRate: 30, width: 1280, height: 720, sampleRate: queryRate,
                              frames: queryFrames)

started = Date()
let options = MatchingOptions()
let matches: [Match]
let frameCount: Int, memory: Int
var queryTime = 0.0, buildTime = 0.0, seedTime = 0.0, seededCount = 0
if strategy == "direct" {
    let index = HashIndex(hashes: hashes, owners: owners, times: times, options: options.hash)
    hashes = []; owners = []; times = []
    buildTime = Date().timeIntervalSince(started)
    frameCount = index.entryCount
    memory = index.memoryBytes
    started = Date()
    matches = try CatalogueMatcher(clips: clips, sources: [index], options: options, strategy: .direct,
                                   referenceCornerCount: 0).match(query)
    queryTime = Date().timeIntervalSince(started)
} else {
    let segment = HashSegment(clips: clips.map { SegmentClip(id: $0.id, identity: .init(high: 0, low: 0)) },
                              entries: HashEntries(hashes: hashes, owners: owners, times: times),
                              minimumQuality: options.hash.minimumQuality)
    let index = SeededHashSource(segments: [segment], placement: .identity(count: clips.count), options: options.hash)
    hashes = []; owners = []; times = []
    buildTime = Date().timeIntervalSince(started)
    frameCount = index.entryCount
    memory = index.memoryBytes
    started = Date()
    let seeded = try index.seededClips(for: query)
    seedTime = Date().timeIntervalSince(started)
    seededCount = seeded.clips.count
    matches = try CatalogueMatcher(clips: clips, sources: [index], options: options, strategy: .seeded,
                                   referenceCornerCount: 0).match(query)
    queryTime = Date().timeIntervalSince(started)
}

var found = 0
for copy in planted {
    let hit = matches.first {
        $0.clip.id == Int64(copy.clip + 1) && abs($0.queryStart - copy.queryStart) <= 0.5
            && abs($0.queryEnd - (copy.queryStart + copy.seconds - 1 / queryRate)) <= 0.5
            && abs($0.referenceStart - copy.referenceStart) <= 0.5
    }
    if hit != nil { found += 1 }
}
let falseMatches = matches.filter { match in
    !planted.contains { $0.clip + 1 == Int(match.clip.id) } && match.isConfident
}.count
if strategy != "direct" { print(String(format: "seeding %.2f s, %d clips seeded", seedTime, seededCount)) }
print(String(format: "%6d h  %-6@  ref %.0f/s  query %.0f/s  %10d frames  generate %6.1f s  build %6.1f s  %5.1f B/frame  query 1 h %6.2f s  planted found %d/3  false %d  peak RSS %7.0f MB",
             hours, strategy, referenceRate, queryRate, frameCount, generated, buildTime, Double(memory) / Double(max(1, frameCount)), queryTime,
             found, falseMatches, peakRSSMegabytes()))
