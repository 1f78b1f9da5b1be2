import ArgumentParser
import ClipTraceCatalogue
import ClipTraceScanning
import Foundation

struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "info", abstract: "Show one registered clip.")

    @OptionGroup var catalogueOptions: CatalogueOptions

    @Argument(help: "The clip id (see `cliptrace list`).")
    var id: Int64

    func run() throws {
        let catalogue = try catalogueOptions.open(create: false)
        do {
            guard let clip = try catalogue.clip(id: id) else {
                Terminal.error("No clip has id \(id) in \(catalogue.path).")
                throw ExitStatus.partialFailure
            }
            let formatter = ISO8601DateFormatter()
            print("""
                id:             \(clip.id)
                title:          \(clip.title)
                owner:          \(clip.owner ?? "-")
                source:         \(clip.sourcePath)
                sha256:         \(clip.sha256)
                duration:       \(String(format: "%.3f s", clip.duration))
                size:           \(clip.size) bytes
                frame rate:     \(String(format: "%.3f", clip.frameRate))
                dimensions:     \(clip.width)x\(clip.height)
                registered:     \(formatter.string(from: clip.registeredAt))
                fingerprint:    \(clip.algorithm)/\(clip.algorithmVersion), \(clip.frameCount) frames
                """)
        } catch let error as CatalogueError {
            Terminal.error(ClipScanner.sentence(for: error))
            throw ExitStatus.fatal
        }
    }
}
