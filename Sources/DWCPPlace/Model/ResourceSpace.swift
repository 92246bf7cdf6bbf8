/// The named resource dimensions of one placement problem (cpu, memory, gpu, …) in a fixed order.
///
/// Every node capacity and VM demand is a vector over this space, so hot loops index flat arrays
/// instead of looking names up. The dimension called `gpu` is special: it counts devices, and a
/// fractional demand (`0.46`) must fit on one device (GPU sharing), while a whole demand (`2`)
/// takes whole free devices.
public struct ResourceSpace: Equatable, Sendable {
    public let names: [String]
    public let gpuIndex: Int?

    public init(_ names: [String]) {
        self.names = names
        gpuIndex = names.firstIndex(of: "gpu")
    }

    public var count: Int { names.count }
    public func index(of name: String) -> Int? { names.firstIndex(of: name) }
}
