/// A small command-line parser: `--name value`, `--name=value`, boolean `--flag`, and positionals.
/// Unknown options are errors with a "did you mean" hint; nothing is guessed.
public struct OptionSpec: Sendable {
    public var name: String
    public var valueName: String?
    public var help: String
    public var defaultText: String?
    /// May be given several times (`--set a=1 --set b=2`); `ParsedArguments.all` returns every value in order.
    public var repeatable = false

    public init(_ name: String, value valueName: String? = nil, _ help: String, default defaultText: String? = nil, repeatable: Bool = false) {
        self.name = name
        self.valueName = valueName
        self.help = help
        self.defaultText = defaultText
        self.repeatable = repeatable
    }

    public var isFlag: Bool { valueName == nil }
}

public struct ParsedArguments: Sendable {
    public var positionals: [String] = []
    public var values: [String: String] = [:]
    public var flags: Set<String> = []
    /// Every value of a repeatable option, in the order given.
    public var repeated: [String: [String]] = [:]

    public func value(_ name: String) -> String? { values[name] }
    public func all(_ name: String) -> [String] { repeated[name] ?? [] }
    public func has(_ name: String) -> Bool { flags.contains(name) }

    public func int(_ name: String, default fallback: Int, minimum: Int = Int.min, maximum: Int = Int.max) throws -> Int {
        guard let text = values[name] else { return fallback }
        guard let v = Int(text), v >= minimum, v <= maximum else {
            let range = maximum < Int.max ? " in \(minimum) ... \(maximum)" : (minimum > Int.min ? " >= \(minimum)" : "")
            throw MoESimError(field: "--\(name)", "expected an integer\(range), found '\(text)'")
        }
        return v
    }
}

public enum ArgumentParser {
    public static func parse(_ arguments: [String], options: [OptionSpec]) throws -> ParsedArguments {
        var result = ParsedArguments()
        var i = 0
        while i < arguments.count {
            let arg = arguments[i]
            i += 1
            guard arg.hasPrefix("--"), arg.count > 2 else {
                result.positionals.append(arg)
                continue
            }
            var name = String(arg.dropFirst(2))
            var inlineValue: String?
            if let eq = name.firstIndex(of: "=") {
                inlineValue = String(name[name.index(after: eq)...])
                name = String(name[..<eq])
            }
            guard let spec = options.first(where: { $0.name == name }) else {
                let suggestion = NameMatching.closest(to: name, among: options.map(\.name))
                throw MoESimError(field: "--\(name)", "unknown option",
                                  hint: (suggestion.map { "did you mean --\($0)? " } ?? "") + "see --help")
            }
            if spec.isFlag {
                guard inlineValue == nil else { throw MoESimError(field: "--\(name)", "takes no value") }
                result.flags.insert(name)
                continue
            }
            let value: String
            if let inlineValue {
                value = inlineValue
            } else {
                guard i < arguments.count else {
                    throw MoESimError(field: "--\(name)", "needs a value (\(spec.valueName!))", hint: spec.help)
                }
                value = arguments[i]
                i += 1
            }
            if spec.repeatable {
                result.repeated[name, default: []].append(value)
                continue
            }
            guard result.values[name] == nil else { throw MoESimError(field: "--\(name)", "given twice") }
            result.values[name] = value
        }
        return result
    }

    /// Aligned option help, for `--help` texts.
    public static func help(_ options: [OptionSpec]) -> String {
        let lefts = options.map { "--\($0.name)" + ($0.valueName.map { " \($0)" } ?? "") }
        let width = min(30, (lefts.map(\.count).max() ?? 0) + 2)
        var out = ""
        for (left, spec) in zip(lefts, options) {
            let pad = left.count < width ? String(repeating: " ", count: width - left.count) : "\n" + String(repeating: " ", count: width + 2)
            out += "  \(left)\(pad)\(spec.help)"
            if let d = spec.defaultText { out += " [default: \(d)]" }
            out += "\n"
        }
        return out
    }
}
