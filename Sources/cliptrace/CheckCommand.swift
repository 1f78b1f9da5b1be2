import ArgumentParser
import ClipTraceCatalogue
import ClipTraceIndex
import ClipTraceScanning
import Foundation

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Verify the catalogue: SQLite's integrity check, every stored fingerprint, and every block of the saved search index (nothing is changed).",
        discussion: """
            Prints what is damaged and how to repair it. Exit status 0 when everything is sound, 1 when some \
            clips are damaged (remove and register them again) or a file of the search index is (the next \
            scan rebuilds it), 2 when the catalogue cannot be read at all.
            """)

    @OptionGroup var catalogueOptions: CatalogueOptions

    func run() throws {
        let catalogue = try catalogueOptions.open(.read)
        var readableCount = 0
        let integrity: String?
        var contents = CatalogueContents()
        do {
            integrity = try (catalogue as? SQLiteCatalogue)?.integrityCheck()
            // One fingerprint at a time: a large catalogue never has to fit in memory.
            var readable = 0
            try catalogue.forEachFingerprint(ids: try catalogue.clips().map(\.id)) { _, result in
                if case .failure(let damaged) = result { contents.damaged.append(damaged) } else { readable += 1 }
            }
            readableCount = readable
        } catch {
            Terminal.error(ClipScanner.sentence(for: error))
            throw ExitStatus.fatal
        }
        var text = "catalogue \(Terminal.text(catalogue.name)): \(readableCount + contents.damaged.count) clip(s)\n"
        if let integrity {
            text += integrity == "ok" ? "SQLite integrity: ok\n"
                : "SQLite integrity: DAMAGED\n" + integrity.split(separator: "\n").map { "  \(Terminal.text(String($0)))\n" }.joined()
        }
        if contents.damaged.isEmpty {
            text += "fingerprints: all \(readableCount) readable\n"
        } else {
            text += "fingerprints: \(contents.damaged.count) damaged, \(readableCount) readable\n"
            for damaged in contents.damaged {
                text += "  clip \(damaged.record.id) \"\(Terminal.text(damaged.record.title))\": \(Terminal.text(damaged.problem)); repair: cliptrace remove \(damaged.record.id), then register \(Terminal.text(damaged.record.sourcePath)) again\n"
            }
        }
        let index = catalogue.indexLocation.map { PersistedIndex.verify(location: $0) }
        if let index, index.exists {
            if index.problems.isEmpty {
                text += String(format: "search index: %d file(s), %.1f MB, every block intact\n", index.files, Double(index.bytes) / 1e6)
            } else {
                text += "search index: \(index.problems.count) damaged file(s); the next scan rebuilds them\n"
                for problem in index.problems { text += "  \(Terminal.text(problem))\n" }
            }
        } else {
            text += "search index: not saved yet (the next scan or registration saves it)\n"
        }
        try Terminal.writeResults(text)
        if (integrity ?? "ok") != "ok" || !contents.damaged.isEmpty || !(index?.problems.isEmpty ?? true) { throw ExitStatus.partialFailure }
    }
}
