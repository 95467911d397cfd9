import Foundation

/// One value of a JSON document being decoded, with its file and JSON path, so every error can say exactly
/// where it is (`experiments/x.json: field 'axes[1].values': ...`).
struct SpecField {
    let value: JSONValue
    let path: String
    let file: String

    func error(_ message: String, hint: String? = nil) -> MoESimError {
        MoESimError(file: file, field: path.isEmpty ? nil : path, message, hint: hint)
    }

    func child(_ key: String, _ value: JSONValue) -> SpecField {
        SpecField(value: value, path: path.isEmpty ? key : "\(path).\(key)", file: file)
    }

    var typeName: String {
        switch value {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    /// The members of an object; unknown keys are errors with a "did you mean" hint.
    func object(allowed: [String]) throws -> [(String, SpecField)] {
        guard case let .object(members) = value else { throw error("expected an object, found \(typeName)") }
        var seen = Set<String>()
        for (key, _) in members {
            guard allowed.contains(key) else {
                let suggestion = NameMatching.closest(to: key, among: allowed)
                throw child(key, .null).error("unknown field", hint: (suggestion.map { "did you mean '\($0)'? " } ?? "") + "allowed: \(allowed.joined(separator: ", "))")
            }
            guard seen.insert(key).inserted else { throw child(key, .null).error("given twice") }
        }
        return members.map { ($0.0, child($0.0, $0.1)) }
    }

    func member(_ key: String) -> SpecField? {
        guard let value = value[key] else { return nil }
        return child(key, value)
    }

    func required(_ key: String) throws -> SpecField {
        guard let field = member(key) else { throw child(key, .null).error("required field is missing") }
        return field
    }

    func string() throws -> String {
        guard case let .string(text) = value else { throw error("expected a string, found \(typeName)") }
        return text
    }

    func nonEmptyString() throws -> String {
        let text = try string()
        guard !text.trimmingCharacters(in: .whitespaces).isEmpty else { throw error("must not be empty") }
        return text
    }

    func number() throws -> Double {
        guard case let .number(n) = value else { throw error("expected a number, found \(typeName)") }
        return n
    }

    func bool() throws -> Bool {
        guard case let .bool(b) = value else { throw error("expected true or false, found \(typeName)") }
        return b
    }

    func array() throws -> [SpecField] {
        guard case let .array(items) = value else { throw error("expected an array, found \(typeName)") }
        return items.enumerated().map { SpecField(value: $0.element, path: "\(path)[\($0.offset)]", file: file) }
    }

    func nonEmptyArray() throws -> [SpecField] {
        let items = try array()
        guard !items.isEmpty else { throw error("must not be empty") }
        return items
    }

    /// A command-line value: a string, or a number written as the command line would (integers without ".0").
    func scalarText() throws -> String {
        switch value {
        case let .string(text): return text
        case let .number(n): return JSONValue.format(n)
        default: throw error("expected a string or a number, found \(typeName)")
        }
    }

    /// An array of strings, or one string standing for an array of one.
    func stringList() throws -> [String] {
        if case .string = value { return [try string()] }
        return try nonEmptyArray().map { try $0.string() }
    }
}
