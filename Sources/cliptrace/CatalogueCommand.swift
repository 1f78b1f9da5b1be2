import ArgumentParser
import ClipTraceCatalogue
import ClipTraceFingerprint
import ClipTracePostgres
import ClipTraceScanning
import Foundation

struct CatalogueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "catalogue", abstract: "Move a catalogue between SQLite and PostgreSQL.",
        subcommands: [CopyCommand.self])

    struct CopyCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "copy",
            abstract: "Copy every clip of one catalogue into another (SQLite file or postgres:// URL), losslessly.",
            discussion: """
                Each clip keeps its id, title, owner, source, registration date and fingerprint bytes; a clip \
                whose file is already in TO is left as it is there, and a clip whose id is taken in TO by another \
                file gets a new id (said on stderr). FROM is only read; TO is created when missing. Each clip is \
                copied in its own transaction: an interrupted copy run again completes it.
                """)

        @Argument(help: "The catalogue to read.")
        var from: String

        @Argument(help: "The catalogue to copy into.")
        var to: String

        @Flag(name: .shortAndLong, help: "No progress line.")
        var quiet = false

        func run() throws {
            let source = try CatalogueOptions.parse(["--catalogue", from]).open(.read)
            let destination = try CatalogueOptions.parse(["--catalogue", to]).open(.create)
            let progress = ProgressLine(quiet: quiet)
            var copied = 0, present = 0, renumbered = 0, damaged = 0
            do {
                let records = try source.clips()
                var done = 0
                try source.forEachFingerprint(ids: records.map(\.id)) { record, result in
                    done += 1
                    switch result {
                    case .failure(let damage):
                        damaged += 1
                        progress.finish()
                        Terminal.warning("clip \(record.id) \"\(record.title)\" not copied: its fingerprint is damaged (\(damage.problem))")
                    case .success(let fingerprint):
                        let clip = NewClip(title: record.title, owner: record.owner, sourcePath: record.sourcePath,
                                           source: record.source, sha256: record.sha256, size: record.size,
                                           fingerprint: fingerprint)
                        switch try destination.importClip(clip, as: record) {
                        case .registered(let new):
                            copied += 1
                            if new.id != record.id {
                                renumbered += 1
                                progress.finish()
                                Terminal.warning("clip \(record.id) \"\(record.title)\" is clip \(new.id) in \(destination.name): its id was taken")
                            }
                        case .alreadyRegistered:
                            present += 1
                        }
                    }
                    progress.update(done: done, total: records.count, current: record.title, secondsOfVideo: 0)
                }
            } catch {
                progress.finish()
                Terminal.error(ClipScanner.sentence(for: error))
                throw ExitStatus.fatal
            }
            progress.finish()
            if !quiet {
                Terminal.info("cliptrace: copied \(copied) clip(s) from \(source.name) to \(destination.name); \(present) already there, \(renumbered) renumbered, \(damaged) damaged")
            }
            if damaged > 0 { throw ExitStatus.partialFailure }
        }
    }
}
