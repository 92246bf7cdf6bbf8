import DWCPCore
import DWCPSystem
#if canImport(Glibc)
import Glibc
#endif

/// `HOST:PORT`, `[IPV6]:PORT` or `:PORT`.
public struct Endpoint: CustomStringConvertible, Equatable {
    public var host: String
    public var port: UInt16

    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    public init?(_ text: String) {
        var hostPart: Substring
        var portPart: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            hostPart = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            portPart = rest.dropFirst()
        } else if let colon = text.lastIndex(of: ":") {
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
            if hostPart.contains(":") { return nil }
        } else {
            hostPart = ""
            portPart = Substring(text)
        }
        guard let port = UInt16(portPart) else { return nil }
        host = String(hostPart)
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    static func describe(_ s: inout sockaddr_storage) -> String {
        var buf = [CChar](repeating: 0, count: 64)
        if s.ss_family == sa_family_t(AF_INET6) {
            return withUnsafePointer(to: &s) { p in p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { a in
                var addr = a.pointee.sin6_addr
                inet_ntop(AF_INET6, &addr, &buf, 64)
                return "[\(String(cString: buf))]:\(UInt16(bigEndian: a.pointee.sin6_port))"
            } }
        }
        return withUnsafePointer(to: &s) { p in p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { a in
            var addr = a.pointee.sin_addr
            inet_ntop(AF_INET, &addr, &buf, 64)
            return "\(String(cString: buf)):\(UInt16(bigEndian: a.pointee.sin_port))"
        } }
    }
}
