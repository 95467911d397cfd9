import Foundation

// SwiftPM generates `Bundle.module` for a target with resources; the fuzz binary is built with swiftc directly, so
// it supplies one. Presets are found through MOESIM_RESOURCES (set by Fuzz/fuzz.sh and by the harness itself).
extension Foundation.Bundle {
    static let module: Bundle = Bundle.main
}
