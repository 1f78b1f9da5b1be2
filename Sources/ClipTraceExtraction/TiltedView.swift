import ClipTraceHashing

/// A region of a frame turned by a few degrees, resampled to a small square: the view a tilted copy (a hand-held
/// camera filming a screen, a phone held askew) shows its original through. PDQ tolerates about two degrees of
/// rotation; turning the query back by a few fixed angles brings a copy tilted by up to about ten within reach.
enum TiltedView {
    /// Side of the square: PDQ reduces any picture to 64×64 after a box filter, so 128 loses nothing it uses.
    static let side = 128

    /// The region of `pixels` turned by `degrees` about its centre (positive: the picture is turned clockwise,
    /// undoing a counter-clockwise tilt), stretched to a `side`×`side` square by bilinear sampling. Points that
    /// fall outside the frame take the region's mean, the least biased guess for what the copy cut away.
    static func square(pixels: UnsafeBufferPointer<UInt8>, width: Int, height: Int, region: PixelRegion,
                       degrees: Double) -> [Float] {
        let n = side
        var mean: Float = 0
        var count = 0
        for y in stride(from: region.y, to: region.y + region.height, by: 4) {
            for x in stride(from: region.x, to: region.x + region.width, by: 4) {
                mean += Float(pixels[y * width + x])
                count += 1
            }
        }
        mean /= Float(max(1, count))
        let angle = degrees * .pi / 180
        let c = Float(cosine(angle)), s = Float(sine(angle))
        let cx = Float(region.x) + Float(region.width) / 2, cy = Float(region.y) + Float(region.height) / 2
        let stepX = Float(region.width) / Float(n), stepY = Float(region.height) / Float(n)
        var out = [Float](repeating: mean, count: n * n)
        out.withUnsafeMutableBufferPointer { out in
            for v in 0..<n {
                let py = (Float(v) + 0.5) * stepY - Float(region.height) / 2
                for u in 0..<n {
                    let px = (Float(u) + 0.5) * stepX - Float(region.width) / 2
                    // The source point: the square's point turned by the angle, in frame pixels.
                    let x = cx + c * px - s * py - 0.5, y = cy + s * px + c * py - 0.5
                    guard x >= 0, y >= 0, x < Float(width - 1), y < Float(height - 1) else { continue }
                    let x0 = Int(x), y0 = Int(y)
                    let fx = x - Float(x0), fy = y - Float(y0)
                    let i = y0 * width + x0
                    let top = Float(pixels[i]) * (1 - fx) + Float(pixels[i + 1]) * fx
                    let bottom = Float(pixels[i + width]) * (1 - fx) + Float(pixels[i + width + 1]) * fx
                    out[v * n + u] = top * (1 - fy) + bottom * fy
                }
            }
        }
        return out
    }
}
