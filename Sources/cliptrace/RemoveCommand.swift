import ArgumentParser
import ClipTraceCatalogue
import ClipTraceIndex
import ClipTraceScanning
import Foundation

struct RemoveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "remove", abstract: "Remove a clip from the catalogue.")

    @OptionGroup var catalogueOptions: CatalogueOptions

    @Argument(help: "The clip id (see `cliptrace list`).")
    var id: Int64

    func run() throws {
        let catalogue = try catalogueOptions.open(.write)
        let found: ClipRecord?, removed: Bool
        do {
            found = try catalogue.clip(id: id)
            removed = found == nil ? false : try catalogue.remove(id: id)
        } catch {
            Terminal.error(ClipScanner.sentence(for: error))
            throw ExitStatus.fatal
        }
        guard let clip = found, removed else {
            Terminal.error("No clip has id \(id) in \(catalogue.name).")
            throw ExitStatus.partialFailure
        }
        try Terminal.writeResults("removed \(clip.id)\t\(Terminal.text(clip.title))\n")
        // A removed clip is never searched again (index rows name their clip); the index drops its rows when
        // enough have gone.
        do {
            try PersistedIndex.update(catalogue: catalogue)
        } catch {
            Terminal.warning("the search index could not be updated (\(ClipScanner.sentence(for: error))); the next scan updates it")
        }
    }
}
