import Foundation

/// `sim trace import --from route-trace`: a `# route_trace v1` CSV (`RouteTraceFile`) to moe-trace v1. Each turn is
/// one request; its prefill steps become one prefill pass (consecutive prefill tokens), each decode step one decode
/// pass. Experts keep their recorded order (the slot, the router's rank) and weights; the engine's residency is kept
/// as the `resident` annotation. Cells the engine did not route (it runs the last layer only for the token whose
/// logits it needs) are written as null cells and counted.
///
/// The model: `--model`, else the catalog model named by the GGUF file name (its quantization from the same name,
/// e.g. `Qwen3-30B-A3B-Q4_K_M.gguf` is qwen3-30b-a3b in q4_k_m), checked against the header's per-layer expert bytes;
/// else a model spec built from the header, written next to the trace and carried in its header (`model_spec`),
/// with a warning naming what had to be assumed.
struct RouteTraceImporter {
    struct Result {
        var summary: TraceImporter.Summary
        /// The quantization the sizes match (`--quant` to replay with), when one does.
        var quantization: String?
        /// The model spec written next to the trace, for a model not in the catalog.
        var modelFile: String?
    }

    let options: TraceImporter.Options

    /// Bits per weight assumed for a model known only from its header (Q4_K's 4.5), to turn bytes into FLOPs.
    static let assumedBitsPerWeight = 4.5
    static let assumedHiddenSize = 2048
    static let assumedHeads = (query: 16, kv: 4, dim: 128)

    func run(input: String, output: String) throws -> Result {
        let file = try RouteTraceFile(path: input)
        let h = file.header
        var summary = TraceImporter.Summary(formats: ["route-trace"])
        var result = Result(summary: summary)
        let (model, quant, builtSpec) = try resolveModel(file, warnings: &summary.warnings)
        result.quantization = quant
        guard model.moeLayers == h.layers, model.experts == h.experts, model.topK >= h.expertsUsed else {
            throw MoESimError(file: input, line: 2, field: "n_layer",
                              "the trace has \(h.layers) layers x \(h.experts) experts, top-\(h.expertsUsed); \(model.name) has \(model.moeLayers) x \(model.experts), top-\(model.topK)",
                              hint: "name the right model with --model")
        }
        summary.model = model.name
        var extra: [(String, JSONValue)] = [
            ("source", .string(options.source ?? "imported from \(input)")),
            ("imported_by", .string("sim trace import --from route-trace (phases: \(options.phases.rawValue))")),
            ("recorded_model", .string(h.model)),
            ("top_k_used", .number(Double(h.expertsUsed))),
            ("expert_bytes", .array(h.expertBytes.map { .number(Double($0)) })),
            ("dense_bytes", .array(h.denseBytes.map { .number(Double($0)) })),
        ]
        if let quant { extra.append(("quantization", .string(quant))) }
        // The spec file is claimed now (so an existing one stops the import before anything is written) and written last.
        var specFile: AtomicOutputFile?
        if let builtSpec {
            let specPath = RouteTraceImporter.modelSpecPath(forTrace: output)
            specFile = try AtomicOutputFile(path: specPath, overwrite: options.overwrite)
            result.modelFile = specPath
            extra.append(("model_spec", try JSONValue.parse(RouteTraceImporter.encode(builtSpec))))
        }
        let header = TraceHeader(model: model.name, layers: h.layers, experts: h.experts, topK: model.topK, weights: .topk, extra: extra)
        let sink = try createTrace(path: output, header: header, overwrite: options.overwrite)
        var record = TokenRecord(layers: h.layers, slotsPerLayer: model.topK, weightsPerLayer: model.topK, aheadSlotsPerLayer: 0)
        record.residency = Array(repeating: 0, count: h.layers * model.topK)
        var notRouted = 0
        let turns = Dictionary(grouping: file.steps, by: \.turn)
        for turn in turns.keys.sorted() {
            let steps = turns[turn]!.filter { options.phases == .all || (options.phases == .prefill) == ($0.phase == .prefill) }
            guard !steps.isEmpty else { continue }
            let id = "turn/\(turn)"
            let prompt = steps.filter { $0.phase == .prefill }.count, decode = steps.count - prompt
            sink.write(request: RequestInfo(id: id, task: options.task, promptTokens: prompt > 0 ? prompt : nil, outputTokens: decode > 0 ? decode + 1 : nil))
            summary.requests += 1
            for step in steps {
                record.phase = step.phase
                record.position = step.step
                if step.phase == .prefill { summary.prefillTokens += 1 } else { summary.decodeTokens += 1 }
                for (layer, cell) in step.cells.enumerated() {
                    guard !cell.isEmpty else {
                        record.counts[layer] = TokenRecord.missingCell
                        notRouted += 1
                        continue
                    }
                    record.counts[layer] = Int8(cell.count)
                    for (i, routed) in cell.enumerated() {
                        record.experts[layer * model.topK + i] = routed.expert
                        record.weights[layer * model.topK + i] = routed.weight
                        record.residency[layer * model.topK + i] = routed.resident ? 1 : 0
                    }
                    let sum = cell.reduce(0.0) { $0 + Double($1.weight) }
                    guard abs(sum - 1) <= TraceReader.weightSumTolerance else {
                        throw MoESimError(file: input, line: step.line, field: "weight",
                                          "layer \(layer) of step \(step.step): weights sum to \(sum), expected 1 within \(TraceReader.weightSumTolerance) (moe-trace keeps top-k weights renormalised)")
                    }
                }
                sink.write(token: record, requestID: id)
            }
        }
        try sink.close()
        if let specFile, let builtSpec {
            specFile.write(Data((try RouteTraceImporter.encode(builtSpec) + "\n").utf8))
            try specFile.commit()
        }
        summary.nullCells = notRouted
        if notRouted > 0 {
            summary.warnings.append("\(notRouted) cells were not routed by the engine (llama.cpp runs the last layer only for the tokens whose logits it needs); written as null cells (replay with --missing skip, the default)")
        }
        result.summary = summary
        return result
    }

    /// `OUT` without its trace extension, plus `.model.json`.
    static func modelSpecPath(forTrace output: String) -> String {
        var stem = output
        for ext in [".moetrace.jsonl", ".jsonl", ".moetrace"] where stem.hasSuffix(ext) {
            stem = String(stem.dropLast(ext.count))
            break
        }
        return stem + ".model.json"
    }

    /// The recorded GGUF file name, e.g. `Qwen3-30B-A3B` and `q4_k_m` from `/path/Qwen3-30B-A3B-Q4_K_M.gguf`.
    static func namesFromGGUF(_ path: String) -> (model: String, quant: String?) {
        var base = String(path.split(separator: "/").last ?? Substring(path))
        if base.lowercased().hasSuffix(".gguf") { base = String(base.dropLast(5)) }
        let lower = base.lowercased()
        for preset in GGUFPreset.named.map(\.name).sorted(by: { $0.count > $1.count }) {
            for separator in ["-", "."] where lower.hasSuffix(separator + preset) {
                return (String(base.dropLast(preset.count + 1)), preset)
            }
        }
        return (base, nil)
    }

    private func resolveModel(_ file: RouteTraceFile, warnings: inout [String]) throws -> (ModelSpec, String?, ModelSpec?) {
        let h = file.header
        let names = RouteTraceImporter.namesFromGGUF(h.model)
        let model: ModelSpec
        if let name = options.model {
            model = try ModelCatalog.resolve(name)
        } else if let found = try? ModelCatalog.resolve(names.model) {
            model = found
        } else {
            let spec = RouteTraceImporter.buildSpec(file.header, name: names.model)
            let assumed = "top-k \(h.expertsUsed) (the run's n_expert_used; the native top-k is not recorded), hidden size \(RouteTraceImporter.assumedHiddenSize), "
                + "\(RouteTraceImporter.assumedBitsPerWeight) bits per weight to turn bytes into FLOPs, attention \(RouteTraceImporter.assumedHeads.query)/\(RouteTraceImporter.assumedHeads.kv) heads of \(RouteTraceImporter.assumedHeads.dim), "
                + "no embedding or output bytes (not in the header)"
            warnings.append("model '\(names.model)' is not in the catalog: built \(spec.name) from the header (recorded: layers, experts, per-layer expert and dense bytes; assumed: \(assumed))")
            return (spec, "recorded", spec)
        }
        // The quantization the file name gives, checked against the recorded sizes.
        guard let quantName = names.quant, let quant = try? QuantizationCatalog.resolve(quantName) else {
            warnings.append("no GGUF quantization in the file name '\(h.model)': the recorded expert sizes were not checked against \(model.name)")
            return (model, nil, nil)
        }
        guard model.moeLayers == h.layers else { return (model, quant.name, nil) }
        let sizes = quant.expertBytesByLayer(model)
        let mismatched = (0..<h.layers).filter { sizes[$0] != h.expertBytes[$0] }
        if let first = mismatched.first {
            warnings.append("\(model.name) in \(quant.name) gives \(mismatched.count) layers expert sizes other than the header's (layer \(first): \(sizes[first]) B, recorded \(h.expertBytes[first]) B)")
        }
        return (model, quant.name, nil)
    }

    /// A model spec from a route_trace header alone: the recorded shape and sizes, the rest assumed (see the warning).
    static func buildSpec(_ h: RouteTraceFile.Header, name: String) -> ModelSpec {
        let slug = name.lowercased().map { $0.isLetter || $0.isNumber || $0 == "." ? $0 : "-" }.reduce(into: "") { $0.append($1) }
        let hidden = assumedHiddenSize
        func params(_ bytes: Double) -> Int { max(hidden, Int((bytes * 8 / assumedBitsPerWeight).rounded())) }
        let meanExpert = Double(h.expertBytes.reduce(0, +)) / Double(h.layers)
        let meanDense = Double(h.denseBytes.reduce(0, +)) / Double(h.layers)
        let expertColumns = max(1, params(meanExpert) / hidden)
        let heads = assumedHeads
        let attention = ModelSpec.Attention(heads: heads.query, kvHeads: heads.kv, headDim: heads.dim, paramsPerLayer: params(meanDense),
                                            kvCacheElementsPerToken: 2 * heads.kv * heads.dim, slidingWindow: nil)
        return ModelSpec(schema: "moe-sim/model/1", name: slug, aliases: nil, title: "\(name) (from a route_trace header)", hiddenSize: hidden,
                         moeLayers: h.layers, denseLayers: 0, denseFFNParams: 0, experts: h.experts, topK: h.expertsUsed, sharedExperts: 0,
                         expertMatrices: [[hidden, expertColumns]], expertBiasParams: 0, sharedExpertMatrices: [], sharedExpertBiasParams: 0,
                         attention: attention, routerParamsPerLayer: 0, normParamsPerLayer: 0, embeddingParams: hidden, lmHeadParams: 0,
                         finalNormParams: 0, defaultQuantization: "recorded", gateSensitivity: nil, adapmoeProfile: nil,
                         sources: ["route_trace header of \(h.model) (arch \(h.arch ?? "not given"))"],
                         notes: "Built by sim trace import from a route_trace header. Recorded: \(h.layers) MoE layers, \(h.experts) experts, per-layer expert and dense bytes (recordedSizes). Assumed: top-k = n_expert_used \(h.expertsUsed), hidden size \(hidden), \(assumedBitsPerWeight) bits per weight (expert params and attention params from bytes), attention \(heads.query)/\(heads.kv) heads of \(heads.dim), embedding and output not counted.",
                         ggufExpertType: nil,
                         recordedSizes: .init(expertBytesPerLayer: h.expertBytes, residentBytesPerLayer: h.denseBytes, source: "route_trace header of \(h.model)"))
    }

    static func encode(_ spec: ModelSpec) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(spec), as: UTF8.self)
    }
}
