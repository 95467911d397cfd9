/// One routing cell as a recorder wrote it: expert ids, highest weight first, and their weights (empty when the
/// recorder kept none).
struct ImportedCell: Equatable {
    var experts: [Int32]
    var weights: [Float]

    /// Two recordings of the same greedy run agree on a cell when the experts are the same and every weight
    /// lies within this of the other (recorders print float32 values; reruns may differ in the last bits).
    static let weightTolerance: Float = 1e-3

    func sameRouting(as other: ImportedCell) -> Bool {
        guard experts == other.experts, weights.count == other.weights.count else { return false }
        for i in weights.indices where abs(weights[i] - other.weights[i]) > ImportedCell.weightTolerance { return false }
        return true
    }
}

/// A request whose tokens have known places: `prefillTokens` prompt tokens (one pass) then `decodeTokens` decode
/// steps. `cells[layer][slot]` is nil where the recorder lost the row; a missing layer is all nil.
struct PositionedRequest {
    var prefillTokens: Int
    var decodeTokens: Int
    var cells: [Int: [ImportedCell?]]

    var slots: Int { prefillTokens + decodeTokens }

    func cell(layer: Int, slot: Int) -> ImportedCell? { cells[layer]?[slot] }

    mutating func set(_ cell: ImportedCell, layer: Int, slot: Int) {
        if cells[layer] == nil { cells[layer] = Array(repeating: nil, count: slots) }
        cells[layer]![slot] = cell
    }
}

/// A request recorded as per-layer lists of decode rows numbered by the recorder, which renumbers after a lost
/// row: row i of a layer is the i-th row kept, not necessarily the i-th decode step.
struct RenumberedRequest {
    var rows: [Int: [ImportedCell]]

    var longestLayer: Int { rows.values.map(\.count).max() ?? 0 }
}

/// Everything read from one recorder file.
struct Recording {
    let path: String
    let format: String
    /// Request ids in order of first appearance.
    var order: [String] = []
    var tasks: [String: String] = [:]
    var positioned: [String: PositionedRequest] = [:]
    var renumbered: [String: RenumberedRequest] = [:]
    var shape = ObservedShape()
    /// Cells whose weights did not sum to 1 and were rescaled.
    var renormalisedCells = 0
    /// Token slots x layers held for positioned requests so far.
    private(set) var cells = 0

    /// The most cells one recording may hold (each is a slot of a routing table in memory): about 100 times a
    /// recording of HumanEval's 164 problems on Mixtral, and far below what a sparse file of huge positions asks for.
    static let maxCells = 1 << 24

    /// Accounts for a request of `slots` tokens over `layers` layers before its table is allocated.
    mutating func reserve(slots: Int, layers: Int, request: String) throws {
        cells += slots * max(1, layers)
        guard cells <= Recording.maxCells else {
            throw MoESimError(file: path, "request \(request) takes the recording to \(cells) cells (token slots x layers), more than moe-sim imports at once (at most \(Recording.maxCells))",
                              hint: "check the token positions; split a very large recording into several imports")
        }
    }
}

/// The largest layer, expert id and cell width seen, with the line that showed each, so that once the model is
/// known a row that does not fit can be named.
struct ObservedShape {
    struct Extreme { var value = -1; var line = 0 }
    var layer = Extreme()
    var expert = Extreme()
    var cellWidth = Extreme()
    /// Lines of the first row with weights and the first without (both set: the recorder is inconsistent).
    var firstWeightedLine: Int?
    var firstUnweightedLine: Int?

    mutating func observe(layer l: Int, cell: ImportedCell, line: Int) {
        if l > layer.value { layer = Extreme(value: l, line: line) }
        if let m = cell.experts.max(), Int(m) > expert.value { expert = Extreme(value: Int(m), line: line) }
        if cell.experts.count > cellWidth.value { cellWidth = Extreme(value: cell.experts.count, line: line) }
        if cell.weights.isEmpty {
            if firstUnweightedLine == nil { firstUnweightedLine = line }
        } else if firstWeightedLine == nil {
            firstWeightedLine = line
        }
    }
}
