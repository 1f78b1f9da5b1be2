import ArgumentParser
import ClipTraceCatalogue
import ClipTraceScanning
import Foundation

struct RemoveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "remove", abstract: "Remove a clip from the catalogue.")

    @OptionGroup var catalogueOptions: CatalogueOptions

    @Argument(help: "The clip id (see `cliptrace list`).")
    var id: Int64

    func run() throws {
        let catalogue = try catalogueOptions.open(create: false)
        do {
            guard let clip = try catalogue.clip(id: id), try catalogue.remove(id: id) else {
                Terminal.error("No clip has id \(id) in \(catalogue.path).")
                throw ExitStatus.partialFailure
            }
            print("removed \(clip.id)\t\(clip.title)")
        } catch let error as CatalogueError {
            Terminal.error(ClipScanner.sentence(for: error))
            throw ExitStatus.fatal
        }
    }
}
