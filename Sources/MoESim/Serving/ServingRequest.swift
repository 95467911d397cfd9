/// One request of a serving workload, as it arrives. The serving loop keeps its progress separately.
public struct ServingRequest: Sendable, Equatable {
    /// Position in arrival order: eMoE's request index (the predictor fires on 0, p, 2p, ...).
    public var index: Int
    public var id: String
    /// The task the request really is (its routing and its quality accounting follow this one).
    public var task: Int
    /// The task the system believes (eMoE's keyword classifier, papers.md §2.4.1); differs under label noise.
    public var label: Int
    public var arrivalSeconds: Double
    public var promptTokens: Int
    public var outputTokens: Int
    /// First token due `sloTTFTSeconds` after arrival.
    public var sloTTFTSeconds: Double
    public var sloE2ESeconds: Double
    /// Seed of this request's synthetic routing, or the recorded request it replays.
    public var routingSeed: UInt64
    public var recordedRequest: Int?

    public init(index: Int, id: String, task: Int, label: Int, arrivalSeconds: Double, promptTokens: Int, outputTokens: Int,
                sloTTFTSeconds: Double, sloE2ESeconds: Double, routingSeed: UInt64 = 0, recordedRequest: Int? = nil) {
        self.index = index
        self.id = id
        self.task = task
        self.label = label
        self.arrivalSeconds = arrivalSeconds
        self.promptTokens = promptTokens
        self.outputTokens = outputTokens
        self.sloTTFTSeconds = sloTTFTSeconds
        self.sloE2ESeconds = sloE2ESeconds
        self.routingSeed = routingSeed
        self.recordedRequest = recordedRequest
    }

    /// Tokens that go through the model: the prompt, then every generated token but the last (the last one is
    /// sampled and never fed back).
    public var processedTokens: Int { promptTokens + outputTokens - 1 }
    /// When the first output token is due (Algorithm 1 sorts the waiting queue by this).
    public var ttftDeadlineSeconds: Double { arrivalSeconds + sloTTFTSeconds }
}
