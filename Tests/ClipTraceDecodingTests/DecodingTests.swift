import ClipTraceDecoding
import ClipTraceExtraction
import ClipTraceFingerprint
import ClipTraceHashing
import Foundation
import TestSupport
import Testing

@Suite("Decoding real files through FFmpeg")
struct DecodingTests {
    static func decodeAll(_ relative: String, rate: Double = 4, skipNonReference: Bool = false) throws
        -> (VideoStreamInfo, [SampledFrame], [String])
    {
        let options = DecodingOptions(samplesPerSecond: rate, skipNonReferenceFrames: skipNonReference)
        let decoder = try VideoDecoder(path: Repository.path(relative), options: options)
        var frames: [SampledFrame] = []
        while let frame = try decoder.nextSample() { frames.append(frame) }
        return (decoder.info, frames, decoder.warnings)
    }

    @Test("every container and codec decodes with increasing timestamps from zero",
          arguments: ["formats/vp9.webm", "formats/mpeg4.avi", "formats/ffv1.mkv", "formats/mpeg2.ts",
                      "formats/sorenson.flv", "formats/mjpeg.mov", "formats/odd_177x99.mkv",
                      "references/mandelbrot_zoom.mp4"])
    func formats(_ file: String) throws {
        let (info, frames, _) = try Self.decodeAll("testmedia/" + file)
        let expected = (info.duration ?? 0) * 4
        #expect(Double(frames.count) >= expected - 2 && Double(frames.count) <= expected + 2,
                "\(file): \(frames.count) samples for \(info.duration ?? -1) s")
        #expect(frames.first?.time ?? 1 < 0.05)
        for (a, b) in zip(frames, frames.dropFirst()) {
            #expect(b.time > a.time)
            #expect(abs(b.time - a.time - 0.25) < 0.06, "\(file): step \(b.time - a.time)")
        }
        #expect(frames.allSatisfy { max($0.image.width, $0.image.height) <= 512 })
    }

    @Test("skipping non-reference frames keeps each sample within a few frames of its time")
    func skippingNonReferenceFrames() throws {
        let (_, exact, _) = try Self.decodeAll("testmedia/references/mandelbrot_zoom.mp4")
        let (_, fast, _) = try Self.decodeAll("testmedia/references/mandelbrot_zoom.mp4", skipNonReference: true)
        #expect(abs(fast.count - exact.count) <= 2)
        for (index, frame) in fast.enumerated() {
            #expect(abs(frame.time - Double(index) * 0.25) <= 0.1, "sample \(index) at \(frame.time)")
        }
    }

    @Test("decoding only around stretches gives, inside them, the samples of a full decode and nothing far outside")
    func decodingOnlyStretches() throws {
        let path = Repository.path("testmedia/recordings/stream_with_mirrored_copy.mp4")
        var options = DecodingOptions(samplesPerSecond: 6)
        options.threads = 2
        let full = try VideoDecoder(path: path, options: options)
        var all: [SampledFrame] = []
        while let sample = try full.nextSample() { all.append(sample) }
        let stretches = [1.0...2.0, 12.0...13.0]  // keyframes at 0, 4 and 11.04 s
        let partial = try VideoDecoder(path: path, options: options)
        partial.decodeOnly(stretches)
        var some: [SampledFrame] = []
        while let sample = try partial.nextSample() { some.append(sample) }
        #expect(some.count < all.count * 2 / 3, "\(some.count) of \(all.count) samples")
        for stretch in stretches {
            let inside = all.filter { stretch.contains($0.time) }
            #expect(!inside.isEmpty)
            #expect(some.filter { stretch.contains($0.time) } == inside, "\(stretch)")
        }
        // Only the keyframe group before each stretch and a second after it.
        #expect(some.allSatisfy { sample in stretches.contains { $0.lowerBound - 2 <= sample.time && sample.time <= $0.upperBound + 1.5 } })
        for (a, b) in zip(some, some.dropFirst()) { #expect(b.time > a.time) }
    }

    @Test("keyframes only: each keyframe is a sample, followed by its companion a fraction of a second later")
    func keyframeCompanions() throws {
        let path = Repository.path("testmedia/recordings/stream_with_mirrored_copy.mp4")
        var options = DecodingOptions(keyFramesOnly: true)
        options.threads = 2
        let decoder = try VideoDecoder(path: path, options: options)
        var samples: [SampledFrame] = []
        while let sample = try decoder.nextSample() { samples.append(sample) }
        let keyframes = samples.filter { !$0.isCompanion }, companions = samples.filter(\.isCompanion)
        #expect(keyframes.count == 3 && zip(keyframes, [0, 4, 11.04]).allSatisfy { abs($0.time - $1) < 0.001 },
                "\(samples.map { ($0.time, $0.isCompanion) })")
        #expect(companions.count == keyframes.count)
        for (keyframe, companion) in zip(keyframes, companions) {
            #expect(companion.time > keyframe.time && companion.time < keyframe.time + 0.5)
            #expect(companion.image.width == keyframe.image.width && companion.image != keyframe.image)
        }
        // In stream order: each companion right after its keyframe.
        for (a, b) in zip(samples, samples.dropFirst()) { #expect(b.isCompanion != a.isCompanion) }
    }

    @Test("keyframes only: open groups of pictures (x265) give companions only just after their keyframe; all-intra none")
    func keyframeCompanionsElsewhere() throws {
        func decode(_ path: String) throws -> [SampledFrame] {
            var options = DecodingOptions(keyFramesOnly: true)
            options.threads = 2
            let decoder = try VideoDecoder(path: path, options: options)
            var samples: [SampledFrame] = []
            while let sample = try decoder.nextSample() { samples.append(sample) }
            return samples
        }
        let intra = try decode(Repository.path("testmedia/formats/mjpeg.mov"))
        #expect(intra.count >= 2 && intra.allSatisfy { !$0.isCompanion })
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let openGOP = folder.file("open-gop.mp4")
        let encoded = try run("/usr/bin/env", ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i",
                                               Repository.path("testmedia/recordings/stream_with_mirrored_copy.mp4"),
                                               "-t", "6", "-c:v", "libx265", "-preset", "ultrafast",
                                               "-x265-params", "keyint=25:min-keyint=25:open-gop=1:bframes=3:log-level=error",
                                               "-an", openGOP])
        #expect(encoded.status == 0, "\(encoded.stderr)")
        let samples = try decode(openGOP)
        let keyframes = samples.filter { !$0.isCompanion }
        #expect(keyframes.count >= 4, "\(samples.map { ($0.time, $0.isCompanion) })")
        for (index, sample) in samples.enumerated() where sample.isCompanion {
            let keyframe = try #require(samples[..<index].last { !$0.isCompanion })
            #expect(sample.time > keyframe.time && sample.time - keyframe.time < 0.5, "\(sample.time) after \(keyframe.time)")
        }
    }

    @Test("raw H.264 without timestamps gets synthesized ones", arguments: [false, true])
    func rawH264(skipNonReference: Bool) throws {
        let (info, frames, _) = try Self.decodeAll("testmedia/formats/raw.h264", skipNonReference: skipNonReference)
        #expect(info.codec == "h264")
        #expect(frames.count >= 7 && frames.count <= 9)
        let last = try #require(frames.last)
        #expect(last.time > 1.5 && last.time < 2.1)
    }

    @Test("variable frame rate is sampled by time, not by frame count")
    func variableFrameRate() throws {
        let (_, frames, _) = try Self.decodeAll("testmedia/formats/vfr.mp4", rate: 10)
        // 10 fps for a second then 30 fps: sampling at 10/s gives about 20 samples over 2 s.
        #expect(frames.count >= 18 && frames.count <= 21)
        #expect(abs((frames.last?.time ?? 0) - 1.9) < 0.15)
    }

    @Test("the display matrix of a phone recording is honoured as FFmpeg itself turns it")
    func rotation() throws {
        let (info, frames, _) = try Self.decodeAll("testmedia/formats/rotated90.mp4")
        // The stream carries a display matrix of 90° counter-clockwise (ffprobe's "rotation": 90): shown turned
        // 270° clockwise, as the ffmpeg tool's autorotation shows it.
        #expect(info.rotation == 270)
        #expect(info.width == 180 && info.height == 320)
        let first = try #require(frames.first)
        #expect(first.image.width < first.image.height)
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let shown = folder.file("autorotated.png")
        let made = try run("/usr/bin/env", ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i",
                                            Repository.path("testmedia/formats/rotated90.mp4"), "-frames:v", "1", shown])
        try #require(made.status == 0, "\(made.stderr)")
        let options = ExtractionOptions(detectContentRectangle: false)
        let ours = try #require(try Fingerprinter(options: options)
            .extract(path: Repository.path("testmedia/formats/rotated90.mp4")).reference.frames.first)
        let ffmpegs = try #require(try Fingerprinter(options: options).extract(path: shown).reference.frames.first)
        #expect(ours.hash.distance(to: ffmpegs.hash) <= 8, "\(ours.hash.distance(to: ffmpegs.hash)) bits apart")
    }

    @Test("still images decode as one frame at time zero", arguments: ["bars.webp", "testsrc.jpg", "mandelbrot.png"])
    func stills(_ name: String) throws {
        let (info, frames, _) = try Self.decodeAll("testmedia/images/" + name)
        #expect(info.isStillImage)
        #expect(frames.count == 1)
        #expect(frames.first?.time == 0)
    }

    @Test("bad input gets a specific error, never a crash",
          arguments: [
            ("testmedia/does-not-exist.mp4", DecodingError.Code.notFound),
            ("testmedia/formats", .isDirectory),
            ("testmedia/bad/empty.mp4", .emptyFile),
            ("testmedia/bad/text.mp4", .unrecognizedFormat),
            ("testmedia/bad/truncated_header.mp4", .unrecognizedFormat),
            ("testmedia/formats/audio_only.m4a", .noVideoStream),
          ])
    func badInput(_ file: String, _ code: DecodingError.Code) {
        do {
            _ = try Self.decodeAll(file)
            Issue.record("\(file) decoded without error")
        } catch let error as DecodingError {
            #expect(error.code == code, "\(file): \(error)")
            #expect(!error.message.isEmpty)
        } catch {
            Issue.record("\(file): unexpected \(error)")
        }
    }

    @Test("corrupt packets: the frames that decode are kept, with a warning")
    func corruptPackets() throws {
        let (_, frames, warnings) = try Self.decodeAll("testmedia/bad/corrupt_packets.ts")
        #expect(frames.count >= 4)
        // FFmpeg patches the damage from neighbouring pictures and flags the frames it patched.
        #expect(warnings.contains { $0.contains("concealed") }, "\(warnings)")
        let (_, _, clean) = try Self.decodeAll("testmedia/formats/mpeg2.ts")
        #expect(clean.isEmpty, "\(clean)")
    }

    @Test("a timestamp that jumps by thousands of years ends the stream with a warning instead of a hang")
    func timestampJump() throws {
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        // 0.8 s of frames, then frames stamped 10^12 s later, in a live Matroska stream that declares no duration.
        let jumping = folder.file("jump.mkv")
        // Written to a pipe, so the muxer cannot go back and declare a duration (which ClipTrace would refuse).
        let made = try run("/bin/sh", ["-c", """
            ffmpeg -nostdin -v error -f lavfi -t 2 -i testsrc2=size=160x120:rate=25 \
              -vf "setpts='N/(25*TB)+if(gte(N,20),1e12/TB,0)'" -c:v libx264 -preset veryfast -bf 0 -f matroska - > '\(jumping)'
            """])
        try #require(made.status == 0, "\(made.stderr)")
        let binary = try Repository.cliptraceBinary()
        let result = try run(binary, ["fingerprint", "-q", "--format", "text", jumping], timeout: 60)
        #expect(!result.timedOut, "the decoder hung on a timestamp jump")
        #expect(result.status == 0, "\(result.stderr)")
        let frames = result.stdout.split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(frames.count >= 5 && frames.count <= 8, "\(frames.count) frames")
        #expect(result.stderr.contains("beyond a week"), "\(result.stderr)")
    }

    @Test("a file cut in half yields the first half")
    func truncated() throws {
        let result = try Fingerprinter().extract(path: Repository.path("testmedia/bad/truncated_half.mp4"))
        #expect(result.reference.frames.count >= 8)
        #expect(result.reference.frames.count < 40)
    }
}

@Suite("Fingerprints of real media")
struct FingerprintMediaTests {
    @Test("PDQ conformance: hashes of quality >= 80 within 10 bits of Meta's reference on testmedia images and frames")
    func conformance() throws {
        struct Golden: Decodable {
            struct Media: Decodable { var file: String; var hash: String; var quality: Int }
            var media: [Media]
        }
        let data = try Data(contentsOf: URL(fileURLWithPath: Repository.path("Tests/Golden/pdq_golden.json")))
        let golden = try JSONDecoder().decode(Golden.self, from: data)
        #expect(golden.media.count >= 8)
        var distances: [Int] = []
        // Conformance is about the hash of the image as given: no bar removal.
        let options = ExtractionOptions(detectContentRectangle: false)
        for vector in golden.media {
            let result = try Fingerprinter(options: options).extract(path: Repository.path(vector.file))
            let frame = try #require(result.reference.frames.first)
            let expected = try #require(PDQHash(hexString: vector.hash))
            let distance = frame.hash.distance(to: expected)
            if vector.quality >= 80 {
                distances.append(distance)
                #expect(distance <= 10, "\(vector.file): \(distance) bits from the reference")
            }
        }
        distances.sort()
        let median = distances[distances.count / 2]
        print("PDQ conformance: \(distances.count) hashes, median distance \(median), max \(distances.last ?? -1)")
        #expect(median <= 4)
    }

    @Test("the same clip re-encoded hashes close; a different clip does not")
    func stability() throws {
        let reference = try Fingerprinter().extract(path: Repository.path("testmedia/references/mandelbrot_zoom.mp4"))
        let other = try Fingerprinter().extract(path: Repository.path("testmedia/references/spinning_pattern.mp4"))
        #expect(reference.reference.frames.count == Int(12 * ExtractionOptions.referenceSamplesPerSecond))
        #expect(reference.info.codec == "h264")
        #expect(abs(reference.reference.duration - 12) < 0.1)
        let pairs = zip(reference.reference.frames, other.reference.frames).map { $0.hash.distance(to: $1.hash) }
        #expect(pairs.sorted()[pairs.count / 2] > 80)
    }

    @Test("letterbox bars are found and removed")
    func contentRectangle() {
        // A 200x150 picture of noise-like texture with 25-pixel black bars top and bottom.
        var generator = SplitMix(seed: 3)
        var pixels = [UInt8](repeating: 0, count: 200 * 150)
        for y in 25..<125 { for x in 0..<200 { pixels[y * 200 + x] = UInt8(truncatingIfNeeded: generator.next() % 200 + 30) } }
        let region = ContentRectangle.detect(in: LumaImage(width: 200, height: 150, pixels: pixels))
        #expect(region == PixelRegion(x: 0, y: 25, width: 200, height: 100))
        let flat = ContentRectangle.detect(in: LumaImage(width: 200, height: 150, pixels: [UInt8](repeating: 9, count: 30_000)))
        #expect(flat == nil)
    }

    @Test("the bar search's line statistics, summed in integers, are the mean, mean absolute deviation and gradient",
          arguments: [(200, 150), (9_000, 12), (12, 9_000)])
    func lineStatistics(width: Int, height: Int) {
        // Wide and tall images make the 32-bit sums go in several chunks.
        var generator = SplitMix(seed: UInt64(width))
        let pixels = (0..<width * height).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        for rows in [true, false] {
            let (count, length) = rows ? (height, width) : (width, height)
            let lines = pixels.withUnsafeBufferPointer {
                ContentRectangle.lines($0, width: width, height: height, rows: rows)
            }
            for line in 0..<count {
                let values = (0..<length).map { Double(pixels[rows ? line * width + $0 : $0 * width + line]) }
                let mean = values.reduce(0, +) / Double(length)
                let deviation = values.reduce(0) { $0 + abs($1 - mean) } / Double(length)
                let gradient = zip(values, values.dropFirst()).reduce(0) { $0 + abs($1.1 - $1.0) } / Double(length - 1)
                #expect(abs(lines.mean[line] - mean) < 1e-9 && abs(lines.deviation[line] - deviation) < 1e-9
                        && abs(lines.gradient[line] - gradient) < 1e-9, "line \(line) of \(rows ? "rows" : "columns")")
            }
        }
    }

    @Test("the window detector's selection returns what a full sort would")
    func kthSmallest() {
        var generator = SplitMix(seed: 11)
        for trial in 0..<90 {
            let count = 1 + Int(generator.next() % 3_000)
            // Many equal values, like a motion map that is zero wherever nothing moves; then many distinct ones
            // sharing the counting pass's bins; then some negative, which the counting pass leaves to the full
            // selection.
            let values = (0..<count).map { _ in
                switch trial % 3 {
                case 0: generator.next() % 3 == 0 ? Float(0) : Float(generator.next() % 64) / 4
                case 1: Float(generator.next() % 1_000_000) / 977
                default: Float(Int(generator.next() % 2_000) - 300) / 7
                }
            }
            let sorted = values.sorted()
            for k in Set([0, count / 2, count * 3 / 4, count * 9 / 10, count - 1]) {
                #expect(WindowDetector.kthSmallest(values, k) == sorted[k], "trial \(trial), k \(k) of \(count)")
            }
        }
    }
}

@Suite("Thumbnails for reports")
struct ThumbnailTests {
    /// Writes a thumbnail to disk and hashes it the way a fingerprint hashes a frame.
    static func hash(of thumbnail: Thumbnail, in folder: TemporaryFolder) throws -> PDQHash {
        let file = folder.file("thumbnail-\(thumbnail.requestedTime).jpg")
        try Data(thumbnail.jpeg).write(to: URL(fileURLWithPath: file))
        let result = try Fingerprinter(options: ExtractionOptions(detectContentRectangle: false)).extract(path: file)
        return try #require(result.reference.frames.first).hash
    }

    @Test("pictures come from the asked moments, in the asked order, seeking or not",
          arguments: ["references/mandelbrot_zoom.mp4", "references/life_colony.mp4", "formats/raw.h264",
                      "formats/vp9.webm", "formats/mpeg2.ts"])
    func moments(_ file: String) throws {
        let path = Repository.path("testmedia/" + file)
        let folder = try TemporaryFolder("cliptrace-thumbnails")
        defer { folder.cleanUp() }
        let fingerprint = try Fingerprinter(options: ExtractionOptions(detectContentRectangle: false))
            .extract(path: path).reference
        let times = [0.5, 0.1, 0.85, 0, 0.3].map { ($0 * fingerprint.duration * 4).rounded() / 4 }
        let pictures = try VideoDecoder.thumbnails(path: path, at: times, maxSide: 160)
        #expect(pictures.map(\.requestedTime) == times)
        for picture in pictures {
            #expect(Array(picture.jpeg.prefix(2)) == [0xFF, 0xD8], "a JPEG")
            #expect(max(picture.width, picture.height) == 160)
            #expect(abs(picture.time - picture.requestedTime) <= 0.05, "\(file): asked \(picture.requestedTime), got \(picture.time)")
            // The picture shows that moment: its hash is nearest the fingerprint frame of the same time.
            let hash = try Self.hash(of: picture, in: folder)
            let nearest = try #require(fingerprint.frames.min {
                abs($0.time - picture.requestedTime) < abs($1.time - picture.requestedTime)
            })
            let elsewhere = fingerprint.frames.filter { abs($0.time - picture.requestedTime) >= 0.5 }
                .map { $0.hash.distance(to: hash) }.min() ?? 256
            // (JPEG at 160 px blurs the cellular automaton's fine grain, hence the loose absolute bound.)
            #expect(nearest.hash.distance(to: hash) < 80 && nearest.hash.distance(to: hash) < elsewhere,
                    "\(file) at \(picture.requestedTime): \(nearest.hash.distance(to: hash)) vs \(elsewhere) elsewhere")
        }
    }

    @Test("rotation is applied, times past the end show the last frame, stills work")
    func edges() throws {
        let rotated = try VideoDecoder.thumbnails(path: Repository.path("testmedia/formats/rotated90.mp4"), at: [0.5])
        let decoder = try VideoDecoder(path: Repository.path("testmedia/formats/rotated90.mp4"))
        let shown = try #require(rotated.first)
        #expect((shown.width > shown.height) == (decoder.info.width > decoder.info.height))
        let late = try VideoDecoder.thumbnails(path: Repository.path("testmedia/references/life_colony.mp4"), at: [999])
        #expect(late.first.map { $0.time > 9 && $0.time < 10.1 } == true)
        let still = try VideoDecoder.thumbnails(path: Repository.path("testmedia/images/testsrc.jpg"), at: [0, 3])
        #expect(still.count == 2 && still.allSatisfy { $0.time == 0 && $0.jpeg.count > 100 })
        #expect(throws: DecodingError.self) {
            try VideoDecoder.thumbnails(path: Repository.path("testmedia/formats/audio_only.m4a"), at: [1])
        }
    }
}

@Suite("Memory over many files")
struct LeakTests {
    /// Resident memory of a process in bytes (Linux /proc), or nil once it has exited.
    static func residentBytes(of pid: Int32) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return nil }
        let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        return fields.count > 1 ? (Int(fields[1]) ?? 0) * 1024 : nil
    }

    /// One `cliptrace scan --jobs 1` over many good and broken files (decoding, hashing, matching, error paths)
    /// in its own process, so that the other tests running in this one cannot move the figure: a leak of even
    /// 100 KB per file shows as resident memory that keeps rising. (Thumbnails run once, at the end of an HTML
    /// report, so they would blur the trend; LeakSanitizer checks them in `make sanitize`.)
    @Test("scanning good and broken files over and over keeps memory flat (CLIPTRACE_LEAK_FILES, 1,000 in make torture)")
    func manyFiles() throws {
        let count = Int(ProcessInfo.processInfo.environment["CLIPTRACE_LEAK_FILES"] ?? "") ?? 90
        let sources = ["formats/vp9.webm", "formats/mpeg4.avi", "formats/ffv1.mkv", "formats/mpeg2.ts", "formats/raw.h264",
                       "formats/sorenson.flv", "formats/mjpeg.mov", "formats/rotated90.mp4", "formats/audio_only.m4a",
                       "images/testsrc.jpg", "bad/corrupt_packets.ts", "bad/empty.mp4", "bad/text.mp4",
                       "bad/truncated_half.mp4", "bad/truncated_header.mp4"].map { Repository.path("testmedia/" + $0) }
        let binary = try Repository.cliptraceBinary()
        let folder = try TemporaryFolder("cliptrace-leak")
        defer { folder.cleanUp() }
        let catalogue = folder.file("catalogue.sqlite")
        let registered = try run(binary, ["register", "-q", "--catalogue", catalogue,
                                          Repository.path("testmedia/references/mandelbrot_zoom.mp4")])
        #expect(registered.status == 0)
        let batch = folder.file("batch")
        try FileManager.default.createDirectory(atPath: batch, withIntermediateDirectories: true)
        for index in 0..<count {
            let source = sources[index % sources.count]
            try FileManager.default.linkItem(atPath: source, toPath: batch + String(format: "/%05d_", index)
                + (source as NSString).lastPathComponent)
        }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["scan", "-q", "--jobs", "1", "--catalogue", catalogue, batch]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        var samples: [Int] = []
        while process.isRunning {
            if let bytes = Self.residentBytes(of: process.processIdentifier) { samples.append(bytes) }
            usleep(20_000)
        }
        process.waitUntilExit()
        #expect(process.terminationStatus == 1, "some of the files are broken")
        try #require(samples.count >= 20, "too few samples to judge (\(samples.count))")
        // Peak of the second quarter against peak of the last quarter: warm-up done, then flat.
        let quarter = samples.count / 4
        let early = samples[quarter..<(2 * quarter)].max() ?? 0
        let late = samples[(3 * quarter)...].max() ?? 0
        #expect(late - early < 16 << 20, "resident memory rose by \((late - early) >> 10) KiB over \(count) files")
        print("leak check: \(count) files, resident \(early >> 20) MB early, \(late >> 20) MB late, \(samples.count) samples")
    }
}
