// swift-tools-version:6.0
import PackageDescription

// moe-sim: a discrete-event simulator of Mixture-of-Experts inference with expert offloading.
// No package dependencies: the Swift toolchain (stdlib, Foundation, Dispatch, Swift Testing) only.
let package = Package(
    name: "moe-sim",
    products: [
        .library(name: "MoESim", targets: ["MoESim"]),
        .executable(name: "sim", targets: ["sim"]),
        .executable(name: "moe-bench", targets: ["moe-bench"]),
    ],
    targets: [
        .target(
            name: "MoESim",
            resources: [.copy("Resources")],
            // Release builds drop Swift's dynamic exclusivity checks, which dominate the per-event hot path
            // (stored arrays of the simulation's classes). Debug builds, where the tests run, keep them.
            swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]
        ),
        .executableTarget(name: "sim", dependencies: ["MoESim"]),
        .executableTarget(name: "moe-bench", dependencies: ["MoESim"]),
        .testTarget(name: "MoESimTests", dependencies: ["MoESim"]),
    ],
    swiftLanguageModes: [.v5]
)
