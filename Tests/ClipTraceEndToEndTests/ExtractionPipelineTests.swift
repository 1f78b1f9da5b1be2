import ClipTraceCatalogue
import ClipTraceDecoding
import ClipTraceExtraction
import ClipTraceMatching
import ClipTraceScanning
import Foundation
import TestSupport
import Testing

/// The extraction that decodes on its own thread, a few frames ahead, and observes frames on several threads
/// in batches observes exactly what one thread decoding and observing in turn does: the pipeline changes when
/// work happens, never its result.
@Suite("Extraction pipeline")
struct ExtractionPipelineTests {
    @Test("decoding ahead and observing on 2 or 3 threads gives the same observations, frame for frame, as one thread",
          arguments: [2, 3])
    func pipelinedEqualsSequential(threads: Int) throws {
        for name in ["recordings/stream_with_window_copy.mp4", "recordings/stream_with_cropped_copy.mp4", "formats/vfr.mp4"] {
            let path = Repository.path("testmedia/\(name)")
            var options = ExtractionOptions.query
            // The decoder's thread count is also the number of threads that observe frames.
            options.decoding.threads = threads
            let pipelined = try Fingerprinter(options: options).extract(path: path)
            options.decoding.threads = 1
            let decoder = try VideoDecoder(path: path, options: options.decoding)
            let stream = ObservationStream(options: options)
            while let sample = try decoder.nextSample() { stream.push(sample) }
            stream.finish()
            #expect(!stream.frames.isEmpty)
            #expect(pipelined.observations.frames == stream.frames, "\(name)")
            #expect(pipelined.observations.cornerFrames == stream.cornerFrames, "\(name)")
            #expect(pipelined.partFrames == stream.partFrames, "\(name)")
        }
    }
}

/// A recording searched ten seconds at a time while it is decoded (what `scan` does against a small catalogue)
/// gets exactly the votes and matches of one search of the whole recording.
@Suite("Search in pieces")
struct PiecewiseSearchTests {
    static let references = ["life_colony", "mandelbrot_zoom", "spinning_pattern"]

    static func matcher() throws -> CatalogueMatcher {
        let clips = try references.enumerated().map { index, name in
            let extraction = try Fingerprinter(options: .reference).extract(path: Repository.path("testmedia/references/\(name).mp4"))
            return (IndexedClip(id: Int64(index + 1), title: name, duration: extraction.observations.duration),
                    extraction.reference)
        }
        return CatalogueMatcher(clips: clips, strategy: .direct, corners: .on)
    }

    @Test("pieces of 1.5 s (or a batch of frames) joined give the whole query's votes, in the same order, and the same matches",
          arguments: ["stream_with_cropped_copy", "stream_with_compilation", "stream_with_mirrored_copy"])
    func piecesEqualWhole(recording: String) throws {
        let matcher = try Self.matcher()
        #expect(matcher.searchesMomentByMoment && matcher.searchesCorners)
        let path = Repository.path("testmedia/recordings/\(recording).mp4")
        let whole = try Fingerprinter(options: .query).extract(path: path)
        var pieces: [QueryEvidence] = []
        var frameCounts: [Int] = []
        let lean = try Fingerprinter(options: .query).extract(path: path, pieceSeconds: 1.5) { piece in
            frameCounts.append(piece.frames.count)
            do { pieces.append(try matcher.evidence(for: piece)) } catch { Issue.record(error) }
        }
        #expect(pieces.count >= 3, "the recording came in several pieces")
        #expect(frameCounts.reduce(0, +) == whole.observations.frames.count)
        // What was kept: moments only (times, qualities, content shares); no hashes, no corners.
        #expect(lean.observations.frames.map(\.time) == whole.observations.frames.map(\.time))
        #expect(lean.observations.frames.map(\.quality) == whole.observations.frames.map(\.quality))
        #expect(lean.observations.frames.map(\.contentShare) == whole.observations.frames.map(\.contentShare))
        #expect(lean.observations.frames.allSatisfy { $0.hashes.isEmpty })
        #expect(lean.observations.cornerFrames.allSatisfy { $0.corners.isEmpty })

        let joined = matcher.evidence(joining: &pieces, of: lean.observations)
        #expect(pieces.isEmpty, "the pieces were let go as they were joined")
        let direct = try matcher.evidence(for: whole.observations)
        #expect(joined.timelines == direct.timelines)
        #expect(joined.votes == direct.votes)
        let matches = matcher.align(joined, queryDuration: lean.observations.duration)
        #expect(!matches.isEmpty)
        #expect(matches == matcher.align(direct, queryDuration: whole.observations.duration))
    }

    @Test("a scan, searching each ten seconds on its own thread while the next are decoded, finds the whole query's matches",
          arguments: ["stream_with_cropped_copy", "stream_with_mirrored_copy"])
    func scanEqualsWhole(recording: String) throws {
        let matcher = try Self.matcher()
        let path = Repository.path("testmedia/recordings/\(recording).mp4")
        let whole = try Fingerprinter(options: .query).extract(path: path)
        #expect(whole.observations.duration > 10, "the recording is searched in at least two pieces")
        let expected = matcher.align(try matcher.evidence(for: whole.observations), queryDuration: whole.observations.duration)
        let records = matcher.clips.map { clip in
            ClipRecord(id: clip.id, title: clip.title, owner: nil, sourcePath: clip.title, sha256: "", duration: clip.duration,
                       size: 0, frameRate: 0, width: 0, height: 0, registeredAt: Date(timeIntervalSince1970: 0),
                       algorithm: "", algorithmVersion: 0, frameCount: 0)
        }
        let scanner = ClipScanner(matcher: matcher, records: records, jobs: 1, extraction: .query)
        let result = scanner.scan(path: path)
        #expect(result.error == nil)
        #expect(!expected.isEmpty)
        #expect(result.matches.map(\.match) == expected)
    }
}

/// A query's corners: the upright content at its own size at every sample, so that a copy starting at any
/// offset from its reference's corner frames has a corner frame within half a sample of each of them; every
/// other variant (zoom 0.86, mirrored) at every third sample.
@Suite("Corner schedule")
struct CornerScheduleTests {
    @Test("a query describes the upright content at zoom 1 at every sample and every variant at every third")
    func uprightAtEverySample() throws {
        let path = Repository.path("testmedia/recordings/stream_with_cropped_copy.mp4")
        let observations = try Fingerprinter(options: .query).extract(path: path).observations
        let sampled = observations.frames.map(\.time)
        let content = observations.cornerFrames.filter { $0.view.region == .content }
        let upright = content.filter { $0.view == .upright && $0.zoom == 1 }.map(\.time)
        let mirrored = content.filter { $0.view.orientation == .mirror && $0.zoom == 1 }.map(\.time)
        let zoomed = content.filter { $0.view == .upright && $0.zoom < 1 }.map(\.time)
        #expect(sampled.count > 60)
        // A frame without corners (a fade to black) has no corner frame: nearly every sample has one.
        #expect(upright.count * 10 >= sampled.count * 9, "\(upright.count) of \(sampled.count) samples described")
        #expect(Set(upright).isSubset(of: Set(sampled)))
        #expect(mirrored.count * 3 <= sampled.count + 3 && mirrored.count * 10 >= sampled.count * 3)
        #expect(zoomed.count * 3 <= sampled.count + 3)
        let everyThird = Set(sampled.enumerated().filter { $0.offset % 3 == 0 }.map(\.element))
        #expect(Set(mirrored).isSubset(of: everyThird) && Set(zoomed).isSubset(of: everyThird))
    }
}
