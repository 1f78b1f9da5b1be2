// The C maths library under its name on each platform, for the few functions hashing needs (PDQ's DCT
// matrix, BRIEF's Gaussian pattern); the module stays free of Foundation.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

@inline(__always) func cosine(_ x: Double) -> Double { cos(x) }
@inline(__always) func naturalLog(_ x: Double) -> Double { log(x) }
