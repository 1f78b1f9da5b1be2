import ArgumentParser
import ClipTraceCatalogue
import ClipTraceScanning
import Foundation

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Verify the catalogue: SQLite's integrity check and every stored fingerprint (the catalogue is only read).",
        discussion: """
            Prints what is damaged and how to repair it. Exit status 0 when everything is sound, 1 when some \
            clips are damaged (remove and register them again), 2 when the catalogue cannot be read at all.
            """)

    @OptionGroup var catalogueOptions: CatalogueOptions

    func run() throws {
        let catalogue = try catalogueOptions.open(.read)
        let integrity: String, contents: CatalogueContents
        do {
            integrity = try catalogue.integrityCheck()
            contents = try catalogue.loadFingerprints()
        } catch {
            Terminal.error(ClipScanner.sentence(for: error))
            throw ExitStatus.fatal
        }
        var text = "catalogue \(Terminal.text(catalogue.path)): \(contents.clips.count + contents.damaged.count) clip(s)\n"
        text += integrity == "ok" ? "SQLite integrity: ok\n"
            : "SQLite integrity: DAMAGED\n" + integrity.split(separator: "\n").map { "  \(Terminal.text(String($0)))\n" }.joined()
        if contents.damaged.isEmpty {
            text += "fingerprints: all \(contents.clips.count) readable\n"
        } else {
            text += "fingerprints: \(contents.damaged.count) damaged, \(contents.clips.count) readable\n"
            for damaged in contents.damaged {
                text += "  clip \(damaged.record.id) \"\(Terminal.text(damaged.record.title))\": \(Terminal.text(damaged.problem)); repair: cliptrace remove \(damaged.record.id), then register \(Terminal.text(damaged.record.sourcePath)) again\n"
            }
        }
        try Terminal.writeResults(text)
        if integrity != "ok" || !contents.damaged.isEmpty { throw ExitStatus.partialFailure }
    }
}
