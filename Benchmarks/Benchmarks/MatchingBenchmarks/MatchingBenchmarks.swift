import Benchmark
import ClipTraceEvidence
import ClipTraceFingerprint
import ClipTraceHashing
import ClipTraceMatching
import ClipTraceObservations
import SyntheticFingerprints

/// Index build and query time on synthetic catalogues (4 samples per second, like `cliptrace register`):
/// a 10-minute query (16 probes per frame, as scan computes) against 100 hours of catalogue.
let benchmarks: @Sendable () -> Void = {
    /// `hours` of 10-minute clips whose frames drift slowly with a cut every 5 s, like real video.
    func catalogue(hours: Int) -> [(IndexedClip, ReferenceFingerprint)] {
        let framesPerClip = 10 * 60 * 4
        return (0..<(hours * 6)).map { clip in
            let frames = SyntheticGenerator.clipHashes(seed: 7 &+ UInt64(clip), count: framesPerClip).enumerated().map {
                ReferenceFingerprint.Frame(time: Double($0.offset) / 4, hash: $0.element, quality: 90)
            }
            return (IndexedClip(id: Int64(clip), title: "clip \(clip)", duration: 600),
                    ReferenceFingerprint(duration: 600, frameRate: 30, width: 1280, height: 720, rotation: 0,
                                         codec: "h264", sampleRate: 4, frames: frames))
        }
    }

    func query(minutes: Int) -> QueryObservations {
        var generator = SyntheticGenerator(seed: 99)
        let frames = (0..<(minutes * 60 * 4)).map { index in
            QueryObservations.Frame(time: Double(index) / 4, quality: 90, hashes: (0..<16).map { view in
                .init(view: View(orientation: Dihedral(rawValue: view % 8)!, region: view < 8 ? .content : .fullFrame),
                      hash: generator.hash())
            })
        }
        return QueryObservations(duration: Double(minutes * 60), frameRate: 30, width: 1280, height: 720,
                                 sampleRate: 4, frames: frames)
    }

    let slow = Benchmark.Configuration(metrics: [.wallClock, .peakMemoryResident], maxDuration: .seconds(30),
                                       maxIterations: 3)
    for hours in [10, 100] {
        let clips = catalogue(hours: hours)
        Benchmark("Index build, \(hours) h catalogue (\(hours * 14_400) frames)", configuration: slow) { benchmark in
            for _ in benchmark.scaledIterations { blackHole(HashIndex(clips: clips.map(\.1))) }
        }
        let matcher = CatalogueMatcher(clips: clips, strategy: .direct, corners: .off)
        let tenMinutes = query(minutes: 10)
        Benchmark("Query 10 min against \(hours) h", configuration: slow) { benchmark in
            for _ in benchmark.scaledIterations { blackHole(try matcher.match(tenMinutes)) }
        }
    }
}
