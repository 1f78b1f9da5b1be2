// The C maths library under its name on each platform, for the few functions ClipTrace's pure-Swift modules
// need (PDQ's DCT matrix, BRIEF's Gaussian pattern, the corner search's rotations), so that they stay free of
// Foundation. Package-wide, not public: they are not part of the hashing API.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

@inline(__always) package func cosine(_ x: Double) -> Double { cos(x) }
@inline(__always) package func sine(_ x: Double) -> Double { sin(x) }
@inline(__always) package func arcTangent(_ y: Double, _ x: Double) -> Double { atan2(y, x) }
@inline(__always) package func naturalLog(_ x: Double) -> Double { log(x) }
