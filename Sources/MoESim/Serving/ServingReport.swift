import Foundation

/// Everything one serving run reports (`sim serve --json`). Units are in the field names; fractions in [0, 1].
public struct ServingReport: Codable, Sendable {
    public struct Configuration: Codable, Sendable {
        public var model: String
        public var quantization: String
        public var hardware: String
        public var gpus: Int
        public var parallelism: String
        public var runtime: String
        public var policy: String
        public var scheduler: String
        public var tokenBudget: Int
        public var memoryCapBytes: Double
        public var attentionMemory: String
        public var kvReserveOutputTokens: Int
        /// eMoE, random and MoE-Infinity only.
        public var expertsLoadedFraction: Double?
        public var period: Int?
        public var predictor: String?
        public var predictorCallSeconds: Double?
        public var taskAware: Bool?
        /// c of Eq. 3 ("online" when measured during the run).
        public var secondsPerToken: String
        public var seed: UInt64
    }

    public struct Workload: Codable, Sendable {
        public var requests: Int
        /// nil for an offline batch (every request at time 0) or arrivals from a trace.
        public var ratePerSecond: Double?
        public var arrivals: String
        public var taskSet: String
        public var taskMix: String
        public var labelNoise: Double
        public var sloScale: Double
        /// How each task's routing was produced.
        public var routing: [TaskSource]
    }

    public struct TaskSource: Codable, Sendable {
        public var task: String
        public var source: String
    }

    public struct Requests: Codable, Sendable {
        public var completed: Int
        public var rejected: Int
        /// Why requests were rejected (nil when none was): the largest KV reservation turned away and the memory left
        /// for it.
        public var rejectedBecause: String?
        public var promptTokens: Int
        public var outputTokens: Int
    }

    public struct Latency: Codable, Sendable {
        public var endToEnd: LatencySummary?
        public var timeToFirstToken: LatencySummary?
        /// Per request: (completion - first token) / (output tokens - 1).
        public var timePerOutputToken: LatencySummary?
        public var queueing: LatencySummary?
    }

    public struct SLO: Codable, Sendable {
        public var timeToFirstTokenAttainment: Double?
        public var endToEndAttainment: Double?
        /// Both met.
        public var attainment: Double?
    }

    public struct Throughput: Codable, Sendable {
        /// First arrival to last completion.
        public var makespanSeconds: Double
        public var requestsPerSecond: Double?
        public var outputTokensPerSecond: Double?
        /// Prompt and output tokens.
        public var tokensPerSecond: Double?
    }

    public struct Memory: Codable, Sendable {
        public var capacityBytes: Double
        public var peakBytes: Double
        /// Peak after the policy's warm-up (eMoE: once the first request's all-expert set has shrunk); nil if the
        /// run never left its warm-up.
        public var steadyPeakBytes: Double?
        public var atPeak: ServingMetrics.MemoryBreakdown
        public var expertBytes: Int
        public var steadyResidentExperts: Int
        public var totalExperts: Int
        /// Weights (non-expert, steady resident experts, predictor) against all experts resident.
        public var steadyWeightBytes: Double
        public var allResidentWeightBytes: Double
        /// 1 - steadyWeightBytes / allResidentWeightBytes.
        public var weightReductionVsAllResident: Double
        /// Largest number of experts held only for one layer (on-demand and pre-gated loads).
        public var transientPeakExperts: Int
    }

    public struct Batching: Codable, Sendable {
        public var iterations: Int
        public var meanBatchRequests: Double?
        public var maxBatchRequests: Int
        public var meanBatchTokens: Double?
        public var maxBatchTokens: Int
        public var busySeconds: Double
        public var stallSeconds: Double
    }

    /// What fits in `capacityBytes` (or in all-resident's memory at the reference point), from the memory model.
    public struct Headroom: Codable, Sendable {
        public var referenceBatch: Int
        public var referencePromptTokens: Int
        public var referenceOutputTokens: Int
        /// Largest batch of reference requests (all prompts prefilled together) within the capacity.
        public var maxBatch: Int
        public var allResidentMaxBatch: Int
        /// Longest single prompt within the capacity.
        public var maxPromptTokens: Int
        public var allResidentMaxPromptTokens: Int
        /// eMoE's comparison (Figs. 17-18): the memory all-resident uses at the reference batch / prompt, and the
        /// largest batch / prompt this policy serves within that much memory.
        public var bytesAtReferenceBatch: Double
        public var allResidentBytesAtReferenceBatch: Double
        public var batchAtAllResidentMemory: Int
        public var bytesAtReferencePrompt: Double
        public var allResidentBytesAtReferencePrompt: Double
        public var promptAtAllResidentMemory: Int
        public var batchGainAtAllResidentMemory: Double
        public var promptGainAtAllResidentMemory: Double
    }

    public struct Experts: Codable, Sendable {
        public var loads: Int
        public var loadedBytes: Double
        public var predictorCalls: Int?
        public var predictorSkippedInsensitive: Int?
        public var predictorSeconds: Double?
        /// The first requests the periodic predictor fired on.
        public var predictorFiredOn: [Int]?
        public var prefetches: Int?
        public var selections: Int
        public var rerouted: Int
        public var reroutedFraction: Double?
        /// On the layers where the request's true task is sensitive (the quality proxy that matters).
        public var sensitiveSelections: Int
        public var reroutedSensitive: Int
        public var reroutedSensitiveFraction: Double?
    }

    public struct TaskResult: Codable, Sendable {
        public var task: String
        public var requests: Int
        public var endToEndMeanSeconds: Double?
        public var timeToFirstTokenMeanSeconds: Double?
        public var sloAttainment: Double?
        public var selections: Int
        public var reroutedFraction: Double?
        public var reroutedSensitiveFraction: Double?
    }

    public var configuration: Configuration
    public var workload: Workload
    public var requests: Requests
    public var latency: Latency
    public var slo: SLO
    public var throughput: Throughput
    public var memory: Memory
    public var batching: Batching
    public var headroom: Headroom
    public var experts: Experts
    public var perTask: [TaskResult]
    public var notes: [String]

    /// Reference points of the headroom figures (eMoE Figs. 17-18: batch 4 against batch sizes, 512-token prompts
    /// against longer ones, up to 1000 generated tokens: papers.md §2.2, §2.5).
    public static let referenceBatch = 4
    public static let referencePromptTokens = 512
    public static let referenceOutputTokens = 1000

    static func ratio(_ a: Int, _ b: Int) -> Double? { b > 0 ? Double(a) / Double(b) : nil }
}

extension ServingReport {
    /// The report of a finished loop.
    public static func make(loop: ServingLoop, workload: Workload, notes extraNotes: [String]) -> ServingReport {
        let config = loop.config, m = loop.metrics, memory = loop.memory, cost = loop.cost
        let predictor = loop.policy.predictorActivity
        let usesBudget = loop.policy.usesExpertBudget
        var notes = extraNotes
        if let predictor, config.predictorCallSeconds == nil, NameMatching.normalize(config.model.name) != EMoEConstants.callCostModel {
            notes.append("predictor call time \(predictor.callSeconds) s is eMoE's measurement for Mixtral-8x7B (papers.md §2.4.3); none is published for \(config.model.name) (set --predictor-cost)")
        }
        if config.tasks.tasks.contains(where: { [$0.promptTokens.unconfirmed, $0.outputTokens.unconfirmed, $0.sloE2ESeconds.unconfirmed].contains(true) }) {
            notes.append("task lengths and SLOs of \(config.tasks.name) are partly estimates (UNCONFIRMED): eMoE publishes no SLO values or length tables (papers.md §2.6); see `sim serve --help`")
        }

        let steadyExperts = loop.policy.steadyResidentExperts + (loop.policy.missHandling == .load && !loop.policy.cachesLoads ? m.transientPeakExperts : 0)
        let all = memory.totalExperts
        let allResidentWeights = memory.nonExpertWeightBytes + Double(all) * memory.expertBytes
        let steadyWeights = memory.weightBytes(residentExperts: steadyExperts)
        let rb = referenceBatch, rp = referencePromptTokens, ro = referenceOutputTokens
        let allAtBatch = allResidentMemory(memory, batch: rb, prompt: rp, output: ro)
        let allAtPrompt = allResidentMemory(memory, batch: 1, prompt: rp, output: ro)
        let batchAtAll = memory.maxBatch(residentExperts: steadyExperts, promptTokens: rp, outputTokens: ro, limit: allAtBatch)
        let promptAtAll = memory.maxPromptTokens(residentExperts: steadyExperts, outputTokens: ro, limit: allAtPrompt)
        let allResidentModel = ServingMemoryModel(cost: cost.cost, capacityBytes: memory.capacityBytes, predictorBytes: 0, attention: memory.attention)

        var selections = 0, rerouted = 0, sensitive = 0, reroutedSensitive = 0
        for t in m.perTask {
            selections += t.selections
            rerouted += t.rerouted
            sensitive += t.sensitiveSelections
            reroutedSensitive += t.reroutedSensitive
        }
        let makespan = m.completed > 0 ? max(0, m.lastCompletion - (m.firstArrival.isFinite ? m.firstArrival : 0)) : 0
        func per(_ x: Double) -> Double? { makespan > 0 ? x / makespan : nil }
        func fraction(_ a: Int, _ b: Int) -> Double? { b > 0 ? Double(a) / Double(b) : nil }

        return ServingReport(
            configuration: Configuration(
                model: config.model.name, quantization: config.quantization.name, hardware: config.hardware.name, gpus: config.gpus,
                parallelism: config.parallelism.rawValue, runtime: config.runtime.name, policy: loop.policy.name, scheduler: loop.scheduler.name,
                tokenBudget: config.tokenBudget, memoryCapBytes: memory.capacityBytes, attentionMemory: config.attentionMemory.rawValue,
                kvReserveOutputTokens: config.kvReserveOutputTokens,
                expertsLoadedFraction: usesBudget ? config.expertsLoadedFraction : nil,
                period: loop.policy.period,
                predictor: predictor?.predictor, predictorCallSeconds: predictor?.callSeconds, taskAware: predictor?.taskAware,
                secondsPerToken: config.secondsPerToken.map { "\($0)" } ?? "online", seed: config.seed),
            workload: workload,
            requests: Requests(completed: m.completed, rejected: m.rejected,
                               rejectedBecause: m.rejected == 0 ? nil
                                   : "a request's KV cache (its prompt plus --kv-reserve-output tokens) needed up to \(ByteSize.format(m.largestRejectedReservationBytes)) where \(ByteSize.format(max(0, m.memoryFreeAtRejectionBytes))) was left after weights, resident experts and activations (see memory)",
                               promptTokens: m.promptTokens, outputTokens: m.outputTokens),
            latency: Latency(endToEnd: m.endToEnd.summary, timeToFirstToken: m.ttft.summary, timePerOutputToken: m.tpot.summary, queueing: m.queueing.summary),
            slo: SLO(timeToFirstTokenAttainment: fraction(m.ttftMet, m.completed), endToEndAttainment: fraction(m.endToEndMet, m.completed),
                     attainment: fraction(m.bothMet, m.completed)),
            throughput: Throughput(makespanSeconds: makespan, requestsPerSecond: per(Double(m.completed)), outputTokensPerSecond: per(Double(m.outputTokens)),
                                   tokensPerSecond: per(Double(m.outputTokens + m.promptTokens))),
            memory: Memory(capacityBytes: memory.capacityBytes, peakBytes: m.peakBytes, steadyPeakBytes: m.steadyPeakBytes > 0 ? m.steadyPeakBytes : nil, atPeak: m.peakBreakdown,
                           expertBytes: Int(memory.expertBytes), steadyResidentExperts: steadyExperts, totalExperts: all,
                           steadyWeightBytes: steadyWeights, allResidentWeightBytes: allResidentWeights,
                           weightReductionVsAllResident: 1 - steadyWeights / allResidentWeights, transientPeakExperts: m.transientPeakExperts),
            batching: Batching(iterations: m.iterations, meanBatchRequests: m.iterations > 0 ? Double(m.batchRequestsSum) / Double(m.iterations) : nil,
                               maxBatchRequests: m.maxBatchRequests, meanBatchTokens: m.iterations > 0 ? Double(m.batchTokensSum) / Double(m.iterations) : nil,
                               maxBatchTokens: m.maxBatchTokens, busySeconds: m.busySeconds, stallSeconds: m.stallSeconds),
            headroom: Headroom(referenceBatch: rb, referencePromptTokens: rp, referenceOutputTokens: ro,
                               maxBatch: memory.maxBatch(residentExperts: steadyExperts, promptTokens: rp, outputTokens: ro, limit: memory.capacityBytes),
                               allResidentMaxBatch: allResidentModel.maxBatch(residentExperts: all, promptTokens: rp, outputTokens: ro, limit: memory.capacityBytes),
                               maxPromptTokens: memory.maxPromptTokens(residentExperts: steadyExperts, outputTokens: ro, limit: memory.capacityBytes),
                               allResidentMaxPromptTokens: allResidentModel.maxPromptTokens(residentExperts: all, outputTokens: ro, limit: memory.capacityBytes),
                               bytesAtReferenceBatch: memory.memoryBytes(residentExperts: steadyExperts, batch: rb, promptTokens: rp, outputTokens: ro),
                               allResidentBytesAtReferenceBatch: allAtBatch, batchAtAllResidentMemory: batchAtAll,
                               bytesAtReferencePrompt: memory.memoryBytes(residentExperts: steadyExperts, batch: 1, promptTokens: rp, outputTokens: ro),
                               allResidentBytesAtReferencePrompt: allAtPrompt, promptAtAllResidentMemory: promptAtAll,
                               batchGainAtAllResidentMemory: Double(batchAtAll) / Double(rb), promptGainAtAllResidentMemory: Double(promptAtAll) / Double(rp)),
            experts: Experts(loads: loop.state.residency.loads, loadedBytes: Double(loop.state.residency.loads) * memory.expertBytes,
                             predictorCalls: predictor?.calls, predictorSkippedInsensitive: predictor?.skippedInsensitive, predictorSeconds: predictor?.seconds,
                             predictorFiredOn: predictor?.firedOn, prefetches: loop.policy.prefetchCount,
                             selections: selections, rerouted: rerouted, reroutedFraction: fraction(rerouted, selections),
                             sensitiveSelections: sensitive, reroutedSensitive: reroutedSensitive, reroutedSensitiveFraction: fraction(reroutedSensitive, sensitive)),
            perTask: zip(config.tasks.tasks, m.perTask).map { task, t in
                TaskResult(task: task.name, requests: t.requests, endToEndMeanSeconds: t.requests > 0 ? t.endToEndSum / Double(t.requests) : nil,
                           timeToFirstTokenMeanSeconds: t.requests > 0 ? t.ttftSum / Double(t.requests) : nil, sloAttainment: fraction(t.sloMet, t.requests),
                           selections: t.selections, reroutedFraction: fraction(t.rerouted, t.selections),
                           reroutedSensitiveFraction: fraction(t.reroutedSensitive, t.sensitiveSelections))
            },
            notes: notes)
    }

    /// All-resident memory (no predictor) at a reference batch and prompt.
    static func allResidentMemory(_ memory: ServingMemoryModel, batch: Int, prompt: Int, output: Int) -> Double {
        memory.memoryBytes(residentExperts: memory.totalExperts, batch: batch, promptTokens: prompt, outputTokens: output) - memory.predictorBytes
    }
}
