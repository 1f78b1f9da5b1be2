import Benchmark
import ClipTraceFingerprint
import ClipTraceHashing
import ClipTraceMatching

/// Index build and query time on synthetic catalogues (4 samples per second, like `cliptrace register`):
/// a 10-minute query (16 probes per frame, as scan computes) against 100 hours of catalogue.
let benchmarks: @Sendable () -> Void = {
    struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func hash() -> PDQHash { PDQHash(w0: next(), w1: next(), w2: next(), w3: next()) }
        mutating func drift(_ hash: PDQHash) -> PDQHash {
            var words = [hash.w0, hash.w1, hash.w2, hash.w3]
            for _ in 0..<6 {
                let bit = Int(next() % 256)
                words[bit / 64] ^= 1 << UInt64(bit % 64)
            }
            return PDQHash(w0: words[0], w1: words[1], w2: words[2], w3: words[3])
        }
    }

    /// `hours` of 10-minute clips whose frames drift slowly with a cut every 5 s, like real video.
    func catalogue(hours: Int) -> [(IndexedClip, Fingerprint)] {
        var generator = Generator(state: 7)
        let framesPerClip = 10 * 60 * 4
        return (0..<(hours * 6)).map { clip in
            var current = generator.hash()
            let frames = (0..<framesPerClip).map { index -> Fingerprint.Frame in
                current = index % 20 == 0 ? generator.hash() : generator.drift(current)
                return .init(time: Double(index) / 4, hash: current, quality: 90)
            }
            return (IndexedClip(id: Int64(clip), title: "clip \(clip)", duration: 600),
                    Fingerprint(duration: 600, frameRate: 30, width: 1280, height: 720, rotation: 0, codec: "h264",
                                sampleRate: 4, frames: frames))
        }
    }

    func query(minutes: Int) -> Fingerprint {
        var generator = Generator(state: 99)
        let frames = (0..<(minutes * 60 * 4)).map { index in
            Fingerprint.Frame(time: Double(index) / 4, hash: generator.hash(), quality: 90,
                              probes: (0..<15).map { probe in
                                  .init(hash: generator.hash(), orientation: Dihedral(rawValue: probe % 8)!,
                                        region: probe < 7 ? .content : .fullFrame)
                              })
        }
        return Fingerprint(duration: Double(minutes * 60), frameRate: 30, width: 1280, height: 720, rotation: 0,
                           codec: "h264", sampleRate: 4, frames: frames)
    }

    let slow = Benchmark.Configuration(metrics: [.wallClock, .peakMemoryResident], maxDuration: .seconds(30),
                                       maxIterations: 3)
    for hours in [10, 100] {
        let clips = catalogue(hours: hours)
        Benchmark("Index build, \(hours) h catalogue (\(hours * 14_400) frames)", configuration: slow) { benchmark in
            for _ in benchmark.scaledIterations { blackHole(HashIndex(clips: clips)) }
        }
        let index = HashIndex(clips: clips)
        let tenMinutes = query(minutes: 10)
        Benchmark("Query 10 min against \(hours) h", configuration: slow) { benchmark in
            for _ in benchmark.scaledIterations { blackHole(Matcher(index: index).match(tenMinutes)) }
        }
    }
}
