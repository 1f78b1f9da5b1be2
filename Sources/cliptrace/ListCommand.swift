import ArgumentParser
import ClipTraceCatalogue
import ClipTraceDecoding
import ClipTraceScanning
import Foundation

struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List registered clips (the catalogue is only read).")

    @OptionGroup var catalogueOptions: CatalogueOptions

    @Flag(name: .long, help: "One JSON object per clip.")
    var json = false

    func run() throws {
        let catalogue = try catalogueOptions.open(.read)
        let clips: [ClipRecord]
        do { clips = try catalogue.clips() } catch {
            Terminal.error(ClipScanner.sentence(for: error))
            throw ExitStatus.fatal
        }
        var text = ""
        if json {
            let encoder = JSONEncoder()
            encoder.dateEncodingStrategy = .iso8601
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            for clip in clips {
                // JSON holds text: bytes of a name that are not UTF-8 are shown as \xNN.
                var shown = clip
                shown.title = PathBytes.display(clip.title)
                shown.owner = clip.owner.map { PathBytes.display($0) }
                shown.sourcePath = PathBytes.display(clip.sourcePath)
                shown.source = clip.source.map { PathBytes.display($0) }
                text += String(decoding: try encoder.encode(shown), as: UTF8.self) + "\n"
            }
        } else {
            // One clip per line whatever its title holds: control characters are escaped.
            text = "id\ttitle\towner\tduration\tframes\tregistered\n"
            let formatter = ISO8601DateFormatter()
            for clip in clips {
                text += "\(clip.id)\t\(Terminal.text(clip.title))\t\(Terminal.text(clip.owner ?? "-"))\t\(String(format: "%.2f", clip.duration))\t\(clip.frameCount)\t\(formatter.string(from: clip.registeredAt))\n"
            }
        }
        try Terminal.writeResults(text)
    }
}
