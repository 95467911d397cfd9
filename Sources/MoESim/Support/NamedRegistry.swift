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
            throw MoESimError(field: option, "unknown \(kind) '\(name)'", hint: "known: \(names.joined(separator: ", "))")
        }
        return entry
    }
}
