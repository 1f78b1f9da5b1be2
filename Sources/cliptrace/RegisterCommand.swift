import ArgumentParser
import ClipTraceCatalogue
import ClipTraceExtraction
import ClipTraceIndex
import ClipTraceScanning
import Foundation
import Logging

struct RegisterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "register",
        abstract: "Add clips to the catalogue (one transaction per clip).",
        discussion: """
            Registering the same file twice changes nothing. A clip that matches one already registered is \
            registered with a warning naming it. The catalogue records the file's absolute path (to show it in \
            reports, after checking it is still the same file) and, with --source, where the original lives. \
            Exit status 1 when some files could not be registered.
            """)

    @OptionGroup var catalogueOptions: CatalogueOptions

    @Option(name: .long, help: "Title of the clip (default: the file name without extension). Only with one file.")
    var title: String?

    @Option(name: .long, help: "Owner of the clip (a person, channel or brand).")
    var owner: String?

    @Option(name: .long, help: ArgumentHelp("Where the original lives: a URL or a path, recorded with the clip.",
                                            valueName: "URL_OR_PATH"))
    var source: String?

    @Option(name: .long, help: ArgumentHelp(
        "Frames hashed per second of video. Fewer halve the index and the search time of a very large catalogue (4 suits thousands of hours) but miss more copies of fast-changing content.",
        valueName: "rate"))
    var rate: Double = ExtractionOptions.referenceSamplesPerSecond

    @OptionGroup var outputOptions: OutputOptions

    @Argument(help: "Video files to register.")
    var files: [String]

    func validate() throws {
        if files.isEmpty { throw ValidationError("Give at least one file to register.") }
        if !ExtractionOptions.sampleRates.contains(rate) {
            throw ValidationError("--rate must be between \(ExtractionOptions.sampleRates.lowerBound.formatted()) and \(ExtractionOptions.sampleRates.upperBound.formatted()) frames per second.")
        }
        if title != nil, files.count > 1 {
            throw ValidationError("--title names one clip; register several files without it (titles come from file names).")
        }
    }

    func run() throws {
        let catalogue = try catalogueOptions.open(.create)
        let logger = outputOptions.logger("cliptrace.register")
        var extraction = ExtractionOptions.reference
        extraction.decoding.samplesPerSecond = rate
        let registrar = Registrar(catalogue: catalogue, extraction: extraction)
        let progress = ProgressLine(quiet: outputOptions.quiet)
        var failures = 0
        var secondsRegistered = 0.0
        for (number, file) in files.enumerated() {
            progress.update(done: number, total: files.count, current: file, secondsOfVideo: secondsRegistered)
            let started = Date()
            let result = registrar.register(path: file, title: title, owner: owner, source: source)
            progress.finish()
            if case .registered(let record) = result.outcome {
                secondsRegistered += record.duration
                logger.info("registered", metadata: [
                    "file": "\(file)", "id": "\(record.id)", "video_seconds": "\(String(format: "%.1f", record.duration))",
                    "frames": "\(record.frameCount)", "elapsed": "\(String(format: "%.2f", Date().timeIntervalSince(started)))",
                    "sha256": "\(record.sha256)",
                ])
            }
            for warning in result.warnings { Terminal.warning("\(file): \(warning)") }
            if let error = result.error {
                failures += 1
                Terminal.error("\(file): \(error)")
                continue
            }
            for (record, score) in result.resembles {
                Terminal.warning("\(file) resembles registered clip \(record.id) \"\(record.title)\" (score \(String(format: "%.2f", score)))")
            }
            switch result.outcome {
            case .registered(let record):
                try Terminal.writeResults("registered \(record.id)\t\(Terminal.text(record.title))\t\(String(format: "%.2f s", record.duration))\t\(record.frameCount) frames\n")
            case .alreadyRegistered(let record):
                try Terminal.writeResults("already registered \(record.id)\t\(Terminal.text(record.title))\t(same file content; nothing changed)\n")
            case nil:
                break
            }
        }
        // The clips are in the catalogue whatever happens now; the saved search index catches up with them in one
        // step (a scan would otherwise do it first). A PostgreSQL catalogue's indexes are each worker's own: they
        // follow the catalogue themselves.
        let quiet = outputOptions.quiet
        if catalogue.file != nil {
            do {
                try PersistedIndex.update(catalogue: catalogue) { note in if !quiet { Terminal.info("cliptrace: \(note)") } }
            } catch {
                Terminal.warning("the search index could not be updated (\(ClipScanner.sentence(for: error))); the next scan updates it")
            }
        }
        if failures > 0 { throw ExitStatus.partialFailure }
    }
}
