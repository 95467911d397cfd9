import Foundation

/// The task types of a serving workload with their documented defaults: share of requests, prompt and output
/// length distributions, SLOs and sensitivity to mis-routing. Schema `moe-sim/serving-tasks/1`; the shipped set
/// (`Resources/serving/`) is eMoE's five tasks (papers.md §2.2, Table 1).
public struct ServingTaskSet: Codable, Sendable {
    public static let schemaTag = "moe-sim/serving-tasks/1"

    public var schema: String
    public var name: String
    public var aliases: [String]?
    public var title: String
    public var notes: String?
    public var tasks: [ServingTask]

    public func index(of name: String) -> Int? {
        let wanted = NameMatching.normalize(name)
        return tasks.firstIndex { NameMatching.normalize($0.name) == wanted }
    }

    public func validate(file: String) throws {
        guard schema == ServingTaskSet.schemaTag else {
            throw MoESimError(file: file, field: "schema", "expected \"\(ServingTaskSet.schemaTag)\", found \"\(schema)\"")
        }
        guard !tasks.isEmpty else { throw MoESimError(file: file, field: "tasks", "needs at least one task") }
        var seen: Set<String> = []
        for (i, task) in tasks.enumerated() {
            let at = "tasks[\(i)]"
            guard !task.name.isEmpty, seen.insert(NameMatching.normalize(task.name)).inserted else {
                throw MoESimError(file: file, field: "\(at).name", "task names must be non-empty and distinct, found '\(task.name)'")
            }
            func sourced(_ field: String, _ source: String) throws {
                guard !source.trimmingCharacters(in: .whitespaces).isEmpty else {
                    throw MoESimError(file: file, field: "\(at).\(field).source", "every default needs a source (paper section or 'estimate: why')")
                }
            }
            try sourced("share", task.share.source)
            guard task.share.value.isFinite, task.share.value >= 0 else {
                throw MoESimError(file: file, field: "\(at).share.value", "must be a finite number >= 0, found \(task.share.value)")
            }
            for (field, lengths) in [("promptTokens", task.promptTokens), ("outputTokens", task.outputTokens)] {
                try sourced(field, lengths.source)
                let q = lengths.value
                guard q.count >= 2 else { throw MoESimError(file: file, field: "\(at).\(field).value", "needs at least 2 quantiles (at cumulative probability 0 and 1)") }
                guard q.allSatisfy({ $0.isFinite && $0 >= 0 }), zip(q, q.dropFirst()).allSatisfy({ $0 <= $1 }) else {
                    throw MoESimError(file: file, field: "\(at).\(field).value", "quantiles must be finite, >= 0 and non-decreasing")
                }
            }
            guard task.outputTokens.value.last! >= 1 else {
                throw MoESimError(file: file, field: "\(at).outputTokens.value", "a request generates at least one token")
            }
            for (field, slo) in [("sloTTFTSeconds", task.sloTTFTSeconds), ("sloE2ESeconds", task.sloE2ESeconds)] {
                try sourced(field, slo.source)
                guard slo.value.isFinite, slo.value > 0 else { throw MoESimError(file: file, field: "\(at).\(field).value", "must be a positive number of seconds") }
            }
            try sourced("insensitiveLayerFraction", task.insensitiveLayerFraction.source)
            guard (0...1).contains(task.insensitiveLayerFraction.value) else {
                throw MoESimError(file: file, field: "\(at).insensitiveLayerFraction.value", "must be a fraction in [0, 1]")
            }
        }
        guard tasks.contains(where: { $0.share.value > 0 }) else { throw MoESimError(file: file, field: "tasks", "at least one share must be positive") }
    }
}

/// One task type (eMoE: SUM, CLSFY, QA, COMP or CONV).
public struct ServingTask: Codable, Sendable {
    public var name: String
    public var title: String
    /// Share of requests in the default mix (normalised over the set).
    public var share: Sourced<Double>
    /// Prompt tokens: quantiles at evenly spaced cumulative probabilities 0 ... 1.
    public var promptTokens: Sourced<[Double]>
    /// Generated tokens: quantiles as above.
    public var outputTokens: Sourced<[Double]>
    /// First token due this long after arrival (eMoE's "SLO stringency", papers.md §2.4.5).
    public var sloTTFTSeconds: Sourced<Double>
    /// End-to-end latency target (the S.SLO Algorithm 1 compares Eq. 3's t_i with).
    public var sloE2ESeconds: Sourced<Double>
    /// Share of MoE layers, from the input side, where mis-routing keeps accuracy above eMoE's threshold (s = 0).
    public var insensitiveLayerFraction: Sourced<Double>

    /// Mean of the piecewise-linear quantile function: eMoE's W_o, "expected generated tokens, profiled per task".
    public var meanOutputTokens: Double { LengthQuantiles.mean(outputTokens.value) }
    public var meanPromptTokens: Double { LengthQuantiles.mean(promptTokens.value) }

    /// eMoE's s per MoE layer (papers.md §2.4.4): false (insensitive) for the input-side prefix, true after it.
    public func sensitivity(layers: Int) -> [Bool] {
        let insensitive = Int((insensitiveLayerFraction.value * Double(layers)).rounded())
        return (0..<layers).map { $0 >= insensitive }
    }
}

/// Token-count distributions given as quantiles at evenly spaced cumulative probabilities.
public enum LengthQuantiles {
    /// Inverse CDF at `u` in [0, 1), rounded to a whole token count.
    public static func draw(_ quantiles: [Double], u: Double) -> Int {
        let value = ProfileShapeAdapter.interpolate(quantiles, at: u * Double(quantiles.count - 1))
        return max(0, Int(value.rounded()))
    }

    /// Mean of the piecewise-linear inverse CDF: the average of the segment midpoints.
    public static func mean(_ quantiles: [Double]) -> Double {
        guard quantiles.count >= 2 else { return quantiles.first ?? 0 }
        var total = 0.0
        for i in 0..<(quantiles.count - 1) { total += (quantiles[i] + quantiles[i + 1]) / 2 }
        return total / Double(quantiles.count - 1)
    }

    /// The quantile at cumulative probability `p`.
    public static func quantile(_ quantiles: [Double], _ p: Double) -> Double {
        ProfileShapeAdapter.interpolate(quantiles, at: p * Double(quantiles.count - 1))
    }
}

extension ServingTaskSet: Preset {
    public static let presetFolder = "serving"
    public static let noun = "serving task set"
    public static let optionName = "--tasks"
    public static let listCommand = "sim serve --help"
}

/// The shipped task sets, plus any user file given by path.
public typealias ServingTaskCatalog = PresetCatalog<ServingTaskSet>
