import Foundation
import Testing
@testable import MoESim

/// `sim trace import`: recorder formats, re-alignment, merging, and the errors bad rows get.
@Suite struct TraceImportTests {
    /// A trace's routing by request: per token its phase and per layer the experts and weights (nil: null cell).
    struct Routing: Equatable {
        struct Token: Equatable {
            var phase: Phase
            var cells: [[Int32]?]
            var weights: [[Float]?]
        }
        var requests: [String: [Token]] = [:]
        var order: [String] = []
    }

    static func routing(_ path: String) throws -> Routing {
        let reader = try openTrace(path: path)
        var result = Routing()
        while let item = try reader.next() {
            guard case .token = item else { continue }
            let t = reader.token
            let id = reader.requests[t.request].id
            if result.requests[id] == nil { result.order.append(id) }
            var token = Routing.Token(phase: t.phase, cells: [], weights: [])
            for l in 0..<t.layers {
                let n = Int(t.counts[l])
                token.cells.append(n < 0 ? nil : Array(t.experts[(l * t.slotsPerLayer)..<(l * t.slotsPerLayer + n)]))
                token.weights.append(n < 0 || t.weightsPerLayer == 0 ? nil : Array(t.weights[(l * t.weightsPerLayer)..<(l * t.weightsPerLayer + n)]))
            }
            result.requests[id, default: []].append(token)
        }
        return result
    }

    static func write(_ lines: [String], _ name: String, in dir: URL) -> String {
        let path = dir.appendingPathComponent(name).path
        FileManager.default.createFile(atPath: path, contents: Data((lines.joined(separator: "\n") + "\n").utf8))
        return path
    }

    static func importing(_ inputs: [String], options: TraceImporter.Options = .init(), in dir: URL) throws -> (TraceImporter.Summary, Routing) {
        let out = dir.appendingPathComponent("out-\(UUID().uuidString).moetrace.jsonl").path
        let summary = try TraceImporter(options: options).run(inputs: inputs, output: out)
        return (summary, try routing(out))
    }

    static let original = Fixtures.sharedTraces.appendingPathComponent("mixtral-8x7b-vllm-fp8/original")
    static var hookStream: String { original.appendingPathComponent("analysis/deep_analysis/routing_raw.jsonl").path }
    static var secondRun: String { original.appendingPathComponent("routing_data_collected/humaneval_2_routing.jsonl").path }

    @Test(.enabled(if: Fixtures.sharedTracesAvailable, "needs ../shared/traces"))
    func importingTheHookStreamAndASecondRunReproducesHumanEval0CellForCell() throws {
        let dir = Fixtures.temporaryDirectory()
        let (summary, imported) = try Self.importing([Self.hookStream, Self.secondRun], in: dir)
        let expected = try Self.routing(Fixtures.sharedTrace("humaneval0.moetrace.jsonl"))
        #expect(summary.model == "mixtral-8x7b")
        #expect(summary.formats == ["hook-stream", "layer-rows"])
        #expect(imported.requests["humaneval/0"]!.count == 135 + 83)
        #expect(imported.requests["humaneval/0"] == expected.requests["humaneval/0"])
        // The second run filled the 69 decode cells the hook stream lost; 8 were lost by both runs.
        #expect(summary.filledCells == 69)
    }

    @Test(.enabled(if: Fixtures.sharedTracesAvailable, "needs ../shared/traces"))
    func importingTheSecondRunAlignedByTheHookStreamReproducesTheDecodeTraceCellForCell() throws {
        let dir = Fixtures.temporaryDirectory()
        var options = TraceImporter.Options()
        options.phases = .decode
        let (summary, imported) = try Self.importing([Self.secondRun, Self.hookStream], options: options, in: dir)
        let expected = try Self.routing(Fixtures.sharedTrace("humaneval-decode.moetrace.jsonl"))
        #expect(imported.order == ["humaneval/0", "humaneval/1"])
        #expect(imported == expected)
        // HumanEval/1 has no second recording: its short layers cannot be re-aligned, and the importer says so.
        #expect(summary.warnings.contains { $0.hasPrefix("humaneval/1: 20 layers have fewer rows") })
        #expect(!summary.warnings.contains { $0.hasPrefix("humaneval/0") })
    }

    // MARK: hand-made recordings

    static func hookRow(_ problem: Int, _ layer: Int, _ pos: Int, _ experts: [Int], _ w: Double = 0.75) -> String {
        "{\"dataset\":\"toy\",\"problem_id\":\(problem),\"layer\":\(layer),\"token_pos\":\(pos),\"experts\":\(experts),\"gating_probs\":[\(w),\(1 - w)]}"
    }

    static func layerRow(_ problem: Int, _ layer: Int, _ index: Int, _ experts: [Int], _ w: Double = 0.75) -> String {
        "{\"dataset\":\"toy\",\"problem_id\":\(problem),\"layer\":\(layer),\"experts\":\(experts),\"gating_probs\":[\(w),\(1 - w)],\"token_idx\":\(index)}"
    }

    /// Routing of toy decode step s at layer l (32 layers, 8 experts, top-2: Mixtral's shape).
    static func toyCell(_ s: Int, _ l: Int) -> [Int] { [(s + l) % 8, (s + l + 3) % 8] }

    @Test func hookStreamLeavesLostRowsAsNullCellsInPlace() throws {
        let dir = Fixtures.temporaryDirectory()
        var rows: [String] = []
        for l in 0..<32 { for p in 0..<3 where !(l == 5 && p == 1) { rows.append(Self.hookRow(0, l, p, Self.toyCell(p, l))) } }
        for s in 1...4 {
            // Step 2 lost layer 0, so its pass starts at layer 1; step 3 lost layer 31.
            for l in 0..<32 where !(s == 2 && l == 0) && !(s == 3 && l == 31) { rows.append(Self.hookRow(0, l, 0, Self.toyCell(10 + s, l))) }
        }
        let (summary, imported) = try Self.importing([Self.write(rows, "raw.jsonl", in: dir)], in: dir)
        let tokens = imported.requests["toy/0"]!
        #expect(tokens.count == 3 + 4)
        #expect(tokens.prefix(3).allSatisfy { $0.phase == .prefill } && tokens.dropFirst(3).allSatisfy { $0.phase == .decode })
        #expect(tokens[1].cells[5] == nil && tokens[2].cells[5] == Self.toyCell(2, 5).map(Int32.init))
        #expect(tokens[4].cells[0] == nil && tokens[4].cells[1] == Self.toyCell(12, 1).map(Int32.init))
        #expect(tokens[5].cells[31] == nil && tokens[6].cells[31] == Self.toyCell(14, 31).map(Int32.init))
        #expect(summary.nullCells == 3)
        #expect(tokens[3].weights[0] == [0.75, 0.25])
    }

    @Test func layerRowsAloneWarnAndPadWhereALayerLostRows() throws {
        let dir = Fixtures.temporaryDirectory()
        var rows: [String] = []
        for l in 0..<32 {
            var index = 0
            for s in 0..<6 where !(l == 7 && s == 2) {
                rows.append(Self.layerRow(0, l, index, Self.toyCell(s, l)))
                index += 1
            }
        }
        let (summary, imported) = try Self.importing([Self.write(rows, "rows.jsonl", in: dir)], in: dir)
        let tokens = imported.requests["toy/0"]!
        #expect(tokens.count == 6)
        // Without a second recording, layer 7's rows after the drop sit one step early and its last cell is null.
        #expect(tokens[2].cells[7] == Self.toyCell(3, 7).map(Int32.init))
        #expect(tokens[5].cells[7] == nil)
        #expect(summary.warnings.count == 1 && summary.warnings[0].contains("layer: rows lost 7: 1"))
    }

    @Test func layerRowsAreRealignedIntoAHookStreamAndFillOnlyWhatIsCertain() throws {
        let dir = Fixtures.temporaryDirectory()
        var raw: [String] = [], rows: [String] = []
        for l in 0..<32 { raw.append(Self.hookRow(0, l, 0, Self.toyCell(0, l))) }
        for s in 1...6 {
            // The hook stream lost layer 3 at steps 2 and 4; the renumbered rows lost layer 3 at step 4 too.
            for l in 0..<32 where !(l == 3 && (s == 2 || s == 4)) { raw.append(Self.hookRow(0, l, 0, Self.toyCell(s, l))) }
        }
        for l in 0..<32 {
            var index = 0
            for s in 1...6 where !(l == 3 && s == 4) {
                rows.append(Self.layerRow(0, l, index, Self.toyCell(s, l)))
                index += 1
            }
        }
        let (summary, imported) = try Self.importing([Self.write(raw, "raw.jsonl", in: dir), Self.write(rows, "rows.jsonl", in: dir)], in: dir)
        let tokens = imported.requests["toy/0"]!
        #expect(tokens.count == 7)
        #expect(tokens[2].cells[3] == Self.toyCell(2, 3).map(Int32.init))
        #expect(tokens[4].cells[3] == nil)
        #expect(summary.filledCells == 1)
        #expect(summary.warnings.isEmpty)
    }

    @Test func rowAlignerNeverGuesses() {
        func c(_ e: Int32) -> ImportedCell { ImportedCell(experts: [e, 7], weights: [0.6, 0.4]) }
        // Both recordings lost slot 1: the rows fit with y at slot 2, agreeing with the anchor; nothing to fill.
        var r = RowAligner.align(rows: [c(0), c(2)], into: [c(0), nil, c(2)])
        #expect(r.consistent && r.fills.isEmpty && r.ambiguousRows == 0)
        // Row z could be slot 1 or 2: left out.
        r = RowAligner.align(rows: [c(0), c(5), c(2)], into: [c(0), nil, nil, c(2)])
        #expect(r.consistent && r.fills.isEmpty && r.ambiguousRows == 1)
        // One hole, one missing row: filled.
        r = RowAligner.align(rows: [c(0), c(5), c(2)], into: [c(0), nil, c(2)])
        #expect(r.fills.count == 1 && r.fills[0] == (slot: 1, row: 1))
        // Contradiction: no placement agrees.
        r = RowAligner.align(rows: [c(0), c(6)], into: [c(0), c(2)])
        #expect(!r.consistent)
    }

    static func requestRow(_ req: String, _ phase: String, _ layer: Int, _ tok: Int, _ experts: [Int], _ w: [Double] = [0.7, 0.3]) -> String {
        "{\"req\":\"\(req)\",\"domain\":\"qa\",\"phase\":\"\(phase)\",\"layer\":\(layer),\"tok\":\(tok),\"topk\":\(experts),\"gate_w\":\(w)}"
    }

    @Test func requestRowsInAnyOrderWithAbsoluteOrStepPositions() throws {
        let dir = Fixtures.temporaryDirectory()
        var rows: [String] = []
        for l in (0..<32).reversed() {
            for t in 0..<2 { rows.append(Self.requestRow("a", "prefill", l, t, Self.toyCell(t, l))) }
            // Decode positions go on from the prompt (2, 3, 5): position 4 lost everywhere becomes a null token.
            for t in [5, 3, 2] { rows.append(Self.requestRow("a", "decode", l, t, Self.toyCell(t, l))) }
            // Request b numbers decode steps from 0, after a 3-token prompt; weights given low-first are reordered.
            for t in 0..<3 { rows.append(Self.requestRow("b", "prefill", l, t, [1, 2])) }
            rows.append(Self.requestRow("b", "decode", l, 0, [4, 6], [0.2, 0.8]))
        }
        var options = TraceImporter.Options()
        options.model = "mixtral-8x7b"
        let (summary, imported) = try Self.importing([Self.write(rows, "req.jsonl", in: dir)], options: options, in: dir)
        let a = imported.requests["a"]!, b = imported.requests["b"]!
        #expect(a.map(\.phase) == [.prefill, .prefill, .decode, .decode, .decode, .decode])
        #expect(a[4].cells.allSatisfy { $0 == nil } && a[5].cells[9] == Self.toyCell(5, 9).map(Int32.init))
        #expect(b.count == 4 && b[3].cells[0] == [6, 4] && b[3].weights[0] == [0.8, 0.2])
        #expect(summary.nullCells == 32)
    }

    @Test func badRowsNameTheFileLineAndField() throws {
        let dir = Fixtures.temporaryDirectory()
        func fails(_ lines: [String], options: TraceImporter.Options = .init(), line: Int? = 1, _ fragments: [String]) {
            let path = Self.write(lines, "bad-\(UUID().uuidString).jsonl", in: dir)
            do {
                _ = try TraceImporter(options: options).run(inputs: [path], output: dir.appendingPathComponent("x-\(UUID().uuidString).jsonl").path)
                Issue.record("expected an error for \(lines)")
            } catch let error as MoESimError {
                for f in fragments { #expect(error.description.contains(f), "\(error.description) lacks \(f)") }
                if let line { #expect(error.description.hasPrefix("\(path):\(line):"), "\(error.description)") }
            } catch { Issue.record("unexpected \(error)") }
        }
        var mixtral = TraceImporter.Options()
        mixtral.model = "mixtral-8x7b"
        fails(["{\"a\":1}"], ["cannot tell which recorder"])
        fails([Self.hookRow(0, 0, 0, [1, 2]), "{not json"], line: 2, ["malformed JSON"])
        fails([Self.hookRow(0, 0, 0, [1, 9])], options: mixtral, ["expert 9", "8 routed experts"])
        fails([Self.hookRow(0, 0, 0, [1, 1])], ["listed twice"])
        fails(["{\"problem_id\":0,\"layer\":0,\"token_pos\":0,\"experts\":[1,2],\"gating_probs\":[0.5]}"], ["gating_probs", "expected 2 weights"])
        fails([Self.layerRow(0, 0, 1, [1, 2]), Self.layerRow(0, 0, 0, [1, 2])], line: 2, ["token_idx", "rising"])
        fails([Self.requestRow("a", "decode", 0, 3, [1, 2]), Self.requestRow("a", "decode", 0, 3, [1, 2])], options: mixtral, line: 2, ["recorded twice"])
        fails([Self.requestRow("a", "middle", 0, 3, [1, 2])], ["phase"])
        fails([Self.hookRow(0, 2, 0, [1, 2])], line: nil, ["--model", "no model in the catalog has 3 MoE layers"])
        var wrongFormat = TraceImporter.Options()
        wrongFormat.format = "request-rows"
        fails([Self.hookRow(0, 0, 0, [1, 2])], options: wrongFormat, ["missing field"])
    }

    @Test func theCommandRefusesToOverwriteAndPrintsItsSummary() throws {
        let dir = Fixtures.temporaryDirectory()
        var rows: [String] = []
        for l in 0..<32 { rows.append(Self.hookRow(3, l, 0, Self.toyCell(0, l))) }
        let input = Self.write(rows, "raw.jsonl", in: dir)
        let output = dir.appendingPathComponent("t.moetrace").path
        var out = ""
        try TraceImportCommand.run([input, output], out: &out)
        #expect(out.contains("1 requests, 1 prefill + 0 decode tokens of mixtral-8x7b"))
        #expect(BinaryTraceFormat.isBinary(path: output))
        #expect(throws: MoESimError.self) { try TraceImportCommand.run([input, output], out: &out) }
        #expect(throws: MoESimError.self) { try TraceImportCommand.run([input, input], out: &out) }
        try TraceImportCommand.run([input, output, "--force", "--task", "demo"], out: &out)
        let reader = try openTrace(path: output)
        while try reader.next() != nil {}
        #expect(reader.requests.first?.task == "demo")
    }
}
