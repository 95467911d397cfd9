/// Line 1 of a moe-trace v1 file (`docs/trace-format.md`).
public struct TraceHeader: Sendable, Equatable {
    public enum WeightsKind: String, Sendable {
        /// `weights[l]` holds the weights of `experts[l]`, renormalised to sum to 1.
        case topk
        /// `weights[l]` is the full softmax over all experts, indexed by expert id.
        case full
        case none
    }

    public var model: String
    public var layers: Int
    public var experts: Int
    public var topK: Int
    public var weights: WeightsKind
    public var sharedExperts: Int
    /// The whole header as read, unknown fields included, in order.
    public var raw: JSONValue
    /// Line of the file the header was read from (blank lines may precede it).
    public var lineNumber = 1

    public init(model: String, layers: Int, experts: Int, topK: Int, weights: WeightsKind, sharedExperts: Int = 0, extra: [(String, JSONValue)] = []) {
        self.model = model
        self.layers = layers
        self.experts = experts
        self.topK = topK
        self.weights = weights
        self.sharedExperts = sharedExperts
        var members: [(String, JSONValue)] = [("moe_trace", .number(1)), ("model", .string(model)), ("layers", .number(Double(layers))),
                                              ("experts", .number(Double(experts))), ("top_k", .number(Double(topK))),
                                              ("weights", .string(weights.rawValue))]
        if sharedExperts > 0 { members.append(("shared_experts", .number(Double(sharedExperts)))) }
        members += extra
        raw = .object(members)
    }

    /// Routed experts per layer at most (expert ids are 16-bit in the binary form).
    public static let maxExperts = 1 << 16
    /// Layers x experts at most: every per-expert table of a replay has this many entries.
    public static let maxExpertSlots = 1 << 22

    /// Validates and reads a parsed header line.
    public static func from(_ value: JSONValue) throws -> TraceHeader {
        guard case .object = value else { throw MoESimError("the header must be a JSON object") }
        guard let version = value["moe_trace"] else {
            throw MoESimError(field: "moe_trace", "line 1 must be the moe-trace header with \"moe_trace\":1", hint: "see docs/trace-format.md")
        }
        guard version.numberValue == 1 else {
            throw MoESimError(field: "moe_trace", "unsupported format version \(version.serialized), expected 1")
        }
        func positiveInt(_ key: String) throws -> Int {
            guard let v = value[key] else { throw MoESimError(field: key, "required header field is missing") }
            guard let n = v.numberValue, n == n.rounded(), n >= 1, n < 1e9 else {
                throw MoESimError(field: key, "expected a positive integer, found \(v.serialized)")
            }
            return Int(n)
        }
        guard let model = value["model"]?.stringValue, !model.isEmpty else {
            throw MoESimError(field: "model", "required header field is missing or not a string")
        }
        let layers = try positiveInt("layers")
        let experts = try positiveInt("experts")
        let topK = try positiveInt("top_k")
        guard topK <= experts else { throw MoESimError(field: "top_k", "top_k (\(topK)) exceeds experts (\(experts))") }
        // What moe-sim can hold; far above any published MoE model (DeepSeek-V3: 58 MoE layers of 256 experts, top-8).
        guard experts <= maxExperts else {
            throw MoESimError(field: "experts", "\(experts) experts per layer is more than moe-sim holds (at most \(maxExperts): ids are stored in 16 bits)")
        }
        guard topK <= TokenRecord.maxCellWidth else {
            throw MoESimError(field: "top_k", "top_k \(topK) is more than moe-sim holds (at most \(TokenRecord.maxCellWidth) experts per cell)")
        }
        guard layers * experts <= maxExpertSlots else {
            throw MoESimError(field: "layers", "\(layers) layers x \(experts) experts = \(layers * experts) experts in all, more than moe-sim holds (at most \(maxExpertSlots))")
        }
        guard let weightsText = value["weights"]?.stringValue else {
            throw MoESimError(field: "weights", "required header field is missing; expected \"topk\", \"full\" or \"none\"")
        }
        guard let weights = WeightsKind(rawValue: weightsText) else {
            throw MoESimError(field: "weights", "expected \"topk\", \"full\" or \"none\", found \"\(weightsText)\"")
        }
        var shared = 0
        if let s = value["shared_experts"] {
            guard let n = s.numberValue, n == n.rounded(), n >= 0, n <= Double(maxExperts) else {
                throw MoESimError(field: "shared_experts", "expected an integer in 0 ... \(maxExperts), found \(s.serialized)")
            }
            shared = Int(n)
        }
        var header = TraceHeader(model: model, layers: layers, experts: experts, topK: topK, weights: weights, sharedExperts: shared)
        header.raw = value
        return header
    }
}
