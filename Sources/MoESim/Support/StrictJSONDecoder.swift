import Foundation

/// Values read from JSON that have a fixed set of spellings (enums): an invalid one is an error that lists them.
public protocol KnownJSONValues {
    static var knownJSONValues: [String] { get }
}

extension KnownJSONValues where Self: CaseIterable & RawRepresentable, RawValue == String {
    public static var knownJSONValues: [String] { allCases.map(\.rawValue) }
}

/// Decodes a `Decodable` type from a parsed JSON value strictly, for every preset, profile and task file:
/// - a member the type never asks for is an error naming its path, with a "did you mean" among the members the type
///   reads at that place (so a misspelled optional field can never be ignored silently);
/// - an integer field holding 2.5 or 1e30, a value of the wrong type and an enum value that does not exist are errors
///   naming the field (the enum's error lists its values);
/// - every problem is collected and reported at once (all missing required fields together), in one line.
/// The known members are those the type's own `Decodable` conformance asks for (its CodingKeys), so there is no
/// list to keep in step with the types.
public enum StrictJSONDecoder {
    /// At most this many problems are spelled out in one message; the rest are counted.
    static let maxProblemsShown = 8

    public static func decode<T: Decodable>(_ type: T.Type, from value: JSONValue, file: String) throws -> T {
        let state = State()
        let decoder = Reader(value: value, path: [], state: state, phantom: false)
        let result: T?
        var failure: Error?
        do { result = try T(from: decoder) } catch {
            result = nil
            failure = error
        }
        unknownMembers(value, path: [], state: state)
        if let error = state.error(file: file) { throw error }
        if let failure {
            throw (failure as? MoESimError)?.located(file: file) ?? MoESimError(file: file, "\(failure)")
        }
        return result!
    }

    /// Members of objects the decoder read that it never asked for, with the closest member it reads there.
    static func unknownMembers(_ value: JSONValue, path: [Component], state: State) {
        switch value {
        case let .object(members):
            let at = Component.text(path)
            guard let asked = state.asked[at] else { return }
            for (key, member) in members {
                if asked.contains(key) {
                    unknownMembers(member, path: path + [.key(key)], state: state)
                    continue
                }
                let present = Set(members.map(\.0))
                let candidates = asked.filter { !present.contains($0) }.sorted()
                let suggestion = NameMatching.closest(to: key, among: candidates)
                let field = Component.text(path + [.key(key)])
                // A misspelled required field is reported once, as the unknown member with the suggestion.
                if let suggestion, let i = state.problems.firstIndex(where: { $0.missing && $0.field == Component.text(path + [.key(suggestion)]) }) {
                    state.problems.remove(at: i)
                    state.problems.append(Problem(field: field, message: "unknown field", hint: "did you mean '\(suggestion)'? it is required and missing"))
                    continue
                }
                let allowed = asked.sorted().joined(separator: ", ")
                state.problems.append(Problem(field: field, message: "unknown field",
                                              hint: (suggestion.map { "did you mean '\($0)'? " } ?? "") + "allowed here: \(allowed)"))
            }
        case let .array(items):
            for (i, item) in items.enumerated() { unknownMembers(item, path: path + [.index(i)], state: state) }
        default: return
        }
    }

    enum Component {
        case key(String)
        case index(Int)

        static func text(_ path: [Component]) -> String {
            var out = ""
            for component in path {
                switch component {
                case let .key(k): out += out.isEmpty ? k : "." + k
                case let .index(i): out += "[\(i)]"
                }
            }
            return out
        }
    }

    struct Problem {
        var field: String
        var message: String
        var hint: String?
        var missing = false
    }

    /// What one decode saw: the members asked for at each object, and the problems found.
    final class State {
        var asked: [String: Set<String>] = [:]
        var problems: [Problem] = []

        func report(_ path: [Component], _ message: String, hint: String? = nil, missing: Bool = false) {
            problems.append(Problem(field: Component.text(path), message: message, hint: hint, missing: missing))
        }

        func error(file: String) -> MoESimError? {
            guard let first = problems.first else { return nil }
            if problems.count == 1 {
                return MoESimError(file: file, field: first.field.isEmpty ? nil : first.field, first.message, hint: first.hint)
            }
            if problems.allSatisfy(\.missing) {
                return MoESimError(file: file, "required fields are missing: " + problems.map { "'\($0.field)'" }.joined(separator: ", "))
            }
            let shown = problems.prefix(StrictJSONDecoder.maxProblemsShown).map { p in
                (p.field.isEmpty ? "" : "field '\(p.field)': ") + p.message + (p.hint.map { " (hint: \($0))" } ?? "")
            }
            let more = problems.count > shown.count ? "; and \(problems.count - shown.count) more" : ""
            return MoESimError(file: file, "\(problems.count) problems: " + shown.joined(separator: "; ") + more)
        }
    }

    /// Thrown when a value cannot even be stood in for (decoding stops; the problems found so far are reported).
    struct Abandoned: Error {}

    static func kind(_ value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case let .bool(b): return "\(b)"
        case let .number(n): return JSONValue.format(n)
        case let .string(s): return "\"\(s.count > 40 ? String(s.prefix(40)) + "..." : s)\""
        case .array: return "a list"
        case .object: return "an object"
        }
    }

    /// One value being decoded. A `phantom` reader stands in for a value that is missing or wrong, so decoding can go
    /// on and find every other problem; it reports nothing and answers zeros, empty lists and absent members.
    struct Reader: Decoder {
        let value: JSONValue
        let path: [Component]
        let state: State
        let phantom: Bool

        var codingPath: [CodingKey] { path.map(PathKey.init) }
        var userInfo: [CodingUserInfoKey: Any] { [:] }

        func child<T: Decodable>(_ type: T.Type, _ value: JSONValue?, at path: [Component]) throws -> T {
            guard !phantom else { return try standIn(type, at: path) }
            guard let value else {
                state.report(path, "required field is missing", missing: true)
                return try standIn(type, at: path)
            }
            if let known = T.self as? KnownJSONValues.Type {
                let values = known.knownJSONValues
                guard case let .string(s) = value, values.contains(s) else {
                    let suggestion = value.stringValue.flatMap { NameMatching.closest(to: $0, among: values) }
                    state.report(path, "expected one of \(values.map { "\"\($0)\"" }.joined(separator: ", ")), found \(kind(value))",
                                 hint: suggestion.map { "did you mean \"\($0)\"?" })
                    return try standIn(type, at: path)
                }
            }
            return try T(from: Reader(value: value, path: path, state: state, phantom: false))
        }

        func standIn<T: Decodable>(_ type: T.Type, at path: [Component]) throws -> T {
            if let known = T.self as? KnownJSONValues.Type, let first = known.knownJSONValues.first {
                return try T(from: Reader(value: .string(first), path: path, state: state, phantom: true))
            }
            do { return try T(from: Reader(value: .null, path: path, state: state, phantom: true)) } catch { throw Abandoned() }
        }

        func mismatch(_ what: String) {
            if !phantom { state.report(path, "expected \(what), found \(kind(value))") }
        }

        func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
            var members: [(String, JSONValue)] = []
            if case let .object(m) = value { members = m } else { mismatch("an object") }
            let live = !phantom && { if case .object = value { return true } else { return false } }()
            if live {
                let at = Component.text(path)
                if state.asked[at] == nil { state.asked[at] = [] }
                var seen: Set<String> = []
                for (key, _) in members where !seen.insert(key).inserted {
                    state.report(path + [.key(key)], "given twice")
                }
            }
            return KeyedDecodingContainer(Keyed<Key>(reader: self, members: members, live: live))
        }

        func unkeyedContainer() throws -> UnkeyedDecodingContainer {
            var items: [JSONValue] = []
            if case let .array(a) = value { items = a } else { mismatch("a list") }
            return Unkeyed(reader: self, items: items)
        }

        func singleValueContainer() throws -> SingleValueDecodingContainer { Single(reader: self) }
    }

    struct PathKey: CodingKey {
        var stringValue: String
        var intValue: Int?
        init(_ component: Component) {
            switch component {
            case let .key(k): stringValue = k; intValue = nil
            case let .index(i): stringValue = "\(i)"; intValue = i
            }
        }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { self.stringValue = "\(intValue)"; self.intValue = intValue }
    }

    struct Keyed<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let reader: Reader
        let members: [(String, JSONValue)]
        let live: Bool

        var codingPath: [CodingKey] { reader.codingPath }
        var allKeys: [Key] { members.compactMap { Key(stringValue: $0.0) } }

        func ask(_ key: Key) -> JSONValue? {
            if live { reader.state.asked[Component.text(reader.path), default: []].insert(key.stringValue) }
            return members.last { $0.0 == key.stringValue }?.1
        }

        func contains(_ key: Key) -> Bool { ask(key) != nil }
        func decodeNil(forKey key: Key) throws -> Bool { ask(key)?.isNull ?? true }

        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
            try reader.child(type, ask(key), at: reader.path + [.key(key.stringValue)])
        }
        func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try decode(Wrapped<Bool>.self, forKey: key).value }
        func decode(_ type: String.Type, forKey key: Key) throws -> String { try decode(Wrapped<String>.self, forKey: key).value }
        func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try decode(Wrapped<Double>.self, forKey: key).value }
        func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try decode(Wrapped<Float>.self, forKey: key).value }
        func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try decode(Wrapped<Int>.self, forKey: key).value }
        func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try decode(Wrapped<Int8>.self, forKey: key).value }
        func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try decode(Wrapped<Int16>.self, forKey: key).value }
        func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try decode(Wrapped<Int32>.self, forKey: key).value }
        func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try decode(Wrapped<Int64>.self, forKey: key).value }
        func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try decode(Wrapped<UInt>.self, forKey: key).value }
        func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try decode(Wrapped<UInt8>.self, forKey: key).value }
        func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try decode(Wrapped<UInt16>.self, forKey: key).value }
        func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try decode(Wrapped<UInt32>.self, forKey: key).value }
        func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try decode(Wrapped<UInt64>.self, forKey: key).value }

        func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
            try nested(key).container(keyedBy: type)
        }
        func nestedUnkeyedContainer(forKey key: Key) throws -> UnkeyedDecodingContainer { try nested(key).unkeyedContainer() }
        func superDecoder() throws -> Decoder { reader }
        func superDecoder(forKey key: Key) throws -> Decoder { nested(key) }

        func nested(_ key: Key) -> Reader {
            let path = reader.path + [.key(key.stringValue)]
            guard let value = ask(key) else {
                if !reader.phantom { reader.state.report(path, "required field is missing", missing: true) }
                return Reader(value: .null, path: path, state: reader.state, phantom: true)
            }
            return Reader(value: value, path: path, state: reader.state, phantom: reader.phantom)
        }
    }

    struct Unkeyed: UnkeyedDecodingContainer {
        let reader: Reader
        let items: [JSONValue]
        var currentIndex = 0

        init(reader: Reader, items: [JSONValue]) {
            self.reader = reader
            self.items = items
        }

        var codingPath: [CodingKey] { reader.codingPath }
        var count: Int? { items.count }
        var isAtEnd: Bool { currentIndex >= items.count }

        mutating func next() -> (JSONValue?, [Component]) {
            let path = reader.path + [.index(currentIndex)]
            defer { currentIndex += 1 }
            return (currentIndex < items.count ? items[currentIndex] : nil, path)
        }

        mutating func decodeNil() throws -> Bool {
            guard currentIndex < items.count else { return true }
            if items[currentIndex].isNull { currentIndex += 1; return true }
            return false
        }
        mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
            let (value, path) = next()
            return try reader.child(type, value, at: path)
        }
        mutating func decode(_ type: Bool.Type) throws -> Bool { try decode(Wrapped<Bool>.self).value }
        mutating func decode(_ type: String.Type) throws -> String { try decode(Wrapped<String>.self).value }
        mutating func decode(_ type: Double.Type) throws -> Double { try decode(Wrapped<Double>.self).value }
        mutating func decode(_ type: Float.Type) throws -> Float { try decode(Wrapped<Float>.self).value }
        mutating func decode(_ type: Int.Type) throws -> Int { try decode(Wrapped<Int>.self).value }
        mutating func decode(_ type: Int8.Type) throws -> Int8 { try decode(Wrapped<Int8>.self).value }
        mutating func decode(_ type: Int16.Type) throws -> Int16 { try decode(Wrapped<Int16>.self).value }
        mutating func decode(_ type: Int32.Type) throws -> Int32 { try decode(Wrapped<Int32>.self).value }
        mutating func decode(_ type: Int64.Type) throws -> Int64 { try decode(Wrapped<Int64>.self).value }
        mutating func decode(_ type: UInt.Type) throws -> UInt { try decode(Wrapped<UInt>.self).value }
        mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try decode(Wrapped<UInt8>.self).value }
        mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try decode(Wrapped<UInt16>.self).value }
        mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try decode(Wrapped<UInt32>.self).value }
        mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try decode(Wrapped<UInt64>.self).value }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
            try nestedReader().container(keyedBy: type)
        }
        mutating func nestedUnkeyedContainer() throws -> UnkeyedDecodingContainer { try nestedReader().unkeyedContainer() }
        mutating func superDecoder() throws -> Decoder { nestedReader() }

        mutating func nestedReader() -> Reader {
            let (value, path) = next()
            return Reader(value: value ?? .null, path: path, state: reader.state, phantom: reader.phantom || value == nil)
        }
    }

    /// A scalar: numbers are checked to fit the field (an integer field takes only whole numbers in its range).
    struct Single: SingleValueDecodingContainer {
        let reader: Reader
        var codingPath: [CodingKey] { reader.codingPath }

        func decodeNil() -> Bool { reader.value.isNull }

        func decode(_ type: Bool.Type) throws -> Bool {
            if case let .bool(b) = reader.value { return b }
            reader.mismatch("true or false")
            return false
        }

        func decode(_ type: String.Type) throws -> String {
            if case let .string(s) = reader.value { return s }
            reader.mismatch("a string")
            return ""
        }

        func decode(_ type: Double.Type) throws -> Double {
            guard case let .number(n) = reader.value else { reader.mismatch("a number"); return 0 }
            guard n.isFinite else {
                if !reader.phantom { reader.state.report(reader.path, "number out of range (beyond +-1.8e308)") }
                return 0
            }
            return n
        }

        func decode(_ type: Float.Type) throws -> Float {
            let n = try decode(Double.self)
            guard abs(n) <= Double(Float.greatestFiniteMagnitude) else { reader.mismatch("a number within +-3.4e38"); return 0 }
            return Float(n)
        }

        func integer<I: FixedWidthInteger>(_ type: I.Type) -> I {
            guard case let .number(n) = reader.value, let i = I(exactly: n) else {
                reader.mismatch("an integer" + (I.min == 0 ? " >= 0" : "") + (I.bitWidth < 64 ? " of at most \(I.max)" : ""))
                return 0
            }
            return i
        }

        func decode(_ type: Int.Type) throws -> Int { integer(type) }
        func decode(_ type: Int8.Type) throws -> Int8 { integer(type) }
        func decode(_ type: Int16.Type) throws -> Int16 { integer(type) }
        func decode(_ type: Int32.Type) throws -> Int32 { integer(type) }
        func decode(_ type: Int64.Type) throws -> Int64 { integer(type) }
        func decode(_ type: UInt.Type) throws -> UInt { integer(type) }
        func decode(_ type: UInt8.Type) throws -> UInt8 { integer(type) }
        func decode(_ type: UInt16.Type) throws -> UInt16 { integer(type) }
        func decode(_ type: UInt32.Type) throws -> UInt32 { integer(type) }
        func decode(_ type: UInt64.Type) throws -> UInt64 { integer(type) }
        func decode<T: Decodable>(_ type: T.Type) throws -> T { try T(from: reader) }
    }

    /// Routes a scalar through `Reader.child` (presence, null and enum checks) and then its single-value container.
    struct Wrapped<V: Decodable>: Decodable {
        let value: V
        init(from decoder: Decoder) throws { value = try V(from: decoder) }
    }
}
