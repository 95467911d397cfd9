/// Everything one serving run is made of, apart from its requests and routing.
public struct ServingConfig {
    public var model: ModelSpec
    public var hardware: HardwareProfile
    public var quantization: Quantization
    public var runtime: RuntimeProfile
    public var tasks: ServingTaskSet
    public var gpus = 4
    public var parallelism = ServingCostModel.Parallelism.expert
    /// `servingPolicies` names.
    public var policy = "all-resident"
    /// `fcfs` or `emoe`.
    public var scheduler = "fcfs"
    /// eMoE, random and MoE-Infinity: share of experts kept on the devices.
    public var expertsLoadedFraction = 0.6
    /// eMoE's p (and how often the random baseline redraws).
    public var period = EMoEConstants.period.value
    public var predictor = "noisy-oracle"
    /// nil: eMoE's measured per-call time for the variant (papers.md §2.4.3).
    public var predictorCallSeconds: Double?
    /// false: eMoE without the sensitivity rule (every task sensitive at every layer; papers.md §2.5 Fig. 13).
    public var taskAware = true
    /// Tmax: tokens one iteration may process (decode tokens plus prompt chunks).
    public var tokenBudget = ServingConfig.defaultTokenBudget.value
    /// nil: the devices' memory less the runtime's reserve on each.
    public var memoryCapBytes: Double?
    public var attentionMemory = ServingMemoryModel.AttentionMemory.flash
    /// KV cache reserved per admitted request: its prompt plus this many generated tokens.
    public var kvReserveOutputTokens = 1000
    /// c of Eq. 3; nil: measured online (busy seconds per processed token so far).
    public var secondsPerToken: Double?
    public var seed: UInt64 = 1

    public static let defaultTokenBudget = Sourced(4096, source: "estimate: a DeepSpeed-FastGen-like per-iteration token budget; eMoE does not state its Tmax (papers.md §2.6)", unconfirmed: true)

    public init(model: ModelSpec, hardware: HardwareProfile, quantization: Quantization, runtime: RuntimeProfile, tasks: ServingTaskSet) {
        self.model = model
        self.hardware = hardware
        self.quantization = quantization
        self.runtime = runtime
        self.tasks = tasks
    }
}
