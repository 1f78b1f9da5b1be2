import ArgumentParser
import ClipTraceDecoding
import ClipTraceExtraction
import ClipTraceFingerprint
import ClipTraceScanning
import Foundation

struct FingerprintCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fingerprint",
        abstract: "Print the perceptual fingerprint (PDQ hash per sampled frame) of a video or image.",
        discussion: """
            Formats: json (ClipTrace's fields, with "region" saying what each hash covers), vpdq (Meta's vPDQ lines \
            frame,quality,hash,timestamp, readable by ThreatExchange tools; like vPDQ, of the whole frame unless \
            --remove-bars), text (one frame per line), binary (the compact file the catalogue stores).
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case json, vpdq, text, binary
    }

    @Argument(help: "The video or image file.")
    var file: String

    @Option(name: .shortAndLong, help: "Output format: json, vpdq, text or binary.")
    var format: Format = .json

    @Option(name: .shortAndLong, help: ArgumentHelp("Write to this file instead of stdout.", valueName: "PATH"))
    var output: String?

    @Option(name: .long, help: ArgumentHelp(
        "Frames sampled per second of video (default: \(Int(ExtractionOptions.referenceSamplesPerSecond)) as register does, \(Int(ExtractionOptions.querySamplesPerSecond)) with --probes as scan does).",
        valueName: "rate"))
    var rate: Double?

    @Flag(name: .long, help: "Hash the whole frame: do not remove letterbox/pillarbox bars (the default for vpdq).")
    var keepBars = false

    @Flag(name: .long, help: "Remove letterbox/pillarbox bars before hashing, as the catalogue does (the default except for vpdq).")
    var removeBars = false

    @Flag(name: .long, help: "Fingerprint as scan does for a query: add mirrored, rotated and whole-frame probe hashes (json only).")
    var probes = false

    @OptionGroup var outputOptions: OutputOptions

    func validate() throws {
        if let rate, !ExtractionOptions.sampleRates.contains(rate) {
            throw ValidationError("--rate must be between \(ExtractionOptions.sampleRates.lowerBound.formatted()) and \(ExtractionOptions.sampleRates.upperBound.formatted()) frames per second.")
        }
        if keepBars, removeBars { throw ValidationError("--keep-bars and --remove-bars contradict each other.") }
    }

    /// Whether bars are cut before hashing: as the catalogue does, except for vPDQ's exchange format, which
    /// hashes whole frames (hashes of a cropped picture would not match Meta's tools).
    var removesBars: Bool { removeBars || (!keepBars && format != .vpdq) }

    func run() throws {
        // Checked before any decoding: the output is never the input, a folder, or replaced if a device.
        let sink = try OutputSink.opening(output, inputs: [file])
        var options = probes ? ExtractionOptions.query : ExtractionOptions.reference
        if let rate { options.decoding.samplesPerSecond = rate }
        options.detectContentRectangle = removesBars
        let progressLine = ProgressLine(quiet: outputOptions.quiet)
        let result: Extraction
        do {
            result = try Fingerprinter(options: options).extract(path: file) { progress in
                if let duration = progress.duration, duration > 0 {
                    progressLine.update(done: Int(progress.time), total: Int(duration.rounded(.up)), current: file,
                                        secondsOfVideo: progress.time)
                }
            }
        } catch {
            progressLine.finish()
            sink.abandon()
            Terminal.error("\(file): \(ClipScanner.sentence(for: error))")
            throw ExitStatus.partialFailure
        }
        progressLine.finish()
        for warning in result.warnings { Terminal.warning("\(file): \(warning)") }
        var bytes: Data
        switch format {
        case .json:
            var document = FingerprintDocument(file: PathBytes.display(file), fingerprint: result.reference,
                                               region: removesBars ? "content" : "full-frame")
            if probes {
                // A query's other views of each frame, for reading: they are never stored.
                for (index, frame) in result.observations.frames.enumerated() {
                    document.frames[index].probes = frame.hashes.dropFirst().map {
                        .init(hash: $0.hash.hexString, orientation: $0.view.orientation.description,
                              region: $0.view.region.description)
                    }
                }
            }
            bytes = try document.encoded(pretty: true) + Data("\n".utf8)
        case .vpdq:
            bytes = Data(VPDQFormat.encode(result.reference).utf8)
        case .text:
            var text = "# \(Terminal.text(file)): \(result.info.codec) \(result.info.width)x\(result.info.height)"
            let fingerprint = result.reference
            text += String(format: " %.3f fps, %.3f s, rotation %d, %@\n", result.info.frameRate,
                           fingerprint.duration, result.info.rotation, fingerprint.algorithm.description)
            for frame in fingerprint.frames {
                text += String(format: "%9.3f  %3d  ", frame.time, frame.quality) + frame.hash.hexString + "\n"
            }
            bytes = Data(text.utf8)
        case .binary:
            bytes = Data(FingerprintBinary.encode(result.reference))
        }
        do {
            try sink.write([UInt8](bytes))
            try sink.commit()
        } catch {
            sink.abandon()
            Terminal.error(error.message)
            throw ExitStatus.fatal
        }
    }
}
