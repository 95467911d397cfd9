/// Indented JSON for files people read (results.json, expectations): two spaces per level, members in their
/// stored order, arrays of plain values on one line. Numbers as `JSONValue.format` writes them, so the same
/// values always give the same bytes.
enum PrettyJSON {
    static let indentUnit = "  "

    static func render(_ value: JSONValue) -> String {
        var out = ""
        write(value, indent: "", to: &out)
        return out + "\n"
    }

    static func write(_ value: JSONValue, indent: String, to out: inout String) {
        switch value {
        case let .array(items):
            if items.isEmpty { out += "[]"; return }
            if items.allSatisfy(isScalar) {
                out += "[" + items.map(\.serialized).joined(separator: ", ") + "]"
                return
            }
            out += "[\n"
            for (i, item) in items.enumerated() {
                out += indent + indentUnit
                write(item, indent: indent + indentUnit, to: &out)
                out += i + 1 < items.count ? ",\n" : "\n"
            }
            out += indent + "]"
        case let .object(members):
            if members.isEmpty { out += "{}"; return }
            out += "{\n"
            for (i, (key, member)) in members.enumerated() {
                out += indent + indentUnit
                JSONValue.writeString(key, to: &out)
                out += ": "
                write(member, indent: indent + indentUnit, to: &out)
                out += i + 1 < members.count ? ",\n" : "\n"
            }
            out += indent + "}"
        default:
            value.write(to: &out)
        }
    }

    static func isScalar(_ value: JSONValue) -> Bool {
        switch value {
        case .array, .object: return false
        default: return true
        }
    }
}
