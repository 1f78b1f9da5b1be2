// swift-tools-version: 6.1
// ClipTrace's package-benchmark suites, a separate package so the main build and CI stay lean.
//   cd Benchmarks && swift package --disable-sandbox benchmark
import Foundation
import PackageDescription

// A path dependency's identity is its folder name, whatever the clone is called.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

let package = Package(
    name: "ClipTraceBenchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // Deterministic synthetic hashes and clips shared by the suites.
        .target(
            name: "SyntheticFingerprints",
            dependencies: [.product(name: "ClipTraceHashing", package: root)],
            path: "Benchmarks/SyntheticFingerprints"
        ),
        .executableTarget(
            name: "HashingBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "ClipTraceHashing", package: root),
            ],
            path: "Benchmarks/HashingBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "MatchingBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                "SyntheticFingerprints",
                .product(name: "ClipTraceEvidence", package: root),
                .product(name: "ClipTraceMatching", package: root),
                .product(name: "ClipTraceFingerprint", package: root),
                .product(name: "ClipTraceHashing", package: root),
                .product(name: "ClipTraceObservations", package: root),
            ],
            path: "Benchmarks/MatchingBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // Writes the real catalogue files of `large_catalogue.sh` (synthetic hashes, corners of real frames).
        .executableTarget(
            name: "LargeCatalogue",
            dependencies: [
                "SyntheticFingerprints",
                .product(name: "ClipTraceCatalogue", package: root),
                .product(name: "ClipTraceExtraction", package: root),
                .product(name: "ClipTraceFingerprint", package: root),
                .product(name: "ClipTraceHashing", package: root),
            ],
            path: "Benchmarks/LargeCatalogue"
        ),
        // Not a package-benchmark suite: one catalogue size per process, so that peak RSS belongs to that size.
        .executableTarget(
            name: "IndexScaling",
            dependencies: [
                "SyntheticFingerprints",
                .product(name: "ClipTraceEvidence", package: root),
                .product(name: "ClipTraceMatching", package: root),
                .product(name: "ClipTraceFingerprint", package: root),
                .product(name: "ClipTraceHashing", package: root),
                .product(name: "ClipTraceObservations", package: root),
            ],
            path: "Benchmarks/IndexScaling"
        ),
    ]
)
