import Foundation

/// `--set PATH=VALUE`: one figure of the hardware, runtime or model preset changed from the command line, applied to
/// the preset's JSON before it is decoded (so it passes the same checks as a figure in the file). PATH is dotted
/// (`hostLink.h2dBytesPerSecond`; numeric parts index lists) and may start with `hardware.`, `runtime.` or `model.`;
/// without that prefix the preset kind whose shipped files have PATH's first field is chosen, and a field that several
/// kinds have (`name`, `notes`) needs the prefix. A field the chosen preset lacks is an error naming it, with a
/// "did you mean" among the fields that exist there. A sourced figure (`{"value": ..., "source": ...}`) gets the new
/// value and, as its source, the override itself, marked unconfirmed.
public struct PresetOverride: Sendable, Equatable {
    /// The preset kind (`HardwareProfile.noun`, ...).
    public var kind: String
    /// Path inside that preset.
    public var path: [String]
    public var value: String
    /// As the user typed it, for report headers.
    public var text: String
}

public struct PresetOverrides: Sendable, Equatable {
    public var items: [PresetOverride] = []

    public init() {}

    public var isEmpty: Bool { items.isEmpty }
    /// As typed, in order (report headers).
    public var texts: [String] { items.map(\.text) }

    /// The kinds a path may belong to: noun and preset folder.
    static let kinds: [(noun: String, folder: String)] = [
        (HardwareProfile.noun, HardwareProfile.presetFolder), (RuntimeProfile.noun, RuntimeProfile.presetFolder),
        (ModelSpec.noun, ModelSpec.presetFolder),
    ]

    /// Parses every `--set` text; an empty list gives no overrides.
    public static func parse(_ texts: [String]) throws -> PresetOverrides {
        var result = PresetOverrides()
        guard !texts.isEmpty else { return result }
        let fields = Dictionary(uniqueKeysWithValues: kinds.map { ($0.noun, shippedTopLevelFields(folder: $0.folder)) })
        for text in texts {
            guard let eq = text.firstIndex(of: "="), eq != text.startIndex else {
                throw MoESimError(field: "--set", "expected PATH=VALUE, found '\(text)'", hint: "e.g. --set hostLink.h2dBytesPerSecond=12e9")
            }
            var path = text[..<eq].split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            let value = String(text[text.index(after: eq)...])
            guard !path.contains(where: \.isEmpty) else {
                throw MoESimError(field: "--set", "empty part in the path '\(text[..<eq])'", hint: "e.g. --set hostLink.h2dBytesPerSecond=12e9")
            }
            let kind: String
            if path.count > 1, let prefixed = kinds.first(where: { $0.noun == path[0] }) {
                kind = prefixed.noun
                path.removeFirst()
            } else {
                let owners = kinds.map(\.noun).filter { fields[$0]!.contains(path[0]) }
                if owners.count > 1 {
                    throw MoESimError(field: "--set \(text)", "'\(path[0])' is a field of the \(owners.joined(separator: " and ")) presets",
                                      hint: "say which: " + owners.map { "--set \($0).\(text)" }.joined(separator: " or "))
                }
                guard let owner = owners.first else {
                    let all = kinds.flatMap { kind in fields[kind.noun]!.sorted().map { "\(kind.noun).\($0)" } }
                    let suggestion = NameMatching.closest(to: path[0], among: kinds.flatMap { fields[$0.noun]!.sorted() })
                    throw MoESimError(field: "--set \(text)", "'\(path[0])' is not a field of any hardware, runtime or model preset",
                                      hint: (suggestion.map { "did you mean '\($0)'? " } ?? "") + "fields: \(all.joined(separator: ", "))")
                }
                kind = owner
            }
            guard !result.items.contains(where: { $0.kind == kind && $0.path == path }) else {
                throw MoESimError(field: "--set \(text)", "sets \(kind).\(path.joined(separator: ".")) a second time")
            }
            result.items.append(PresetOverride(kind: kind, path: path, value: value, text: text))
        }
        return result
    }

    /// Top-level fields of the shipped presets of one kind (their union: the schema as the presets use it).
    static func shippedTopLevelFields(folder: String) -> Set<String> {
        var fields = Set<String>()
        for url in ResourceLocator.presetFiles(kind: folder) {
            guard let data = FileManager.default.contents(atPath: url.path),
                  case let .object(members)? = try? JSONValue.parse(String(decoding: data, as: UTF8.self)) else { continue }
            fields.formUnion(members.map(\.0))
        }
        return fields
    }

    /// The overrides of one preset kind.
    public func items(kind: String) -> [PresetOverride] { items.filter { $0.kind == kind } }

    /// `data` (a preset of `kind` read from `file`) with this kind's overrides applied; `data` itself when none applies.
    public func apply(to data: Data, kind: String, file: String) throws -> Data {
        let mine = items(kind: kind)
        guard !mine.isEmpty else { return data }
        var json = try JSONValue.parse(String(decoding: data, as: UTF8.self))
        for item in mine {
            json = try PresetOverrides.set(item, in: json, at: item.path[...], file: file, walked: [])
        }
        return Data(json.serialized.utf8)
    }

    static func set(_ item: PresetOverride, in node: JSONValue, at path: ArraySlice<String>, file: String, walked: [String]) throws -> JSONValue {
        guard let key = path.first else { return try replace(node, with: item, file: file) }
        let here = walked + [key]
        switch node {
        case var .object(members):
            guard let index = members.firstIndex(where: { $0.0 == key }) else {
                let names = members.map(\.0)
                let suggestion = NameMatching.closest(to: key, among: names)
                throw MoESimError(file: file, field: (walked.isEmpty ? "" : walked.joined(separator: ".") + ".") + key,
                                  "--set \(item.text): no such field in this \(item.kind) preset",
                                  hint: (suggestion.map { "did you mean '\((walked + [$0]).joined(separator: "."))'? " } ?? "")
                                      + "fields here: \(names.joined(separator: ", "))")
            }
            members[index].1 = try set(item, in: members[index].1, at: path.dropFirst(), file: file, walked: here)
            return .object(members)
        case var .array(elements):
            guard let i = Int(key), elements.indices.contains(i) else {
                throw MoESimError(file: file, field: here.joined(separator: "."), "--set \(item.text): expected an index 0..\(elements.count - 1) into this list")
            }
            elements[i] = try set(item, in: elements[i], at: path.dropFirst(), file: file, walked: here)
            return .array(elements)
        default:
            throw MoESimError(file: file, field: walked.joined(separator: "."), "--set \(item.text): not an object, so it has no field '\(key)'")
        }
    }

    /// The new value, of the old value's type. A sourced figure keeps its shape; the override becomes its source.
    static func replace(_ old: JSONValue, with item: PresetOverride, file: String) throws -> JSONValue {
        let field = item.path.joined(separator: ".")
        if case var .object(members) = old, let valueIndex = members.firstIndex(where: { $0.0 == "value" }), members.contains(where: { $0.0 == "source" }) {
            let previous = members[valueIndex].1.serialized
            members[valueIndex].1 = try replace(members[valueIndex].1, with: item, file: file)
            members.removeAll { ["source", "unconfirmed", "note"].contains($0.0) }
            members.append(("source", .string("command line: --set \(item.text)")))
            members.append(("unconfirmed", .bool(true)))
            members.append(("note", .string("overridden on the command line; the preset's value was \(previous)")))
            return .object(members)
        }
        let text = item.value
        switch old {
        case .number:
            guard let n = Double(text), n.isFinite else {
                throw MoESimError(file: file, field: field, "--set \(item.text): expected a number, found '\(text)'", hint: "e.g. 12e9 or 0.5")
            }
            return .number(n)
        case .bool:
            guard text == "true" || text == "false" else {
                throw MoESimError(file: file, field: field, "--set \(item.text): expected true or false, found '\(text)'")
            }
            return .bool(text == "true")
        case .string:
            return .string(text)
        case .null, .array, .object:
            do {
                return try JSONValue.parse(text)
            } catch {
                throw MoESimError(file: file, field: field, "--set \(item.text): expected a JSON value for this field, found '\(text)'")
            }
        }
    }
}

extension PresetCatalog {
    /// `resolve(nameOrPath)` with the overrides of this preset kind applied to its JSON before decoding.
    public static func resolve(_ nameOrPath: String, overrides: PresetOverrides) throws -> Item {
        guard !overrides.items(kind: Item.noun).isEmpty else { return try resolve(nameOrPath) }
        let file = try self.file(for: nameOrPath)
        guard let data = FileManager.default.contents(atPath: file) else {
            throw MoESimError(file: file, "cannot read file", hint: "check the path")
        }
        // Errors name a shipped preset by its name, a user's file by its path.
        let shipped = ResourceLocator.presetFiles(kind: Item.presetFolder).map(\.path).contains(file)
        let shown = shipped ? "\(Item.noun) preset \(URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent)" : file
        let item = try JSONFileLoader.decode(Item.self, from: try overrides.apply(to: data, kind: Item.noun, file: shown), file: shown)
        try item.validate(file: shown)
        return item
    }
}

extension OptionSpec {
    /// `--set PATH=VALUE`, the same on every command that loads presets.
    public static let presetOverrides = OptionSpec("set", value: "PATH=VALUE",
        "change one figure of the hardware, runtime or model preset, e.g. hostLink.h2dBytesPerSecond=12e9 (repeatable; prefix hardware., runtime. or model. when a field is ambiguous); every override is listed in the report",
        repeatable: true)
}
