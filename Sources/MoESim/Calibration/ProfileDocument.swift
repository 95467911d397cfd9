import Foundation

/// A hardware or runtime profile as a JSON document, edited by dotted path. Calibration writes fitted figures
/// into the document, so every field it does not fit (notes, sources, fields a newer engine adds) survives as is.
public struct ProfileDocument: Sendable {
    public var kind: CalibrationParameter.Profile
    /// Where it was read from (a shipped preset's file or the user's).
    public var path: String
    public var json: JSONValue

    /// A shipped preset's name or alias, or a path to a JSON file.
    public static func load(_ kind: CalibrationParameter.Profile, _ nameOrPath: String) throws -> ProfileDocument {
        let path: String
        switch kind {
        case .hardware: path = try presetPath(HardwareCatalog.self, nameOrPath)
        case .runtime: path = try presetPath(RuntimeCatalog.self, nameOrPath)
        }
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw MoESimError(file: path, "cannot read the \(kind.rawValue) profile")
        }
        return ProfileDocument(kind: kind, path: path, json: try JSONValue.parse(text))
    }

    /// The file behind a preset name (validated by loading it as the simulator does).
    static func presetPath<Item: Preset>(_ catalog: PresetCatalog<Item>.Type, _ nameOrPath: String) throws -> String {
        let item = try catalog.resolve(nameOrPath)
        if nameOrPath.hasSuffix(".json") || nameOrPath.contains("/") { return nameOrPath }
        for url in ResourceLocator.presetFiles(kind: Item.presetFolder) where (try? catalog.load(path: url.path))?.name == item.name {
            return url.path
        }
        throw MoESimError(field: Item.optionName, "cannot find the file of preset '\(item.name)'")
    }

    public var name: String { json["name"]?.stringValue ?? "?" }

    /// The number at `path.value`, nil when the figure is absent.
    public func figure(_ path: String) -> Double? { ProfileDocument.lookup(json, path.split(separator: ".").map(String.init) + ["value"])?.numberValue }

    /// Whether the object that would hold `path` exists (e.g. `storage` for `storage.readBytesPerSecond`).
    public func hasParent(of path: String) -> Bool {
        let keys = path.split(separator: ".").map(String.init).dropLast()
        return keys.isEmpty || ProfileDocument.lookup(json, Array(keys)) != nil
    }

    /// Sets `path` to a sourced figure; keeps its other members (note) and records the old value in the note.
    public mutating func setFigure(_ path: String, value: Double, source: String) {
        let keys = path.split(separator: ".").map(String.init)
        let old = ProfileDocument.lookup(json, keys)
        var members: [(String, JSONValue)] = []
        if case let .object(existing)? = old { members = existing }
        func put(_ key: String, _ v: JSONValue) {
            if let i = members.firstIndex(where: { $0.0 == key }) { members[i].1 = v } else { members.append((key, v)) }
        }
        let previous = old?["value"]?.numberValue.map { "was \(JSONValue.format($0)) (\(old?["source"]?.stringValue ?? "no source"))" }
            ?? "absent before (the engine's default applied)"
        put("value", .number(value))
        put("source", .string(source))
        put("unconfirmed", .bool(true))
        put("note", .string("Calibrated; \(previous)."))
        json = ProfileDocument.assign(json, keys[...], .object(members))
    }

    static func lookup(_ value: JSONValue, _ keys: [String]) -> JSONValue? {
        var current: JSONValue? = value
        for key in keys { current = current?[key] }
        return current
    }

    static func assign(_ value: JSONValue, _ keys: ArraySlice<String>, _ newValue: JSONValue) -> JSONValue {
        guard let key = keys.first else { return newValue }
        guard case var .object(members) = value else { return value }
        if let i = members.firstIndex(where: { $0.0 == key }) {
            members[i].1 = assign(members[i].1, keys.dropFirst(), newValue)
        } else {
            members.append((key, assign(.object([]), keys.dropFirst(), newValue)))
        }
        return .object(members)
    }

    /// The document as a file people read.
    public var text: String { PrettyJSON.render(json) }
}
