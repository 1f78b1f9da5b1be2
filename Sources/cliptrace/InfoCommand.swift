import ArgumentParser
import ClipTraceCatalogue
import ClipTraceScanning
import Foundation

struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info", abstract: "Show one registered clip (the catalogue is only read).")

    @OptionGroup var catalogueOptions: CatalogueOptions

    @Argument(help: "The clip id (see `cliptrace list`).")
    var id: Int64

    func run() throws {
        let catalogue = try catalogueOptions.open(.read)
        let found: ClipRecord?
        do {
            found = try catalogue.clip(id: id)
        } catch {
            Terminal.error(ClipScanner.sentence(for: error))
            throw ExitStatus.fatal
        }
        guard let clip = found else {
            Terminal.error("No clip has id \(id) in \(catalogue.name).")
            throw ExitStatus.partialFailure
        }
        let formatter = ISO8601DateFormatter()
        try Terminal.writeResults("""
            id:             \(clip.id)
            title:          \(Terminal.text(clip.title))
            owner:          \(Terminal.text(clip.owner ?? "-"))
            registered from: \(Terminal.text(clip.sourcePath))
            source:         \(Terminal.text(clip.source ?? "-"))
            sha256:         \(clip.sha256)
            duration:       \(String(format: "%.3f s", clip.duration))
            size:           \(clip.size) bytes
            frame rate:     \(String(format: "%.3f", clip.frameRate))
            dimensions:     \(clip.width)x\(clip.height)
            registered:     \(formatter.string(from: clip.registeredAt))
            fingerprint:    \(clip.algorithm)/\(clip.algorithmVersion), \(clip.frameCount) frames

            """)
    }
}
