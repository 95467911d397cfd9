/// A `# route_trace v1` CSV as a llama.cpp-based flash-streaming engine writes it (BigMoeOnEdge `--route-trace`;
/// `../shared/traces/README.md`): `#` header lines with the model and, per layer, `expert_bytes` and `dense_bytes`;
/// then `turn,phase,step,layer,slot,expert,weight,residency,expert_bytes`, one row per routed expert.
/// `expert_bytes` in a row is what the engine read for it: the layer's expert size, or 0 when it read nothing.
struct RouteTraceFile {
    struct Header {
        var model: String
        var arch: String?
        var layers: Int
        var experts: Int
        var expertsUsed: Int
        var expertBytes: [Int]
        var denseBytes: [Int]
    }

    struct Routed {
        var expert: Int32
        var weight: Float
        var resident: Bool
        var bytesRead: Int
    }

    /// One forward step of one token: its routed experts per layer (empty where the engine ran no routing, e.g.
    /// the last layer of a prompt token whose logits nobody needs).
    struct Step {
        var turn: Int
        var phase: Phase
        var step: Int
        var line: Int
        var cells: [[Routed]]
    }

    static let columns = ["turn", "phase", "step", "layer", "slot", "expert", "weight", "residency", "expert_bytes"]
    static let headerKeys = ["model", "arch", "n_layer", "n_expert", "n_expert_used"]

    let path: String
    var header: Header
    var steps: [Step] = []

    static func isRouteTrace(path: String) -> Bool {
        guard let lines = try? LineReader(path: path), let line = try? lines.nextLine(), let first = line as UnsafeBufferPointer<UInt8>? else { return false }
        return String(decoding: first, as: UTF8.self).trimmingCharacters(in: .whitespaces) == "# route_trace v1"
    }

    init(path: String) throws {
        self.path = path
        let lines = try LineReader(path: path)
        func fail(_ message: String, field: String? = nil, hint: String? = nil) -> MoESimError {
            MoESimError(file: path, line: max(1, lines.lineNumber), field: field, message, hint: hint)
        }
        func next() throws -> String? { try lines.nextLine().map { String(decoding: $0, as: UTF8.self) } }
        guard let first = try next() else { throw MoESimError(file: path, line: 1, "empty file: expected \"# route_trace v1\"") }
        guard first.trimmingCharacters(in: .whitespaces) == "# route_trace v1" else {
            throw fail("expected \"# route_trace v1\", found \"\(first.prefix(60))\"", hint: "is this a route_trace CSV?")
        }
        // `# key=value ...` header lines: the model line, then one per layer.
        func pairs(_ line: String) throws -> [(String, String)] {
            guard line.hasPrefix("#") else { throw fail("expected a `# key=value` header line, found \"\(line.prefix(60))\"") }
            return try line.dropFirst().split(separator: " ").map { item in
                guard let eq = item.firstIndex(of: "=") else { throw fail("expected key=value, found \"\(item)\"") }
                return (String(item[..<eq]), String(item[item.index(after: eq)...]))
            }
        }
        func integer(_ text: String, _ field: String, atLeast minimum: Int = 0) throws -> Int {
            guard let v = Int(text), v >= minimum, v < 1 << 40 else { throw fail("expected an integer >= \(minimum), found \"\(text)\"", field: field) }
            return v
        }
        guard let modelLine = try next() else { throw fail("missing the `# model=... n_layer=...` line") }
        var values: [String: String] = [:]
        for (key, value) in try pairs(modelLine) {
            guard RouteTraceFile.headerKeys.contains(key) else {
                throw fail("unknown header field", field: key, hint: "a route_trace v1 model line has \(RouteTraceFile.headerKeys.joined(separator: ", "))")
            }
            guard values[key] == nil else { throw fail("given twice", field: key) }
            values[key] = value
        }
        for key in ["model", "n_layer", "n_expert", "n_expert_used"] where values[key] == nil {
            throw fail("required header field is missing", field: key)
        }
        let layers = try integer(values["n_layer"]!, "n_layer", atLeast: 1)
        let experts = try integer(values["n_expert"]!, "n_expert", atLeast: 1)
        let used = try integer(values["n_expert_used"]!, "n_expert_used", atLeast: 1)
        // Each bound before the product, which could overflow for numbers this large.
        guard experts <= TraceHeader.maxExperts, layers <= TraceHeader.maxExpertSlots / experts else {
            throw fail("\(layers) layers x \(experts) experts is more than moe-sim holds", field: "n_expert")
        }
        guard used <= experts, used <= TokenRecord.maxCellWidth else { throw fail("n_expert_used \(used) exceeds n_expert \(experts) (or \(TokenRecord.maxCellWidth))", field: "n_expert_used") }
        header = Header(model: values["model"]!, arch: values["arch"], layers: layers, experts: experts, expertsUsed: used, expertBytes: [], denseBytes: [])
        for l in 0..<layers {
            guard let line = try next(), line.hasPrefix("#") else { throw fail("expected `# layer=\(l) expert_bytes=... dense_bytes=...` (\(layers) layer lines)") }
            let p = Dictionary(try pairs(line), uniquingKeysWith: { a, _ in a })
            guard Set(p.keys) == ["layer", "expert_bytes", "dense_bytes"] else {
                throw fail("expected exactly layer, expert_bytes and dense_bytes, found \(p.keys.sorted().joined(separator: ", "))")
            }
            guard try integer(p["layer"]!, "layer") == l else { throw fail("expected layer=\(l), found layer=\(p["layer"]!)", field: "layer") }
            header.expertBytes.append(try integer(p["expert_bytes"]!, "expert_bytes", atLeast: 1))
            header.denseBytes.append(try integer(p["dense_bytes"]!, "dense_bytes"))
        }
        guard let columnLine = try next() else { throw fail("missing the CSV column line") }
        guard columnLine.split(separator: ",", omittingEmptySubsequences: false).map({ $0.trimmingCharacters(in: .whitespaces) }) == RouteTraceFile.columns else {
            throw fail("expected the columns \(RouteTraceFile.columns.joined(separator: ",")), found \"\(columnLine.prefix(80))\"")
        }
        try readRows(lines, fail: fail)
        guard !steps.isEmpty else { throw fail("no rows: the trace routes no token") }
    }

    /// Rows come cell by cell (one layer of one step, slots in order). Decode rows are step by step; a prefill batch is
    /// written layer by layer (every prompt token at layer 0, then layer 1, ...), so steps are gathered by their key and
    /// put in (turn, phase, step) order. Turns and, within a turn, phases never go back.
    private mutating func readRows(_ lines: LineReader, fail: (String, String?, String?) -> MoESimError) throws {
        var index: [[Int]: Int] = [:]
        var gathered: [Step] = []
        var doneCells = Set<[Int]>()
        var currentCell: [Int]? = nil
        var nextSlot = 0
        var lastTurnPhase = [-1, -1]
        while let bytes = try lines.nextLine() {
            let text = String(decoding: bytes, as: UTF8.self)
            if text.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            let f = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard f.count == RouteTraceFile.columns.count else {
                throw fail("expected \(RouteTraceFile.columns.count) comma-separated fields, found \(f.count)", nil, nil)
            }
            var ints: [Int] = []
            for (i, name) in RouteTraceFile.columns.enumerated() where name != "weight" {
                guard let v = Int(f[i]), v >= 0, v < 1 << 40 else { throw fail("expected an integer >= 0, found \"\(f[i])\"", name, nil) }
                ints.append(v)
            }
            let (turn, phaseCode, step, layer, slot, expert, residency, bytesRead) = (ints[0], ints[1], ints[2], ints[3], ints[4], ints[5], ints[6], ints[7])
            guard let weight = Float(f[6]), weight.isFinite, weight >= 0 else { throw fail("expected a finite weight >= 0, found \"\(f[6])\"", "weight", nil) }
            guard phaseCode <= 1 else { throw fail("expected 0 (prefill) or 1 (decode), found \(phaseCode)", "phase", nil) }
            guard layer < header.layers else { throw fail("layer \(layer) but the header has n_layer=\(header.layers)", "layer", nil) }
            guard expert < header.experts else { throw fail("expert \(expert) but the header has n_expert=\(header.experts)", "expert", nil) }
            guard residency <= 1 else { throw fail("expected 0 or 1, found \(residency)", "residency", nil) }
            guard bytesRead == 0 || bytesRead == header.expertBytes[layer] else {
                throw fail("\(bytesRead) bytes read, but layer \(layer)'s expert is \(header.expertBytes[layer]) bytes (the header); expected that or 0", "expert_bytes", nil)
            }
            guard [turn, phaseCode].lexicographicallyPrecedes(lastTurnPhase) == false else {
                throw fail("turn \(turn) phase \(phaseCode) after turn \(lastTurnPhase[0]) phase \(lastTurnPhase[1]): rows must be in time order", "phase", nil)
            }
            lastTurnPhase = [turn, phaseCode]
            let key = [turn, phaseCode, step], cell = key + [layer]
            if cell != currentCell {
                if let done = currentCell { doneCells.insert(done) }
                guard !doneCells.contains(cell) else { throw fail("layer \(layer) of step \(step) (turn \(turn)) appears again after other rows", "layer", nil) }
                currentCell = cell
                nextSlot = 0
            }
            guard slot == nextSlot else { throw fail("expected slot \(nextSlot), found \(slot)", "slot", nil) }
            guard slot < header.expertsUsed else { throw fail("slot \(slot) but n_expert_used=\(header.expertsUsed)", "slot", nil) }
            nextSlot += 1
            let s: Int
            if let found = index[key] {
                s = found
            } else {
                s = gathered.count
                index[key] = s
                gathered.append(Step(turn: turn, phase: phaseCode == 0 ? .prefill : .decode, step: step, line: lines.lineNumber,
                                     cells: Array(repeating: [], count: header.layers)))
            }
            guard !gathered[s].cells[layer].contains(where: { $0.expert == Int32(expert) }) else { throw fail("expert \(expert) routed twice in one cell", "expert", nil) }
            gathered[s].cells[layer].append(Routed(expert: Int32(expert), weight: weight, resident: residency == 1, bytesRead: bytesRead))
        }
        steps = gathered.sorted { ($0.turn, $0.phase.rawValue, $0.step) < ($1.turn, $1.phase.rawValue, $1.step) }
    }
}
