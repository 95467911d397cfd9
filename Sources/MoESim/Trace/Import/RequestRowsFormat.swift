/// `request-rows`: one row per (request, layer, token) with the token's place given,
/// `{"req":"r7","domain":"qa","phase":"decode","layer":3,"tok":130,"topk":[5,2],"gate_w":[0.8,0.2]}`.
/// `tok` is the token's position: prompt tokens 0..P-1, then decode tokens numbered on from P (absolute) or
/// from 0 (decode steps; told apart by whether the lowest decode `tok` reaches P).
/// `domain` becomes the request's task. Rows may come in any order; a (request, layer, token) seen twice is an
/// error. Positions no layer recorded inside a phase's range become tokens of null cells.
enum RequestRowsFormat {
    static let format = RecorderFormat(
        name: "request-rows",
        summary: "per-(request, layer, token) rows {req, domain, phase, layer, tok, topk, gate_w} with explicit positions",
        identifyingFields: ["req", "layer", "tok", "topk"],
        read: { try read(path: $0) })

    private struct Key: Hashable { let layer: Int; let position: Int }

    static func read(path: String) throws -> Recording {
        var recording = Recording(path: path, format: format.name)
        var prefill: [String: [Key: ImportedCell]] = [:]
        var decode: [String: [Key: ImportedCell]] = [:]
        try forEachRecorderRow(path: path) { row in
            let id = try row.identifier("req")
            let layer = try row.integer("layer", maximum: RecorderRow.maxLayer)
            let position = try row.integer("tok", maximum: RecorderRow.maxTokenPosition)
            let phaseName = try row.optionalString("phase") ?? "decode"
            guard let phase = ["prefill": Phase.prefill, "decode": Phase.decode][phaseName] else {
                throw row.error("phase", "expected \"prefill\" or \"decode\", found \"\(phaseName)\"")
            }
            let (cell, rescaled) = try row.cell(experts: "topk", weights: "gate_w")
            if rescaled { recording.renormalisedCells += 1 }
            recording.shape.observe(layer: layer, cell: cell, line: row.line)
            if prefill[id] == nil && decode[id] == nil { recording.order.append(id) }
            if let domain = try row.optionalString("domain") { recording.tasks[id] = domain }
            let key = Key(layer: layer, position: position)
            let seen = phase == .prefill ? prefill[id]?[key] : decode[id]?[key]
            if seen != nil { throw row.error("tok", "request \(id): layer \(layer), \(phaseName) token \(position) recorded twice") }
            if phase == .prefill { prefill[id, default: [:]][key] = cell } else { decode[id, default: [:]][key] = cell }
        }
        /// The request's token slots, and where its decode positions start (see the type's comment).
        func shape(_ id: String) -> (request: PositionedRequest, firstDecode: Int) {
            let pre = prefill[id] ?? [:], dec = decode[id] ?? [:]
            let prefillTokens = (pre.keys.map(\.position).max() ?? -1) + 1
            // Decode positions that go on from the prompt are absolute; lower ones count decode steps from 0.
            let lowest = dec.keys.map(\.position).min() ?? 0
            let firstDecode = lowest >= prefillTokens ? prefillTokens : 0
            let decodeTokens = dec.isEmpty ? 0 : dec.keys.map(\.position).max()! - firstDecode + 1
            return (PositionedRequest(prefillTokens: prefillTokens, decodeTokens: decodeTokens, cells: [:]), firstDecode)
        }
        // Every request's table is accounted for before any is built.
        for id in recording.order {
            let layers = Set((prefill[id] ?? [:]).keys.map(\.layer)).union((decode[id] ?? [:]).keys.map(\.layer)).count
            try recording.reserve(slots: shape(id).request.slots, layers: layers, request: id)
        }
        for id in recording.order {
            let pre = prefill[id] ?? [:], dec = decode[id] ?? [:]
            var (request, firstDecode) = shape(id)
            let prefillTokens = request.prefillTokens
            for (key, cell) in pre { request.set(cell, layer: key.layer, slot: key.position) }
            for (key, cell) in dec { request.set(cell, layer: key.layer, slot: prefillTokens + key.position - firstDecode) }
            recording.positioned[id] = request
        }
        return recording
    }
}
