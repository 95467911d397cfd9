/// Every user-facing failure: where it happened (file, line or field) and what was expected.
public struct MoESimError: Error, CustomStringConvertible, Equatable {
    /// File the problem was found in, if any.
    public var file: String?
    /// 1-based line number in `file`, if the input is line-oriented.
    public var line: Int?
    /// Dotted field path (e.g. `hostLink.h2dBytesPerSecond.value`), if the problem is one field.
    public var field: String?
    public var message: String
    /// What the user can do about it.
    public var hint: String?

    public init(file: String? = nil, line: Int? = nil, field: String? = nil, _ message: String, hint: String? = nil) {
        self.file = file
        self.line = line
        self.field = field
        self.message = message
        self.hint = hint
    }

    /// One line: `FILE:LINE: field F: message (hint: ...)`. Control characters from user input are escaped
    /// so the error always stays on one line.
    public var description: String { MoESimError.oneLine(rawDescription) }

    static func oneLine(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F { out += "\\u{\(String(scalar.value, radix: 16))}" } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out
    }

    var rawDescription: String {
        var location = ""
        if let file { location += file }
        if let line { location += ":\(line)" }
        var text = location.isEmpty ? "" : location + ": "
        if let field { text += "field '\(field)': " }
        text += message
        if let hint { text += " (hint: \(hint))" }
        return text
    }

    /// The same error, attributed to a file (and line) if it has none yet.
    public func located(file: String, line: Int? = nil) -> MoESimError {
        var copy = self
        if copy.file == nil { copy.file = file }
        if copy.line == nil { copy.line = line }
        return copy
    }
}
