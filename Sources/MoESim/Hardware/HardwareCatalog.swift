import Foundation

/// The shipped hardware presets, plus any user file given by path.
public enum HardwareCatalog {
    /// All presets, sorted by name. Invalid preset files are a packaging bug and fail loudly.
    public static func presets() throws -> [HardwareProfile] {
        try ResourceLocator.presetFiles(kind: "hardware").map { try load(path: $0.path) }
    }

    public static func load(path: String) throws -> HardwareProfile {
        let profile = try JSONFileLoader.decode(HardwareProfile.self, path: path)
        try profile.validate(file: path)
        return profile
    }

    /// A preset name or alias (`4090`, `rtx4090`), or a path to a JSON file.
    public static func resolve(_ nameOrPath: String) throws -> HardwareProfile {
        if nameOrPath.hasSuffix(".json") || nameOrPath.contains("/") {
            return try load(path: nameOrPath)
        }
        let all = try presets()
        let wanted = NameMatching.normalize(nameOrPath)
        if let match = all.first(where: { NameMatching.normalize($0.name) == wanted || ($0.aliases ?? []).map(NameMatching.normalize).contains(wanted) }) {
            return match
        }
        let names = all.map(\.name)
        let suggestion = NameMatching.closest(to: nameOrPath, among: names + all.flatMap { $0.aliases ?? [] })
        throw MoESimError(field: "--hardware", "unknown hardware '\(nameOrPath)'",
                          hint: (suggestion.map { "did you mean '\($0)'? " } ?? "") + "known: \(names.joined(separator: ", ")); or give a path to a JSON profile (see `sim hardware show rtx4090`)")
    }
}
