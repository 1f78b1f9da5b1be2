/// A part of a picture that is hashed on its own, so that a copy with an overlay over part of it (a streamer's
/// face-cam in a corner, a banner, a pop-up comment) still matches through the part that is left clean: a
/// corner covers two halves and leaves the other two.
public enum PicturePart: UInt8, CaseIterable, Hashable, Sendable, Codable, CustomStringConvertible {
    case whole = 0
    case top = 1
    case bottom = 2
    case left = 3
    case right = 4

    /// The four halves.
    public static let halves: [PicturePart] = [.top, .bottom, .left, .right]

    /// The part of the original a part of its mirror image (left to right) shows.
    public var mirrored: PicturePart {
        switch self {
        case .left: .right
        case .right: .left
        default: self
        }
    }

    public var description: String {
        switch self {
        case .whole: "whole"
        case .top: "top half"
        case .bottom: "bottom half"
        case .left: "left half"
        case .right: "right half"
        }
    }
}

/// Hashes of the halves of a picture, computed the same way on both sides: the region is averaged down to a
/// 128-pixel square (PDQ reduces any picture to 64×64 after a box filter, so nothing it uses is lost) and each
/// half of the square is hashed.
public enum PartHashes {
    public static let side = 128

    /// The region of `pixels` averaged down (or stretched) to a `side`×`side` square.
    public static func square(pixels: UnsafeBufferPointer<UInt8>, width: Int, region: PixelRegion) -> [Float] {
        let n = side
        var out = [Float](repeating: 0, count: n * n)
        let scaleX = Double(region.width) / Double(n), scaleY = Double(region.height) / Double(n)
        out.withUnsafeMutableBufferPointer { out in
            for v in 0..<n {
                let y0 = region.y + Int(Double(v) * scaleY)
                let y1 = max(y0 + 1, region.y + Int(Double(v + 1) * scaleY))
                for u in 0..<n {
                    let x0 = region.x + Int(Double(u) * scaleX)
                    let x1 = max(x0 + 1, region.x + Int(Double(u + 1) * scaleX))
                    var sum = 0
                    for y in y0..<y1 { for x in x0..<x1 { sum += Int(pixels[y * width + x]) } }
                    out[v * n + u] = Float(sum) / Float((y1 - y0) * (x1 - x0))
                }
            }
        }
        return out
    }

    /// The given halves of a square, each hashed upright and in the other orientations asked for.
    public static func hashes(of square: [Float], parts: [PicturePart], variants: [Dihedral], hasher: PDQHasher)
        -> [(part: PicturePart, quality: Int, hashes: [PDQHash])]
    {
        let n = side, half = side / 2
        return parts.map { part in
            let (x0, y0, w, h) = switch part {
            case .whole: (0, 0, n, n)
            case .top: (0, 0, n, half)
            case .bottom: (0, half, n, half)
            case .left: (0, 0, half, n)
            case .right: (half, 0, half, n)
            }
            var values = [Float](repeating: 0, count: w * h)
            for y in 0..<h { for x in 0..<w { values[y * w + x] = square[(y0 + y) * n + x0 + x] } }
            let result = hasher.hashes(floatLuma: values, width: w, height: h, variants: variants)
            return (part, result.quality, result.hashes)
        }
    }
}
