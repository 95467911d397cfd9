/// Splits one CSV line into fields (RFC 4180 quoting: a field in double quotes may hold commas, and `""` is one
/// quote); a quote inside an unquoted field is a literal character (shell quotes in `sim` options). Records span
/// one line each: measurement files have no multi-line fields.
enum CSVFields {
    /// The fields of `line`, or a message saying what is malformed.
    static func split(_ line: String) -> Result<[String], CSVError> {
        var fields: [String] = []
        var field = ""
        var quoted = false, wasQuoted = false
        var characters = Array(line)
        if characters.last == "\r" { characters.removeLast() }
        var i = 0
        while i < characters.count {
            let c = characters[i]
            if quoted {
                if c == "\"" {
                    if i + 1 < characters.count && characters[i + 1] == "\"" { field.append("\""); i += 1 } else { quoted = false }
                } else {
                    field.append(c)
                }
            } else if c == "," {
                fields.append(wasQuoted ? field : field.trimmingSpaces)
                field = ""
                wasQuoted = false
            } else if c == "\"" && !wasQuoted && field.allSatisfy({ $0 == " " }) {
                field = ""
                quoted = true
                wasQuoted = true
            } else {
                if wasQuoted && c != " " {
                    return .failure(CSVError(column: fields.count + 1, message: "text after a closing quote"))
                }
                field.append(c)
            }
            i += 1
        }
        if quoted { return .failure(CSVError(column: fields.count + 1, message: "a quoted field is not closed on this line")) }
        fields.append(wasQuoted ? field : field.trimmingSpaces)
        return .success(fields)
    }

    struct CSVError: Error {
        var column: Int
        var message: String
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " || s.first == "\t" { s.removeFirst() }
        while s.last == " " || s.last == "\t" { s.removeLast() }
        return String(s)
    }
}
