// swift-tools-version: 6.1
// ClipTrace: find registered video clips inside other recordings.
//
// The targets follow the pipeline:
//   CFFmpeg (C shim) → ClipTraceDecoding (frames) → ClipTraceExtraction (views, windows, corners)
//     → ClipTraceObservations (what a query shows; never stored)
//     → ClipTraceEvidence (hash and corner indexes: each emits votes)
//     → ClipTraceAlignment (one temporal aligner for every vote)
//     → ClipTraceMatching (a catalogue search: sources → aligner → matches)
//     → ClipTraceIndex (the search index saved beside a catalogue, mapped instead of rebuilt)
//     → ClipTraceScanning (batches, registration, reports) → cliptrace (CLI)
//   beside them: ClipTraceHashing (PDQ, corners; pure Swift), ClipTraceFingerprint (the stored reference format)
//   and ClipTraceCatalogue (storage behind one protocol: SQLite; ClipTracePostgres: PostgreSQL and its job queue),
//   ClipTraceWorkers (scan workers on many machines, fed by that queue).
import PackageDescription

let package = Package(
    name: "ClipTrace",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "cliptrace", targets: ["cliptrace"]),
        .library(name: "ClipTraceDecoding", targets: ["ClipTraceDecoding"]),
        .library(name: "ClipTraceHashing", targets: ["ClipTraceHashing"]),
        .library(name: "ClipTraceFingerprint", targets: ["ClipTraceFingerprint"]),
        .library(name: "ClipTraceObservations", targets: ["ClipTraceObservations"]),
        .library(name: "ClipTraceExtraction", targets: ["ClipTraceExtraction"]),
        .library(name: "ClipTraceAlignment", targets: ["ClipTraceAlignment"]),
        .library(name: "ClipTraceEvidence", targets: ["ClipTraceEvidence"]),
        .library(name: "ClipTraceMatching", targets: ["ClipTraceMatching"]),
        .library(name: "ClipTraceCatalogue", targets: ["ClipTraceCatalogue"]),
        .library(name: "ClipTraceIndex", targets: ["ClipTraceIndex"]),
        .library(name: "ClipTraceScanning", targets: ["ClipTraceScanning"]),
        .library(name: "ClipTracePostgres", targets: ["ClipTracePostgres"]),
        .library(name: "ClipTraceWorkers", targets: ["ClipTraceWorkers"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
    ],
    targets: [
        // FFmpeg's C API, plus a shim that re-exports the macros Swift cannot import.
        .systemLibrary(
            name: "CFFmpeg",
            pkgConfig: "libavformat libavcodec libswscale libavutil",
            providers: [.apt(["libavformat-dev", "libavcodec-dev", "libswscale-dev", "libavutil-dev"])]
        ),
        // Demux + decode + sample by time + scale to a small luminance image; thumbnails. FFmpeg stays internal.
        .target(name: "ClipTraceDecoding", dependencies: ["CFFmpeg"]),
        // PDQ perceptual hash and corner descriptors, pure Swift (no FFmpeg, no Foundation).
        .target(name: "ClipTraceHashing"),
        // The stored, versioned reference fingerprint and its binary / JSON / vPDQ encodings.
        .target(name: "ClipTraceFingerprint", dependencies: ["ClipTraceHashing"]),
        // A query's observations: each frame under several views, corners of its regions. Never stored.
        .target(name: "ClipTraceObservations", dependencies: ["ClipTraceHashing"]),
        // Video file → observations (and the reference fingerprint they contain): content rectangle, windows,
        // hashes of each view, corners.
        .target(name: "ClipTraceExtraction", dependencies: [
            "ClipTraceDecoding", "ClipTraceHashing", "ClipTraceFingerprint", "ClipTraceObservations",
        ]),
        // Votes and the one temporal aligner that turns them into segments (pure Swift; no index, no media).
        .target(name: "ClipTraceAlignment", dependencies: ["ClipTraceObservations"]),
        // Evidence sources: the hash indexes (direct, seeded) and the corner index, each emitting votes.
        .target(name: "ClipTraceEvidence", dependencies: [
            "ClipTraceAlignment", "ClipTraceFingerprint", "ClipTraceHashing", "ClipTraceObservations",
        ]),
        // A catalogue search: sources → one aligner → matches of catalogue clips.
        .target(name: "ClipTraceMatching", dependencies: [
            "ClipTraceEvidence", "ClipTraceAlignment", "ClipTraceFingerprint", "ClipTraceObservations",
        ]),
        // The catalogue of registered clips: a protocol and its SQLite (GRDB) store.
        .target(name: "ClipTraceCatalogue", dependencies: [
            "ClipTraceFingerprint",
            .product(name: "GRDB", package: "GRDB.swift"),
        ]),
        // The search index saved beside a catalogue: segment files mapped into memory, kept up to date with
        // the catalogue, rebuilt when damaged.
        .target(name: "ClipTraceIndex", dependencies: [
            "ClipTraceCatalogue", "ClipTraceEvidence", "ClipTraceFingerprint", "ClipTraceMatching",
        ]),
        // Batch registration and scanning, with bounded parallelism and per-file errors; reports.
        .target(name: "ClipTraceScanning", dependencies: [
            "ClipTraceAlignment", "ClipTraceCatalogue", "ClipTraceDecoding", "ClipTraceEvidence", "ClipTraceExtraction",
            "ClipTraceFingerprint", "ClipTraceHashing", "ClipTraceIndex", "ClipTraceMatching", "ClipTraceObservations",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The catalogue and the job queue on a PostgreSQL server (postgres-nio), for many machines.
        .target(name: "ClipTracePostgres", dependencies: [
            "ClipTraceCatalogue", "ClipTraceFingerprint",
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Scan workers: claim jobs from the PostgreSQL queue, scan them against a shard of the catalogue.
        .target(name: "ClipTraceWorkers", dependencies: [
            "ClipTraceCatalogue", "ClipTraceExtraction", "ClipTraceIndex", "ClipTraceMatching", "ClipTracePostgres",
            "ClipTraceScanning",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
        ]),
        .executableTarget(name: "cliptrace", dependencies: [
            "ClipTraceAlignment", "ClipTraceCatalogue", "ClipTraceDecoding", "ClipTraceExtraction", "ClipTraceFingerprint",
            "ClipTraceHashing", "ClipTraceIndex", "ClipTraceMatching", "ClipTracePostgres", "ClipTraceScanning",
            "ClipTraceWorkers",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            // watch --webhook: events POSTed on the NIO event loops the PostgreSQL client already uses.
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Shared by the test targets: repository paths, temporary folders, running the built CLI.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "ClipTraceHashingTests", dependencies: ["ClipTraceHashing", "TestSupport"]),
        .testTarget(name: "ClipTraceFingerprintTests", dependencies: [
            "ClipTraceFingerprint", "ClipTraceHashing", "TestSupport",
        ]),
        .testTarget(name: "ClipTraceDecodingTests", dependencies: [
            "ClipTraceDecoding", "ClipTraceExtraction", "ClipTraceHashing", "ClipTraceFingerprint", "TestSupport",
        ]),
        .testTarget(name: "ClipTraceCatalogueTests", dependencies: [
            "ClipTraceCatalogue", "ClipTraceFingerprint", "ClipTraceHashing", "TestSupport",
            .product(name: "GRDB", package: "GRDB.swift"),
        ]),
        .testTarget(name: "ClipTraceAlignmentTests", dependencies: [
            "ClipTraceAlignment", "ClipTraceHashing", "ClipTraceObservations", "TestSupport",
        ]),
        .testTarget(name: "ClipTraceMatchingTests", dependencies: [
            "ClipTraceAlignment", "ClipTraceEvidence", "ClipTraceMatching", "ClipTraceFingerprint",
            "ClipTraceHashing", "ClipTraceObservations", "TestSupport",
        ]),
        .testTarget(name: "ClipTraceIndexTests", dependencies: [
            "ClipTraceCatalogue", "ClipTraceEvidence", "ClipTraceFingerprint", "ClipTraceHashing", "ClipTraceIndex",
            "ClipTraceMatching", "ClipTraceObservations", "TestSupport",
        ]),
        .testTarget(name: "ClipTraceEndToEndTests", dependencies: [
            "ClipTraceCatalogue", "ClipTraceDecoding", "ClipTraceExtraction", "ClipTraceMatching", "ClipTraceScanning", "TestSupport",
        ]),
        // Against a real PostgreSQL server the tests start themselves (initdb + pg_ctl, as an unprivileged user).
        .testTarget(name: "ClipTracePostgresTests", dependencies: [
            "ClipTraceCatalogue", "ClipTracePostgres", "TestSupport",
        ]),
    ]
)
