#if canImport(Glibc)
import Glibc
#endif

/// Monotonic time for rates and timeouts (`CLOCK_MONOTONIC`), immune to wall-clock jumps.
public enum MonotonicClock {
    /// Seconds since an arbitrary fixed point.
    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

/// Wall-clock seconds since the epoch (`gettimeofday`): for comparing with timestamps other
/// programs wrote, such as QMP events. Use `MonotonicClock` for durations.
public enum WallClock {
    public static func now() -> Double {
        var tv = timeval()
        gettimeofday(&tv, nil)
        return Double(tv.tv_sec) + Double(tv.tv_usec) / 1e6
    }
}

/// Random numbers from the kernel (`/dev/urandom`), for stream ids and nonces.
public enum SystemRandom {
    public static func uint64() -> UInt64 {
        var v: UInt64 = 0
        let fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
        if fd >= 0 {
            _ = withUnsafeMutableBytes(of: &v) { read(fd, $0.baseAddress, 8) }
            close(fd)
        }
        if v == 0 { v = UInt64(truncatingIfNeeded: Int(MonotonicClock.now() * 1e9)) ^ UInt64(getpid()) }
        return v
    }
}

/// Peak resident memory of this process (`getrusage(2)` `ru_maxrss`), in bytes.
public enum ResourceUsage {
    public static func peakResidentBytes() -> UInt64 {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return UInt64(usage.ru_maxrss) * 1024
    }
}
