/// Everything one simulation run reports. Units are in the field names; rates are fractions in [0, 1].
public struct Report: Codable, Sendable {
    public struct Configuration: Codable, Sendable {
        public var trace: String
        public var hardware: String
        public var model: String
        public var quantization: String
        public var runtime: String
        public var cache: String
        public var gating: String
        public var prefetch: String
        public var missingCells: String
        public var initialFill: String
        /// Where offloaded experts come from: "host" over the host link, or "storage".
        public var offloadTier: String
        /// The miss spec (absent for `load`, what every run did before miss policies existed).
        public var miss: String?
    }

    public struct Sizes: Codable, Sendable {
        /// The largest routed expert's bytes (every expert's, unless the quantization varies by layer).
        public var expertBytes: Int
        /// Each MoE layer's expert bytes, when they differ between layers (GGUF presets); absent otherwise.
        public var expertBytesPerLayer: [Int]? = nil
        public var residentWeightBytes: Int
        public var kvCacheBytesPerToken: Int
        /// Experts the cache can hold, per layer (per-layer layout) or one total (global).
        public var cacheCapacityExperts: [Int]
        public var cacheCapacityTotalExperts: Int
    }

    public struct Decode: Codable, Sendable {
        public var tokens: Int
        public var seconds: Double
        public var tokensPerSecond: Double?
        public var latency: LatencySummary?
    }

    public struct Prefill: Codable, Sendable {
        public var passes: Int
        public var tokens: Int
        public var seconds: Double
        public var passLatency: LatencySummary?
    }

    public struct Cache: Codable, Sendable {
        /// Expert accesses: one per distinct expert per pass and layer.
        public var accesses: Int
        public var hits: Int
        public var hitRate: Double?
        public var perLayerHitRate: [Double?]
        /// Misses served by an expert already prefetched (not counted as hits).
        public var prefetchHits: Int
        public var onDemandLoads: Int
        /// Belady's optimum (OPT with bypass) for the same capacities and initial fill, from a cache-only replay.
        public var beladyHits: Int?
        public var beladyHitRate: Double?
        /// Belady's hit rate minus this run's: how much better any policy could do with this cache.
        public var gapToBelady: Double?
        /// Whether Belady's optimum was computed or skipped on request (`--optimum off`), so a missing optimum is
        /// never silent.
        public var optimum: Optimum?
    }

    /// Whether a report's Belady optimum was computed (`--optimum on`, the default) or skipped (`--optimum off`).
    public enum Optimum: String, Codable, Sendable {
        case computed, skipped

        /// `--optimum on|off`.
        public static func parse(_ text: String?) throws -> Optimum {
            switch text ?? "on" {
            case "on": return .computed
            case "off": return .skipped
            default: throw MoESimError(field: "--optimum", "expected on or off, found '\(text!)'")
            }
        }

        /// What a text report says in place of the optimum when it was skipped.
        public static let skippedNote = "Belady optimum skipped (--optimum off)"
    }

    public struct Link: Codable, Sendable {
        public var name: String
        public var h2dBytes: Double
        public var d2hBytes: Double
        public var onDemandLoadBytes: Double
        public var prefetchBytes: Double
        public var writeBackBytes: Double
        public var onDemandLoadsPerDecodeToken: Double?
        public var h2dBytesPerDecodeToken: Double?
        /// Busy time of the H2D channel over the run's makespan.
        public var h2dBusyFraction: Double?
        public var d2hBusyFraction: Double?
    }

    /// What speculative loading did. Counts are experts; bytes are whole experts. Every issued prefetch ends up used
    /// or not: usefulBytes + wastedBytes + cancelledBytes = issuedBytes.
    public struct Prefetch: Codable, Sendable {
        /// Per layer of the prefetched expert.
        public struct Layer: Codable, Sendable {
            public var layer: Int
            public var issued: Int
            public var useful: Int
            public var late: Int
            public var issuedBytes: Double
            public var usefulBytes: Double
            public var wastedBytes: Double
            public var cancelledBytes: Double
            public var accuracy: Double?
            public var coverage: Double?
            public var linkContentionSeconds: Double
        }

        public var issued: Int
        /// Prefetched experts that were used: from the staging buffer, or (admit=cache) hit in the cache before eviction.
        public var useful: Int
        /// Used before they had landed (not on the device when their layer's router asked for them).
        public var late: Int
        /// Moved over the link and never used.
        public var wastedBytes: Double
        public var issuedBytes: Double
        public var usefulBytes: Double
        /// Dropped before they moved (a priority link cancels the queued transfers of a dropped prefetch).
        public var cancelledBytes: Double
        /// useful / issued.
        public var accuracy: Double?
        /// Needed misses served by a prefetch: useful / (useful + on-demand loads).
        public var coverage: Double?
        /// Seconds during which an on-demand load waited while the link moved a speculative transfer (the delay
        /// speculation caused to on-demand loads).
        public var linkContentionSeconds: Double
        /// GPU time spent waiting for the previous layer's prefetch (AdapMoE's code; included in the GPU stall).
        public var waitSeconds: Double
        /// Speculative transfers suspended by an on-demand load (`link=preempt`).
        public var preemptions: Int
        /// The link discipline and admission in effect (absent without a speculating policy).
        public var link: String?
        public var admission: String?
        public var perLayer: [Layer]?
        /// Where the policy's predictions came from.
        public var notes: [String]?
    }

    public struct GPU: Codable, Sendable {
        /// Time the compute stream waited for expert weights.
        public var stallSeconds: Double
        public var stallSecondsPerDecodeToken: Double?
        /// Time the GPU idled waiting for the host thread to issue work (runtime overheads, the generation loop).
        public var hostWaitSeconds: Double = 0
        public var hostWaitSecondsPerDecodeToken: Double?
        public var busyFraction: Double?
    }

    public struct Memory: Codable, Sendable {
        public var deviceCapacityBytes: Double
        public var peakDeviceBytes: Double
        public var residentWeightBytes: Double
        public var expertCacheBytes: Double
        public var transferBufferBytes: Double
        public var peakKVCacheBytes: Double
        public var runtimeReservedBytes: Double
    }

    public struct Routing: Codable, Sendable {
        public var tokenLayers: Int
        /// Routed experts run per recorded (token, layer) cell, after gating.
        public var activatedExpertsPerTokenLayer: Double?
        /// Routed experts the trace recorded per cell, before gating.
        public var recordedExpertsPerTokenLayer: Double?
        public var missingCells: Int
    }

    /// What a gating policy that drops experts did (absent for exact replay). See `GatingStatistics`.
    public struct Gating: Codable, Sendable {
        /// The gating spec as given.
        public var policy: String
        /// Recorded (token, layer) cells, and those run with fewer experts than recorded (top-2: a single expert).
        public var cells: Int
        public var singleExpertCells: Int
        public var singleExpertRatio: Double?
        /// Over decode cells only (AdapMoE gates decode tokens unless told otherwise).
        public var decodeSingleExpertRatio: Double?
        public var perLayerSingleExpertRatio: [Double?]
        /// 1 - experts run / experts recorded.
        public var activatedExpertReduction: Double?
        /// A PROXY for the loss increase, not a measured loss (see `proxyDefinition`); absent without the model's
        /// sensitivities or recorded weights.
        public var estimatedLossIncreaseProxy: Double?
        public var perLayerEstimatedLossIncreaseProxy: [Double]?
        public var proxyDefinition: String?
    }

    /// What a miss policy did (absent for `--miss load`). See `MissStatistics`.
    public struct Miss: Codable, Sendable {
        /// Experts that ran on the CPU, and what that cost.
        public struct CPU: Codable, Sendable {
            public var experts: Int
            public var busySeconds: Double
            public var busyFraction: Double?
            /// GPU time spent waiting for the CPU's results at the end of a layer (included in the GPU stall).
            public var gpuWaitSeconds: Double
            /// Activations sent to the host and results sent back (not on the copy engines' queues: see `Simulation`).
            public var activationBytes: Double
        }

        /// A PROXY for what approximate actions changed, not a measured accuracy: see `definition`.
        public struct Quality: Codable, Sendable {
            /// One approximate action's share.
            public struct Share: Codable, Sendable {
                public var action: String
                public var cells: Int
                public var cellFraction: Double?
                public var gateMass: Double?
                public var gateMassFraction: Double?
            }

            public var definition: String
            /// Routed (token, expert) cells after gating, and their gate-weight mass (1 per token-layer with weights).
            public var routedCells: Int
            public var routedGateMass: Double?
            /// Cells whose expert was skipped, substituted or run in low precision, and their share of the gate mass.
            public var affectedCells: Int
            public var affectedCellFraction: Double?
            public var affectedGateMass: Double?
            public var affectedGateMassFraction: Double?
            public var byAction: [Share]
        }

        /// The miss spec as given.
        public var policy: String
        /// Misses the policy decided (misses not served by a staged prefetch).
        public var misses: Int
        public var loaded: Int
        public var loadedLowPrecision: Int
        public var ranOnCPU: Int
        public var skipped: Int
        public var substituted: Int
        /// The low-precision copy's quantization and bytes (policies that load one).
        public var lowPrecisionQuantization: String?
        public var lowPrecisionExpertBytes: Int?
        public var cpu: CPU?
        public var quality: Quality?
        public var notes: [String]?
    }

    public var tool: String = "moe-sim"
    public var configuration: Configuration
    public var sizes: Sizes
    public var makespanSeconds: Double
    public var decode: Decode
    public var prefill: Prefill
    /// Time to first token over requests whose prefill is in the trace.
    public var timeToFirstToken: LatencySummary?
    public var cache: Cache
    public var prefetch: Prefetch
    public var link: Link
    public var gpu: GPU
    public var memory: Memory
    public var routing: Routing
    public var gating: Gating?
    public var miss: Miss?
    public var warnings: [String]
    /// Version, system, seed and overrides; set by the command that ran the simulation (absent from the engine).
    public var run: RunInfo? = nil
}
