import Foundation

/// A JSON-described thing shipped as presets and also accepted from a user's file: hardware, models, runtimes.
public protocol Preset: Decodable {
    /// Folder under `Resources/` that holds the presets.
    static var presetFolder: String { get }
    /// What one is called in messages ("hardware", "model", "runtime").
    static var noun: String { get }
    /// The option that names one (for errors).
    static var optionName: String { get }
    /// Where a user can list them.
    static var listCommand: String { get }
    var name: String { get }
    var aliases: [String]? { get }
    func validate(file: String) throws
}

/// Loads presets and resolves a user-typed name, alias or path, with "did you mean" hints.
public enum PresetCatalog<Item: Preset> {
    /// All shipped presets, sorted by file name. An invalid preset file is a packaging bug and fails loudly.
    public static func presets() throws -> [Item] {
        try ResourceLocator.presetFiles(kind: Item.presetFolder).map { try load(path: $0.path) }
    }

    public static func load(path: String) throws -> Item {
        let item = try JSONFileLoader.decode(Item.self, path: path)
        try item.validate(file: path)
        return item
    }

    /// A preset name or alias (case and `_`/`-` insensitive), or a path to a JSON file.
    public static func resolve(_ nameOrPath: String) throws -> Item {
        if nameOrPath.hasSuffix(".json") || nameOrPath.contains("/") { return try load(path: nameOrPath) }
        return try locate(nameOrPath).item
    }

    /// The file a name, alias or path stands for.
    public static func file(for nameOrPath: String) throws -> String {
        if nameOrPath.hasSuffix(".json") || nameOrPath.contains("/") { return nameOrPath }
        return try locate(nameOrPath).file
    }

    static func locate(_ name: String) throws -> (file: String, item: Item) {
        let files = ResourceLocator.presetFiles(kind: Item.presetFolder).map(\.path)
        let all = try files.map { try load(path: $0) }
        let wanted = NameMatching.normalize(name)
        if let index = all.firstIndex(where: { NameMatching.normalize($0.name) == wanted || ($0.aliases ?? []).map(NameMatching.normalize).contains(wanted) }) {
            return (files[index], all[index])
        }
        let names = all.map(\.name)
        let suggestion = NameMatching.closest(to: name, among: names + all.flatMap { $0.aliases ?? [] })
        throw MoESimError(field: Item.optionName, "unknown \(Item.noun) '\(name)'",
                          hint: (suggestion.map { "did you mean '\($0)'? " } ?? "") + "known: \(names.joined(separator: ", ")); or a path to a JSON file (see `\(Item.listCommand)`)")
    }
}
