/// `layer-rows`: one row per (problem, layer, decode token), grouped by layer, e.g.
/// `{"dataset":"humaneval","problem_id":0,"layer":0,"experts":[6,5],"gating_probs":[0.70,0.30],"token_idx":0}`
/// (speculative-moe's per-problem `*_routing.jsonl`). The rows are decode steps.
///
/// That recorder numbers the rows it keeps: after a dropped row, `token_idx` goes on from the dropped row's
/// number, so every later row of that layer sits one step early. Consecutive numbers (0, 1, 2, ...) are read
/// that way, as renumbered rows to be re-aligned against another recording of the same run. A layer whose
/// numbers skip is taken at its word: its requests' rows are placed at `token_idx`.
enum LayerRowsFormat {
    static let format = RecorderFormat(
        name: "layer-rows",
        summary: "per-(problem, layer, token) rows {problem_id, layer, token_idx, experts, gating_probs}; decode steps, renumbered after drops",
        identifyingFields: ["problem_id", "layer", "token_idx", "experts"],
        read: { try read(path: $0) })

    static func read(path: String) throws -> Recording {
        var recording = Recording(path: path, format: format.name)
        var rows: [String: [Int: [(index: Int, cell: ImportedCell)]]] = [:]
        try forEachRecorderRow(path: path) { row in
            let id = importedRequestID(dataset: try row.optionalString("dataset"), problem: try row.identifier("problem_id"))
            let layer = try row.integer("layer", maximum: RecorderRow.maxLayer)
            let index = try row.integer("token_idx", maximum: RecorderRow.maxTokenPosition)
            let (cell, rescaled) = try row.cell(experts: "experts", weights: "gating_probs")
            if rescaled { recording.renormalisedCells += 1 }
            recording.shape.observe(layer: layer, cell: cell, line: row.line)
            if rows[id] == nil {
                rows[id] = [:]
                recording.order.append(id)
                if let dataset = try row.optionalString("dataset") { recording.tasks[id] = dataset }
            }
            if let last = rows[id]![layer]?.last, index <= last.index {
                throw row.error("token_idx", "token_idx \(index) after \(last.index) for \(id) layer \(layer): expected rising numbers within a layer")
            }
            rows[id]![layer, default: []].append((index, cell))
        }
        func skips(_ id: String) -> Bool { rows[id]!.values.contains { list in list.enumerated().contains { $0.offset != $0.element.index } } }
        func steps(_ id: String) -> Int { (rows[id]!.values.compactMap { $0.last?.index }.max() ?? -1) + 1 }
        // Every positioned request's table is accounted for before any is built.
        for id in recording.order where skips(id) { try recording.reserve(slots: steps(id), layers: rows[id]!.count, request: id) }
        for id in recording.order {
            let layers = rows[id]!
            if skips(id) {
                var request = PositionedRequest(prefillTokens: 0, decodeTokens: steps(id), cells: [:])
                for (layer, list) in layers { for (index, cell) in list { request.set(cell, layer: layer, slot: index) } }
                recording.positioned[id] = request
            } else {
                recording.renumbered[id] = RenumberedRequest(rows: layers.mapValues { $0.map(\.cell) })
            }
        }
        return recording
    }
}
