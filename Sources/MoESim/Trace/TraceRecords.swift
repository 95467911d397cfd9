/// One request as announced by a request line (all fields but the id optional).
public struct RequestInfo: Sendable, Equatable {
    public var id: String
    public var task: String?
    public var arrivalSeconds: Double?
    public var promptTokens: Int?
    public var outputTokens: Int?
    public var sloTTFTSeconds: Double?
    /// Last `pos` seen for this request, to check that its lines never go back in time.
    var lastPosition: Int = -1

    public init(id: String, task: String? = nil, arrivalSeconds: Double? = nil, promptTokens: Int? = nil, outputTokens: Int? = nil, sloTTFTSeconds: Double? = nil) {
        self.id = id
        self.task = task
        self.arrivalSeconds = arrivalSeconds
        self.promptTokens = promptTokens
        self.outputTokens = outputTokens
        self.sloTTFTSeconds = sloTTFTSeconds
    }
}

public enum Phase: UInt8, Sendable {
    case prefill
    case decode

    public var name: String { self == .prefill ? "prefill" : "decode" }
}

/// One token line, stored flat so records can be reused without allocation.
/// Routing of layer `l` is `experts[l * slotsPerLayer ..< l * slotsPerLayer + counts[l]]`;
/// `counts[l] == TokenRecord.missingCell` marks a `null` cell.
public struct TokenRecord: Sendable {
    public static let missingCell: Int8 = -1

    public var request: Int = 0
    public var phase: Phase = .decode
    /// Position in the sequence, or -1 when the line has none.
    public var position: Int = -1
    public let layers: Int
    /// Capacity of each layer's slice in `experts` (the header's top_k, or more when wider lists are allowed).
    public let slotsPerLayer: Int
    public var counts: [Int8]
    public var experts: [Int32]
    /// For `topk` traces: the weight of each listed expert. For `full` traces: `experts` (the header's count) per layer.
    public var weights: [Float]
    public let weightsPerLayer: Int
    /// Lookahead predictions (`ahead`), depth 1...`maxAheadDepth`; `aheadCounts[d-1][l]` like `counts`.
    public var aheadCounts: [[Int8]]
    public var aheadExperts: [[Int32]]
    public var aheadSlotsPerLayer: Int
    /// Recorded cache residency (`resident`, optional): 1 where the recording engine already held that expert when it
    /// was routed, laid out like `experts`; empty when the line has none.
    public var residency: [Int8] = []

    public var hasResidency: Bool { !residency.isEmpty }

    public static let maxAheadDepth = 3
    /// Experts one cell may list (counts are 8-bit; -1 marks a null cell).
    public static let maxCellWidth = Int(Int8.max)

    public init(layers: Int, slotsPerLayer: Int, weightsPerLayer: Int, aheadSlotsPerLayer: Int) {
        self.layers = layers
        self.slotsPerLayer = slotsPerLayer
        self.weightsPerLayer = weightsPerLayer
        self.aheadSlotsPerLayer = aheadSlotsPerLayer
        counts = Array(repeating: 0, count: layers)
        experts = Array(repeating: 0, count: layers * slotsPerLayer)
        weights = Array(repeating: 0, count: layers * weightsPerLayer)
        aheadCounts = []
        aheadExperts = []
    }

}
