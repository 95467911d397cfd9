import Foundation

/// A pull parser over the bytes of one JSON text (one trace line, say).
/// It allocates nothing for numbers, literals and short keys, which keeps trace reading fast;
/// errors carry the column so the reader can point at the exact place.
public struct JSONCursor {
    public let bytes: UnsafeBufferPointer<UInt8>
    public private(set) var position: Int = 0

    public init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    public struct SyntaxError: Error, CustomStringConvertible {
        public let column: Int
        public let message: String
        public var description: String { "column \(column): \(message)" }
    }

    @inline(__always) func fail(_ message: String) -> SyntaxError {
        SyntaxError(column: position + 1, message: message)
    }

    @inline(__always) public mutating func skipWhitespace() {
        while position < bytes.count {
            let c = bytes[position]
            if c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D { position += 1 } else { return }
        }
    }

    /// The next non-whitespace byte, not consumed; nil at the end.
    @inline(__always) public mutating func peek() -> UInt8? {
        skipWhitespace()
        return position < bytes.count ? bytes[position] : nil
    }

    @inline(__always) public mutating func expect(_ byte: UInt8, _ what: String) throws(SyntaxError) {
        skipWhitespace()
        guard position < bytes.count, bytes[position] == byte else {
            throw fail("expected \(what)" + found())
        }
        position += 1
    }

    /// Consumes `byte` if it is next.
    @inline(__always) public mutating func consume(_ byte: UInt8) -> Bool {
        skipWhitespace()
        if position < bytes.count && bytes[position] == byte { position += 1; return true }
        return false
    }

    func found() -> String {
        guard position < bytes.count else { return ", found end of line" }
        let c = bytes[position]
        if c >= 0x20 && c < 0x7F { return ", found '\(Character(Unicode.Scalar(c)))'" }
        return ", found byte 0x\(String(c, radix: 16))"
    }

    /// True when only whitespace is left.
    public mutating func atEnd() -> Bool {
        skipWhitespace()
        return position >= bytes.count
    }

    public mutating func parseNull() -> Bool {
        skipWhitespace()
        if position + 4 <= bytes.count && bytes[position] == 0x6E && bytes[position + 1] == 0x75
            && bytes[position + 2] == 0x6C && bytes[position + 3] == 0x6C {
            position += 4
            return true
        }
        return false
    }

    public mutating func parseBool() throws(SyntaxError) -> Bool {
        skipWhitespace()
        if matchLiteral("true") { return true }
        if matchLiteral("false") { return false }
        throw fail("expected true or false" + found())
    }

    mutating func matchLiteral(_ literal: StaticString) -> Bool {
        let n = literal.utf8CodeUnitCount
        guard position + n <= bytes.count else { return false }
        let p = literal.utf8Start
        for i in 0..<n where bytes[position + i] != p[i] { return false }
        position += n
        return true
    }

    public mutating func parseString() throws(SyntaxError) -> String {
        try expect(0x22, "a string")
        let start = position
        var hasEscape = false
        while position < bytes.count {
            let c = bytes[position]
            if c == 0x22 {
                let slice = UnsafeBufferPointer(rebasing: bytes[start..<position])
                position += 1
                if !hasEscape { return String(decoding: slice, as: UTF8.self) }
                return try unescape(slice)
            }
            if c == 0x5C { hasEscape = true; position += 2; continue }
            if c < 0x20 { throw fail("control character inside a string") }
            position += 1
        }
        throw fail("unterminated string")
    }

    func unescape(_ raw: UnsafeBufferPointer<UInt8>) throws(SyntaxError) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var i = 0
        while i < raw.count {
            let c = raw[i]
            if c != 0x5C { out.append(c); i += 1; continue }
            guard i + 1 < raw.count else { throw fail("bad escape in string") }
            let e = raw[i + 1]
            i += 2
            switch e {
            case 0x22: out.append(0x22)
            case 0x5C: out.append(0x5C)
            case 0x2F: out.append(0x2F)
            case 0x62: out.append(0x08)
            case 0x66: out.append(0x0C)
            case 0x6E: out.append(0x0A)
            case 0x72: out.append(0x0D)
            case 0x74: out.append(0x09)
            case 0x75:
                guard i + 4 <= raw.count, let code = UInt32(String(decoding: UnsafeBufferPointer(rebasing: raw[i..<(i + 4)]), as: UTF8.self), radix: 16) else {
                    throw fail("bad \\u escape in string")
                }
                i += 4
                var scalarValue = code
                if (0xD800..<0xDC00).contains(code), i + 6 <= raw.count, raw[i] == 0x5C, raw[i + 1] == 0x75,
                   let low = UInt32(String(decoding: UnsafeBufferPointer(rebasing: raw[(i + 2)..<(i + 6)]), as: UTF8.self), radix: 16),
                   (0xDC00..<0xE000).contains(low) {
                    scalarValue = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    i += 6
                }
                let scalar = Unicode.Scalar(scalarValue) ?? "\u{FFFD}"
                out.append(contentsOf: Array(String(scalar).utf8))
            default: throw fail("bad escape '\\\(Character(Unicode.Scalar(e)))' in string")
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Parses a JSON number. Clinger's fast path is exact for up to 15 significant digits and
    /// |exponent| <= 22; anything else goes through Swift's correctly rounded parser.
    public mutating func parseNumber() throws(SyntaxError) -> Double {
        skipWhitespace()
        let start = position
        var negative = false
        if position < bytes.count && bytes[position] == 0x2D { negative = true; position += 1 }
        var mantissa: UInt64 = 0
        var digits = 0
        var significant = 0
        var exponent = 0
        let intStart = position
        while position < bytes.count, bytes[position] &- 0x30 < 10 {
            if significant > 0 || bytes[position] != 0x30 { significant += 1 }
            if significant <= 19 { mantissa = mantissa &* 10 &+ UInt64(bytes[position] &- 0x30) } else { exponent += 1 }
            digits += 1
            position += 1
        }
        if digits == 0 { position = start; throw fail("expected a number" + found()) }
        if digits > 1 && bytes[intStart] == 0x30 { throw fail("leading zero in number") }
        if position < bytes.count && bytes[position] == 0x2E {
            position += 1
            var fractionDigits = 0
            while position < bytes.count, bytes[position] &- 0x30 < 10 {
                if significant > 0 || bytes[position] != 0x30 { significant += 1 }
                if significant <= 19 { mantissa = mantissa &* 10 &+ UInt64(bytes[position] &- 0x30); exponent -= 1 }
                fractionDigits += 1
                position += 1
            }
            if fractionDigits == 0 { throw fail("expected digits after '.'") }
        }
        if position < bytes.count && (bytes[position] == 0x65 || bytes[position] == 0x45) {
            position += 1
            var expNegative = false
            if position < bytes.count && (bytes[position] == 0x2B || bytes[position] == 0x2D) {
                expNegative = bytes[position] == 0x2D
                position += 1
            }
            var e = 0
            var expDigits = 0
            while position < bytes.count, bytes[position] &- 0x30 < 10 {
                if e < 100_000 { e = e * 10 + Int(bytes[position] &- 0x30) }
                expDigits += 1
                position += 1
            }
            if expDigits == 0 { throw fail("expected digits in exponent") }
            exponent += expNegative ? -e : e
        }
        if significant <= 15 && exponent >= -22 && exponent <= 22 {
            var value = Double(mantissa)
            if exponent < 0 { value /= JSONCursor.powersOfTen[-exponent] } else { value *= JSONCursor.powersOfTen[exponent] }
            return negative ? -value : value
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
        guard let value = Double(text) else { throw fail("unreadable number '\(text)'") }
        return value
    }

    static let powersOfTen: [Double] = (0...22).map { e in
        var v = 1.0
        for _ in 0..<e { v *= 10 }
        return v
    }

    /// Parses a number that must be an integer (no fraction, within Int range).
    public mutating func parseInteger() throws(SyntaxError) -> Int {
        let before = position
        let value = try parseNumber()
        guard value == value.rounded(), abs(value) < 9.0e15 else {
            position = before
            skipWhitespace()
            throw fail("expected an integer, found \(value)")
        }
        return Int(value)
    }

    /// Skips any JSON value (used for fields a reader does not know: they are kept by the format and ignored).
    public mutating func skipValue(depth: Int = 0) throws(SyntaxError) {
        guard depth < 64 else { throw fail("nesting deeper than 64 levels") }
        guard let c = peek() else { throw fail("expected a value, found end of line") }
        switch c {
        case 0x22: _ = try parseString()
        case 0x7B:
            position += 1
            if consume(0x7D) { return }
            repeat {
                _ = try parseString()
                try expect(0x3A, "':'")
                try skipValue(depth: depth + 1)
            } while consume(0x2C)
            try expect(0x7D, "',' or '}'")
        case 0x5B:
            position += 1
            if consume(0x5D) { return }
            repeat { try skipValue(depth: depth + 1) } while consume(0x2C)
            try expect(0x5D, "',' or ']'")
        case 0x74, 0x66: _ = try parseBool()
        case 0x6E:
            if !parseNull() { throw fail("expected a value" + found()) }
        default: _ = try parseNumber()
        }
    }

    /// Parses any value into a `JSONValue` tree (for small lines such as headers).
    public mutating func parseValue(depth: Int = 0) throws(SyntaxError) -> JSONValue {
        guard depth < 64 else { throw fail("nesting deeper than 64 levels") }
        guard let c = peek() else { throw fail("expected a value, found end of line") }
        switch c {
        case 0x22: return .string(try parseString())
        case 0x7B:
            position += 1
            var members: [(String, JSONValue)] = []
            if consume(0x7D) { return .object(members) }
            repeat {
                let key = try parseString()
                try expect(0x3A, "':'")
                members.append((key, try parseValue(depth: depth + 1)))
            } while consume(0x2C)
            try expect(0x7D, "',' or '}'")
            return .object(members)
        case 0x5B:
            position += 1
            var items: [JSONValue] = []
            if consume(0x5D) { return .array(items) }
            repeat { items.append(try parseValue(depth: depth + 1)) } while consume(0x2C)
            try expect(0x5D, "',' or ']'")
            return .array(items)
        case 0x74, 0x66: return .bool(try parseBool())
        case 0x6E:
            if parseNull() { return .null }
            throw fail("expected a value" + found())
        default: return .number(try parseNumber())
        }
    }
}
