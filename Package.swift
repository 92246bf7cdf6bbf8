// swift-tools-version:6.0
// DWCP: small Unix commands that move live VM state between hosts.
import PackageDescription

/// One `systemLibrary` target per Debian C library the toolkit links.
func debianLibrary(_ name: String, pkgConfig: String, apt: [String]) -> Target {
    .systemLibrary(name: name, path: "Sources/\(name)", pkgConfig: pkgConfig, providers: [.apt(apt)])
}

let package = Package(
    name: "dwcp",
    products: [
        .executable(name: "dwcp-encode", targets: ["dwcp-encode"]),
        .executable(name: "dwcp-predict", targets: ["dwcp-predict"]),
        .executable(name: "dwcp-send", targets: ["dwcp-send"]),
        .executable(name: "dwcp-recv", targets: ["dwcp-recv"]),
        .executable(name: "dwcp-detect", targets: ["dwcp-detect"]),
        .executable(name: "dwcp-migrate", targets: ["dwcp-migrate"]),
        .executable(name: "dwcp-place", targets: ["dwcp-place"]),
        .executable(name: "dwcp-rep", targets: ["dwcp-rep"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // C libraries from Debian.
        debianLibrary("CZstd", pkgConfig: "libzstd", apt: ["libzstd-dev"]),
        debianLibrary("CLZ4", pkgConfig: "liblz4", apt: ["liblz4-dev"]),
        debianLibrary("CBrotli", pkgConfig: "libbrotlienc", apt: ["libbrotli-dev"]),
        debianLibrary("CXXHash", pkgConfig: "libxxhash", apt: ["libxxhash-dev"]),
        debianLibrary("CCrypto", pkgConfig: "libcrypto", apt: ["libssl-dev"]),
        debianLibrary("CTLS", pkgConfig: "libssl", apt: ["libssl-dev"]),
        debianLibrary("CRDMA", pkgConfig: "librdmacm", apt: ["librdmacm-dev", "libibverbs-dev"]),
        // Linux calls Swift's Glibc module leaves out (splice); libc itself, nothing to link.
        .systemLibrary(name: "CLinux", path: "Sources/CLinux"),

        // Stream format, checksums, error model, byte helpers. No I/O.
        .target(name: "DWCPCore", dependencies: ["CXXHash"]),
        // Thin POSIX layer: file descriptors, EINTR-safe reads/writes, TTYs, signals.
        .target(name: "DWCPSystem", dependencies: ["DWCPCore", "CLinux"]),
        // Shared CLI plumbing: option groups, diagnostics, exit codes, the main wrapper.
        .target(name: "DWCPCLI", dependencies: [
            "DWCPCore", "DWCPSystem",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Compression, page classification, baseline deltas, the encode/decode pipelines.
        .target(name: "DWCPCodec", dependencies: ["DWCPCore", "DWCPSystem", "CZstd", "CLZ4", "CBrotli", "CXXHash"]),

        // Bandwidth forecasting: samples, binning, models (incl. a GRU), online selection, evaluation.
        .target(name: "DWCPPredict", dependencies: ["DWCPCore", "DWCPSystem"]),

        // Multi-stream transport over TCP or RDMA (rsockets): handshake, shared-secret and TLS 1.3 security, striping, reordering, resume.
        .target(name: "DWCPTransport", dependencies: ["DWCPCore", "DWCPSystem", "CCrypto", "CTLS", "CRDMA", "CXXHash"]),

        // Live migration: QMP, pre-copy planning, image rounds, composed from codec and transport.
        .target(name: "DWCPMigrate", dependencies: ["DWCPCore", "DWCPSystem", "DWCPCLI", "DWCPCodec", "DWCPTransport", "DWCPPredict"]),

        // VM placement: the cluster model, node policies, packing algorithms, local search, evaluation.
        .target(name: "DWCPPlace", dependencies: ["DWCPCore", "DWCPSystem"]),

        // Byzantine detection: Ed25519 evidence, detectors, reputation, quarantine, simulation.
        .target(name: "DWCPRep", dependencies: ["DWCPCore", "DWCPSystem", "CCrypto"]),

        .executableTarget(name: "dwcp-encode", dependencies: ["DWCPCLI", "DWCPCodec"]),
        .executableTarget(name: "dwcp-send", dependencies: ["DWCPCLI", "DWCPTransport"]),
        .executableTarget(name: "dwcp-recv", dependencies: ["DWCPCLI", "DWCPTransport"]),
        .executableTarget(name: "dwcp-detect", dependencies: ["DWCPCLI", "DWCPTransport"]),
        .executableTarget(name: "dwcp-predict", dependencies: ["DWCPCLI", "DWCPPredict"]),
        .executableTarget(name: "dwcp-place", dependencies: ["DWCPCLI", "DWCPPlace"]),
        .executableTarget(name: "dwcp-rep", dependencies: ["DWCPCLI", "DWCPRep"]),
        .executableTarget(name: "dwcp-migrate", dependencies: ["DWCPCLI", "DWCPMigrate", "DWCPTransport", "DWCPCodec"]),

        .testTarget(name: "DWCPCoreTests", dependencies: ["DWCPCore"]),
        .testTarget(name: "DWCPSystemTests", dependencies: ["DWCPSystem"]),
        .testTarget(name: "DWCPCodecTests", dependencies: ["DWCPCodec", "DWCPSystem"]),
        .testTarget(name: "DWCPPredictTests", dependencies: ["DWCPPredict"]),
        .testTarget(name: "DWCPTransportTests", dependencies: ["DWCPTransport", "DWCPSystem"]),
        .testTarget(name: "DWCPMigrateTests", dependencies: ["DWCPMigrate"]),
        .testTarget(name: "DWCPPlaceTests", dependencies: ["DWCPPlace"]),
        .testTarget(name: "DWCPRepTests", dependencies: ["DWCPRep"]),
        .testTarget(name: "CLITests", dependencies: ["DWCPCore"]),
    ],
    swiftLanguageModes: [.v5]
)

// libFuzzer entry points: the decoder, and every other parser of input a user or a peer controls.
// They need fuzzer instrumentation and libFuzzer's runtime to link, so they exist only when
// `make fuzz` asks for them (DWCP_FUZZ=1).
if Context.environment["DWCP_FUZZ"] != nil {
    package.targets.append(.executableTarget(name: "DecodeFuzzer", dependencies: ["DWCPCodec"], path: "Fuzz/DecodeFuzzer"))
    package.targets.append(.executableTarget(name: "ParseFuzzer", dependencies: [
        "DWCPCLI", "DWCPCodec", "DWCPMigrate", "DWCPPlace", "DWCPPredict", "DWCPRep", "DWCPTransport",
    ], path: "Fuzz/ParseFuzzer"))
}
