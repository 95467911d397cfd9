import Foundation

/// An experiment as code (`experiments/NAME.json`): a sweep of `sim` command lines (base options x the Cartesian
/// product of the axes), the run speedups are measured against, the numbers to pull out of each run's JSON, the
/// tables and plots to make of them, reference numbers from papers, and a small check variant whose key numbers
/// guard against regressions. The format is documented in experiments/README.md.
public struct ExperimentSpec: Sendable {
    /// A command-line option's value: `--name value`, a bare `--name` flag, or left out.
    public enum OptionValue: Equatable, Sendable {
        case value(String)
        case flag
        case absent
    }

    public struct Option: Equatable, Sendable {
        public var name: String
        public var value: OptionValue
    }

    /// One swept option. Values are what goes on the command line; labels (optional) are how tables, plots and
    /// run names show them.
    public struct Axis: Sendable {
        public var option: String
        public var title: String
        public var values: [String]
        public var labels: [String: String]

        public func label(_ value: String) -> String { labels[value] ?? value }
    }

    /// What a metric is, which decides its default format and its check tolerance.
    public enum MetricKind: String, CaseIterable, Sendable {
        /// Integers (hits, loads, bytes): must match exactly.
        case count
        /// Seconds, and rates derived from them.
        case time
        /// Fractions and ratios (hit rates, busy fractions, speedups).
        case ratio
        /// Text (a classification such as "link-bound").
        case label

        public var isNumeric: Bool { self != .label }
    }

    public enum MetricSource: Sendable {
        /// A dotted path into the run's JSON output; numeric parts index arrays; `${option}` is replaced by the
        /// run's value of that option.
        case path(String)
        /// baseline run's value of that metric / this run's value.
        case speedup(of: String)
        /// The label of whichever listed metric is largest (ties: the first listed).
        case dominant([(metric: String, label: String)])
    }

    public struct Metric: Sendable {
        public var name: String
        public var title: String
        public var kind: MetricKind
        public var format: MetricFormat
        public var source: MetricSource
        /// For a path metric: the value when the path is not in a run's output (e.g. 0 for a quality proxy that an
        /// exact policy does not report); nil: a missing path is an error naming the run.
        public var absent: Double? = nil

        /// "title (unit)" for column and axis headings.
        public var heading: String { format.unit.map { "\(title) (\($0))" } ?? title }
    }

    public struct Table: Sendable {
        public var title: String
        public var metrics: [String]
        /// Only runs with these axis values (option, value).
        public var filter: [(option: String, value: String)]
    }

    public enum PlotType: String, Sendable { case line, bar }

    public struct Plot: Sendable {
        public var type: PlotType
        /// File name of the SVG in the results folder.
        public var file: String
        public var title: String
        /// The axis along x.
        public var x: String
        /// One metric, or several drawn as series (then `series` is nil).
        public var y: [String]
        /// The axis whose values are the series (lines or bars in a group).
        public var series: String?
        public var filter: [(option: String, value: String)]
        public var xLabel: String
        public var yLabel: String
        /// A logarithmic value axis (`"scale": "log"`), for values spanning orders of magnitude.
        public var logScale = false
    }

    /// A number a paper reports, compared in report.md with the run whose axis values match.
    public struct PaperPoint: Sendable {
        public var label: String
        public var match: [(option: String, value: String)]
        public var metric: String
        /// In the metric's base unit (seconds, fraction, tokens/s).
        public var value: Double
        public var source: String
        public var unconfirmed: Bool
    }

    /// The small variant `sim experiment check` runs: option overrides, fewer axis values, the metrics to guard.
    public struct CheckVariant: Sendable {
        public var base: [Option]
        public var axes: [(option: String, values: [String])]
        public var metrics: [String]
        public var tolerances: [MetricKind: Double]
    }

    /// What a run that exits with an error does: stop the experiment, or be recorded as a result ("does not fit").
    public enum OnRunError: String, Sendable { case fail, record }

    public var name: String
    public var description: String
    public var notes: [String]
    public var command: [String]
    public var base: [Option]
    public var axes: [Axis]
    /// Option overrides that turn a run into its baseline run; nil: no speedups.
    public var baseline: [Option]?
    public var onRunError: OnRunError
    public var metrics: [Metric]
    public var tables: [Table]
    public var plots: [Plot]
    public var paper: [PaperPoint]
    public var check: CheckVariant?
    /// The spec as read, embedded in results so shards can be merged without the spec file.
    public var raw: JSONValue
    /// Where it was read from (for error messages).
    public var file: String

    /// Tolerances when the spec gives none: counts exact; times and ratios to 1e-9 relative (the simulation is
    /// deterministic, so only floating-point reassociation may move them).
    public static let defaultTolerances: [MetricKind: Double] = [.count: 0, .time: 1e-9, .ratio: 1e-9, .label: 0]

    public func metric(_ name: String) -> Metric? { metrics.first { $0.name == name } }
    public func axis(_ option: String) -> Axis? { axes.first { $0.option == option } }

    // MARK: - Reading

    public static func load(path: String) throws -> ExperimentSpec {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw MoESimError(file: path, "cannot read the experiment spec", hint: "`sim experiment list` shows the experiments in --experiments DIR")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw MoESimError(file: path, "not UTF-8 text") }
        let json: JSONValue
        do { json = try JSONValue.parse(text) } catch { throw MoESimError(file: path, "not valid JSON: \(error)") }
        let expectedName = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        return try decode(json, file: path, expectedName: expectedName)
    }

    static let topLevelFields = ["name", "description", "notes", "command", "base", "axes", "baseline", "onRunError", "metrics",
                                 "tables", "plots", "paper", "check"]

    /// Decodes and validates a spec; every error names `file` and the JSON path of the field.
    public static func decode(_ json: JSONValue, file: String, expectedName: String? = nil) throws -> ExperimentSpec {
        let root = SpecField(value: json, path: "", file: file)
        _ = try root.object(allowed: topLevelFields)

        let nameField = try root.required("name")
        let name = try nameField.nonEmptyString()
        guard name.allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "-" }), name.allSatisfy(\.isASCII) else {
            throw nameField.error("use lowercase letters, digits and '-' (it names files and folders)")
        }
        if let expectedName, expectedName != name {
            throw nameField.error("is '\(name)' but the file is \(expectedName).json", hint: "the name must match the file name")
        }
        let descriptionField = try root.required("description")
        let description = try descriptionField.nonEmptyString()
        guard !description.contains("\n") else { throw descriptionField.error("must be one line (it is what `sim experiment list` shows)") }
        let notes = try root.member("notes").map { try $0.stringList() } ?? []

        let commandField = try root.required("command")
        let command = try commandField.nonEmptyArray().map { try $0.nonEmptyString() }
        if let json = command.firstIndex(where: { $0 == "--json" || $0 == "--csv" }) {
            throw SpecField(value: .null, path: "command[\(json)]", file: file).error("leave out \(command[json]): every run gets --json")
        }

        let base = try root.member("base").map { try options($0) } ?? []
        let axes = try root.member("axes").map { try $0.array().map(decodeAxis) } ?? []
        try checkDistinct(axes.map(\.option), field: root.member("axes"), what: "axis option")
        try checkRunCount(axes.map(\.values.count), field: root.member("axes"))
        for axis in axes where base.contains(where: { $0.name == axis.option }) {
            throw root.child("base", .null).child(axis.option, .null).error("is also an axis; give it in one place only")
        }

        let baseline = try root.member("baseline").map { field -> [Option] in
            let overrides = try options(field)
            guard !overrides.isEmpty else { throw field.error("give at least one option override, e.g. {\"cache\": \"none\"}") }
            return overrides
        }
        let onRunError: OnRunError
        if let field = root.member("onRunError") {
            guard let value = OnRunError(rawValue: try field.string()) else { throw field.error("expected \"fail\" or \"record\"") }
            onRunError = value
        } else {
            onRunError = .fail
        }

        let metricsField = try root.required("metrics")
        var metrics: [Metric] = []
        for field in try metricsField.nonEmptyArray() {
            metrics.append(try decodeMetric(field, known: metrics, hasBaseline: baseline != nil))
        }
        try checkDistinct(metrics.map(\.name), field: metricsField, what: "metric name")

        var spec = ExperimentSpec(name: name, description: description, notes: notes, command: command, base: base, axes: axes,
                                  baseline: baseline, onRunError: onRunError, metrics: metrics, tables: [], plots: [], paper: [],
                                  check: nil, raw: json, file: file)
        spec.tables = try root.member("tables").map { try $0.array().map { try spec.table($0) } } ?? []
        spec.plots = try root.member("plots").map { try $0.array().map { try spec.plot($0) } } ?? []
        if let plotsField = root.member("plots") { try checkDistinct(spec.plots.map(\.file), field: plotsField, what: "plot file") }
        spec.paper = try root.member("paper").map { try $0.array().map { try spec.paperPoint($0) } } ?? []
        spec.check = try root.member("check").map { try spec.checkVariant($0) }
        return spec
    }

    /// Runs one sweep may have: the plan holds every run's command line in memory before the first starts.
    public static let maxRuns = 100_000

    /// The Cartesian product of the axes, checked without overflowing.
    static func checkRunCount(_ valueCounts: [Int], field: SpecField?) throws {
        var runs = 1
        for count in valueCounts {
            runs *= count
            guard runs <= maxRuns else {
                throw (field ?? SpecField(value: .null, path: "axes", file: "")).error(
                    "the axes make more than \(maxRuns) runs (\(valueCounts.map(String.init).joined(separator: " x ")) values)",
                    hint: "split the sweep into several experiments")
            }
        }
    }

    static func checkDistinct(_ names: [String], field: SpecField?, what: String) throws {
        var seen = Set<String>()
        for name in names where !seen.insert(name).inserted {
            throw (field ?? SpecField(value: .null, path: "", file: "")).error("\(what) '\(name)' appears twice")
        }
    }

    static func optionName(_ name: String, field: SpecField) throws -> String {
        guard !name.hasPrefix("-") else { throw field.error("write option names without dashes ('\(name.drop { $0 == "-" })')") }
        guard !name.isEmpty, name.allSatisfy({ ($0.isLetter || $0.isNumber || $0 == "-") && $0.isASCII }) else {
            throw field.error("'\(name)' is not an option name")
        }
        guard name != "json", name != "csv" else { throw field.error("leave out --\(name): every run gets --json") }
        return name
    }

    /// An object of option -> value: a string or number is `--name value`, true a bare flag, false or null leaves it out,
    /// a list of strings repeats the option (`"set": ["hostLink.h2dBytesPerSecond=12e9", ...]`).
    static func options(_ field: SpecField) throws -> [Option] {
        try field.object(allowed: field.value.objectKeys).flatMap { key, value -> [Option] in
            let name = try optionName(key, field: value)
            switch value.value {
            case .bool(true): return [Option(name: name, value: .flag)]
            case .bool(false), .null: return [Option(name: name, value: .absent)]
            case .array: return try value.nonEmptyArray().map { Option(name: name, value: .value(try $0.scalarText())) }
            default: return [Option(name: name, value: .value(try value.scalarText()))]
            }
        }
    }

    static func decodeAxis(_ field: SpecField) throws -> Axis {
        _ = try field.object(allowed: ["option", "title", "values", "labels"])
        let optionField = try field.required("option")
        let option = try optionName(try optionField.nonEmptyString(), field: optionField)
        let valuesField = try field.required("values")
        let values = try valuesField.nonEmptyArray().map { try $0.scalarText() }
        try checkDistinct(values, field: valuesField, what: "value")
        var labels: [String: String] = [:]
        if let labelsField = field.member("labels") {
            let list = try labelsField.nonEmptyArray().map { try $0.nonEmptyString() }
            guard list.count == values.count else {
                throw labelsField.error("has \(list.count) labels for \(values.count) values; give one label per value, in the same order")
            }
            try checkDistinct(list, field: labelsField, what: "label")
            labels = Dictionary(uniqueKeysWithValues: zip(values, list))
        }
        let title = try field.member("title").map { try $0.nonEmptyString() } ?? option
        return Axis(option: option, title: title, values: values, labels: labels)
    }

    static func decodeMetric(_ field: SpecField, known: [Metric], hasBaseline: Bool) throws -> Metric {
        _ = try field.object(allowed: ["name", "title", "path", "speedupOf", "dominant", "kind", "format", "absent"])
        let nameField = try field.required("name")
        let name = try nameField.nonEmptyString()
        guard name.allSatisfy({ ($0.isLetter || $0.isNumber || $0 == "_") && $0.isASCII }) else {
            throw nameField.error("use letters, digits and '_' (it is a CSV column and a JSON key)")
        }
        let sources = ["path", "speedupOf", "dominant"].filter { field.member($0) != nil }
        guard sources.count == 1 else {
            throw field.error("give exactly one of 'path' (a number in the run's JSON), 'speedupOf' (a metric) or 'dominant'")
        }
        func numericMetric(_ metricField: SpecField) throws -> String {
            let referenced = try metricField.nonEmptyString()
            guard let target = known.first(where: { $0.name == referenced }) else {
                throw metricField.error("no metric '\(referenced)' is declared before this one",
                                        hint: "declared: \(known.map(\.name).joined(separator: ", "))")
            }
            guard target.kind.isNumeric else { throw metricField.error("metric '\(referenced)' is not a number") }
            return referenced
        }
        let source: MetricSource
        var impliedKind: MetricKind?
        if let pathField = field.member("path") {
            let path = try pathField.nonEmptyString()
            guard !path.split(separator: ".", omittingEmptySubsequences: false).contains(where: \.isEmpty) else {
                throw pathField.error("'\(path)' has an empty component; write e.g. decode.latency.meanSeconds")
            }
            source = .path(path)
        } else if let speedupField = field.member("speedupOf") {
            guard hasBaseline else { throw speedupField.error("a speedup needs a top-level 'baseline' (e.g. {\"cache\": \"none\"})") }
            source = .speedup(of: try numericMetric(speedupField))
            impliedKind = .ratio
        } else {
            let dominantField = try field.required("dominant")
            let entries = try dominantField.nonEmptyArray().map { entry -> (metric: String, label: String) in
                _ = try entry.object(allowed: ["metric", "label"])
                return (try numericMetric(try entry.required("metric")), try entry.required("label").nonEmptyString())
            }
            source = .dominant(entries)
            impliedKind = .label
        }
        let kind: MetricKind
        if let kindField = field.member("kind") {
            guard let parsed = MetricKind(rawValue: try kindField.string()) else {
                throw kindField.error("expected one of \(MetricKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            if let impliedKind, impliedKind != parsed { throw kindField.error("must be \(impliedKind.rawValue) for this metric") }
            kind = parsed
        } else if let impliedKind {
            kind = impliedKind
        } else {
            throw field.error("'kind' is required for a path metric: count (exact), time or ratio (relative 1e-9), or label")
        }
        let format: MetricFormat
        if let formatField = field.member("format") {
            guard let parsed = MetricFormat.parse(try formatField.string()) else {
                throw formatField.error("unknown format", hint: "use one of \(MetricFormat.names.joined(separator: ", "))")
            }
            format = parsed
        } else {
            format = impliedKind == .ratio ? .speedup : MetricFormat.defaultFor(kind)
        }
        let title = try field.member("title").map { try $0.nonEmptyString() } ?? name
        var absent: Double?
        if let absentField = field.member("absent") {
            guard case .path = source else { throw absentField.error("only a 'path' metric can have a value for when its path is absent") }
            guard kind.isNumeric else { throw absentField.error("a label metric has no numeric default") }
            absent = try absentField.number()
        }
        return Metric(name: name, title: title, kind: kind, format: format, source: source, absent: absent)
    }

    /// `{"option": "value"}` filters: options must be axes and values among the axis's values.
    func filter(_ field: SpecField?) throws -> [(option: String, value: String)] {
        guard let field else { return [] }
        return try field.object(allowed: axes.map(\.option)).map { option, valueField in
            let value = try valueField.scalarText()
            guard axis(option)!.values.contains(value) else {
                throw valueField.error("'\(value)' is not a value of axis '\(option)'", hint: "values: \(axis(option)!.values.joined(separator: ", "))")
            }
            return (option, value)
        }
    }

    func metricName(_ field: SpecField, numeric: Bool = false) throws -> String {
        let name = try field.nonEmptyString()
        guard let found = metric(name) else {
            throw field.error("unknown metric '\(name)'", hint: "metrics: \(metrics.map(\.name).joined(separator: ", "))")
        }
        if numeric && !found.kind.isNumeric { throw field.error("metric '\(name)' is a label, not a number") }
        return name
    }

    func axisOption(_ field: SpecField) throws -> String {
        let option = try field.nonEmptyString()
        guard axis(option) != nil else {
            throw field.error("'\(option)' is not an axis", hint: "axes: \(axes.map(\.option).joined(separator: ", "))")
        }
        return option
    }

    func table(_ field: SpecField) throws -> Table {
        _ = try field.object(allowed: ["title", "metrics", "where"])
        let metricsField = try field.required("metrics")
        return Table(title: try field.required("title").nonEmptyString(),
                     metrics: try metricsField.nonEmptyArray().map { try metricName($0) },
                     filter: try filter(field.member("where")))
    }

    func plot(_ field: SpecField) throws -> Plot {
        _ = try field.object(allowed: ["type", "file", "title", "x", "y", "series", "where", "xLabel", "yLabel", "scale"])
        let typeField = try field.required("type")
        guard let type = PlotType(rawValue: try typeField.string()) else { throw typeField.error("expected \"line\" or \"bar\"") }
        let fileField = try field.required("file")
        let file = try fileField.nonEmptyString()
        guard file.hasSuffix(".svg"), file.allSatisfy({ ($0.isLetter || $0.isNumber || "-_.".contains($0)) && $0.isASCII }), !file.hasPrefix(".") else {
            throw fileField.error("'\(file)' must be a plain file name ending in .svg (letters, digits, '-', '_')")
        }
        let x = try axisOption(try field.required("x"))
        let yField = try field.required("y")
        let y = try (yField.value.stringValue != nil ? [yField] : yField.nonEmptyArray()).map { try metricName($0, numeric: true) }
        let series = try field.member("series").map { try axisOption($0) }
        if let series {
            guard series != x else { throw field.child("series", .null).error("is the x axis too; pick another axis") }
            guard y.count == 1 else { throw field.child("series", .null).error("with several y metrics the metrics are the series; leave out 'series'") }
        }
        let filter = try filter(field.member("where"))
        for axis in axes where axis.option != x && axis.option != series && axis.values.count > 1 && !filter.contains(where: { $0.option == axis.option }) {
            throw field.error("axis '\(axis.option)' has \(axis.values.count) values but is neither x nor series",
                              hint: "fix one value with \"where\": {\"\(axis.option)\": \"\(axis.values[0])\"}, or make it the series")
        }
        var plot = Plot(type: type, file: file, title: try field.required("title").nonEmptyString(), x: x, y: y, series: series,
                        filter: filter, xLabel: try field.required("xLabel").nonEmptyString(), yLabel: try field.required("yLabel").nonEmptyString())
        if let scaleField = field.member("scale") {
            let scale = try scaleField.string()
            guard scale == "log" || scale == "linear" else { throw scaleField.error("expected \"linear\" or \"log\", found \"\(scale)\"") }
            plot.logScale = scale == "log"
        }
        return plot
    }

    func paperPoint(_ field: SpecField) throws -> PaperPoint {
        _ = try field.object(allowed: ["label", "match", "metric", "value", "source", "unconfirmed"])
        let match = try filter(try field.required("match"))
        for axis in axes where axis.values.count > 1 && !match.contains(where: { $0.option == axis.option }) {
            throw field.child("match", .null).error("does not fix axis '\(axis.option)', so it matches \(axis.values.count) runs")
        }
        let valueField = try field.required("value")
        let value = try valueField.number()
        guard value.isFinite, value != 0 else { throw valueField.error("must be a finite, non-zero number (the error is relative to it)") }
        return PaperPoint(label: try field.required("label").nonEmptyString(), match: match,
                          metric: try metricName(try field.required("metric"), numeric: true), value: value,
                          source: try field.required("source").nonEmptyString(),
                          unconfirmed: try field.member("unconfirmed").map { try $0.bool() } ?? false)
    }

    func checkVariant(_ field: SpecField) throws -> CheckVariant {
        _ = try field.object(allowed: ["base", "axes", "metrics", "tolerances"])
        let base = try field.member("base").map { try ExperimentSpec.options($0) } ?? []
        var variantAxes: [(option: String, values: [String])] = []
        if let axesField = field.member("axes") {
            for (option, valuesField) in try axesField.object(allowed: axes.map(\.option)) {
                let values = try valuesField.nonEmptyArray().map { try $0.scalarText() }
                try ExperimentSpec.checkDistinct(values, field: valuesField, what: "value")
                variantAxes.append((option, values))
            }
            try ExperimentSpec.checkRunCount(axes.map { axis in variantAxes.first { $0.option == axis.option }?.values.count ?? axis.values.count },
                                             field: axesField)
        }
        for option in base where axis(option.name) != nil {
            throw field.child("base", .null).child(option.name, .null).error("is an axis; narrow it under check.axes instead")
        }
        let metricsField = try field.required("metrics")
        let guarded = try metricsField.nonEmptyArray().map { try metricName($0) }
        try ExperimentSpec.checkDistinct(guarded, field: metricsField, what: "metric")
        var tolerances = ExperimentSpec.defaultTolerances
        if let tolerancesField = field.member("tolerances") {
            for (key, valueField) in try tolerancesField.object(allowed: ["count", "time", "ratio"]) {
                let value = try valueField.number()
                guard value >= 0, value.isFinite else { throw valueField.error("must be a non-negative number") }
                tolerances[MetricKind(rawValue: key)!] = value
            }
        }
        return CheckVariant(base: base, axes: variantAxes, metrics: guarded, tolerances: tolerances)
    }

    /// The spec `sim experiment check` runs: the check's option overrides and axis values applied; no tables,
    /// plots or paper numbers (it produces expectations, not a report).
    public func checkSpec() throws -> ExperimentSpec {
        guard let check else {
            throw MoESimError(file: file, field: "check", "this experiment has no check variant", hint: "add \"check\": {\"metrics\": [...]}")
        }
        var variant = self
        for option in check.base {
            if let index = variant.base.firstIndex(where: { $0.name == option.name }) { variant.base[index] = option } else { variant.base.append(option) }
        }
        for (option, values) in check.axes {
            let index = variant.axes.firstIndex { $0.option == option }!
            variant.axes[index].values = values
        }
        variant.tables = []
        variant.plots = []
        variant.paper = []
        return variant
    }
}

extension JSONValue {
    /// Keys of an object, in order (empty for anything else).
    var objectKeys: [String] {
        if case let .object(members) = self { return members.map(\.0) }
        return []
    }
}
