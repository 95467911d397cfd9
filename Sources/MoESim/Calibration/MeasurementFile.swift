import Foundation

/// A measurements file (`experiments/measurements/*.csv`): published or measured runs in the form `sim calibrate`
/// and `sim fidelity` read. Lines starting with `#` are comments; they must include a `# source:` line (the
/// citation). The first other line is the header; each further line is one measured run:
///
///     # source: Eliseev & Mazur, arXiv 2312.17238, Table 2
///     options,measured_tokens_per_second,measured_ttft_seconds,measured_hit_rate,note,group,anchor
///     --system mixtral-offloading-lru-only --hardware t4 --quant hqq2 --trace ${shared}/x.jsonl,1.567,,,LRU only,T4 2-bit,yes
///
/// `options` and `measured_tokens_per_second` are required; the other columns are optional (an empty cell: not
/// measured). Every error names the file, the line and the field.
public struct MeasurementFile: Sendable {
    public static let columns = ["options", "measured_tokens_per_second", "measured_ttft_seconds", "measured_hit_rate", "note", "group", "anchor"]
    static let requiredColumns = ["options", "measured_tokens_per_second"]
    /// `sim run` options a row may not use: they change the output's form or write files, not the simulated run.
    static let refusedOptions = ["json", "csv", "baseline", "timeline", "timeline-svg", "timeline-passes", "force", "help", "check"]

    public var path: String
    /// The source's name: the file name without `.csv`.
    public var name: String
    /// The `# source:` line(s), the citation.
    public var citation: String
    /// All comment lines, without the `#`.
    public var comments: [String]
    public var rows: [Measurement]

    public static func load(path: String) throws -> MeasurementFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw MoESimError(file: path, "cannot read the measurements file", hint: "check the path")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw MoESimError(file: path, "not UTF-8 text") }
        return try parse(text, path: path)
    }

    public static func parse(_ text: String, path: String) throws -> MeasurementFile {
        let name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        var comments: [String] = [], citation: [String] = []
        var header: [String]?
        var rows: [Measurement] = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let lineNumber = index + 1
            let line = String(rawLine).trimmingSpaces
            if line.isEmpty || line == "\r" { continue }
            if line.hasPrefix("#") {
                let comment = String(line.dropFirst()).trimmingSpaces
                comments.append(comment)
                if comment.lowercased().hasPrefix("source:") { citation.append(String(comment.dropFirst("source:".count)).trimmingSpaces) }
                continue
            }
            let fields: [String]
            switch CSVFields.split(line) {
            case let .success(f): fields = f
            case let .failure(e): throw MoESimError(file: path, line: lineNumber, "malformed CSV in field \(e.column): \(e.message)")
            }
            guard let columns = header else {
                header = try readHeader(fields, path: path, line: lineNumber)
                continue
            }
            rows.append(try readRow(fields, columns: columns, path: path, line: lineNumber))
        }
        guard header != nil else {
            throw MoESimError(file: path, "no header line", hint: "the first non-comment line names the columns: \(columns.joined(separator: ","))")
        }
        guard !citation.isEmpty else {
            throw MoESimError(file: path, line: 1, "no '# source:' comment line", hint: "cite where the measurements come from, e.g. '# source: arXiv 2312.17238, Table 2'")
        }
        guard !rows.isEmpty else { throw MoESimError(file: path, "no measurement rows") }
        return MeasurementFile(path: path, name: name, citation: citation.joined(separator: " "), comments: comments, rows: rows)
    }

    static func readHeader(_ fields: [String], path: String, line: Int) throws -> [String] {
        for (i, column) in fields.enumerated() {
            guard columns.contains(column) else {
                let suggestion = NameMatching.closest(to: column, among: columns)
                throw MoESimError(file: path, line: line, field: column.isEmpty ? "column \(i + 1)" : column, "unknown column",
                                  hint: (suggestion.map { "did you mean \($0)? " } ?? "") + "columns: \(columns.joined(separator: ", "))")
            }
            guard fields.firstIndex(of: column) == i else { throw MoESimError(file: path, line: line, field: column, "column given twice") }
        }
        for column in requiredColumns where !fields.contains(column) {
            throw MoESimError(file: path, line: line, field: column, "required column is missing", hint: "header: \(columns.joined(separator: ","))")
        }
        return fields
    }

    static func readRow(_ fields: [String], columns: [String], path: String, line: Int) throws -> Measurement {
        guard fields.count == columns.count else {
            throw MoESimError(file: path, line: line, "expected \(columns.count) fields (\(columns.joined(separator: ","))), found \(fields.count)",
                              hint: "quote a field that holds a comma: \"...\"")
        }
        func cell(_ column: String) -> String? {
            guard let i = columns.firstIndex(of: column), !fields[i].isEmpty else { return nil }
            return fields[i]
        }
        func error(_ column: String, _ message: String, hint: String? = nil) -> MoESimError {
            MoESimError(file: path, line: line, field: column, message, hint: hint)
        }
        func positive(_ column: String, atMostOne: Bool = false) throws -> Double? {
            guard let text = cell(column) else { return nil }
            guard let v = Double(text), v.isFinite, v > 0, !atMostOne || v <= 1 else {
                throw error(column, atMostOne ? "must be a fraction in (0, 1], found '\(text)'" : "must be a positive number, found '\(text)'")
            }
            return v
        }
        guard let optionsText = cell("options") else { throw error("options", "is empty", hint: "the `sim run` options of the measured run") }
        let words: [String]
        do { words = try OptionWords.split(optionsText) } catch let e as MoESimError { throw error("options", e.message) }
        try checkOptions(words, error: { error("options", $0, hint: $1) })
        guard let tokensPerSecond = try positive("measured_tokens_per_second") else {
            throw error("measured_tokens_per_second", "is empty", hint: "every row needs its measured decode tokens per second")
        }
        var anchor = false
        if let text = cell("anchor") {
            switch text.lowercased() {
            case "yes", "true", "1": anchor = true
            case "no", "false", "0": anchor = false
            default: throw error("anchor", "expected yes or no, found '\(text)'")
            }
        }
        if anchor && cell("group") == nil { throw error("anchor", "an anchor row needs a group", hint: "the group it calibrates") }
        return Measurement(file: path, line: line, options: words, tokensPerSecond: tokensPerSecond,
                           ttftSeconds: try positive("measured_ttft_seconds"), hitRate: try positive("measured_hit_rate", atMostOne: true),
                           note: cell("note") ?? "", group: cell("group") ?? "", anchor: anchor)
    }

    /// The options must be ones `sim run` knows, each once, with no positional words and none that change the output.
    static func checkOptions(_ words: [String], error: (String, String?) -> MoESimError) throws {
        let parsed: ParsedArguments
        do {
            parsed = try ArgumentParser.parse(words, options: RunCommand.options)
        } catch let e as MoESimError {
            throw error((e.field.map { "\($0): " } ?? "") + e.message, e.hint)
        }
        if let word = parsed.positionals.first { throw error("unexpected word '\(word)'", "options are --name value") }
        if let refused = refusedOptions.first(where: { parsed.values[$0] != nil || parsed.flags.contains($0) }) {
            throw error("--\(refused) is not allowed in a measurement row", "a row describes the measured run only")
        }
    }

    /// Every `*.csv` in a folder, sorted by name; or the one file given.
    public static func loadAll(_ path: String) throws -> [MeasurementFile] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw MoESimError(file: path, "no such file or folder", hint: "measurements live in experiments/measurements/")
        }
        guard isDirectory.boolValue else { return [try load(path: path)] }
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter { $0.hasSuffix(".csv") && !$0.hasPrefix(".") }.sorted()
        guard !names.isEmpty else { throw MoESimError(file: path, "no measurement files (*.csv) here") }
        return try names.map { try load(path: (path.hasSuffix("/") ? path : path + "/") + $0) }
    }
}
