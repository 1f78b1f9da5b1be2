import ArgumentParser
import ClipTraceCatalogue
import ClipTraceScanning
import Foundation

struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List registered clips.")

    @OptionGroup var catalogueOptions: CatalogueOptions

    @Flag(name: .long, help: "One JSON object per clip.")
    var json = false

    func run() throws {
        let catalogue = try catalogueOptions.open(create: false)
        let clips: [ClipRecord]
        do { clips = try catalogue.clips() } catch {
            Terminal.error(ClipScanner.sentence(for: error))
            throw ExitStatus.fatal
        }
        if json {
            let encoder = JSONEncoder()
            encoder.dateEncodingStrategy = .iso8601
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            for clip in clips { print(String(decoding: try encoder.encode(clip), as: UTF8.self)) }
            return
        }
        print("id\ttitle\towner\tduration\tframes\tregistered")
        let formatter = ISO8601DateFormatter()
        for clip in clips {
            print("\(clip.id)\t\(clip.title)\t\(clip.owner ?? "-")\t\(String(format: "%.2f", clip.duration))\t\(clip.frameCount)\t\(formatter.string(from: clip.registeredAt))")
        }
    }
}
