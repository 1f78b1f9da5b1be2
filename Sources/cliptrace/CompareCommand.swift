import ArgumentParser
import ClipTraceAlignment
import ClipTraceExtraction
import ClipTraceMatching
import ClipTraceScanning
import Foundation

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Check one suspected copy without a catalogue: where does REFERENCE appear inside QUERY?",
        discussion: """
            Fingerprints both files and runs the same search as scan, with REFERENCE as a one-clip catalogue. \
            Prints each aligned segment on both timelines, its score, and a few aligned moments with their \
            distances. --json prints the same records as scan's JSON lines. Exit status 0 when a segment scores \
            at least \(AlignmentOptions.decisionScore), 3 when none does, 1 when a file cannot be read, 2 when the output cannot be written.
            """)

    @Argument(help: "The original clip.")
    var reference: String

    @Argument(help: "The video that may contain a copy of it.")
    var query: String

    @Flag(name: .long, help: "One JSON object per segment (scan's JSON-lines records) instead of text.")
    var json = false

    func run() throws {
        let referenceExtraction: Extraction, queryExtraction: Extraction
        do {
            referenceExtraction = try Fingerprinter(options: .reference).extract(path: reference)
        } catch {
            Terminal.error("\(reference): \(ClipScanner.sentence(for: error))")
            throw ExitStatus.partialFailure
        }
        do {
            queryExtraction = try Fingerprinter(options: .query).extract(path: query)
        } catch {
            Terminal.error("\(query): \(ClipScanner.sentence(for: error))")
            throw ExitStatus.partialFailure
        }
        let title = ((reference as NSString).lastPathComponent as NSString).deletingPathExtension
        let fingerprint = referenceExtraction.reference
        let clip = IndexedClip(id: 1, title: title, duration: fingerprint.duration)
        let observations = queryExtraction.observations
        let matches = try CatalogueMatcher(clips: [(clip, fingerprint)], strategy: .direct).match(observations)
        var text = ""
        for match in matches {
            let transforms = ScanMatch.transforms(
                of: match, letterboxed: observations.hadBars(from: match.queryStart, to: match.queryEnd))
            if json {
                let record = MatchRecord(match, reference: title, referenceID: 1, owner: nil, transforms: transforms,
                                         query: query)
                text += try ReportWriter.json(record) + "\n"
            } else {
                text += String(format: "query %@–%@  =  reference %@–%@   score %.2f  speed %.2fx  %d/%d %@, mean distance %.1f/256  (%@)\n",
                               clock(match.queryStart), clock(match.queryEnd), clock(match.referenceStart),
                               clock(match.referenceEnd), match.score, match.speed, match.matchedMoments,
                               match.usableMoments, match.evidence == .hash ? "frames" : "corner moments",
                               match.meanDistance, transforms.isEmpty ? "no transform seen" : transforms.joined(separator: ", "))
                for pair in match.pairs {
                    text += String(format: "    query %@ ~ reference %@: %@\n", clock(pair.queryTime), clock(pair.referenceTime),
                                   pair.evidence == .hash ? "hashes \(pair.distance) bits apart"
                                       : "corner descriptors \(pair.distance) bits apart on average")
                }
            }
        }
        if !json, matches.isEmpty { text += "no segment of \(Terminal.text(reference)) found in \(Terminal.text(query))\n" }
        try Terminal.writeResults(text)
        if !matches.contains(where: \.isConfident) { throw ExitCode(3) }
    }

    private func clock(_ seconds: Double) -> String {
        String(format: "%02d:%05.2f", Int(seconds) / 60, seconds.truncatingRemainder(dividingBy: 60))
    }
}
