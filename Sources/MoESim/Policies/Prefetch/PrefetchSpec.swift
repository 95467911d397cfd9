/// `--prefetch` specs, e.g. `none`, `next-layer-gate`, `next-layer-gate:depth=3,issue=all`, `oracle:link=low-priority`.
public typealias PrefetchSpec = PolicySpec

extension PolicySpec {
    public static let prefetchUsage = "expected NAME or NAME:KEY=VALUE,... (e.g. none, next-layer-gate, next-layer-gate:depth=3,issue=all, oracle:link=low-priority)"

    public static func prefetch(_ text: String) throws -> PolicySpec { try parse(text, option: "--prefetch", usage: prefetchUsage) }
}

/// What a prefetch policy is built from: its spec's options, the model, the trace header, the run's seed, and (for
/// oracles, which read the future and say so) a way to read the run's passes ahead of it.
public struct PrefetchSetup {
    public let spec: PrefetchSpec
    public let model: ModelSpec
    public let header: TraceHeader
    /// The run's seed (`SimulationConfig.seed`): the only source of randomness.
    public let seed: UInt64
    /// A new source over the run's passes from the start (look-ahead for oracles).
    public let reopenSource: () throws -> PassSource
    /// A fresh instance of the run's gating policy (so a look-ahead sees the experts the run will load).
    public let makeGating: () throws -> GatingPolicy

    public init(spec: PrefetchSpec, model: ModelSpec, header: TraceHeader, seed: UInt64,
                reopenSource: @escaping () throws -> PassSource, makeGating: @escaping () throws -> GatingPolicy) {
        self.spec = spec
        self.model = model
        self.header = header
        self.seed = seed
        self.reopenSource = reopenSource
        self.makeGating = makeGating
    }

    func error(_ message: String, hint: String? = nil) -> MoESimError {
        MoESimError(field: "--prefetch", "'\(spec.text)': \(message)", hint: hint)
    }

    /// The options every speculating policy takes (engine side): `link`, `admit`, `buffers`.
    public static let engineOptionHelp = ["link=fifo|low-priority|preempt", "admit=buffer|cache", "buffers=N"]

    /// Fails on any option the policy does not take (`known`: its options as help shows them, e.g. `depth=1..3`).
    public func accept(only known: [String]) throws {
        let keys = known.map { $0.split(separator: "=", maxSplits: 1).first.map { $0.lowercased() } ?? "" }
        if let bad = spec.options.first(where: { !keys.contains($0.key) }) {
            let name = bad.written.split(separator: "=", maxSplits: 1).first.map(String.init) ?? bad.key
            throw error("unknown option '\(name)' for \(spec.name)",
                        hint: known.isEmpty ? "\(spec.name) takes no options" : "options: \(known.joined(separator: ", "))")
        }
    }

    private func option(_ key: String) -> PrefetchSpec.Option? { spec.options.first { $0.key == key } }

    private func optionName(_ option: PrefetchSpec.Option) -> String {
        option.written.split(separator: "=", maxSplits: 1).first.map(String.init) ?? option.key
    }

    /// Whether a bare flag is present; a flag given a value is an error.
    public func flag(_ key: String) throws -> Bool {
        guard let option = option(key) else { return false }
        guard option.value == nil else { throw error("'\(option.written)' is a flag and takes no value") }
        return true
    }

    /// One of `choices` (case-insensitive), or nil when absent.
    public func choice(_ key: String, _ choices: [String]) throws -> String? {
        guard let option = option(key) else { return nil }
        guard let value = option.value?.lowercased(), choices.contains(value) else {
            throw error("expected \(optionName(option))=\(choices.joined(separator: "|")), found '\(option.written)'")
        }
        return value
    }

    /// A whole number in `range`, `all` (returned as nil inside `.some`) when `allowsAll`, or nil when absent.
    public func integer(_ key: String, in range: ClosedRange<Int>, allowsAll: Bool = false) throws -> Int?? {
        guard let option = option(key) else { return nil }
        if allowsAll, option.value?.lowercased() == "all" { return .some(nil) }
        guard let text = option.value, let value = Int(text), range.contains(value) else {
            let upper = range.upperBound == Int.max ? "" : "..\(range.upperBound)"
            throw error("expected \(optionName(option))=\(range.lowerBound)\(upper)\(allowsAll ? " or all" : ""), found '\(option.written)'")
        }
        return .some(value)
    }

    /// A finite number in `range`, or nil when absent; `word` (e.g. `profile`) is returned as `.word`.
    public enum NumberOrWord: Equatable { case number(Double), word(String) }
    public func numberOrWord(_ key: String, in range: ClosedRange<Double>, words: [String]) throws -> NumberOrWord? {
        guard let option = option(key) else { return nil }
        if let value = option.value?.lowercased(), words.contains(value) { return .word(value) }
        guard let text = option.value, let value = Double(text), value.isFinite, range.contains(value) else {
            throw error("expected \(optionName(option))=\(words.map { $0 + "|" }.joined())NUMBER in [\(range.lowerBound), \(range.upperBound)], found '\(option.written)'")
        }
        return .number(value)
    }

    /// The engine-side options (`link`, `admit`, `buffers`) over `defaults`.
    public func engineOptions(defaults: PrefetchEngineOptions) throws -> PrefetchEngineOptions {
        var options = defaults
        if let link = try choice("link", LinkDiscipline.allCases.map(\.rawValue)) { options.link = LinkDiscipline(rawValue: link)! }
        if let admit = try choice("admit", PrefetchAdmission.allCases.map(\.rawValue)) { options.admission = PrefetchAdmission(rawValue: admit)! }
        if let buffers = try integer("buffers", in: 1...4096) { options.stagingBuffers = buffers }
        return options
    }
}
