import ArgumentParser
import ClipTraceExtraction
import ClipTraceFingerprint
import ClipTraceMatching
import ClipTraceScanning
import Foundation

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Check one suspected copy without a catalogue: where does REFERENCE appear inside QUERY?",
        discussion: """
            Fingerprints both files and runs the same matcher as scan, with REFERENCE as a one-clip catalogue. \
            Prints each aligned segment on both timelines, its score, and the Hamming distances of aligned frames. \
            Exit status 0 when a segment scores at least 0.5, 3 when none does, 1 when a file cannot be read.
            """)

    @Argument(help: "The original clip.")
    var reference: String

    @Argument(help: "The video that may contain a copy of it.")
    var query: String

    @Flag(name: .long, help: "One JSON object per segment instead of text.")
    var json = false

    func run() throws {
        let referencePrint: Fingerprint, queryPrint: Fingerprint
        do {
            referencePrint = try Fingerprinter(options: .reference).fingerprint(path: reference).fingerprint
            queryPrint = try Fingerprinter(options: .query).fingerprint(path: query).fingerprint
        } catch {
            Terminal.error(ClipScanner.sentence(for: error))
            throw ExitStatus.partialFailure
        }
        let title = ((reference as NSString).lastPathComponent as NSString).deletingPathExtension
        let clip = IndexedClip(id: 1, title: title, duration: referencePrint.duration)
        let matches = CatalogueMatcher(clips: [(clip, referencePrint)], strategy: .direct).match(queryPrint)
        for match in matches {
            if json {
                let object: [String: Any] = [
                    "query": query, "reference": reference, "query_start": rounded(match.queryStart),
                    "query_end": rounded(match.queryEnd), "reference_start": rounded(match.referenceStart),
                    "reference_end": rounded(match.referenceEnd), "score": rounded(match.score),
                    "speed": rounded(match.speed), "matched_frames": match.matchedFrames,
                    "query_frames": match.queryFrames, "mean_distance": rounded(match.meanDistance),
                    "orientation": match.orientation.description, "region": match.region.description,
                ]
                let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
                print(String(decoding: data, as: UTF8.self))
            } else {
                print(String(format: "query %@–%@  =  reference %@–%@   score %.2f  speed %.2fx  %d/%d frames, mean distance %.1f/256  (%@, %@)",
                             clock(match.queryStart), clock(match.queryEnd), clock(match.referenceStart),
                             clock(match.referenceEnd), match.score, match.speed, match.matchedFrames, match.queryFrames,
                             match.meanDistance, match.orientation.description, match.region.description))
                for evidence in match.evidence {
                    print(String(format: "    query %@ ~ reference %@: %d bits apart", clock(evidence.queryTime),
                                 clock(evidence.referenceTime), evidence.distance))
                }
            }
        }
        if !json, matches.isEmpty { print("no segment of \(reference) found in \(query)") }
        if !matches.contains(where: { $0.score >= 0.5 }) { throw ExitCode(3) }
    }

    private func rounded(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }

    private func clock(_ seconds: Double) -> String {
        String(format: "%02d:%05.2f", Int(seconds) / 60, seconds.truncatingRemainder(dividingBy: 60))
    }
}
