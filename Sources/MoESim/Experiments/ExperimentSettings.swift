/// `sim experiment run NAME --set KEY=VALUE`: a shipped experiment re-run on other settings, without editing its spec.
/// KEY is an axis (swept over VALUE alone), a base option (replaced), another option of the spec's command (added to
/// every run), or a preset field path (`hostLink.h2dBytesPerSecond`: passed to every run as `--set`). The changed spec
/// is decoded and checked again; paper points and the check variant, which were made for the shipped settings, are
/// left out, and a note in report.md lists every setting.
public enum ExperimentSettings {
    public static func apply(_ texts: [String], to spec: ExperimentSpec, commandOptions: [String]) throws -> ExperimentSpec {
        guard !texts.isEmpty else { return spec }
        guard case var .object(root) = spec.raw else { return spec }
        func member(_ key: String) -> JSONValue? { root.first { $0.0 == key }?.1 }
        func setMember(_ key: String, _ value: JSONValue) {
            if let i = root.firstIndex(where: { $0.0 == key }) { root[i].1 = value } else { root.append((key, value)) }
        }
        var base: [(String, JSONValue)] = { if case let .object(m)? = member("base") { return m } else { return [] } }()
        var axes: [JSONValue] = { if case let .array(a)? = member("axes") { return a } else { return [] } }()
        var collapsed: [(option: String, value: String)] = []
        var presetTexts: [String] = []
        let axisNames = spec.axes.map(\.option)
        for text in texts {
            guard let eq = text.firstIndex(of: "="), eq != text.startIndex else {
                throw MoESimError(field: "--set", "expected KEY=VALUE, found '\(text)'", hint: "e.g. --set quant=fp16 or --set hostLink.h2dBytesPerSecond=12e9")
            }
            let key = String(text[..<eq]), value = String(text[text.index(after: eq)...])
            if let i = axisNames.firstIndex(of: key) {
                axes[i] = collapse(axes[i], to: value)
                collapsed.append((key, value))
            } else if let i = base.firstIndex(where: { $0.0 == key }), key != "set" {
                base[i].1 = .string(value)
            } else if !key.contains("."), commandOptions.contains(key), key != "set" {
                base.append((key, .string(value)))
            } else if key.contains(".") || (try? PresetOverrides.parse([text])) != nil {
                _ = try PresetOverrides.parse([text])
                presetTexts.append(text)
            } else {
                let suggestion = NameMatching.closest(to: key, among: axisNames + commandOptions)
                throw MoESimError(field: "--set \(text)", "'\(key)' is not an axis or option of \(spec.name) (sim \(spec.command.joined(separator: " "))) nor a preset field",
                                  hint: (suggestion.map { "did you mean '\($0)'? " } ?? "") + "axes: \(axisNames.joined(separator: ", "))")
            }
        }
        if !presetTexts.isEmpty {
            let earlier: [JSONValue]
            switch base.first(where: { $0.0 == "set" })?.1 {
            case let .array(items)?: earlier = items
            case let .string(s)?: earlier = [.string(s)]
            default: earlier = []
            }
            base.removeAll { $0.0 == "set" }
            base.append(("set", .array(earlier + presetTexts.map { .string($0) })))
        }
        setMember("base", .object(base))
        if !axes.isEmpty { setMember("axes", .array(axes)) }
        for key in ["tables", "plots"] {
            if case let .array(items)? = member(key) { setMember(key, .array(items.map { restrict($0, key: "where", to: collapsed) })) }
        }
        root.removeAll { $0.0 == "paper" || $0.0 == "check" }
        let note = "Re-run with " + texts.map { "--set \($0)" }.joined(separator: " ")
            + ": not the shipped settings, so the spec's paper comparisons and check variant are left out."
        let notes: [JSONValue] = { if case let .array(n)? = member("notes") { return n } else { return [] } }()
        setMember("notes", .array(notes + [.string(note)]))
        return try ExperimentSpec.decode(.object(root), file: spec.file)
    }

    /// An axis object swept over one value (its label kept when it had one).
    static func collapse(_ axis: JSONValue, to value: String) -> JSONValue {
        guard case var .object(members) = axis else { return axis }
        let values: [String] = { if case let .array(v)? = axis["values"] { return v.map { $0.stringValue ?? $0.serialized } } else { return [] } }()
        let label: JSONValue? = {
            guard let i = values.firstIndex(of: value), case let .array(labels)? = axis["labels"], i < labels.count else { return nil }
            return labels[i]
        }()
        members.removeAll { $0.0 == "labels" }
        if let i = members.firstIndex(where: { $0.0 == "values" }) { members[i].1 = .array([.string(value)]) }
        if let label { members.append(("labels", .array([label]))) }
        return .object(members)
    }

    /// A table or plot whose `where` fixes a collapsed axis: fixed to the new value.
    static func restrict(_ item: JSONValue, key: String, to collapsed: [(option: String, value: String)]) -> JSONValue {
        guard case var .object(members) = item, let i = members.firstIndex(where: { $0.0 == key }), case var .object(filter) = members[i].1 else { return item }
        for (option, value) in collapsed {
            if let j = filter.firstIndex(where: { $0.0 == option }) { filter[j].1 = .string(value) }
        }
        members[i].1 = .object(filter)
        return .object(members)
    }
}
