// swift-tools-version: 6.1
// ClipTrace: find registered video clips inside other recordings.
//
// The targets follow the pipeline:
//   CFFmpeg (C shim) → ClipTraceDecoding → ClipTraceHashing → ClipTraceFingerprint
//   → ClipTraceExtraction → ClipTraceCatalogue → ClipTraceMatching → ClipTraceScanning → cliptrace (CLI)
import PackageDescription

// The pixel and index loops (hashing, corners, window search, matching) run 10-50x slower unoptimised, and the
// test suite drives the CLI on real media: optimise them in debug builds too, so `swift test` takes minutes.
let optimisedInDebug: [SwiftSetting] = [.unsafeFlags(["-O"], .when(configuration: .debug))]

let package = Package(
    name: "ClipTrace",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "cliptrace", targets: ["cliptrace"]),
        .library(name: "ClipTraceHashing", targets: ["ClipTraceHashing"]),
        .library(name: "ClipTraceFingerprint", targets: ["ClipTraceFingerprint"]),
        .library(name: "ClipTraceExtraction", targets: ["ClipTraceExtraction"]),
        .library(name: "ClipTraceCatalogue", targets: ["ClipTraceCatalogue"]),
        .library(name: "ClipTraceMatching", targets: ["ClipTraceMatching"]),
        .library(name: "ClipTraceScanning", targets: ["ClipTraceScanning"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // FFmpeg's C API, plus a shim that re-exports the macros Swift cannot import.
        .systemLibrary(
            name: "CFFmpeg",
            pkgConfig: "libavformat libavcodec libswscale libavutil",
            providers: [.apt(["libavformat-dev", "libavcodec-dev", "libswscale-dev", "libavutil-dev"])]
        ),
        // Demux + decode + sample by time + scale to a small luminance image. FFmpeg stays internal.
        .target(name: "ClipTraceDecoding", dependencies: ["CFFmpeg"]),
        // Pure Swift PDQ perceptual hash (no FFmpeg).
        .target(name: "ClipTraceHashing", swiftSettings: optimisedInDebug),
        // The fingerprint value type and its JSON / binary encodings (pure Swift).
        .target(name: "ClipTraceFingerprint", dependencies: ["ClipTraceHashing"]),
        // Video file → fingerprint: decoding + content-rectangle detection + hashing.
        .target(name: "ClipTraceExtraction", dependencies: ["ClipTraceDecoding", "ClipTraceHashing", "ClipTraceFingerprint"],
                swiftSettings: optimisedInDebug),
        // The catalogue of registered clips: a protocol and its SQLite (GRDB) store.
        .target(name: "ClipTraceCatalogue", dependencies: [
            "ClipTraceFingerprint",
            .product(name: "GRDB", package: "GRDB.swift"),
        ]),
        // Index + temporal alignment (pure Swift).
        .target(name: "ClipTraceMatching", dependencies: ["ClipTraceHashing", "ClipTraceFingerprint"],
                swiftSettings: optimisedInDebug),
        // Batch registration and scanning, with bounded parallelism and per-file errors.
        .target(name: "ClipTraceScanning", dependencies: [
            "ClipTraceExtraction", "ClipTraceCatalogue", "ClipTraceMatching", "ClipTraceFingerprint",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "cliptrace", dependencies: [
            "ClipTraceScanning", "ClipTraceExtraction", "ClipTraceCatalogue", "ClipTraceMatching",
            "ClipTraceFingerprint", "ClipTraceHashing",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Shared by the test targets: repository paths, temporary folders, running the built CLI.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "ClipTraceHashingTests", dependencies: ["ClipTraceHashing", "TestSupport"]),
        .testTarget(name: "ClipTraceFingerprintTests", dependencies: ["ClipTraceFingerprint", "TestSupport"]),
        .testTarget(name: "ClipTraceDecodingTests", dependencies: [
            "ClipTraceDecoding", "ClipTraceExtraction", "ClipTraceHashing", "ClipTraceFingerprint", "TestSupport",
        ]),
        .testTarget(name: "ClipTraceCatalogueTests", dependencies: [
            "ClipTraceCatalogue", "ClipTraceFingerprint", "ClipTraceHashing", "TestSupport",
        ]),
        .testTarget(name: "ClipTraceMatchingTests", dependencies: ["ClipTraceMatching", "ClipTraceFingerprint", "ClipTraceHashing", "TestSupport"]),
        .testTarget(name: "ClipTraceEndToEndTests", dependencies: [
            "ClipTraceScanning", "ClipTraceCatalogue", "ClipTraceExtraction", "ClipTraceMatching", "TestSupport",
        ]),
    ]
)
