/// A request after import: token slots (prefill then decode) with one cell per layer, nil where no recording
/// has it.
struct ImportedRequest {
    var id: String
    var task: String?
    var prefillTokens: Int
    var decodeTokens: Int
    var cells: [[ImportedCell?]]

    var slots: Int { prefillTokens + decodeTokens }
}

/// Joins recordings of the same run(s) into one set of requests, in order of first appearance.
///
/// Per request: the first recording that knows token places (hook stream, request rows, or layer rows whose
/// numbers skip) is the anchor; later such recordings fill its holes when their shape is the same. Renumbered
/// layer rows are then aligned into the anchor's decode slots by `RowAligner`. A request only renumbered
/// recordings hold gets as many slots as its longest layer; a layer no recording has in full keeps the first
/// recording's rows at the front (what the recorder's numbers say), padded with null cells, and is reported,
/// since after its first lost row its tokens may sit early.
struct RecordingMerger {
    let layers: Int
    private(set) var warnings: [String] = []
    private(set) var filledCells = 0

    init(layers: Int) { self.layers = layers }

    mutating func merge(_ recordings: [Recording]) -> [ImportedRequest] {
        var order: [String] = []
        var seen = Set<String>()
        for r in recordings { for id in r.order where seen.insert(id).inserted { order.append(id) } }
        return order.map { merge(id: $0, recordings) }
    }

    private mutating func merge(id: String, _ recordings: [Recording]) -> ImportedRequest {
        let task = recordings.lazy.compactMap { $0.tasks[id] }.first
        let anchors = recordings.filter { $0.positioned[id] != nil }
        let renumbered = recordings.filter { $0.renumbered[id] != nil }
        var request: ImportedRequest
        if let first = anchors.first {
            request = materialise(id: id, task: task, first.positioned[id]!)
            for other in anchors.dropFirst() { fillHoles(&request, from: other.positioned[id]!, path: other.path) }
        } else {
            request = fromRenumbered(id: id, task: task, renumbered.map { $0.renumbered[id]! })
        }
        for recording in renumbered { align(&request, recording.renumbered[id]!, path: recording.path) }
        return request
    }

    private func materialise(id: String, task: String?, _ positioned: PositionedRequest) -> ImportedRequest {
        let cells = (0..<layers).map { positioned.cells[$0] ?? Array(repeating: nil, count: positioned.slots) }
        return ImportedRequest(id: id, task: task, prefillTokens: positioned.prefillTokens, decodeTokens: positioned.decodeTokens, cells: cells)
    }

    private mutating func fillHoles(_ request: inout ImportedRequest, from other: PositionedRequest, path: String) {
        guard other.prefillTokens == request.prefillTokens, other.decodeTokens == request.decodeTokens else {
            warnings.append("\(request.id): \(path) has \(other.prefillTokens) prefill and \(other.decodeTokens) decode tokens, "
                            + "the first recording \(request.prefillTokens) and \(request.decodeTokens); not merged")
            return
        }
        var disagreements = 0
        for layer in 0..<layers {
            for slot in 0..<request.slots {
                guard let cell = other.cell(layer: layer, slot: slot) else { continue }
                if let mine = request.cells[layer][slot] {
                    if !mine.sameRouting(as: cell) { disagreements += 1 }
                } else {
                    request.cells[layer][slot] = cell
                    filledCells += 1
                }
            }
        }
        if disagreements > 0 {
            warnings.append("\(request.id): \(path) disagrees with the first recording on \(disagreements) cells; kept the first")
        }
    }

    /// Per layer, the first recording with the request's full number of rows gives the column; failing that,
    /// the first recording's rows, padded.
    private mutating func fromRenumbered(id: String, task: String?, _ sources: [RenumberedRequest]) -> ImportedRequest {
        let steps = sources.map(\.longestLayer).max() ?? 0
        var short: [(layer: Int, lost: Int)] = []
        let cells: [[ImportedCell?]] = (0..<layers).map { layer in
            if let full = sources.lazy.compactMap({ $0.rows[layer] }).first(where: { $0.count == steps }) { return full.map { Optional($0) } }
            let rows = sources[0].rows[layer] ?? []
            short.append((layer, steps - rows.count))
            return rows.map { Optional($0) } + Array(repeating: nil, count: steps - rows.count)
        }
        if !short.isEmpty {
            let list = short.map { "\($0.layer): \($0.lost)" }.joined(separator: ", ")
            warnings.append("\(id): \(short.count) layers have fewer rows than the longest (\(steps)) (layer: rows lost \(list)); "
                            + "cannot re-align them from renumbered rows alone, so after a layer's first lost row its tokens may sit "
                            + "early and its last cells are null. Give a recording with token places (a hook stream) to re-align")
        }
        return ImportedRequest(id: id, task: task, prefillTokens: 0, decodeTokens: steps, cells: cells)
    }

    private mutating func align(_ request: inout ImportedRequest, _ source: RenumberedRequest, path: String) {
        var inconsistent: [Int] = [], tooLarge: [Int] = [], ambiguous = 0
        for layer in 0..<layers {
            guard let rows = source.rows[layer], !rows.isEmpty else { continue }
            let decode = Array(request.cells[layer][request.prefillTokens...])
            let result = RowAligner.align(rows: rows, into: decode)
            if result.tooLarge { tooLarge.append(layer); continue }
            if !result.consistent { inconsistent.append(layer); continue }
            ambiguous += result.ambiguousRows
            for fill in result.fills {
                request.cells[layer][request.prefillTokens + fill.slot] = rows[fill.row]
                filledCells += 1
            }
        }
        if !inconsistent.isEmpty {
            warnings.append("\(request.id): rows of \(path) at layers \(inconsistent.map(String.init).joined(separator: ", ")) cannot be placed "
                            + "in the \(request.decodeTokens) decode steps without contradicting the first recording; not used there")
        }
        if !tooLarge.isEmpty {
            warnings.append("\(request.id): rows of \(path) at layers \(tooLarge.map(String.init).joined(separator: ", ")) are too far from the "
                            + "\(request.decodeTokens) decode steps to re-align (more than \(RowAligner.maxTableEntries) placements); not used there")
        }
        if ambiguous > 0 {
            warnings.append("\(request.id): \(ambiguous) rows of \(path) fit more than one place; left out rather than guessed")
        }
    }
}
