// Writes a large, real catalogue file for `Benchmarks/large_catalogue.sh`: HOURS hours of synthetic
// 10-minute clips, registered one transaction each through the SQLite catalogue, in the shape
// `cliptrace register` gives real video.
//
//   LargeCatalogue HOURS CATALOGUE [--no-corners] [VIDEO...]
//
// Hashes: 8 per second, drifting 6 bits from frame to frame with a cut every 20 frames (the IndexScaling
// shape). Corners: 44 once a second, taken from real frames: the VIDEOs are fingerprinted with FFmpeg as
// `register` does, and each synthetic clip walks through their corner frames from its own starting point with
// every descriptor XORed by a mask of its own, so each clip keeps real corner layouts and descriptor structure
// while no two clips share corners (as different content would not). `--no-corners` leaves them out.
import ClipTraceCatalogue
import ClipTraceExtraction
import ClipTraceFingerprint
import ClipTraceHashing
import Foundation
import SyntheticFingerprints

let arguments = Array(CommandLine.arguments.dropFirst())
guard arguments.count >= 2, let hours = Int(arguments[0]), hours > 0 else {
    FileHandle.standardError.write(Data("usage: LargeCatalogue HOURS CATALOGUE [--no-corners] [VIDEO...]\n".utf8))
    exit(64)
}
let path = arguments[1]
let withCorners = !arguments.contains("--no-corners")
let videos = arguments.dropFirst(2).filter { $0 != "--no-corners" }
guard !FileManager.default.fileExists(atPath: path) else {
    FileHandle.standardError.write(Data("\(path) exists; give a new path\n".utf8))
    exit(1)
}

var pool: [[LocalFeature]] = []
if withCorners {
    for video in videos {
        do {
            let extracted = try Fingerprinter(options: .reference).extract(path: video)
            pool += extracted.reference.cornerFrames.map(\.corners).filter { $0.count >= 12 }
        } catch {
            FileHandle.standardError.write(Data("\(video): \(error.message)\n".utf8))
        }
    }
    guard !pool.isEmpty else {
        FileHandle.standardError.write(Data("no corner frames: give real videos to take them from\n".utf8))
        exit(1)
    }
}

let catalogue = try SQLiteCatalogue(path: path, access: .create)
let clipSeconds = 600, rate = 8.0
let started = Date()
for clip in 0..<(hours * 6) {
    let hashes = SyntheticGenerator.clipHashes(seed: 0xC11F_0000 &+ UInt64(clip), count: Int(Double(clipSeconds) * rate))
    var generator = SyntheticGenerator(seed: 0xC0_4E55 &+ UInt64(clip))
    var cornerFrames: [ReferenceFingerprint.CornerFrame] = []
    if withCorners {
        let mask = generator.hash()
        let start = Int(generator.next() % UInt64(pool.count))
        for second in 0..<clipSeconds {
            let corners = pool[(start + second) % pool.count].map { corner in
                LocalFeature(x: corner.x, y: corner.y,
                             descriptor: PDQHash(w0: corner.descriptor.w0 ^ mask.w0, w1: corner.descriptor.w1 ^ mask.w1,
                                                 w2: corner.descriptor.w2 ^ mask.w2, w3: corner.descriptor.w3 ^ mask.w3))
            }
            cornerFrames.append(.init(time: Double(second), corners: corners))
        }
    }
    let fingerprint = ReferenceFingerprint(
        duration: Double(clipSeconds), frameRate: 25, width: 1280, height: 720, rotation: 0, codec: "h264",
        sampleRate: rate, frames: hashes.enumerated().map { .init(time: Double($0.offset) / rate, hash: $0.element, quality: 90) },
        cornerFrames: cornerFrames)
    let digest = (0..<4).map { _ in String(format: "%016llx", generator.next()) }.joined()
    _ = try catalogue.register(NewClip(title: "synthetic \(clip + 1)", owner: "benchmark", sourcePath: "/synthetic/\(clip + 1).mp4",
                                       sha256: digest, size: 100_000_000, fingerprint: fingerprint))
    if (clip + 1) % 600 == 0 {
        FileHandle.standardError.write(Data(String(format: "%d of %d hours written, %.0f s\n", (clip + 1) / 6, hours,
                                                   Date().timeIntervalSince(started)).utf8))
    }
}
print(String(format: "wrote %d clips (%d h, corners %@) in %.0f s", hours * 6, hours, withCorners ? "from \(pool.count) real frames" : "none",
             Date().timeIntervalSince(started)))
