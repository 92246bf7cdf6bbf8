/// Where an encoder's output goes: a descriptor (a file, a pipe, standard output) or an
/// in-process queue to the sender (`ByteQueue`), so the encoders need not know which.
public protocol ByteSink {
    /// Takes all `count` bytes at `p`, blocking while the sink is full.
    func writeAll(_ p: UnsafeRawPointer, count: Int) throws
    /// The writer has nothing more for now: what it wrote should not wait for more (a
    /// descriptor's writes are already out; a queue lets its reader take a short read).
    func flush()
}

extension ByteSink {
    public func flush() {}

    public func writeAll(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try writeAll($0.baseAddress!, count: $0.count) }
    }
}

extension FileDescriptor: ByteSink {}
