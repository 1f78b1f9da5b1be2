import Benchmark
import ClipTraceHashing

/// PDQ core throughput: frames per second on a 64×64 image (the hash's own size), on the 512-px analysis
/// image ClipTrace hashes, and on full 1080p luminance.
let benchmarks: @Sendable () -> Void = {
    func image(width: Int, height: Int) -> [UInt8] {
        var pixels = [UInt8](repeating: 0, count: width * height)
        for y in 0..<height {
            for x in 0..<width { pixels[y * width + x] = UInt8(truncatingIfNeeded: (x * 7 + y * 13 + (x * y) % 31)) }
        }
        return pixels
    }
    let configuration = Benchmark.Configuration(metrics: [.throughput, .wallClock, .mallocCountTotal],
                                                maxDuration: .seconds(3))
    for (name, width, height) in [("64x64", 64, 64), ("512x288", 512, 288), ("1920x1080", 1920, 1080)] {
        let pixels = image(width: width, height: height)
        let hasher = PDQHasher()
        Benchmark("PDQ hash \(name)", configuration: configuration) { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(hasher.hash(luma: pixels, width: width, height: height))
            }
        }
        Benchmark("PDQ hash + 8 dihedral variants \(name)", configuration: configuration) { benchmark in
            for _ in benchmark.scaledIterations {
                pixels.withUnsafeBufferPointer {
                    blackHole(hasher.hashes(pixels: $0, width: width, height: height, variants: Dihedral.allCases))
                }
            }
        }
    }
}
