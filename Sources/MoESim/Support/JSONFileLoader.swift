import Foundation

/// Decodes small JSON configuration files (profiles, specs) and turns decoding failures into
/// one-line errors that name the file and the field.
public enum JSONFileLoader {
    public static func decode<T: Decodable>(_ type: T.Type, from data: Data, file: String) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch let error as DecodingError {
            if case let .dataCorrupted(context) = error, context.codingPath.isEmpty, let located = locateSyntaxError(data, file: file) {
                throw located
            }
            throw describe(error, file: file)
        } catch {
            throw MoESimError(file: file, "\(error)")
        }
    }

    public static func decode<T: Decodable>(_ type: T.Type, path: String) throws -> T {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw MoESimError(file: path, "cannot read file", hint: "check the path")
        }
        return try decode(type, from: data, file: path)
    }

    /// Foundation's decoder on Linux does not say where a syntax error is; the project's cursor does.
    static func locateSyntaxError(_ data: Data, file: String) -> MoESimError? {
        let text = String(decoding: data, as: UTF8.self)
        do {
            // The cursor reads 1e400 as infinity; Foundation rejects it without saying where.
            if let field = nonFiniteNumber(try JSONValue.parse(text)) {
                return MoESimError(file: file, field: field.isEmpty ? nil : field, "number out of range (beyond +-1.8e308)")
            }
            return nil
        } catch let error as JSONCursor.SyntaxError {
            let bytes = Array(text.utf8)
            let offset = min(max(0, error.column - 1), bytes.count)
            let line = bytes[..<offset].reduce(1) { $0 + ($1 == 0x0A ? 1 : 0) }
            let lineStart = bytes[..<offset].lastIndex(of: 0x0A).map { $0 + 1 } ?? 0
            return MoESimError(file: file, line: line, "malformed JSON at column \(offset - lineStart + 1): \(error.message)")
        } catch {
            return nil
        }
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

    static func path(_ codingPath: [CodingKey]) -> String {
        codingPath.map { key in key.intValue.map { "[\($0)]" } ?? key.stringValue }
            .joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
    }

    static func describe(_ error: DecodingError, file: String) -> MoESimError {
        switch error {
        case let .keyNotFound(key, context):
            let parent = path(context.codingPath)
            return MoESimError(file: file, field: parent.isEmpty ? key.stringValue : parent + "." + key.stringValue,
                               "required field is missing")
        case let .typeMismatch(type, context):
            return MoESimError(file: file, field: path(context.codingPath), "expected \(describe(type))")
        case let .valueNotFound(type, context):
            return MoESimError(file: file, field: path(context.codingPath), "expected \(describe(type)), found null")
        case let .dataCorrupted(context):
            let detail = (context.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String
            let message = detail.map { "malformed JSON: \($0)" } ?? context.debugDescription
            let field = path(context.codingPath)
            return MoESimError(file: file, field: field.isEmpty ? nil : field, message)
        @unknown default:
            return MoESimError(file: file, "\(error)")
        }
    }

    static func describe(_ type: Any.Type) -> String {
        switch type {
        case is Double.Type, is Float.Type: return "a number"
        case is Int.Type: return "an integer"
        case is Bool.Type: return "true or false"
        case is String.Type: return "a string"
        default:
            let name = String(describing: type)
            if name.hasPrefix("Array") { return "a list" }
            if name.hasPrefix("Dictionary") { return "an object" }
            return "a value of type \(name)"
        }
    }
}
