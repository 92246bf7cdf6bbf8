import CRDMA
import DWCPCore
#if canImport(Glibc)
import Glibc
#endif

/// Which network carries a transfer's connections (`--transport`).
public enum TransportKind: String, CaseIterable, Sendable {
    /// Kernel TCP: per-socket congestion control, pacing, `TCP_INFO`, TLS.
    case tcp
    /// RDMA reliable-connected queue pairs through librdmacm's rsockets; fails without a device.
    case rdma
    /// RDMA when this host has an RDMA device (and the peer answers on it), else TCP.
    case auto
}

/// RDMA for the transport, through rsockets (librdmacm).
///
/// Why rsockets and not hand-written verbs: rsockets runs each stream socket over a reliable
/// connected queue pair with registered ring buffers and RDMA writes (zero copies in the network
/// stack, no kernel on the data path), and keeps the byte-stream contract the transport already
/// builds on: handshake, chunk checksums, striping over several connections, resume after a drop
/// and the end-to-end digest work unchanged, with no second protocol to get right. The rsockets
/// calls (`rsocket`, `rconnect`, `rsend`, `rrecv`, `rpoll`, …) mirror the POSIX ones, and
/// `StreamSocket`/`StreamListener` pick one set or the other per connection.
///
/// What does not carry over: TCP congestion control, pacing and `TCP_INFO` (the fabric has its
/// own), and TLS (`--tls` is TCP only).
public enum RDMA {
    /// The RDMA devices the verbs library finds (`ibv_get_device_list`), e.g. `mlx5_0`, `rxe0`.
    public static func devices() -> [String] {
        var count: Int32 = 0
        guard let list = ibv_get_device_list(&count) else { return [] }
        defer { ibv_free_device_list(list) }
        return (0..<Int(count)).compactMap { i in list[i].flatMap { ibv_get_device_name($0) }.map { String(cString: $0) } }.sorted()
    }

    /// Why RDMA cannot be used on this host, or nil when a device exists.
    public static func unavailableReason() -> String? {
        devices().isEmpty ? "no RDMA device on this host (the verbs library lists none; /sys/class/infiniband is empty or absent); use --transport tcp" : nil
    }

    /// The error for an rsockets call that failed: a missing device (ENODEV) says so plainly.
    static func failure(_ what: String, _ code: Int32) -> DWCPError {
        if code == ENODEV || code == ENOSYS { return DWCPError(.failure, "RDMA: \(unavailableReason() ?? "no usable RDMA device")") }
        return DWCPError(.network, "\(what): \(String(cString: strerror(code)))")
    }
}
