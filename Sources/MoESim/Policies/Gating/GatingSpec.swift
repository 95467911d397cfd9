/// `--gating` specs, e.g. `topk`, `adapmoe`, `adapmoe:T=0.007,prefill`, `score:T=0.2`.
public typealias GatingSpec = PolicySpec

extension PolicySpec {
    public static let gatingUsage = "expected NAME or NAME:OPTION,KEY=VALUE,... (e.g. topk, adapmoe, adapmoe:T=0.007,prefill, score:T=0.2)"

    public static func gating(_ text: String) throws -> PolicySpec { try parse(text, option: "--gating", usage: gatingUsage) }
}

/// What a gating policy is built from: its spec's options, the model (per-layer sensitivities) and the trace
/// header (top-k, which weights are recorded). Factories read their options through it and reject the rest.
public struct GatingContext: Sendable {
    public let spec: GatingSpec
    /// Nil when the model is unknown (cache-only mode on a trace whose model is not in the catalog).
    public let model: ModelSpec?
    public let header: TraceHeader

    public init(spec: GatingSpec, model: ModelSpec?, header: TraceHeader) {
        self.spec = spec
        self.model = model
        self.header = header
    }

    func error(_ message: String, hint: String? = nil) -> MoESimError {
        MoESimError(field: "--gating", "'\(spec.text)': \(message)", hint: hint)
    }

    /// Fails on any option the policy does not take (`known`: its options as help shows them, e.g. `T=NUMBER`, `prefill`).
    public func accept(only known: [String]) throws {
        let keys = known.map { $0.split(separator: "=", maxSplits: 1).first.map { $0.lowercased() } ?? "" }
        if let bad = spec.options.first(where: { !keys.contains($0.key) }) {
            let name = bad.written.split(separator: "=", maxSplits: 1).first.map(String.init) ?? bad.key
            throw error("unknown option '\(name)' for \(spec.name)",
                        hint: known.isEmpty ? "\(spec.name) takes no options" : "options: \(known.joined(separator: ", "))")
        }
    }

    /// Whether a bare flag is present; a flag given a value is an error.
    public func flag(_ key: String) throws -> Bool {
        guard let option = spec.options.first(where: { $0.key == key }) else { return false }
        guard option.value == nil else { throw error("'\(option.written)' is a flag and takes no value") }
        return true
    }

    /// A non-negative finite number option, or nil when absent.
    public func number(_ key: String) throws -> Double? {
        guard let option = spec.options.first(where: { $0.key == key }) else { return nil }
        guard let text = option.value, let value = Double(text), value.isFinite, value >= 0 else {
            let name = option.written.split(separator: "=", maxSplits: 1).first.map(String.init) ?? key
            throw error("expected \(name)=NUMBER with a finite number >= 0, found '\(option.written)'")
        }
        return value
    }

    /// The normalised 2nd weight needs top-2 routing and recorded router weights.
    public func requireTopTwoWithWeights() throws {
        guard header.topK == 2 else {
            throw error("\(spec.name) decides between the 1st and 2nd expert of top-2 routing; the trace has top_k = \(header.topK)")
        }
        guard header.weights != .none else {
            throw error("\(spec.name) reads the router's weights; the trace records none (header \"weights\":\"none\")",
                        hint: "record the trace with top-k or full weights")
        }
    }

    /// The model's per-layer sensitivities H_l, checked against the trace.
    public func requireSensitivities() throws -> [Double] {
        guard let model else {
            throw error("\(spec.name) needs the model's per-layer gate sensitivities H_l, but the trace's model '\(header.model)' is not a known model",
                        hint: "pass --model NAME|FILE")
        }
        guard let values = model.gateSensitivity?.values else {
            throw error("model '\(model.name)' has no per-layer gate sensitivities H_l",
                        hint: "AdapMoE published H_l for mixtral-8x7b and mixtral-8x22b; for another model add a \"gateSensitivity\" block to its JSON and pass it with --model FILE")
        }
        guard values.count == header.layers else {
            throw error("model '\(model.name)' has \(values.count) sensitivities, the trace has \(header.layers) layers", hint: "pick the matching --model")
        }
        return values
    }
}
