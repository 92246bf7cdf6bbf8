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

    /// What `--cc` means: `auto` is bbr where the kernel has it (it holds up far better under
    /// loss), else the system default (nil); any other name is taken as given.
    public static func resolve(_ option: String) -> String? {
        option == "auto" ? (available().contains("bbr") ? "bbr" : nil) : option
    }
}
