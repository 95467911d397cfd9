import Foundation

/// Finds the JSON presets shipped with moe-sim (hardware, models, runtimes).
public enum ResourceLocator {
    /// The folder holding `hardware/`, `models/` and `runtimes/`. `MOESIM_RESOURCES` overrides it.
    public static var resourcesDirectory: URL {
        if let override = ProcessInfo.processInfo.environment["MOESIM_RESOURCES"], !override.isEmpty {
            return URL(fileURLWithPath: override)
        }
        // The copied folder sits in the bundle directory on Linux, under resourceURL elsewhere.
        let bundle = Bundle.module
        let candidates = [bundle.bundleURL.appendingPathComponent("Resources"),
                          bundle.resourceURL?.appendingPathComponent("Resources"), bundle.resourceURL].compactMap { $0 }
        return candidates.first { FileManager.default.fileExists(atPath: $0.appendingPathComponent("hardware").path) } ?? candidates[0]
    }

    /// Sorted `*.json` files of one preset kind.
    public static func presetFiles(kind: String) -> [URL] {
        let folder = resourcesDirectory.appendingPathComponent(kind)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.filter { $0.hasSuffix(".json") }.sorted().map { folder.appendingPathComponent($0) }
    }
}
