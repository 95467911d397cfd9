/// Policies of one kind by name: what `--gating`, `--prefetch` and `--cache` accept.
/// Adding a policy is one entry here plus its file.
public struct NamedRegistry<Factory>: Sendable where Factory: Sendable {
    public struct Entry: Sendable {
        public let name: String
        public let summary: String
        public let make: Factory

        public init(name: String, summary: String, make: Factory) {
            self.name = name
            self.summary = summary
            self.make = make
        }
    }

    public let option: String
    public let entries: [Entry]

    public init(option: String, _ entries: [Entry]) {
        self.option = option
        self.entries = entries
    }

    public var names: [String] { entries.map(\.name) }

    public func entry(named name: String) -> Entry? { entries.first { $0.name == name.lowercased() } }

    /// The entry, or an error naming the option and the known names.
    public func resolve(_ name: String, kind: String) throws -> Entry {
        guard let entry = entry(named: name) else {
            let suggestion = NameMatching.closest(to: name, among: names)
            throw MoESimError(field: option, "unknown \(kind) '\(name)'",
                              hint: (suggestion.map { "did you mean '\($0)'? " } ?? "") + "known: \(names.joined(separator: ", "))")
        }
        return entry
    }
}

extension NamedRegistry {
    /// Every entry for `--help` texts: a name column `indent` wide, then the summary wrapped to `width` columns.
    public func helpText(nameColumn indent: Int, width: Int = 112) -> String {
        return entries.map { entry in
            var lines: [String] = []
            var line = "  " + entry.name + String(repeating: " ", count: Swift.max(1, indent - 2 - entry.name.count))
            var fresh = true
            for word in entry.summary.split(separator: " ") {
                if !fresh && line.count + 1 + word.count > width {
                    lines.append(line)
                    line = String(repeating: " ", count: indent)
                    fresh = true
                }
                line += (fresh ? "" : " ") + word
                fresh = false
            }
            lines.append(line)
            return lines.joined(separator: "\n")
        }.joined(separator: "\n")
    }
}
