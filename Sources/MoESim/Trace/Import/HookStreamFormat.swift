/// `hook-stream`: a forward hook's rows in time order, one per (layer, token of the pass), e.g.
/// `{"dataset":"humaneval","problem_id":0,"layer":3,"token_pos":17,"experts":[5,2],"gating_probs":[0.78,0.22]}`
/// (speculative-moe's `routing_raw.jsonl`). `token_pos` is the token's place within its forward pass.
///
/// Passes are re-found from the order: a request's rows go layer 0, 1, ... within a pass and `token_pos` rises
/// within a layer, so a row whose layer is lower than the previous row's, or the same layer with a
/// `token_pos` not above the previous one, starts a new pass. The first pass of a request is its prefill, each
/// later one a decode step. Rows the recorder dropped therefore leave null cells in place instead of shifting
/// later tokens, which is why this format re-aligns exactly.
enum HookStreamFormat {
    static let format = RecorderFormat(
        name: "hook-stream",
        summary: "time-ordered hook rows {problem_id, layer, token_pos, experts, gating_probs}; passes re-found from the order",
        identifyingFields: ["problem_id", "layer", "token_pos", "experts"],
        read: { try read(path: $0) })

    /// One pass as read: cells by (layer, token_pos).
    private struct Pass {
        var cells: [Int: [Int: ImportedCell]] = [:]
        var tokens = 0
    }

    private struct RequestState {
        var passes: [Pass] = []
        var lastLayer = Int.max
        var lastPosition = 0
    }

    static func read(path: String) throws -> Recording {
        var recording = Recording(path: path, format: format.name)
        var states: [String: RequestState] = [:]
        var renormalised = 0
        try forEachRecorderRow(path: path) { row in
            let id = importedRequestID(dataset: try row.optionalString("dataset"), problem: try row.identifier("problem_id"))
            let layer = try row.integer("layer", maximum: RecorderRow.maxLayer)
            let position = try row.integer("token_pos", maximum: RecorderRow.maxTokenPosition)
            let (cell, rescaled) = try row.cell(experts: "experts", weights: "gating_probs")
            if rescaled { renormalised += 1 }
            recording.shape.observe(layer: layer, cell: cell, line: row.line)
            if states[id] == nil {
                states[id] = RequestState()
                recording.order.append(id)
                if let dataset = try row.optionalString("dataset") { recording.tasks[id] = dataset }
            }
            var state = states[id]!
            if state.passes.isEmpty || layer < state.lastLayer || (layer == state.lastLayer && position <= state.lastPosition) {
                state.passes.append(Pass())
            }
            state.passes[state.passes.count - 1].cells[layer, default: [:]][position] = cell
            state.passes[state.passes.count - 1].tokens = max(state.passes[state.passes.count - 1].tokens, position + 1)
            state.lastLayer = layer
            state.lastPosition = position
            states[id] = state
        }
        // Every request's table is accounted for before any is built.
        var requests: [String: PositionedRequest] = [:]
        for id in recording.order {
            let passes = states[id]!.passes
            let request = PositionedRequest(prefillTokens: passes[0].tokens, decodeTokens: passes.dropFirst().reduce(0) { $0 + $1.tokens }, cells: [:])
            try recording.reserve(slots: request.slots, layers: Set(passes.flatMap(\.cells.keys)).count, request: id)
            requests[id] = request
        }
        for id in recording.order {
            var request = requests[id]!
            var slot = 0
            for pass in states[id]!.passes {
                for (layer, byPosition) in pass.cells {
                    for (position, cell) in byPosition { request.set(cell, layer: layer, slot: slot + position) }
                }
                slot += pass.tokens
            }
            recording.positioned[id] = request
        }
        recording.renormalisedCells = renormalised
        return recording
    }
}
