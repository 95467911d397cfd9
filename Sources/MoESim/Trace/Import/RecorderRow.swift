/// One JSON object of a recorder's file with typed field access; every failure names the file, line and field.
struct RecorderRow {
    let value: JSONValue
    let path: String
    let line: Int

    /// Parses one line; blank lines give nil.
    static func parse(_ bytes: UnsafeBufferPointer<UInt8>, path: String, line: Int) throws -> RecorderRow? {
        if TraceReader.isBlank(bytes) { return nil }
        do {
            var cursor = JSONCursor(bytes)
            let value = try cursor.parseValue()
            guard cursor.atEnd() else { throw cursor.fail("unexpected text after the JSON value") }
            guard case .object = value else { throw MoESimError(file: path, line: line, "expected a JSON object per line") }
            return RecorderRow(value: value, path: path, line: line)
        } catch let error as JSONCursor.SyntaxError {
            throw MoESimError(file: path, line: line, "malformed JSON at \(error)")
        }
    }

    func has(_ field: String) -> Bool { value[field] != nil }

    func error(_ field: String, _ message: String) -> MoESimError {
        MoESimError(file: path, line: line, field: field, message)
    }

    func integer(_ field: String, minimum: Int = 0, maximum: Int = Int(Int32.max) - 1) throws -> Int {
        guard let v = value[field] else { throw error(field, "missing field") }
        guard let n = v.numberValue, n == n.rounded(), n >= Double(minimum) else {
            throw error(field, "expected an integer >= \(minimum), found \(v.serialized)")
        }
        guard n <= Double(maximum) else { throw error(field, "\(v.serialized) is more than moe-sim imports (at most \(maximum))") }
        return Int(n)
    }

    /// A token's place in its request (or pass): beyond any model's context window.
    static let maxTokenPosition = (1 << 20) - 1
    /// A layer number: TraceHeader's bound on layers.
    static let maxLayer = TraceHeader.maxExpertSlots - 1

    /// A request or problem id: a string, or an integer printed as one.
    func identifier(_ field: String) throws -> String {
        guard let v = value[field] else { throw error(field, "missing field") }
        if let s = v.stringValue, !s.isEmpty { return s }
        // Integers a double holds exactly; 1e300 would trap converting to Int.
        if let n = v.numberValue, n == n.rounded(), abs(n) < 9.0e15 { return String(Int(n)) }
        throw error(field, "expected a string or an integer id, found \(v.serialized)")
    }

    func optionalString(_ field: String) throws -> String? {
        guard let v = value[field], !v.isNull else { return nil }
        guard let s = v.stringValue else { throw error(field, "expected a string, found \(v.serialized)") }
        return s
    }

    /// The routing cell from an expert-id list and an optional weight list of the same length. Experts are put
    /// highest weight first (stable), as moe-trace requires; weights must be finite and non-negative.
    /// Returns whether the weights had to be renormalised (their sum was off 1 by more than the format allows).
    func cell(experts expertsField: String, weights weightsField: String) throws -> (cell: ImportedCell, renormalised: Bool) {
        guard case let .array(ids)? = value[expertsField] else { throw error(expertsField, "expected a list of expert ids") }
        var experts: [Int32] = []
        for v in ids {
            guard let n = v.numberValue, n == n.rounded(), n >= 0, n < Double(UInt16.max) else {
                throw error(expertsField, "expected expert ids (integers >= 0), found \(v.serialized)")
            }
            guard !experts.contains(Int32(n)) else { throw error(expertsField, "expert \(Int(n)) listed twice") }
            experts.append(Int32(n))
        }
        guard !experts.isEmpty else { throw error(expertsField, "empty expert list") }
        guard let weightsValue = value[weightsField], !weightsValue.isNull else { return (ImportedCell(experts: experts, weights: []), false) }
        guard case let .array(ws) = weightsValue, ws.count == experts.count else {
            throw error(weightsField, "expected \(experts.count) weights, one per expert in '\(expertsField)'")
        }
        var weights: [Float] = []
        for v in ws {
            // Traces hold float32 weights: a finite double beyond float32's range (1e66) would become infinity.
            guard let w = v.numberValue, w.isFinite, w >= 0, Float(w).isFinite else {
                throw error(weightsField, "expected finite weights >= 0 (float32), found \(v.serialized)")
            }
            weights.append(Float(w))
        }
        let sum = weights.reduce(0.0) { $0 + Double($1) }
        guard sum > 0 else { throw error(weightsField, "weights sum to 0") }
        var renormalised = false
        // Checked on the numbers the written trace will hold, summed as its reader sums them: a sum just inside the
        // tolerance in float32 may fall just outside it in decimal.
        let written = weights.reduce(0.0) { $0 + (Double(String($1)) ?? Double($1)) }
        if abs(written - 1) > TraceReader.weightSumTolerance {
            weights = weights.map { Float(Double($0) / sum) }
            renormalised = true
        }
        let order = weights.indices.sorted { weights[$0] > weights[$1] || (weights[$0] == weights[$1] && $0 < $1) }
        return (ImportedCell(experts: order.map { experts[$0] }, weights: order.map { weights[$0] }), renormalised)
    }
}

/// Reads every row of a recorder's JSONL file, in order.
func forEachRecorderRow(path: String, _ body: (RecorderRow) throws -> Void) throws {
    let lines = try LineReader(path: path)
    while let bytes = try lines.nextLine() {
        if let row = try RecorderRow.parse(bytes, path: path, line: lines.lineNumber) { try body(row) }
    }
}
