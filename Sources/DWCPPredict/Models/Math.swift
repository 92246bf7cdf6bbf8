#if canImport(Glibc)
import Glibc
#endif

/// libm through one name each, so model code reads the same on every platform.
@inline(__always) func ln(_ x: Double) -> Double { log(x) }
@inline(__always) func expo(_ x: Double) -> Double { exp(x) }
@inline(__always) func tanhyp(_ x: Double) -> Double { tanh(x) }
@inline(__always) func pow(_ a: Double, _ b: Double) -> Double { Glibc.pow(a, b) }
@inline(__always) func sigmoid(_ x: Double) -> Double { 1 / (1 + exp(-x)) }
