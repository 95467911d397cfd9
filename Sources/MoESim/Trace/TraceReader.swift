/// What to do with a `null` routing cell (a row the recorder lost).
public enum MissingCellPolicy: String, Sendable, CaseIterable {
    /// Stop with an error naming the file and line.
    case error
    /// Replay the token with no routed expert at that layer (attention still runs); counted in the report.
    case skip
}

/// Streams a moe-trace v1 JSONL file and enforces every rule of `docs/trace-format.md`:
/// each violation is an error naming the file, the line and the field. Nothing is guessed.
public final class TraceReader {
    public enum Item { case request(Int), token }

    public let header: TraceHeader
    public let path: String
    public let missingCells: MissingCellPolicy
    /// Requests seen so far, in order of first appearance; token records refer to them by index.
    public private(set) var requests: [RequestInfo] = []
    /// The token read by the last `next()` that returned `.token`.
    public private(set) var token: TokenRecord
    /// `null` cells seen so far.
    public private(set) var missingCellCount = 0
    public var bytesRead: Int { lines.bytesRead }
    public var lineNumber: Int { lines.lineNumber }

    private let lines: LineReader
    private var requestIndex: [String: Int] = [:]
    private var weightCounts: [Int8]
    private var residencyCounts: [Int8]
    private let maxExpertsPerCell: Int
    static let weightSumTolerance = 1e-3
    /// Weights are held (and written in binary) as float32: the sum is checked as stored, with room for float32's
    /// rounding of up to 127 weights (< 1e-5 in all), so the JSONL and binary readers accept exactly the same traces
    /// and `sim trace convert` writes only what the binary reader takes back.
    static let storedWeightSlack = 1e-5

    /// The rule both readers apply to the float32 weights of one cell.
    static func weightsSumToOne(_ storedSum: Double) -> Bool { abs(storedSum - 1) <= weightSumTolerance + storedWeightSlack }

    /// Opens `path` and reads its header. `allowWiderCells` accepts cells with more than top_k experts.
    public init(path: String, missingCells: MissingCellPolicy = .skip, allowWiderCells: Bool = false) throws {
        self.path = path
        self.missingCells = missingCells
        lines = try LineReader(path: path)
        var firstLine: UnsafeBufferPointer<UInt8>?
        while let line = try lines.nextLine() {
            if !TraceReader.isBlank(line) { firstLine = line; break }
        }
        guard let first = firstLine else {
            throw MoESimError(file: path, line: max(1, lines.lineNumber), "empty trace: expected the moe-trace header on line 1",
                              hint: "see docs/trace-format.md")
        }
        let headerLine = lines.lineNumber
        let parsed: JSONValue
        do {
            var cursor = JSONCursor(first)
            parsed = try cursor.parseValue()
            guard cursor.atEnd() else { throw cursor.fail("unexpected text after the JSON value") }
        } catch let error as JSONCursor.SyntaxError {
            throw MoESimError(file: path, line: headerLine, "malformed JSON header at \(error)")
        }
        do {
            var parsedHeader = try TraceHeader.from(parsed)
            parsedHeader.lineNumber = headerLine
            header = parsedHeader
        } catch let error as MoESimError {
            throw error.located(file: path, line: headerLine)
        }
        maxExpertsPerCell = allowWiderCells ? min(header.experts, TokenRecord.maxCellWidth) : header.topK
        let weightsPerLayer = header.weights == .full ? header.experts : (header.weights == .topk ? maxExpertsPerCell : 0)
        token = TokenRecord(layers: header.layers, slotsPerLayer: maxExpertsPerCell, weightsPerLayer: weightsPerLayer, aheadSlotsPerLayer: header.experts)
        weightCounts = Array(repeating: 0, count: header.layers)
        residencyCounts = Array(repeating: 0, count: header.layers)
    }

    static func isBlank(_ line: UnsafeBufferPointer<UInt8>) -> Bool {
        line.allSatisfy { $0 == 0x20 || $0 == 0x09 }
    }

    func error(_ message: String, field: String? = nil, hint: String? = nil) -> MoESimError {
        MoESimError(file: path, line: lines.lineNumber, field: field, message, hint: hint)
    }

    /// Reads the next request or token line; nil at the end of the file.
    public func next() throws -> Item? {
        while let line = try lines.nextLine() {
            if TraceReader.isBlank(line) { continue }
            do {
                return try parseLine(line)
            } catch let syntax as JSONCursor.SyntaxError {
                throw error("malformed JSON at \(syntax)")
            }
        }
        return nil
    }

    private func parseLine(_ line: UnsafeBufferPointer<UInt8>) throws -> Item {
        var cursor = JSONCursor(line)
        try cursor.expect(0x7B, "a JSON object")
        var requestID: String?
        var phase: Phase?
        var position = -1
        var sawExperts = false
        var sawWeights = false
        var sawAhead = false
        var sawResidency = false
        var task: String?
        var arrival: Double?
        var promptTokens: Int?
        var outputTokens: Int?
        var slo: Double?
        if !cursor.consume(0x7D) {
            repeat {
                let key = try cursor.parseString()
                try cursor.expect(0x3A, "':'")
                switch key {
                case "request": requestID = try cursor.parseString()
                case "phase":
                    let text = try cursor.parseString()
                    guard let p = text == "prefill" ? Phase.prefill : (text == "decode" ? Phase.decode : nil) else {
                        throw error("expected \"prefill\" or \"decode\", found \"\(text)\"", field: "phase")
                    }
                    phase = p
                case "pos":
                    position = try cursor.parseInteger()
                    guard position >= 0 else { throw error("expected a position >= 0, found \(position)", field: "pos") }
                case "experts": try parseExperts(&cursor); sawExperts = true
                case "weights": try parseWeights(&cursor); sawWeights = true
                case "ahead": try parseAhead(&cursor); sawAhead = true
                case "resident": try parseResidency(&cursor); sawResidency = true
                case "task": task = cursor.parseNull() ? nil : try cursor.parseString()
                case "arrival_s": arrival = try optionalNonNegative(&cursor, field: key)
                case "prompt_tokens": promptTokens = try optionalCount(&cursor, field: key)
                case "output_tokens": outputTokens = try optionalCount(&cursor, field: key)
                case "slo_ttft_s": slo = try optionalNonNegative(&cursor, field: key)
                default: try cursor.skipValue()
                }
            } while cursor.consume(0x2C)
            try cursor.expect(0x7D, "',' or '}'")
        }
        guard cursor.atEnd() else { throw cursor.fail("unexpected text after the JSON object") }
        guard let id = requestID else {
            throw error("every line after the header needs a \"request\" id", field: "request")
        }
        if !sawExperts && phase == nil {
            return .request(try registerRequestLine(id, task: task, arrival: arrival, promptTokens: promptTokens, outputTokens: outputTokens, slo: slo))
        }
        guard let phase else { throw error("token line without \"phase\" (expected \"prefill\" or \"decode\")", field: "phase") }
        guard sawExperts else { throw error("token line without \"experts\"", field: "experts") }
        if header.weights != .none && !sawWeights {
            throw error("token line without \"weights\" (the header says \"weights\":\"\(header.weights.rawValue)\")", field: "weights")
        }
        if !sawAhead { token.aheadCounts.removeAll(keepingCapacity: true) }
        if !sawResidency { token.residency.removeAll(keepingCapacity: true) }
        try checkWeightsMatchExperts()
        if sawResidency { try checkResidencyMatchesExperts() }
        let index = requestIndexFor(id)
        if position >= 0 {
            guard position > requests[index].lastPosition else {
                throw error("request \"\(id)\" goes back in time: pos \(position) after pos \(requests[index].lastPosition)", field: "pos",
                            hint: "lines of one request must be in time order")
            }
            requests[index].lastPosition = position
        }
        token.request = index
        token.phase = phase
        token.position = position
        return .token
    }

    private func optionalNonNegative(_ cursor: inout JSONCursor, field: String) throws -> Double? {
        if cursor.parseNull() { return nil }
        let v = try cursor.parseNumber()
        guard v.isFinite, v >= 0 else { throw error("expected a number >= 0, found \(v)", field: field) }
        return v
    }

    private func optionalCount(_ cursor: inout JSONCursor, field: String) throws -> Int? {
        if cursor.parseNull() { return nil }
        let v = try cursor.parseInteger()
        guard v >= 0 else { throw error("expected an integer >= 0, found \(v)", field: field) }
        return v
    }

    private func requestIndexFor(_ id: String) -> Int {
        if let i = requestIndex[id] { return i }
        requests.append(RequestInfo(id: id))
        requestIndex[id] = requests.count - 1
        return requests.count - 1
    }

    private func registerRequestLine(_ id: String, task: String?, arrival: Double?, promptTokens: Int?, outputTokens: Int?, slo: Double?) throws -> Int {
        // Once, before any token line: a later one would change what earlier lines were read as.
        if requestIndex[id] != nil {
            throw error("request line for \"\(id)\" comes after that request already appeared", field: "request",
                        hint: "a request line must come before the request's first token line, once")
        }
        let index = requestIndexFor(id)
        requests[index].task = task
        requests[index].arrivalSeconds = arrival
        requests[index].promptTokens = promptTokens
        requests[index].outputTokens = outputTokens
        requests[index].sloTTFTSeconds = slo
        return index
    }

    // MARK: Routing fields

    private func parseExperts(_ cursor: inout JSONCursor) throws {
        try cursor.expect(0x5B, "a list of \(header.layers) per-layer expert lists")
        var layer = 0
        if !cursor.consume(0x5D) {
            repeat {
                guard layer < header.layers else {
                    throw error("more than \(header.layers) layer entries (the header says \"layers\":\(header.layers))", field: "experts",
                                hint: "is the trace from a different model?")
                }
                if cursor.parseNull() {
                    if missingCells == .error {
                        throw error("null cell (a row the recorder lost)", field: "experts[\(layer)]", hint: "use --missing skip to replay without it")
                    }
                    token.counts[layer] = TokenRecord.missingCell
                    missingCellCount += 1
                } else {
                    try cursor.expect(0x5B, "a list of expert ids or null")
                    let base = layer * token.slotsPerLayer
                    var n = 0
                    if !cursor.consume(0x5D) {
                        repeat {
                            let id = try cursor.parseInteger()
                            guard id >= 0 && id < header.experts else {
                                throw error("expert id \(id) out of range [0, \(header.experts))", field: "experts[\(layer)][\(n)]")
                            }
                            guard n < maxExpertsPerCell else {
                                if maxExpertsPerCell == header.topK {
                                    throw error("more than top_k = \(header.topK) experts", field: "experts[\(layer)]",
                                                hint: "pass --allow-wider-cells to replay wider selections")
                                }
                                throw error("more than \(maxExpertsPerCell) experts, the most a cell can hold", field: "experts[\(layer)]")
                            }
                            for j in 0..<n where token.experts[base + j] == Int32(id) {
                                throw error("expert \(id) listed twice", field: "experts[\(layer)]")
                            }
                            token.experts[base + n] = Int32(id)
                            n += 1
                        } while cursor.consume(0x2C)
                        try cursor.expect(0x5D, "',' or ']'")
                    }
                    guard n > 0 else {
                        throw error("an empty selection is not a top-k selection", field: "experts[\(layer)]",
                                    hint: "write null (and null weights) for a layer where no routed expert ran: it is replayed with none, and counted")
                    }
                    token.counts[layer] = Int8(n)
                }
                layer += 1
            } while cursor.consume(0x2C)
            try cursor.expect(0x5D, "',' or ']'")
        }
        guard layer == header.layers else {
            throw error("expected \(header.layers) layer entries, found \(layer)", field: "experts", hint: "is the trace from a different model?")
        }
    }

    private func parseWeights(_ cursor: inout JSONCursor) throws {
        if header.weights == .none { try cursor.skipValue(); return }
        try cursor.expect(0x5B, "a list of \(header.layers) per-layer weight lists")
        var layer = 0
        if !cursor.consume(0x5D) {
            repeat {
                guard layer < header.layers else { throw error("more than \(header.layers) layer entries", field: "weights") }
                if cursor.parseNull() {
                    weightCounts[layer] = TokenRecord.missingCell
                } else {
                    try cursor.expect(0x5B, "a list of weights or null")
                    let base = layer * token.weightsPerLayer
                    var n = 0
                    var sum = 0.0, storedSum = 0.0
                    if !cursor.consume(0x5D) {
                        repeat {
                            let w = try cursor.parseNumber()
                            guard w.isFinite, w >= 0 else { throw error("weight \(w) must be finite and >= 0", field: "weights[\(layer)][\(n)]") }
                            guard n < token.weightsPerLayer else {
                                throw error("more than \(token.weightsPerLayer) weights", field: "weights[\(layer)]")
                            }
                            token.weights[base + n] = Float(w)
                            sum += w
                            storedSum += Double(Float(w))
                            n += 1
                        } while cursor.consume(0x2C)
                        try cursor.expect(0x5D, "',' or ']'")
                    }
                    if n > 0 && !TraceReader.weightsSumToOne(storedSum) {
                        throw error("weights sum to \(sum), expected 1 within \(TraceReader.weightSumTolerance)", field: "weights[\(layer)]")
                    }
                    if header.weights == .full && n != header.experts {
                        throw error("\"full\" weights need \(header.experts) entries, found \(n)", field: "weights[\(layer)]")
                    }
                    weightCounts[layer] = Int8(n)
                }
                layer += 1
            } while cursor.consume(0x2C)
            try cursor.expect(0x5D, "',' or ']'")
        }
        guard layer == header.layers else { throw error("expected \(header.layers) layer entries, found \(layer)", field: "weights") }
    }

    /// `resident`: per layer a list of 0/1 flags, one per listed expert, or null where `experts` is null.
    private func parseResidency(_ cursor: inout JSONCursor) throws {
        if token.residency.count != header.layers * token.slotsPerLayer {
            token.residency = Array(repeating: 0, count: header.layers * token.slotsPerLayer)
        }
        try cursor.expect(0x5B, "a list of \(header.layers) per-layer residency lists")
        var layer = 0
        if !cursor.consume(0x5D) {
            repeat {
                guard layer < header.layers else { throw error("more than \(header.layers) layer entries", field: "resident") }
                if cursor.parseNull() {
                    residencyCounts[layer] = TokenRecord.missingCell
                } else {
                    try cursor.expect(0x5B, "a list of 0/1 flags or null")
                    var n = 0
                    if !cursor.consume(0x5D) {
                        repeat {
                            let flag = try cursor.parseInteger()
                            guard flag == 0 || flag == 1 else { throw error("expected 0 or 1, found \(flag)", field: "resident[\(layer)][\(n)]") }
                            guard n < token.slotsPerLayer else { throw error("more than \(token.slotsPerLayer) flags", field: "resident[\(layer)]") }
                            token.residency[layer * token.slotsPerLayer + n] = Int8(flag)
                            n += 1
                        } while cursor.consume(0x2C)
                        try cursor.expect(0x5D, "',' or ']'")
                    }
                    residencyCounts[layer] = Int8(n)
                }
                layer += 1
            } while cursor.consume(0x2C)
            try cursor.expect(0x5D, "',' or ']'")
        }
        guard layer == header.layers else { throw error("expected \(header.layers) layer entries, found \(layer)", field: "resident") }
    }

    private func checkResidencyMatchesExperts() throws {
        for layer in 0..<header.layers where residencyCounts[layer] != token.counts[layer] {
            throw error(token.counts[layer] == TokenRecord.missingCell || residencyCounts[layer] == TokenRecord.missingCell
                        ? "resident must be null exactly where experts is null"
                        : "\(residencyCounts[layer]) residency flags for \(token.counts[layer]) experts", field: "resident[\(layer)]")
        }
    }

    private func checkWeightsMatchExperts() throws {
        guard header.weights != .none else { return }
        for layer in 0..<header.layers {
            let e = token.counts[layer], w = weightCounts[layer]
            if (e == TokenRecord.missingCell) != (w == TokenRecord.missingCell) {
                throw error("weights must be null exactly where experts is null", field: "weights[\(layer)]")
            }
            if header.weights == .topk && e != TokenRecord.missingCell && e != w {
                throw error("\(w) weights for \(e) experts", field: "weights[\(layer)]")
            }
        }
    }

    private func parseAhead(_ cursor: inout JSONCursor) throws {
        token.aheadCounts.removeAll(keepingCapacity: true)
        if cursor.parseNull() { return }
        try cursor.expect(0x7B, "an object of lookahead depths")
        var depths: [(Int, [Int8], [Int32])] = []
        if !cursor.consume(0x7D) {
            repeat {
                let key = try cursor.parseString()
                try cursor.expect(0x3A, "':'")
                guard let d = Int(key), d >= 1 else { throw error("lookahead depth must be a positive integer, found \"\(key)\"", field: "ahead") }
                guard d <= TokenRecord.maxAheadDepth else { try cursor.skipValue(); continue }
                var counts = [Int8](repeating: TokenRecord.missingCell, count: header.layers)
                var experts = [Int32](repeating: 0, count: header.layers * token.aheadSlotsPerLayer)
                try cursor.expect(0x5B, "a list of per-layer predictions")
                var layer = 0
                if !cursor.consume(0x5D) {
                    repeat {
                        guard layer < header.layers else { throw error("more than \(header.layers) entries", field: "ahead.\(key)") }
                        if !cursor.parseNull() {
                            try cursor.expect(0x5B, "a list of expert ids or null")
                            var n = 0
                            if !cursor.consume(0x5D) {
                                repeat {
                                    let id = try cursor.parseInteger()
                                    guard id >= 0 && id < header.experts else {
                                        throw error("expert id \(id) out of range [0, \(header.experts))", field: "ahead.\(key)[\(layer)]")
                                    }
                                    guard n < min(header.experts, TokenRecord.maxCellWidth) else {
                                        throw error("more than \(min(header.experts, TokenRecord.maxCellWidth)) predicted experts", field: "ahead.\(key)[\(layer)]")
                                    }
                                    experts[layer * token.aheadSlotsPerLayer + n] = Int32(id)
                                    n += 1
                                } while cursor.consume(0x2C)
                                try cursor.expect(0x5D, "',' or ']'")
                            }
                            counts[layer] = Int8(n)
                        }
                        layer += 1
                    } while cursor.consume(0x2C)
                    try cursor.expect(0x5D, "',' or ']'")
                }
                guard layer == header.layers else { throw error("expected \(header.layers) entries, found \(layer)", field: "ahead.\(key)") }
                depths.append((d, counts, experts))
            } while cursor.consume(0x2C)
            try cursor.expect(0x7D, "',' or '}'")
        }
        let maxDepth = depths.map(\.0).max() ?? 0
        token.aheadCounts = Array(repeating: [], count: maxDepth)
        token.aheadExperts = Array(repeating: [], count: maxDepth)
        for (d, counts, experts) in depths {
            token.aheadCounts[d - 1] = counts
            token.aheadExperts[d - 1] = experts
        }
    }
}
