/// A policy as the user writes it (`--gating`, `--prefetch`): `NAME` or `NAME:OPTION,KEY=VALUE,...`, e.g.
/// `adapmoe:T=0.007,prefill` or `next-layer-gate:depth=3`. Names and keys are case-insensitive.
public struct PolicySpec: Sendable, Equatable, CustomStringConvertible {
    /// One `KEY=VALUE` or bare `FLAG` option.
    public struct Option: Sendable, Equatable {
        /// Lowercase, for matching.
        public var key: String
        public var value: String?
        /// As the user wrote it, for messages.
        public var written: String
    }

    public var name: String
    public var options: [Option]
    /// The text the user gave, for reports.
    public var text: String

    public var description: String { text }

    /// Parses `text`; errors name `option` and show `usage`.
    public static func parse(_ text: String, option: String, usage: String) throws -> PolicySpec {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let parts = trimmed.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let name = parts[0].lowercased()
        guard !name.isEmpty else { throw MoESimError(field: option, "cannot read '\(text)'", hint: usage) }
        var options: [Option] = []
        if parts.count == 2 {
            for item in parts[1].split(separator: ",", omittingEmptySubsequences: false) {
                let kv = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                    .map { $0.trimmingCharacters(in: .whitespaces) }
                guard !kv[0].isEmpty, kv.count == 1 || !kv[1].isEmpty else {
                    throw MoESimError(field: option, "cannot read option '\(item)' in '\(text)'", hint: usage)
                }
                let key = kv[0].lowercased()
                guard !options.contains(where: { $0.key == key }) else {
                    throw MoESimError(field: option, "option '\(kv[0])' given twice in '\(text)'")
                }
                options.append(Option(key: key, value: kv.count == 2 ? kv[1] : nil, written: String(item).trimmingCharacters(in: .whitespaces)))
            }
        }
        return PolicySpec(name: name, options: options, text: trimmed)
    }
}
