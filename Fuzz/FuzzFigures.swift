import Foundation

/// The structured fuzz target `figures` (issue 19): takes a shipped preset and changes its numbers, not its bytes.
/// The input is read as a program: byte 0 picks the preset (every shipped hardware and runtime preset, and the
/// Mixtral model the toy trace has the shape of); then each step (4 to 12 bytes) picks a numeric field of it (any number in
/// the JSON, `value`s of figures and counts alike) and a value for it:
/// - log scale over the whole double range, 1e-300 ... 1e308, either sign;
/// - an edge of the field's declared range (`HardwareBounds`, `RuntimeBounds`): the bound itself, or one ulp outside;
/// - the current value scaled by a power of ten;
/// - a raw double bit pattern (infinities and NaN included: they reach the file as `null`).
/// A last byte, when present, sets `--kv-reserve-tokens` on the same log scale. The changed preset is written out
/// and `sim run` replays the toy trace with it (and `sim serve` serves two short requests on a hardware preset):
/// each must end in a report or one `error:` line, and a report must hold no infinite or NaN number.
enum FuzzFigures {
    struct Preset {
        let kind: String
        let path: String
        let value: JSONValue
        let numbers: [[String]]
    }

    /// Every shipped hardware and runtime preset, and the Mixtral model (seeds: one per preset, `FuzzSeeds`).
    static func presets(_ env: FuzzEnvironment) -> [Preset] {
        var out: [Preset] = []
        for kind in ["hardware", "runtimes"] {
            let dir = env.resources + "/" + kind
            for name in ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter({ $0.hasSuffix(".json") }).sorted() {
                out.append(load(kind, dir + "/" + name))
            }
        }
        out.append(load("models", env.modelPath))
        return out
    }

    static func load(_ kind: String, _ path: String) -> Preset {
        let value = try! JSONValue.parse(String(decoding: FileManager.default.contents(atPath: path)!, as: UTF8.self))
        return Preset(kind: kind, path: path, value: value, numbers: numberPaths(value, []))
    }

    static func numberPaths(_ value: JSONValue, _ path: [String]) -> [[String]] {
        switch value {
        case .number: return [path]
        case let .array(items): return items.enumerated().flatMap { numberPaths($0.element, path + ["[\($0.offset)]"]) }
        case let .object(members): return members.flatMap { numberPaths($0.1, path + [$0.0]) }
        default: return []
        }
    }

    static func replacing(_ value: JSONValue, at path: ArraySlice<String>, with new: JSONValue) -> JSONValue {
        guard let head = path.first else { return new }
        switch value {
        case var .object(members):
            guard let i = members.firstIndex(where: { $0.0 == head }) else { return value }
            members[i].1 = replacing(members[i].1, at: path.dropFirst(), with: new)
            return .object(members)
        case var .array(items):
            guard let i = Int(head.dropFirst().dropLast()), items.indices.contains(i) else { return value }
            items[i] = replacing(items[i], at: path.dropFirst(), with: new)
            return .array(items)
        default: return value
        }
    }

    static func current(_ value: JSONValue, _ path: [String]) -> Double {
        var v = value
        for key in path {
            if key.hasPrefix("["), case let .array(items) = v, let i = Int(key.dropFirst().dropLast()), items.indices.contains(i) { v = items[i] } else { v = v[key] ?? .null }
        }
        return v.numberValue ?? 1
    }

    /// A byte reader over the input; zeros once it runs out.
    struct Bytes {
        let bytes: UnsafeBufferPointer<UInt8>
        var at = 0
        var left: Int { bytes.count - at }
        mutating func u8() -> UInt8 { defer { at += 1 }; return at < bytes.count ? bytes[at] : 0 }
        mutating func u16() -> UInt16 { UInt16(u8()) | UInt16(u8()) << 8 }
        mutating func u64() -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(u8()) << (8 * $1) } }
    }

    /// 10^e x m over the whole double range: e in -300 ... 308, m in [1, 10).
    static func logScale(_ b: inout Bytes) -> Double {
        let e = Int(b.u16() % 609) - 300
        let m = 1 + Double(b.u8()) / 256 * 9
        let v = m * pow(10, Double(e))
        return b.u8() & 1 == 0 ? v : -v
    }

    static func value(_ b: inout Bytes, mode: UInt8, path: [String], preset: Preset) -> Double {
        let dotted = path.filter { !$0.hasPrefix("[") }.joined(separator: ".")
        let bound: ClosedRange<Double>? = {
            let figure = dotted.hasSuffix(".value") ? String(dotted.dropLast(6)) : dotted
            return HardwareBounds.figures.first { $0.path == figure }?.range ?? RuntimeBounds.figures.first { $0.path == figure }?.range
        }()
        switch mode % 4 {
        case 0: return logScale(&b)
        case 1:
            let range = bound ?? (0...1e15)
            let edges = [range.lowerBound, range.upperBound, range.lowerBound.nextDown, range.upperBound.nextUp,
                         range.lowerBound.nextUp, range.upperBound.nextDown, 0, -0.0]
            _ = b.u64()
            return edges[Int(b.u8()) % edges.count]
        case 2:
            let scale = pow(10, Double(Int(b.u8() % 41) - 20))
            _ = b.u64()
            return current(preset.value, path) * scale
        default:
            let v = Double(bitPattern: b.u64())
            _ = b.u8()
            return v
        }
    }

    static func run(_ bytes: UnsafeBufferPointer<UInt8>, _ env: FuzzEnvironment) {
        let all = env.figurePresets
        var b = Bytes(bytes: bytes)
        let preset = all[Int(b.u8()) % all.count]
        var json = preset.value
        var steps = 0
        while b.left >= 4 && steps < 8 {
            let path = preset.numbers[Int(b.u16()) % preset.numbers.count]
            let v = value(&b, mode: b.u8(), path: path, preset: preset)
            json = replacing(json, at: path[...], with: .number(v))
            steps += 1
        }
        var options: [String] = []
        if b.left > 0 {
            let tokens = abs(logScale(&b))
            options += ["--kv-reserve-tokens", tokens < 9e18 ? String(Int64(tokens)) : JSONValue.format(tokens)]
        }
        let file = env.path("figures-\(preset.kind).json")
        try! Data(json.serialized.utf8).write(to: URL(fileURLWithPath: file))
        let option = ["hardware": "--hardware", "runtimes": "--runtime", "models": "--model"][preset.kind]!
        var arguments = ["--trace", env.toyTracePath, "--model", env.modelPath, "--hardware", env.hardwarePath, "--quant", "hqq2",
                         "--cache", "lru-per-layer:fit", "--prefetch", "next-layer-gate", "--json"] + options
        if let i = arguments.firstIndex(of: option) { arguments[i + 1] = file }
        checkReport(runSim(arguments), "sim run with \(preset.kind) \(URL(fileURLWithPath: preset.path).lastPathComponent)")
        if preset.kind == "hardware" {
            checkReport(runSim(["serve", "--hardware", file, "--gpus", "1", "--quant", "hqq2", "--requests", "2", "--prompt-tokens", "4",
                                "--output-tokens", "3", "--policy", "all-resident", "--json"]), "sim serve with \(preset.path)")
        }
    }

    /// A report that came out holds no infinite or NaN number (they cannot be written as JSON: the check is that it parses).
    static func checkReport(_ result: (code: Int32, out: String), _ what: String) {
        guard result.code == 0 else { return }
        let text = result.out.lowercased()
        if text.contains("inf") && (text.contains(": inf") || text.contains(":inf")) || text.contains("nan,") {
            finding("\(what): a report with a non-finite number")
        }
        if (try? JSONValue.parse(result.out)) == nil { finding("\(what): the --json report does not parse") }
    }
}
