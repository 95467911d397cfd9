import Foundation

/// One `sim` command line of an experiment.
public struct PlannedRun: Sendable {
    public enum Role: String, Sendable {
        /// A point of the sweep (the Cartesian product of the axes).
        case sweep
        /// A run needed only as some sweep run's baseline (its overrides leave the sweep's values).
        case baseline
    }

    /// Position in the plan: sweep runs first in expansion order, then extra baseline runs.
    public var index: Int
    public var role: Role
    /// How tables, checks and progress lines name the run: "cache=LRU, hardware=rtx4090".
    public var label: String
    /// Each axis's value for this run, in axis order.
    public var axisValues: [(option: String, value: String)]
    /// The options passed, `${shared}` resolved.
    public var options: [ExperimentSpec.Option]
    /// The whole argument list for `sim` (without the program name), ending in --json.
    public var arguments: [String]
    /// The command as a shell line with `${shared}` left in, so stored expectations do not depend on where the
    /// shared traces live.
    public var templateCommand: String
    /// Resolved paths under the shared folder this run reads; absent ones make the run skip.
    public var sharedFiles: [String]
    /// The run this one's speedup is measured against (itself for a baseline run of the sweep).
    public var baselineIndex: Int?

    public var command: String { ShellQuoting.line(["sim"] + arguments) }

    /// The run's value of an option (for `${option}` in metric paths).
    public func value(of option: String) -> String? {
        guard let found = options.first(where: { $0.name == option }) else { return nil }
        switch found.value {
        case let .value(text): return text
        case .flag: return "true"
        case .absent: return nil
        }
    }

    public func axisValue(_ option: String) -> String? { axisValues.first { $0.option == option }?.value }
}

/// A shard of a sweep: runs whose index mod `count` is `index`, so every machine of N gets a fixed, disjoint,
/// interleaved share (long and short runs mix) without coordination.
public struct Shard: Equatable, Sendable, CustomStringConvertible {
    public var index: Int
    public var count: Int

    public init(index: Int, count: Int) { self.index = index; self.count = count }

    /// Parses "i/N" with 0 <= i < N.
    public static func parse(_ text: String) throws -> Shard {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let index = Int(parts[0]), let count = Int(parts[1]), count >= 1, index >= 0, index < count else {
            throw MoESimError(field: "--shard", "expected i/N with 0 <= i < N (e.g. 0/4), found '\(text)'",
                              hint: "shards are numbered from 0, as Slurm's SLURM_ARRAY_TASK_ID with --array=0-(N-1)")
        }
        return Shard(index: index, count: count)
    }

    public func contains(_ runIndex: Int) -> Bool { runIndex % count == index }

    public var description: String { "\(index)/\(count)" }
}

/// The runs of an experiment, expanded deterministically from its spec.
///
/// Expansion order: the axes are nested loops in the order the spec lists them, the first outermost, so the
/// last axis varies fastest. Each run passes the spec's `command`, then the `base` options in spec order, then
/// one option per axis in axis order, then --json. Baseline runs that are not already sweep points follow the
/// sweep, in the order of the first sweep run that needs each.
public struct ExperimentPlan: Sendable {
    public static let sharedPlaceholder = "${shared}"
    /// Where `${shared}` points unless --shared or MOESIM_SHARED_TRACES say otherwise.
    public static let defaultSharedDirectory = "../shared/traces"
    public static let sharedEnvironmentVariable = "MOESIM_SHARED_TRACES"

    public var spec: ExperimentSpec
    public var sharedDirectory: String
    public var runs: [PlannedRun]

    public var sweepRuns: ArraySlice<PlannedRun> { runs.prefix { $0.role == .sweep } }

    /// --shared, else the environment variable, else ../shared/traces.
    public static func resolveSharedDirectory(_ option: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let option, !option.isEmpty { return option }
        if let env = environment[sharedEnvironmentVariable], !env.isEmpty { return env }
        return defaultSharedDirectory
    }

    public init(spec: ExperimentSpec, sharedDirectory: String) {
        self.spec = spec
        var shared = sharedDirectory
        while shared.count > 1 && shared.hasSuffix("/") { shared.removeLast() }
        self.sharedDirectory = shared

        var points: [[(option: String, value: String)]] = [[]]
        for axis in spec.axes {
            points = points.flatMap { prefix in axis.values.map { prefix + [(axis.option, $0)] } }
        }
        var runs: [PlannedRun] = []
        var indexByArguments: [[String]: Int] = [:]
        for point in points {
            let options = spec.base + point.map { ExperimentSpec.Option(name: $0.option, value: .value($0.value)) }
            let run = ExperimentPlan.makeRun(index: runs.count, role: .sweep, label: ExperimentPlan.label(spec: spec, axisValues: point),
                                             axisValues: point, options: options, spec: spec, shared: shared)
            indexByArguments[run.arguments] = run.index
            runs.append(run)
        }
        if let overrides = spec.baseline {
            for (sweepIndex, point) in points.enumerated() {
                var options = spec.base + point.map { ExperimentSpec.Option(name: $0.option, value: .value($0.value)) }
                var axisValues = point
                var changed: [String] = []
                for override in overrides {
                    if let position = options.firstIndex(where: { $0.name == override.name }) { options[position] = override } else { options.append(override) }
                    if let position = axisValues.firstIndex(where: { $0.option == override.name }), case let .value(text) = override.value {
                        axisValues[position].value = text
                    } else if spec.axis(override.name) == nil {
                        changed.append("\(override.name)=\(ExperimentPlan.describe(override.value))")
                    }
                }
                let candidate = ExperimentPlan.makeRun(index: runs.count, role: .baseline, label: "", axisValues: axisValues,
                                                       options: options, spec: spec, shared: shared)
                if let existing = indexByArguments[candidate.arguments] {
                    runs[sweepIndex].baselineIndex = existing
                } else {
                    var extra = candidate
                    let axisLabel = ExperimentPlan.label(spec: spec, axisValues: axisValues)
                    extra.label = "baseline: " + ([axisLabel] + changed).filter { !$0.isEmpty }.joined(separator: ", ")
                    extra.baselineIndex = extra.index
                    indexByArguments[extra.arguments] = extra.index
                    runs[sweepIndex].baselineIndex = extra.index
                    runs.append(extra)
                }
            }
        }
        self.runs = runs
    }

    /// "title=label" for each axis, in axis order; the experiment's name when it has no axes.
    static func label(spec: ExperimentSpec, axisValues: [(option: String, value: String)]) -> String {
        guard !axisValues.isEmpty else { return spec.name }
        return axisValues.map { "\(spec.axis($0.option)!.title)=\(spec.axis($0.option)!.label($0.value))" }.joined(separator: ", ")
    }

    static func describe(_ value: ExperimentSpec.OptionValue) -> String {
        switch value {
        case let .value(text): return text
        case .flag: return "true"
        case .absent: return "(none)"
        }
    }

    static func makeRun(index: Int, role: PlannedRun.Role, label: String, axisValues: [(option: String, value: String)],
                        options: [ExperimentSpec.Option], spec: ExperimentSpec, shared: String) -> PlannedRun {
        var sharedFiles: [String] = []
        func resolve(_ text: String) -> String {
            guard text.contains(sharedPlaceholder) else { return text }
            let resolved = text.replacingOccurrences(of: sharedPlaceholder, with: shared)
            if !sharedFiles.contains(resolved) { sharedFiles.append(resolved) }
            return resolved
        }
        var arguments = spec.command.map(resolve)
        var template = spec.command
        var resolvedOptions: [ExperimentSpec.Option] = []
        for option in options {
            switch option.value {
            case let .value(text):
                arguments += ["--\(option.name)", resolve(text)]
                template += ["--\(option.name)", text]
                resolvedOptions.append(ExperimentSpec.Option(name: option.name, value: .value(resolve(text))))
            case .flag:
                arguments.append("--\(option.name)")
                template.append("--\(option.name)")
                resolvedOptions.append(option)
            case .absent:
                continue
            }
        }
        arguments.append("--json")
        template.append("--json")
        return PlannedRun(index: index, role: role, label: label, axisValues: axisValues, options: resolvedOptions, arguments: arguments,
                          templateCommand: ShellQuoting.line(["sim"] + template), sharedFiles: sharedFiles, baselineIndex: nil)
    }

    /// Indices of the runs one shard executes, in plan order.
    public func indices(for shard: Shard?) -> [Int] {
        guard let shard else { return Array(runs.indices) }
        return runs.indices.filter(shard.contains)
    }
}

/// Shell-quoting for printed commands, so a reader can paste any run's command line.
enum ShellQuoting {
    static let safeCharacters = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./_-")

    static func quote(_ argument: String) -> String {
        if !argument.isEmpty && argument.allSatisfy({ safeCharacters.contains($0) }) { return argument }
        return "'" + argument.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    static func line(_ arguments: [String]) -> String { arguments.map(quote).joined(separator: " ") }
}
