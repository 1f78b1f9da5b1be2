import ClipTraceHashing
import Foundation
import TestSupport

/// Grey test images defined by integer formulas; `Tests/Golden/make_golden.py` builds the same ones.
enum SyntheticImage {
    static func make(_ kind: String, width: Int, height: Int) -> [UInt8] {
        var pixels = [UInt8](repeating: 0, count: width * height)
        for y in 0..<height {
            for x in 0..<width {
                let value: Int
                switch kind {
                case "ramp": value = (x * 7 + y * 13 + (x * y) % 31) % 256
                case "rings":
                    let dx = x - width / 3, dy = y - height / 3
                    value = (dx * dx + dy * dy) / 37 % 256
                case "blocks": value = ((x / 24) * 53 + (y / 16) * 97 + (x / 7) * 3) % 256
                default: fatalError("unknown synthetic image \(kind)")
                }
                pixels[y * width + x] = UInt8(value)
            }
        }
        return pixels
    }
}

struct GoldenVectors: Decodable {
    struct Synthetic: Decodable {
        var kind: String
        var width: Int
        var height: Int
        var hash: String
        var quality: Int
        var dihedral: [String: String]
    }

    struct Media: Decodable {
        var file: String
        var hash: String
        var quality: Int
    }

    var synthetic: [Synthetic]
    var media: [Media]

    static func load() throws -> GoldenVectors {
        let data = try Data(contentsOf: URL(fileURLWithPath: Repository.path("Tests/Golden/pdq_golden.json")))
        return try JSONDecoder().decode(GoldenVectors.self, from: data)
    }
}
