import Foundation
import Testing
@testable import MoESim

/// The JSON cursor, JSON values, byte sizes, cache specs and exact expert sizes.
struct ParserTests {
    /// Runs `body` on a cursor over the UTF-8 bytes of `text`.
    static func withCursor<T>(_ text: String, _ body: (inout JSONCursor) throws -> T) throws -> T {
        var copy = text
        return try copy.withUTF8 { buffer in
            var cursor = JSONCursor(buffer)
            return try body(&cursor)
        }
    }

    static func number(_ text: String) throws -> Double {
        try withCursor(text) { cursor in
            let v = try cursor.parseNumber()
            let consumed = cursor.atEnd()
            #expect(consumed, "\(text) not fully consumed")
            return v
        }
    }

    static func string(_ json: String) throws -> String {
        try withCursor(json) { try $0.parseString() }
    }

    /// The syntax error `body` throws on `text`.
    static func syntaxError(_ text: String, _ body: (inout JSONCursor) throws -> Void) -> JSONCursor.SyntaxError? {
        do {
            try withCursor(text, body)
            return nil
        } catch let error as JSONCursor.SyntaxError {
            return error
        } catch {
            return nil
        }
    }

    // MARK: Numbers

    @Test func numbersOfEveryShape() throws {
        let cases: [(String, Double)] = [
            ("0", 0), ("7", 7), ("42", 42), ("-17", -17), ("3.25", 3.25), ("-0.5", -0.5), ("1e3", 1000), ("1E3", 1000),
            ("2.5e+3", 2500), ("1e-2", 0.01), ("-4.5E-1", -0.45), ("0.001", 0.001), ("123456789012345", 123456789012345),
            ("1e22", 1e22), ("1e23", 1e23), ("1e-22", 1e-22), ("6.02214076e23", 6.02214076e23), ("  12 ", 12),
        ]
        for (text, expected) in cases {
            #expect(try ParserTests.number(text) == expected, "\(text)")
        }
        #expect(try ParserTests.number("-0").sign == .minus)
    }

    @Test func longNumbersParseExactlyLikeDoubleFromString() throws {
        let cases = ["0.30000000000000004", "1.2345678901234567", "12345678901234567", "9007199254740993", "9007199254740992.5",
                     "2.2250738585072014e-308", "1.7976931348623157e308", "5e-324", "4.9406564584124654e-324",
                     "0.1000000000000000055511151231257827", "123456789012345678901234567890", "1.00000000000000000001",
                     "-98765432109876543.21e-5", "0.000000000000000000000000000000000000001", "7.0e-10", "8.98846567431158e307"]
        for text in cases {
            let parsed = try ParserTests.number(text)
            #expect(parsed.bitPattern == Double(text)!.bitPattern, "\(text): \(parsed) vs \(Double(text)!)")
        }
    }

    @Test func randomNumbersMatchDoubleFromStringBitForBit() throws {
        var rng = SeededGenerator(seed: 42)
        for _ in 0..<3000 {
            let digits = Int.random(in: 1...19, using: &rng)
            var mantissa = String(Int.random(in: 1...9, using: &rng))
            for _ in 1..<digits { mantissa += String(Int.random(in: 0...9, using: &rng)) }
            let point = Int.random(in: 0...digits, using: &rng)
            var text = point == 0 || point == digits ? mantissa : String(mantissa.prefix(point)) + "." + String(mantissa.dropFirst(point))
            if Bool.random(using: &rng) { text += "e" + String(Int.random(in: -30...30, using: &rng)) }
            if Bool.random(using: &rng) { text = "-" + text }
            let parsed = try ParserTests.number(text)
            #expect(parsed.bitPattern == Double(text)!.bitPattern, "\(text)")
        }
    }

    @Test func integersRejectFractions() throws {
        let twelve = try ParserTests.withCursor("12") { try $0.parseInteger() }
        let minusThree = try ParserTests.withCursor("-3") { try $0.parseInteger() }
        let twoHundred = try ParserTests.withCursor("2e2") { try $0.parseInteger() }
        #expect(twelve == 12)
        #expect(minusThree == -3)
        #expect(twoHundred == 200)
        let error = ParserTests.syntaxError("  3.5") { _ = try $0.parseInteger() }
        #expect(error?.message == "expected an integer, found 3.5")
        #expect(error?.column == 3)
    }

    @Test func badNumbersReportColumns() {
        let leadingZero = ParserTests.syntaxError("[1, 012]") { _ = try $0.parseValue() }
        #expect(leadingZero?.message == "leading zero in number")
        #expect(leadingZero?.column == 8)
        let negativeLeadingZero = ParserTests.syntaxError("-00") { _ = try $0.parseNumber() }
        #expect(negativeLeadingZero?.message == "leading zero in number")
        let noFraction = ParserTests.syntaxError("1.") { _ = try $0.parseNumber() }
        #expect(noFraction?.message == "expected digits after '.'")
        #expect(noFraction?.column == 3)
        let noExponent = ParserTests.syntaxError("1e+") { _ = try $0.parseNumber() }
        #expect(noExponent?.message == "expected digits in exponent")
        let notANumber = ParserTests.syntaxError("  x") { _ = try $0.parseNumber() }
        #expect(notANumber?.message == "expected a number, found 'x'")
        #expect(notANumber?.column == 3)
        let justMinus = ParserTests.syntaxError("-") { _ = try $0.parseNumber() }
        #expect(justMinus?.message == "expected a number, found '-'")
        #expect(justMinus?.column == 1)
    }

    // MARK: Strings

    @Test func stringsWithEscapes() throws {
        #expect(try ParserTests.string(#""plain""#) == "plain")
        #expect(try ParserTests.string(#""""#) == "")
        #expect(try ParserTests.string(#""a\nb""#) == "a\nb")
        #expect(try ParserTests.string(#""say \"hi\"""#) == "say \"hi\"")
        #expect(try ParserTests.string(#""back\\slash\/""#) == "back\\slash/")
        #expect(try ParserTests.string(#""\t\r\b\f""#) == "\t\r\u{08}\u{0C}")
        #expect(try ParserTests.string(#""caf\u00e9""#) == "café")
        #expect(try ParserTests.string(#""caf\u00E9""#) == "café")
        #expect(try ParserTests.string(#""\ud83d\ude00!""#) == "😀!")
        #expect(try ParserTests.string(#""\u4e2d\u6587""#) == "中文")
        #expect(try ParserTests.string("\"raw é 😀\"") == "raw é 😀")
        // A lone high surrogate becomes the replacement character rather than failing.
        #expect(try ParserTests.string(#""x\ud83dy""#) == "x\u{FFFD}y")
    }

    @Test func badStringsReportColumns() {
        let unterminated = ParserTests.syntaxError(#""abc"#) { _ = try $0.parseString() }
        #expect(unterminated?.message == "unterminated string")
        #expect(unterminated?.column == 5)
        let badEscape = ParserTests.syntaxError(#""a\qb""#) { _ = try $0.parseString() }
        #expect(badEscape?.message.contains("bad escape") == true)
        let badUnicode = ParserTests.syntaxError(#""\u12G4""#) { _ = try $0.parseString() }
        #expect(badUnicode?.message.contains("\\u") == true)
        let control = ParserTests.syntaxError("\"a\u{01}b\"") { _ = try $0.parseString() }
        #expect(control?.message == "control character inside a string")
        #expect(control?.column == 3)
        let notAString = ParserTests.syntaxError("  42") { _ = try $0.parseString() }
        #expect(notAString?.message == "expected a string, found '4'")
        #expect(notAString?.column == 3)
    }

    // MARK: Structure

    @Test func skipValueOverNestedStructures() throws {
        let text = #"{"a":[1,{"b":[true,false,null,"x\"]}"]},-2.5e3],"c":{},"d":[]} , 5"#
        let (next, rest) = try ParserTests.withCursor(text) { cursor -> (Int, Double) in
            try cursor.skipValue()
            let after = cursor.position
            try cursor.expect(0x2C, "','")
            return (after, try cursor.parseNumber())
        }
        #expect(next == text.utf8.count - 4)
        #expect(rest == 5)
        // Every scalar kind on its own.
        for scalar in ["true", "false", "null", "\"s\"", "-1.5e-3", "[]", "{}", "[[[[]]]]"] {
            let end = try ParserTests.withCursor(scalar) { cursor -> Bool in
                try cursor.skipValue()
                return cursor.atEnd()
            }
            #expect(end, "\(scalar)")
        }
    }

    @Test func skipValueRejectsBadInput() {
        let missingComma = ParserTests.syntaxError(#"{"a":1 "b":2}"#) { try $0.skipValue() }
        #expect(missingComma?.message == "expected ',' or '}', found '\"'")
        #expect(missingComma?.column == 8)
        let tooDeep = ParserTests.syntaxError(String(repeating: "[", count: 100) + String(repeating: "]", count: 100)) { try $0.skipValue() }
        #expect(tooDeep?.message.contains("nesting") == true)
        let badLiteral = ParserTests.syntaxError("nul") { try $0.skipValue() }
        #expect(badLiteral != nil)
    }

    @Test func missingCommaInAnArrayReportsItsColumn() {
        let error = ParserTests.syntaxError("[1 2]") { _ = try $0.parseValue() }
        #expect(error?.message == "expected ',' or ']', found '2'")
        #expect(error?.column == 4)
        #expect(error?.description == "column 4: expected ',' or ']', found '2'")
        let missingColon = ParserTests.syntaxError(#"{"a" 1}"#) { _ = try $0.parseValue() }
        #expect(missingColon?.message == "expected ':', found '1'")
        #expect(missingColon?.column == 6)
        let endOfLine = ParserTests.syntaxError("[1,") { _ = try $0.parseValue() }
        #expect(endOfLine?.message.contains("end of line") == true)
    }

    @Test func jsonValueParseAndSerializeRoundTrip() throws {
        let text = #"{"z":1,"a":[true,false,null,-2.5,"x\"y\n\\",{"e":{}}],"m":{"d":1e-7,"big":12345678901234567890,"u":"\u00e9"},"k":[]}"#
        let value = try JSONValue.parse(text)
        #expect(value["z"] == .number(1))
        #expect(value["m"]?["d"] == .number(1e-7))
        #expect(value["m"]?["u"] == .string("é"))
        #expect(value["a"] == .array([.bool(true), .bool(false), .null, .number(-2.5), .string("x\"y\n\\"), .object([("e", .object([]))])]))
        let serialized = value.serialized
        #expect(try JSONValue.parse(serialized) == value)
        #expect(try JSONValue.parse(serialized).serialized == serialized)
        // Member order is kept; integers print without a fraction.
        #expect(serialized.hasPrefix(#"{"z":1,"a":[true,false,null,-2.5,"x\"y\n\\",{"e":{}}],"m":{"#))
        #expect(try JSONValue.parse(#"{"b":2,"a":1.5,"c":"\u0001"}"#).serialized == #"{"b":2,"a":1.5,"c":"\u0001"}"#)
        // Exact doubles survive.
        let odd = try JSONValue.parse("[0.30000000000000004,1.2345678901234567e-300]")
        #expect(try JSONValue.parse(odd.serialized) == odd)
        // Foundation agrees the text is JSON.
        #expect((try? JSONSerialization.jsonObject(with: Data(serialized.utf8))) != nil)
    }

    @Test func jsonValueParseRejectsTrailingText() {
        #expect(throws: JSONCursor.SyntaxError.self) { try JSONValue.parse(#"{"a":1} x"#) }
        #expect(throws: JSONCursor.SyntaxError.self) { try JSONValue.parse("") }
        #expect(throws: JSONCursor.SyntaxError.self) { try JSONValue.parse("[1,]") }
        #expect(throws: JSONCursor.SyntaxError.self) { try JSONValue.parse("{'a':1}") }
    }

    // MARK: Byte sizes

    @Test func byteSizes() throws {
        #expect(try ByteSize.parse("6GiB", field: "f") == 6 * 1_073_741_824)
        #expect(try ByteSize.parse("512MiB", field: "f") == 512 * 1_048_576)
        #expect(try ByteSize.parse("8e9", field: "f") == 8e9)
        #expect(try ByteSize.parse("6.5GB", field: "f") == 6.5e9)
        #expect(try ByteSize.parse("1KiB", field: "f") == 1024)
        #expect(try ByteSize.parse("2tib", field: "f") == 2 * 1_099_511_627_776)
        #expect(try ByteSize.parse("123", field: "f") == 123)
        #expect(try ByteSize.parse("100B", field: "f") == 100)
        #expect(try ByteSize.parse(" 1gib ", field: "f") == 1_073_741_824)
        for bad in ["six", "", "GiB", "-1GiB", "1XB", "inf", "nan", "1.2.3MB"] {
            do {
                _ = try ByteSize.parse(bad, field: "--cache")
                Issue.record("'\(bad)' parsed")
            } catch let error as MoESimError {
                #expect(error.field == "--cache")
                #expect(error.message.contains("'\(bad)'"))
            }
        }
        #expect(ByteSize.format(6 * 1_073_741_824) == "6.00 GiB")
        #expect(ByteSize.format(512 * 1_048_576) == "512.0 MiB")
    }

    // MARK: Cache specs

    @Test func cacheSpecForms() throws {
        #expect(try CacheSpec.parse("all-resident") == CacheSpec.allResident)
        #expect(try CacheSpec.parse("all-resident").capacity == .everything)
        let none = try CacheSpec.parse("none")
        #expect(none == CacheSpec.noCache)
        #expect(none.capacity == .total(0))
        #expect(none.layout == .global)

        let perLayer = try CacheSpec.parse("lru-per-layer:4")
        #expect(perLayer.policy == "lru")
        #expect(perLayer.layout == .perLayer)
        #expect(perLayer.capacity == .perLayer(4))
        #expect(perLayer.description == "lru-per-layer:4")

        let global = try CacheSpec.parse("lru-global:128")
        #expect(global.layout == .global)
        #expect(global.capacity == .total(128))

        let total = try CacheSpec.parse("lru-global:total=10")
        #expect(total.layout == .global)
        #expect(total.capacity == .total(10))
        #expect(try CacheSpec.parse("lru-per-layer:total=10").capacity == .total(10))

        let bytes = try CacheSpec.parse("lru-per-layer:bytes=1GiB")
        #expect(bytes.layout == .perLayer)
        #expect(bytes.capacity == .bytes(1_073_741_824))

        #expect(try CacheSpec.parse("lru-per-layer:fit").capacity == .fit)
        #expect(try CacheSpec.parse("lru-global:fit").layout == .global)
        #expect(try CacheSpec.parse("lru-per-layer:1,2").capacity == .list([1, 2]))
        #expect(try CacheSpec.parse("lru-per-layer:4, 0 ,3").capacity == .list([4, 0, 3]))
        #expect(try CacheSpec.parse("  LRU-Per-Layer:2 ").capacity == .perLayer(2))
    }

    @Test func badCacheSpecsNameTheOption() {
        for bad in ["lru", "lru:4", "lru-global:1,2", "lru-per-layer:x", "lru-per-layer:-1", "lru-global:total=-3", "lru-global:total=",
                    "mru-per-layer:2", "lru-per-layer:bytes=lots", "lru-per-layer:1,x", "lru-per-layer:"] {
            do {
                _ = try CacheSpec.parse(bad)
                Issue.record("'\(bad)' parsed")
            } catch let error as MoESimError {
                #expect(error.field == "--cache", "\(bad)")
            } catch {
                Issue.record("\(bad): \(error)")
            }
        }
    }

    /// A typo such as `1,,2` or a trailing comma is rejected, not read as a shorter list.
    @Test func capacityListWithAnEmptyEntryIsRejected() {
        for bad in ["lru-per-layer:1,,2", "lru-per-layer:1,2,"] {
            #expect(throws: MoESimError.self, "\(bad)") { try CacheSpec.parse(bad) }
        }
    }

    @Test func cacheSpecResolve() throws {
        func resolve(_ text: String, layers: Int = 4, experts: Int = 8, expertBytes: Int = 100, free: Double = 0) throws -> [Int] {
            try CacheSpec.parse(text).resolve(layers: layers, experts: experts, expertBytes: expertBytes, freeBytes: free)
        }
        // A total over per-layer caches: the remainder goes to the first layers.
        #expect(try resolve("lru-per-layer:total=10") == [3, 3, 2, 2])
        #expect(try resolve("lru-per-layer:total=7", layers: 3) == [3, 2, 2])
        #expect(try resolve("lru-per-layer:total=8") == [2, 2, 2, 2])
        #expect(try resolve("lru-per-layer:total=1") == [1, 0, 0, 0])
        #expect(try resolve("lru-per-layer:total=32") == [8, 8, 8, 8])
        #expect(try resolve("lru-global:total=10") == [10])
        #expect(try resolve("lru-global:10") == [10])
        #expect(try resolve("lru-per-layer:4") == [4, 4, 4, 4])
        #expect(try resolve("lru-per-layer:8") == [8, 8, 8, 8])
        #expect(try resolve("lru-per-layer:1,2,3,0") == [1, 2, 3, 0])
        // Bytes and fit count whole experts that fit.
        #expect(try resolve("lru-per-layer:bytes=1050") == [3, 3, 2, 2])
        #expect(try resolve("lru-global:bytes=1050") == [10])
        #expect(try resolve("lru-per-layer:fit", free: 2199) == [6, 5, 5, 5])
        #expect(try resolve("lru-per-layer:fit", free: 2099) == [5, 5, 5, 5])
        #expect(try resolve("lru-global:fit", free: 99) == [0])
        #expect(try resolve("lru-per-layer:bytes=1e9") == [8, 8, 8, 8])
        #expect(try resolve("lru-global:bytes=1e9") == [32])
        #expect(try resolve("all-resident") == [8, 8, 8, 8])
        #expect(try resolve("none") == [0])

        for (bad, needle) in [("lru-per-layer:9", "exceeds the 8 experts"), ("lru-global:33", "exceeds the model's 32 experts"),
                              ("lru-per-layer:total=33", "exceeds"), ("lru-per-layer:1,2,3", "3 entries"),
                              ("lru-per-layer:1,2,9,0", "layer 2")] {
            do {
                _ = try resolve(bad)
                Issue.record("'\(bad)' resolved")
            } catch let error as MoESimError {
                #expect(error.field == "--cache", "\(bad)")
                #expect(error.message.contains(needle), "\(bad): \(error.message)")
            }
        }
    }

    // MARK: Exact expert sizes (papers.md §1.2)

    @Test func mixtralExpertBytes() throws {
        let mixtral = try ModelCatalog.resolve("mixtral-8x7b")
        #expect(mixtral.expertMatrices == [[4096, 14336], [4096, 14336], [14336, 4096]])
        #expect(mixtral.expertBiasParams == 0)
        #expect(try QuantizationCatalog.resolve("hqq2").expertBytes(mixtral) == 66_404_364)
        #expect(try QuantizationCatalog.resolve("hqq2-g16").expertBytes(mixtral) == 66_404_364)
        #expect(try QuantizationCatalog.resolve("hqq4").expertBytes(mixtral) == 93_671_436)
        #expect(try QuantizationCatalog.resolve("hqq4-g64").expertBytes(mixtral) == 93_671_436)
        #expect(try QuantizationCatalog.resolve("fp16").expertBytes(mixtral) == 352_321_536)
        #expect(try QuantizationCatalog.resolve("bf16").expertBytes(mixtral) == 352_321_536)
        // int8 with an fp16 scale per output channel: 3 x 58,720,256 + 2 x (14336 + 14336 + 4096).
        #expect(try QuantizationCatalog.resolve("int8").expertBytes(mixtral) == 176_226_304)
        // The per-matrix split adds up to the whole expert.
        let hqq2 = try QuantizationCatalog.resolve("hqq2")
        #expect(hqq2.expertMatrixBytes(mixtral) == [22_134_788, 22_134_788, 22_134_788])
        // Any HQQ width and group: hqq2-g16 spelled out gives the same format.
        #expect(try QuantizationCatalog.resolve("hqq2-g16").expertFormat == .hqq(bits: 2, groupSize: 16, scaleGroupSize: 128))
        #expect(try QuantizationCatalog.resolve("hqq3-g32").expertFormat == .hqq(bits: 3, groupSize: 32, scaleGroupSize: 128))
    }

    @Test func unknownQuantizationsAreErrors() {
        for bad in ["fp17", "hqq9-g16", "hqq2-g0", "hqq2-x16", "hqq"] {
            do {
                _ = try QuantizationCatalog.resolve(bad)
                Issue.record("'\(bad)' resolved")
            } catch let error as MoESimError {
                #expect(error.field == "--quant", "\(bad)")
            } catch {
                Issue.record("\(bad): \(error)")
            }
        }
    }
}
