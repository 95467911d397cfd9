/// `--miss` specs, e.g. `load`, `fiddler`, `hobbit:low=hqq2`, `buddymoe:prefix=512`.
public typealias MissSpec = PolicySpec

extension PolicySpec {
    public static let missUsage = "expected NAME or NAME:KEY=VALUE,... (e.g. load, fiddler, hybrimoe, hobbit:low=hqq2, buddymoe:prefix=512)"

    public static func miss(_ text: String) throws -> PolicySpec { try parse(text, option: "--miss", usage: missUsage) }
}

/// What a miss policy is built from.
public struct MissSetup {
    public let spec: MissSpec
    public let model: ModelSpec
    public let header: TraceHeader
    /// The run's quantization (the high-precision copy).
    public let quantization: Quantization
    public let seed: UInt64
    /// A new source over the run's passes from the start (BuddyMoE's profiling prefix).
    public let reopenSource: () throws -> PassSource
    /// A fresh instance of the run's gating policy.
    public let makeGating: () throws -> GatingPolicy

    public init(spec: MissSpec, model: ModelSpec, header: TraceHeader, quantization: Quantization, seed: UInt64,
                reopenSource: @escaping () throws -> PassSource, makeGating: @escaping () throws -> GatingPolicy) {
        self.spec = spec
        self.model = model
        self.header = header
        self.quantization = quantization
        self.seed = seed
        self.reopenSource = reopenSource
        self.makeGating = makeGating
    }

    func error(_ message: String, hint: String? = nil) -> MoESimError {
        MoESimError(field: "--miss", "'\(spec.text)': \(message)", hint: hint)
    }

    /// Fails on any option the policy does not take (`known` as help shows them, e.g. `low=QUANT`).
    func accept(only known: [String]) throws {
        let keys = known.map { $0.split(separator: "=", maxSplits: 1).first.map { $0.lowercased() } ?? "" }
        if let bad = spec.options.first(where: { !keys.contains($0.key) }) {
            let name = bad.written.split(separator: "=", maxSplits: 1).first.map(String.init) ?? bad.key
            throw error("unknown option '\(name)' for \(spec.name)",
                        hint: known.isEmpty ? "\(spec.name) takes no options" : "options: \(known.joined(separator: ", "))")
        }
    }

    private func option(_ key: String) -> MissSpec.Option? { spec.options.first { $0.key == key } }

    /// A finite number in `range`, or nil when absent.
    func number(_ key: String, in range: ClosedRange<Double>) throws -> Double? {
        guard let option = option(key) else { return nil }
        guard let text = option.value, let value = Double(text), value.isFinite, range.contains(value) else {
            throw error("expected \(key)=NUMBER in [\(range.lowerBound), \(range.upperBound)], found '\(option.written)'")
        }
        return value
    }

    /// A whole number in `range`, or nil when absent.
    func integer(_ key: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let option = option(key) else { return nil }
        guard let text = option.value, let value = Int(text), range.contains(value) else {
            let upper = range.upperBound == Int.max ? "" : "..\(range.upperBound)"
            throw error("expected \(key)=\(range.lowerBound)\(upper), found '\(option.written)'")
        }
        return value
    }

    /// The value of `key` as written, or nil when absent.
    func text(_ key: String) throws -> String? {
        guard let option = option(key) else { return nil }
        guard let value = option.value else { throw error("expected \(key)=VALUE, found '\(option.written)'") }
        return value
    }

    /// Fails unless the trace records router weights (policies that read gate weights).
    func requireWeights(_ why: String) throws {
        guard header.weights != .none else {
            throw error("needs the router's weights (\(why)), and the trace records none",
                        hint: "use a trace with \"weights\": \"topk\" or \"full\" in its header")
        }
    }
}
