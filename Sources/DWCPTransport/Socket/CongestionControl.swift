#if canImport(Glibc)
import Glibc
#endif

/// The kernel's congestion-control algorithms a socket may choose.
public enum CongestionControl {
    /// Names in `/proc/sys/net/ipv4/tcp_available_congestion_control`.
    public static func available() -> [String] {
        guard let f = fopen("/proc/sys/net/ipv4/tcp_available_congestion_control", "r") else { return [] }
        defer { fclose(f) }
        var buf = [CChar](repeating: 0, count: 512)
        guard fgets(&buf, 512, f) != nil else { return [] }
        return String(cString: buf).split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
    }

    /// What `--cc` means, for the connection's path: a name is taken as given; `auto` is bbr
    /// where the kernel has it (it holds up far better under loss) on a path whose round trip
    /// is `shortPathRTT` or longer, and cubic on a shorter one (same host, rack or datacenter),
    /// where loss costs cubic a few microseconds of window and bbr's pacing timers cost CPU for
    /// nothing: on loopback, 4 connections moved 4 GB with 0.92–0.98 s of sender CPU under cubic
    /// against 1.16–1.18 s under bbr. Nil keeps the system default (the one wanted is missing).
    public static func resolve(_ option: String, roundTripSeconds rtt: Double) -> String? {
        guard option == "auto" else { return option }
        return ifAvailable(rtt < shortPathRTT ? "cubic" : "bbr")
    }

    /// `name` when the kernel offers it, else nil (the system default).
    public static func ifAvailable(_ name: String) -> String? {
        available().contains(name) ? name : nil
    }

    /// Round trips below this are short paths (same host, rack or datacenter).
    public static let shortPathRTT = 0.002
}
