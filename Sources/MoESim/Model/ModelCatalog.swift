import Foundation

/// The shipped model specs, plus any user file given by path.
public enum ModelCatalog {
    public static func presets() throws -> [ModelSpec] {
        try ResourceLocator.presetFiles(kind: "models").map { try load(path: $0.path) }
    }

    public static func load(path: String) throws -> ModelSpec {
        let spec = try JSONFileLoader.decode(ModelSpec.self, path: path)
        try spec.validate(file: path)
        return spec
    }

    public static func resolve(_ nameOrPath: String) throws -> ModelSpec {
        if nameOrPath.hasSuffix(".json") || nameOrPath.contains("/") { return try load(path: nameOrPath) }
        let all = try presets()
        let wanted = NameMatching.normalize(nameOrPath)
        if let match = all.first(where: { NameMatching.normalize($0.name) == wanted || ($0.aliases ?? []).map(NameMatching.normalize).contains(wanted) }) {
            return match
        }
        let names = all.map(\.name)
        let suggestion = NameMatching.closest(to: nameOrPath, among: names + all.flatMap { $0.aliases ?? [] })
        throw MoESimError(field: "--model", "unknown model '\(nameOrPath)'",
                          hint: (suggestion.map { "did you mean '\($0)'? " } ?? "") + "known: \(names.joined(separator: ", ")) (see `sim models`)")
    }
}
