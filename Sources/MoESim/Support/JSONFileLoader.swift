import Foundation

/// Decodes small JSON configuration files (presets, profiles, task sets) strictly (`StrictJSONDecoder`) and turns
/// every failure into a one-line error that names the file and the field.
public enum JSONFileLoader {
    public static func decode<T: Decodable>(_ type: T.Type, from data: Data, file: String) throws -> T {
        try decode(type, from: try parse(data, file: file), file: file)
    }

    /// Decodes an already parsed file (e.g. one edited after parsing) strictly: see `StrictJSONDecoder`.
    public static func decode<T: Decodable>(_ type: T.Type, from value: JSONValue, file: String) throws -> T {
        if let field = nonFiniteNumber(value) {
            throw MoESimError(file: file, field: field.isEmpty ? nil : field, "number out of range (beyond +-1.8e308)")
        }
        return try StrictJSONDecoder.decode(type, from: value, file: file)
    }

    /// The file's JSON value; a syntax error names the line and column.
    public static func parse(_ data: Data, file: String) throws -> JSONValue {
        let text = String(decoding: data, as: UTF8.self)
        do {
            return try JSONValue.parse(text)
        } catch let error as JSONCursor.SyntaxError {
            let bytes = Array(text.utf8)
            let offset = min(max(0, error.column - 1), bytes.count)
            let line = bytes[..<offset].reduce(1) { $0 + ($1 == 0x0A ? 1 : 0) }
            let lineStart = bytes[..<offset].lastIndex(of: 0x0A).map { $0 + 1 } ?? 0
            throw MoESimError(file: file, line: line, "malformed JSON at column \(offset - lineStart + 1): \(error.message)")
        }
    }

    public static func decode<T: Decodable>(_ type: T.Type, path: String) throws -> T {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw MoESimError(file: path, "cannot read file", hint: "check the path")
        }
        return try decode(type, from: data, file: path)
    }

    /// The dotted path of the first number that is not finite, if any.
    static func nonFiniteNumber(_ value: JSONValue, path: String = "") -> String? {
        switch value {
        case let .number(n): return n.isFinite ? nil : path
        case let .array(items):
            for (i, item) in items.enumerated() { if let found = nonFiniteNumber(item, path: "\(path)[\(i)]") { return found } }
            return nil
        case let .object(members):
            for (key, member) in members { if let found = nonFiniteNumber(member, path: path.isEmpty ? key : "\(path).\(key)") { return found } }
            return nil
        default: return nil
        }
    }
}
