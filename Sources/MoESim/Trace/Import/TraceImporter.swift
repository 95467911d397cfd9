/// `sim trace import`: reads one or more recorder files of the same run(s), re-aligns and merges them, and
/// writes moe-trace v1 (JSONL or binary by the output name).
public struct TraceImporter {
    public enum PhaseFilter: String, CaseIterable, Sendable { case all, prefill, decode }

    public struct Options {
        /// Recorder format for every input; nil detects each file's from its first row.
        public var format: String?
        /// Model name or spec file; nil picks the one catalog model whose shape fits the data.
        public var model: String?
        /// Overrides every request's task (default: the recorder's dataset or domain).
        public var task: String?
        public var phases: PhaseFilter = .all
        /// Free text for the header's `source` (default: the input files).
        public var source: String?
        public var overwrite = false

        public init() {}
    }

    public struct Summary {
        public var requests = 0
        public var prefillTokens = 0
        public var decodeTokens = 0
        public var nullCells = 0
        /// Cells a later recording supplied where the first had a hole.
        public var filledCells = 0
        public var renormalisedCells = 0
        public var model = ""
        public var formats: [String] = []
        public var warnings: [String] = []
    }

    let options: Options

    public init(options: Options) { self.options = options }

    public func run(inputs: [String], output: String) throws -> Summary {
        guard !inputs.isEmpty else { throw MoESimError("no input files", hint: "usage: sim trace import [--from FORMAT] IN... OUT") }
        let fixed = try options.format.map(RecorderFormat.named)
        var recordings: [Recording] = []
        for path in inputs {
            let format = try fixed ?? RecorderFormat.detect(path: path)
            recordings.append(try format.readChecked(path: path))
        }
        let model = try resolveModel(recordings)
        try check(recordings, against: model)
        let weighted = try weightsKind(recordings)
        // Every request becomes a table of slots x the model's layers: checked before any is built.
        var cells = 0
        for id in Set(recordings.flatMap(\.order)) {
            cells += (recordings.map { $0.positioned[id]?.slots ?? $0.renumbered[id]?.longestLayer ?? 0 }.max() ?? 0) * model.moeLayers
        }
        guard cells <= Recording.maxCells else {
            throw MoESimError(field: "inputs", "the recordings hold \(cells) cells (token slots x \(model.moeLayers) layers), more than moe-sim imports at once (at most \(Recording.maxCells))",
                              hint: "check the token positions; split a very large recording into several imports")
        }

        var merger = RecordingMerger(layers: model.moeLayers)
        let requests = merger.merge(recordings)
        var summary = Summary(filledCells: merger.filledCells, renormalisedCells: recordings.reduce(0) { $0 + $1.renormalisedCells },
                              model: model.name, formats: recordings.map(\.format), warnings: merger.warnings)
        if summary.renormalisedCells > 0 {
            summary.warnings.append("\(summary.renormalisedCells) cells had weights not summing to 1 (within \(TraceReader.weightSumTolerance)); rescaled to sum to 1")
        }
        let header = TraceHeader(model: model.name, layers: model.moeLayers, experts: model.experts, topK: model.topK,
                                 weights: weighted ? .topk : .none, sharedExperts: model.sharedExperts,
                                 extra: [("source", .string(options.source ?? "imported from " + inputs.joined(separator: ", "))),
                                         ("imported_by", .string("sim trace import (formats: \(summary.formats.joined(separator: ", ")); phases: \(options.phases.rawValue))"))])
        let sink = try createTrace(path: output, header: header, overwrite: options.overwrite)
        var record = TokenRecord(layers: model.moeLayers, slotsPerLayer: model.topK, weightsPerLayer: weighted ? model.topK : 0, aheadSlotsPerLayer: 0)
        for request in requests {
            let slots = slotRange(request)
            guard !slots.isEmpty else { continue }
            summary.requests += 1
            sink.write(request: RequestInfo(id: request.id, task: options.task ?? request.task,
                                            promptTokens: request.prefillTokens > 0 ? request.prefillTokens : nil,
                                            // The prefill pass yields the first output token; each decode step one more.
                                            outputTokens: request.decodeTokens > 0 ? request.decodeTokens + 1 : nil))
            for slot in slots {
                record.phase = slot < request.prefillTokens ? .prefill : .decode
                record.position = slot
                if record.phase == .prefill { summary.prefillTokens += 1 } else { summary.decodeTokens += 1 }
                for layer in 0..<model.moeLayers {
                    guard let cell = request.cells[layer][slot] else {
                        record.counts[layer] = TokenRecord.missingCell
                        summary.nullCells += 1
                        continue
                    }
                    record.counts[layer] = Int8(cell.experts.count)
                    for (i, e) in cell.experts.enumerated() { record.experts[layer * model.topK + i] = e }
                    if weighted { for (i, w) in cell.weights.enumerated() { record.weights[layer * model.topK + i] = w } }
                }
                sink.write(token: record, requestID: request.id)
            }
        }
        try sink.close()
        return summary
    }

    private func slotRange(_ request: ImportedRequest) -> Range<Int> {
        switch options.phases {
        case .all: return 0..<request.slots
        case .prefill: return 0..<request.prefillTokens
        case .decode: return request.prefillTokens..<request.slots
        }
    }

    /// The named model, or the single catalog model with the recorded number of layers, a top-k at least the
    /// widest cell and more experts than the highest id.
    private func resolveModel(_ recordings: [Recording]) throws -> ModelSpec {
        if let name = options.model { return try ModelCatalog.resolve(name) }
        let layers = recordings.map(\.shape.layer.value).max()! + 1
        let width = recordings.map(\.shape.cellWidth.value).max()!
        let highest = recordings.map(\.shape.expert.value).max()!
        let fits = try ModelCatalog.presets().filter { $0.moeLayers == layers && $0.topK >= width && $0.experts > highest }
        guard fits.count == 1 else {
            throw MoESimError(field: "--model", fits.isEmpty
                ? "no model in the catalog has \(layers) MoE layers, top-k >= \(width) and more than \(highest) experts"
                : "the data fits several models (\(fits.map(\.name).joined(separator: ", ")))",
                hint: "name it with --model (`sim models` lists them), or give a model spec file")
        }
        return fits[0]
    }

    private func check(_ recordings: [Recording], against model: ModelSpec) throws {
        for r in recordings {
            if r.shape.layer.value >= model.moeLayers {
                throw MoESimError(file: r.path, line: r.shape.layer.line, field: "layer",
                                  "layer \(r.shape.layer.value) but \(model.name) has \(model.moeLayers) MoE layers (0...\(model.moeLayers - 1))")
            }
            if r.shape.expert.value >= model.experts {
                throw MoESimError(file: r.path, line: r.shape.expert.line, field: "experts",
                                  "expert \(r.shape.expert.value) but \(model.name) has \(model.experts) routed experts (0...\(model.experts - 1))")
            }
            if r.shape.cellWidth.value > model.topK {
                throw MoESimError(file: r.path, line: r.shape.cellWidth.line, field: "experts",
                                  "\(r.shape.cellWidth.value) experts in one cell but \(model.name) selects top-\(model.topK)")
            }
        }
    }

    /// Whether the recordings carry weights; a mix of rows with and without them is an error.
    private func weightsKind(_ recordings: [Recording]) throws -> Bool {
        let weighted = recordings.first { $0.shape.firstWeightedLine != nil }
        let bare = recordings.first { $0.shape.firstUnweightedLine != nil }
        if let w = weighted, let b = bare {
            throw MoESimError(file: b.path, line: b.shape.firstUnweightedLine!, field: "gating_probs",
                              "this row has no weights but \(w.path) line \(w.shape.firstWeightedLine!) has; a trace records weights for all cells or none")
        }
        return weighted != nil
    }
}
