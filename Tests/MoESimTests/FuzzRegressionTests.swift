import Foundation
import Testing
@testable import MoESim

/// Inputs the fuzzers (`make fuzz`, Fuzz/) found that crashed moe-sim, exhausted its memory or were read wrongly,
/// each reduced to a minimal case, with the error now expected. See docs/bad-input.md.
struct FuzzRegressionTests {
    // MARK: Helpers: traces written byte by byte

    /// The error `body` throws, which must be a MoESimError.
    func userError(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> MoESimError? {
        do {
            try body()
            Issue.record("expected an error", sourceLocation: sourceLocation)
            return nil
        } catch let error as MoESimError {
            return error
        } catch {
            Issue.record("not a MoESimError: \(type(of: error)) \(error)", sourceLocation: sourceLocation)
            return nil
        }
    }

    /// Reads every record of a trace (either form).
    static func readAll(_ path: String, allowWiderCells: Bool = false) throws -> Int {
        let reader = try openTrace(path: path, missingCells: .skip, allowWiderCells: allowWiderCells)
        var items = 0
        while try reader.next() != nil { items += 1 }
        return items
    }

    static func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }

    /// A binary trace: magic, version, header JSON, the given blocks, end marker.
    static func binaryTrace(header: String = Fixtures.header, headerLength: UInt32? = nil, blocks: [[[UInt8]]], end: Bool = true) -> [UInt8] {
        let json = Array(header.utf8)
        var bytes = BinaryTraceFormat.magic + le(BinaryTraceFormat.version) + le(headerLength ?? UInt32(json.count)) + json
        for records in blocks {
            let payload = records.flatMap { $0 }
            bytes += le(UInt32(payload.count)) + le(UInt32(records.count)) + le(payload.withUnsafeBytes { BinaryTraceFormat.checksum($0) }) + payload
        }
        if end { bytes += [UInt8](repeating: 0, count: BinaryTraceFormat.blockHeaderBytes) }
        return bytes
    }

    static func requestRecord(_ json: String, implicit: Bool = false) -> [UInt8] {
        [BinaryTraceFormat.requestRecord, implicit ? 1 : 0] + le(UInt32(json.utf8.count)) + Array(json.utf8)
    }

    /// A token of the toy model (2 layers, top-2, "topk" weights): per layer its experts and their weights.
    static func tokenRecord(request: UInt32 = 0, position: Int64, cells: [[(UInt16, Float)]]) -> [UInt8] {
        var bytes = [BinaryTraceFormat.tokenRecord] + le(request) + [1] + le(position)
        for cell in cells { bytes += [UInt8(cell.count)] + cell.flatMap { le($0.0) } }
        for cell in cells { bytes += cell.flatMap { le($0.1.bitPattern) } }
        return bytes + [0]
    }

    static func writeBinary(_ bytes: [UInt8]) -> String {
        let path = Fixtures.temporaryDirectory().appendingPathComponent("fuzz.moetrace").path
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    static let goodCells: [[(UInt16, Float)]] = [[(0, 0.75), (1, 0.25)], [(2, 0.5), (3, 0.5)]]

    @Test func theHandWrittenBinaryTraceReads() throws {
        // Control for the binary cases below: the same bytes with valid routing read as 1 request and 2 tokens.
        let path = Self.writeBinary(Self.binaryTrace(blocks: [[Self.requestRecord(#"{"request":"a"}"#),
                                                               Self.tokenRecord(position: 0, cells: Self.goodCells),
                                                               Self.tokenRecord(position: 1, cells: Self.goodCells)]]))
        #expect(try Self.readAll(path) == 3)
    }

    // MARK: JSONL traces

    /// trace-jsonl: a second request line for a request already announced was accepted, and its fields lost on
    /// conversion to the binary form (which keeps one record per request).
    @Test func aRequestLineForARequestAlreadySeenIsAnError() {
        let text = [Fixtures.header, #"{"request":"a","trts":0}"#, #"{"request":"a","task":"t"}"#].joined(separator: "\n") + "\n"
        let path = Fixtures.write(text, name: "twice.moetrace.jsonl")
        let error = userError { _ = try Self.readAll(path) }
        #expect(error?.line == 3)
        #expect(error?.field == "request")
        #expect(error?.message.contains("after that request already appeared") == true)
    }

    /// A request line after the request's token lines without positions was accepted too.
    @Test func aRequestLineAfterItsTokenLinesIsAnError() {
        let text = [Fixtures.header, #"{"request":"a","phase":"decode","experts":[[0,1],[2,3]],"weights":[[0.5,0.5],[0.5,0.5]]}"#,
                    #"{"request":"a","task":"t"}"#].joined(separator: "\n") + "\n"
        let error = userError { _ = try Self.readAll(Fixtures.write(text, name: "late.moetrace.jsonl")) }
        #expect(error?.line == 3)
    }

    /// trace-jsonl: headers whose per-token tables do not fit in memory (layers x experts x top_k) were accepted and
    /// the reader's first allocation crashed the process.
    @Test(arguments: [
        (#""layers":999999999,"experts":8,"top_k":2"#, "layers"),
        (#""layers":2,"experts":70000,"top_k":2"#, "experts"),
        (#""layers":2,"experts":200,"top_k":128"#, "top_k"),
        (#""layers":4096,"experts":4096,"top_k":2"#, "layers"),
    ])
    func headersTooLargeToHoldAreRefused(shape: String, field: String) {
        let text = #"{"moe_trace":1,"model":"big",\#(shape),"weights":"full"}"# + "\n"
        let error = userError { _ = try Self.readAll(Fixtures.write(text, name: "big.moetrace.jsonl")) }
        #expect(error?.field == field)
        #expect(error?.message.contains("more than moe-sim holds") == true)
        #expect(error?.line == 1)
    }

    /// `"shared_experts":1e300` passed the integer check and trapped converting to Int (found reviewing the
    /// conversions after the fuzzers' `Int(Double)` findings).
    @Test func aHugeSharedExpertCountIsAnError() {
        let text = #"{"moe_trace":1,"model":"toy","layers":2,"experts":4,"top_k":2,"weights":"none","shared_experts":1e300}"# + "\n"
        let error = userError { _ = try Self.readAll(Fixtures.write(text, name: "shared.moetrace.jsonl")) }
        #expect(error?.field == "shared_experts")
        #expect(error?.line == 1)
    }

    /// trace-jsonl: with --allow-wider-cells a cell may list up to `experts` ids, but counts are 8-bit: 128 ids trapped.
    @Test func aCellWiderThanACountCanHoldIsAnError() {
        let ids = (0..<128).map(String.init).joined(separator: ",")
        let text = #"{"moe_trace":1,"model":"wide","layers":1,"experts":200,"top_k":2,"weights":"none"}"# + "\n"
            + #"{"request":"a","phase":"decode","experts":[[\#(ids)]]}"# + "\n"
        let error = userError { _ = try Self.readAll(Fixtures.write(text, name: "wide.moetrace.jsonl"), allowWiderCells: true) }
        #expect(error?.field == "experts[0]")
        #expect(error?.message.contains("more than 127 experts") == true)
    }

    /// trace-jsonl: lookahead lists were bounded by `experts` only; 128 predicted ids trapped the 8-bit count.
    @Test func aLookaheadListWiderThanACountCanHoldIsAnError() {
        let ids = (0..<128).map(String.init).joined(separator: ",")
        let text = #"{"moe_trace":1,"model":"wide","layers":1,"experts":200,"top_k":2,"weights":"none"}"# + "\n"
            + #"{"request":"a","phase":"decode","experts":[[0,1]],"ahead":{"1":[[\#(ids)]]}}"# + "\n"
        let error = userError { _ = try Self.readAll(Fixtures.write(text, name: "ahead.moetrace.jsonl")) }
        #expect(error?.field == "ahead.1[0]")
    }

    /// `sim trace stats` allocated a dense experts x experts successor table per layer: at 65,536 experts that is
    /// 32 GiB. Above a size it now counts successors sparsely (same numbers).
    @Test func statsOfATraceWithTheMostExpertsRuns() throws {
        let text = #"{"moe_trace":1,"model":"many","layers":2,"experts":65536,"top_k":1,"weights":"none"}"# + "\n"
            + #"{"request":"a","phase":"decode","pos":0,"experts":[[65535],[7]]}"# + "\n"
            + #"{"request":"a","phase":"decode","pos":1,"experts":[[65535],[7]]}"# + "\n"
            + #"{"request":"a","phase":"decode","pos":2,"experts":[[65535],[9]]}"# + "\n"
        let result = Fixtures.sim(["trace", "stats", Fixtures.write(text, name: "many.moetrace.jsonl"), "--json"])
        #expect(result.code == 0, "\(result.err)")
        let stats = try JSONValue.parse(result.out)
        // Layer 0's top-1 expert 65535 was followed by 7 twice and 9 once: the top-1 successor guess is right 2 of 3.
        guard case let .array(layers)? = stats["perLayer"], let accuracy = layers.first?["transitionAccuracy"]?.numberValue else {
            Issue.record("no perLayer[0].transitionAccuracy in \(result.out)")
            return
        }
        #expect(abs(accuracy - 2.0 / 3.0) < 1e-12)
    }

    // MARK: Binary traces

    /// trace-binary: a request record whose JSON is malformed threw the JSON cursor's own error, which reached the
    /// user without the file or the record.
    @Test func aMalformedRequestRecordNamesTheFileAndRecord() {
        let path = Self.writeBinary(Self.binaryTrace(blocks: [[Self.requestRecord(#"{"request":"a"#)]]))
        let error = userError { _ = try Self.readAll(path) }
        #expect(error?.file == path)
        #expect(error?.field == "block 1, record 1")
        #expect(error?.message.contains("not valid JSON") == true)
    }

    /// trace-binary: request-record counts went through Int(Double) unchecked; 1e300 trapped.
    @Test(arguments: [#""prompt_tokens":1e300"#, #""output_tokens":-1"#, #""arrival_s":-2"#, #""task":5"#, #""prompt_tokens":1.5"#])
    func requestRecordFieldsAreHeldToTheJSONLRules(field: String) {
        let path = Self.writeBinary(Self.binaryTrace(blocks: [[Self.requestRecord(#"{"request":"a",\#(field)}"#)]]))
        let error = userError { _ = try Self.readAll(path) }
        #expect(error?.message.contains("request \"a\"") == true)
    }

    /// trace-binary: the binary reader skipped checks the JSONL reader makes, so a damaged (or hand-made) binary
    /// file with a valid checksum replayed routing the JSONL form of the same trace rejects.
    @Test func binaryRoutingIsHeldToTheJSONLRules() {
        let cases: [([[UInt8]], String)] = [
            ([Self.requestRecord(#"{"request":"a"}"#), Self.tokenRecord(position: 0, cells: [[(0, 0.5), (1, 0.25)], [(2, 0.5), (3, 0.5)]])],
             "weights sum to 0.75"),
            ([Self.requestRecord(#"{"request":"a"}"#), Self.tokenRecord(position: 0, cells: [[(1, 0.5), (1, 0.5)], [(2, 0.5), (3, 0.5)]])],
             "expert 1 listed twice"),
            ([Self.requestRecord(#"{"request":"a"}"#), Self.tokenRecord(position: 0, cells: [[(0, .nan), (1, 0.5)], [(2, 0.5), (3, 0.5)]])],
             "must be finite"),
            ([Self.requestRecord(#"{"request":"a"}"#), Self.tokenRecord(position: 5, cells: Self.goodCells),
              Self.tokenRecord(position: 5, cells: Self.goodCells)], "goes back in time"),
            ([Self.requestRecord(#"{"request":"a"}"#), Self.tokenRecord(position: -7, cells: Self.goodCells)], "position -7"),
            ([Self.requestRecord(#"{"request":"a"}"#), Self.requestRecord(#"{"request":"a","task":"t"}"#)], "announced twice"),
        ]
        for (records, needle) in cases {
            let path = Self.writeBinary(Self.binaryTrace(blocks: [records]))
            let error = userError { _ = try Self.readAll(path) }
            #expect(error?.message.contains(needle) == true, "\(needle): \(String(describing: error))")
            #expect(error?.field?.hasPrefix("block 1, record") == true)
        }
    }

    /// trace-binary: the header length and block length fields were used to allocate before they were checked
    /// against the file: a 4-byte length could ask for 4 GiB.
    @Test func lengthsLargerThanTheFileAreTruncationNotAllocations() {
        let header = userError { _ = try Self.readAll(Self.writeBinary(Self.binaryTrace(headerLength: 0xFF_FFFF, blocks: []))) }
        #expect(header?.message == "truncated header")
        var bytes = Self.binaryTrace(blocks: [], end: false)
        bytes += Self.le(UInt32.max) + Self.le(UInt32(1)) + Self.le(UInt64(0))
        let block = userError { _ = try Self.readAll(Self.writeBinary(bytes)) }
        #expect(block?.message == "file is truncated inside a block")
    }

    /// trace-jsonl -> binary: a JSONL trace with more than 65,536 experts would have trapped converting ids to 16 bits.
    @Test func theBinaryWriterRefusesMoreExpertsThanItsIdsHold() {
        let header = TraceHeader(model: "many", layers: 1, experts: 70_000, topK: 1, weights: .none)
        let path = Fixtures.temporaryDirectory().appendingPathComponent("many.moetrace").path
        let error = userError { _ = try BinaryTraceWriter(path: path, header: header) }
        #expect(error?.message.contains("at most 65536 experts") == true)
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    // MARK: Presets and profiles

    /// The shipped Mixtral spec with one member replaced (a JSON fragment).
    static func mixtral(replacing key: String, with value: String) throws -> String {
        let path = ResourceLocator.resourcesDirectory.appendingPathComponent("models/mixtral-8x7b.json").path
        guard case var .object(members) = try JSONValue.parse(String(contentsOfFile: path, encoding: .utf8)) else { throw MoESimError("not an object") }
        let index = try #require(members.firstIndex { $0.0 == key })
        members[index].1 = try JSONValue.parse(value)
        return Fixtures.write(JSONValue.object(members).serialized, name: "model.json")
    }

    /// model: parameter counts are Ints derived by products of user numbers; [[1e18, 1e18]] overflowed and trapped
    /// in `sim models show` (and every run with the model).
    @Test(arguments: [("expertMatrices", "[[1000000000000000000,1000000000000000000]]", "expertMatrices[0][0]"),
                      ("embeddingParams", "9000000000000000000", "embeddingParams"),
                      ("experts", "1000000", "experts"),
                      ("expertMatrices", "[[16777216,16777216]]", nil)])
    func modelSizesThatWouldOverflowAreRefused(key: String, value: String, field: String?) throws {
        let path = try Self.mixtral(replacing: key, with: value)
        let result = Fixtures.sim(["models", "show", path])
        #expect(result.code == 1)
        #expect(result.err.contains("more than moe-sim holds"), "\(result.err)")
        if let field { #expect(result.err.contains("field '\(field)'"), "\(result.err)") }
    }

    /// hardware: a number beyond a double (1e400) made Foundation's decoder fail with "The given data was not valid
    /// JSON." and nothing else; the field is now named.
    @Test func aNumberBeyondADoubleNamesItsField() throws {
        let path = ResourceLocator.resourcesDirectory.appendingPathComponent("hardware/rtx4090.json").path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let edited = text.replacingOccurrences(of: #""value": 25769803776,"#, with: #""value": 1e400,"#)
        #expect(edited != text)
        let result = Fixtures.sim(["hardware", "show", Fixtures.write(edited, name: "hw.json")])
        #expect(result.err.contains("field 'device.memoryBytes.value': number out of range"), "\(result.err)")
    }

    /// synth-profile: request lengths are drawn as Ints from the quantiles; 1e300 trapped (and 1e9 would have
    /// written a billion tokens per request).
    @Test func profileLengthsBeyondAnyContextAreRefused() throws {
        let path = ResourceLocator.resourcesDirectory.appendingPathComponent("profiles/mixtral-8x7b-humaneval.json").path
        guard case var .object(members) = try JSONValue.parse(String(contentsOfFile: path, encoding: .utf8)),
              let r = members.firstIndex(where: { $0.0 == "requests" }), case var .object(requests) = members[r].1,
              let o = requests.firstIndex(where: { $0.0 == "outputTokens" }), case var .object(output) = requests[o].1,
              let q = output.firstIndex(where: { $0.0 == "quantiles" }), case var .array(quantiles) = output[q].1 else {
            Issue.record("the shipped profile has no requests.outputTokens.quantiles")
            return
        }
        quantiles[quantiles.count - 1] = .number(1e300)
        output[q].1 = .array(quantiles)
        requests[o].1 = .object(output)
        members[r].1 = .object(requests)
        let result = Fixtures.sim(["trace", "synth", "--profile", Fixtures.write(JSONValue.object(members).serialized, name: "p.json")])
        #expect(result.code == 1)
        #expect(result.err.contains("field 'requests.outputTokens.quantiles[\(quantiles.count - 1)]': must be a token count"), "\(result.err)")
    }

    // MARK: Policy strings

    /// policy: `bytes=1e300` (or `fit` on a device with 1e300 bytes) converted experts-that-fit to Int and trapped;
    /// the count is clamped to every expert of the model first, as it was afterwards anyway.
    @Test func aCacheOfAbsurdBytesHoldsEveryExpert() throws {
        let spec = try CacheSpec.parse("lru-global:bytes=1e300")
        #expect(try spec.resolve(layers: 2, experts: 4, expertBytes: 1000, freeBytes: 1e300) == [8])
        #expect(try CacheSpec.parse("lru-per-layer:fit").resolve(layers: 2, experts: 4, expertBytes: 1000, freeBytes: 1e300) == [4, 4])
    }

    // MARK: Experiments

    /// experiment-spec: 8 axes of 10 values expanded 10^8 command lines in memory before anything ran.
    @Test func aSweepOfMoreRunsThanThePlanHoldsIsRefused() {
        let axes = (0..<8).map { i in #"{"option": "o\#(i)", "values": [\#((0..<10).map(String.init).joined(separator: ","))]}"# }
        let text = #"{"name": "bad", "description": "d", "command": ["run"], "axes": [\#(axes.joined(separator: ","))], "#
            + #""metrics": [{"name": "h", "path": "cache.hits", "kind": "count"}]}"#
        let error = ExperimentTests.decode(text)
        #expect(error?.field == "axes")
        #expect(error?.message.contains("more than 100000 runs") == true)
        // A check variant may not widen the sweep past it either.
        let wide = #"{"name": "bad", "description": "d", "command": ["run"], "axes": [{"option": "a", "values": [1]}, {"option": "b", "values": [1]}], "#
            + #""metrics": [{"name": "h", "path": "cache.hits", "kind": "count"}], "check": {"metrics": ["h"], "axes": {"#
            + #""a": [\#((0..<400).map(String.init).joined(separator: ","))], "b": [\#((0..<400).map(String.init).joined(separator: ","))]}}}"#
        #expect(ExperimentTests.decode(wide)?.field == "check.axes")
    }

    /// experiment-shard: a run index of 1e300 went through Int() unchecked and trapped in `sim experiment merge`.
    @Test(arguments: [(#""runCount":1e300"#, #""index":0"#, "runCount"), (#""runCount":2"#, #""index":1e300"#, "runs[0].index"),
                      (#""runCount":2"#, #""index":0.5"#, "runs[0].index")])
    func shardNumbersOutOfRangeAreErrors(runCount: String, index: String, field: String) {
        let text = #"{"schema":"moe-sim/experiment-shard/1","experiment":"x","shard":"0/1",\#(runCount),"shared":"s","spec":{},"#
            + #""runs":[{\#(index),"label":"l","command":"c","status":"skipped","reason":"r"}]}"#
        let path = Fixtures.write(text, name: "shard.json")
        let error = userError { _ = try ExperimentMerge.merge([path]) }
        #expect(error?.field == field)
    }

    // MARK: Recorder imports

    static func hookRow(problem: Int, layer: Int = 0, position: Int) -> String {
        #"{"problem_id":\#(problem),"layer":\#(layer),"token_pos":\#(position),"experts":[1,2],"gating_probs":[0.6,0.4]}"# + "\n"
    }

    /// import-hook-stream: a request's token slots come from the largest position; one row at token_pos 2e9 asked
    /// for a table of 2e9 slots per layer and exhausted memory.
    @Test func aTokenPositionBeyondAnyContextIsRefused() {
        let files = Fixtures.toyFiles()
        let input = Fixtures.write(Self.hookRow(problem: 0, position: 2_000_000_000), name: "hook.jsonl")
        let output = Fixtures.temporaryDirectory().appendingPathComponent("out.moetrace.jsonl").path
        let result = Fixtures.sim(["trace", "import", input, output, "--model", files.model])
        #expect(result.err.contains("hook.jsonl:1: field 'token_pos': 2000000000 is more than moe-sim imports (at most 1048575)"), "\(result.err)")
        #expect(!FileManager.default.fileExists(atPath: output))
    }

    /// Many requests each at the largest allowed position: refused from the sizes alone, before any table is built.
    @Test(arguments: ["hook-stream", "request-rows"])
    func recordingsTooLargeToHoldAreRefusedBeforeAllocating(format: String) {
        let rows = (0..<20).map { i in
            format == "hook-stream" ? Self.hookRow(problem: i, position: RecorderRow.maxTokenPosition)
                : #"{"req":"r\#(i)","layer":0,"tok":\#(RecorderRow.maxTokenPosition),"topk":[1]}"# + "\n"
        }.joined()
        let error = userError { _ = try RecorderFormat.named(format).read(Fixtures.write(rows, name: "big.jsonl")) }
        #expect(error?.message.contains("more than moe-sim imports at once") == true, "\(String(describing: error))")
    }

    /// import-hook-stream: weights 0.9425 + 0.0565 sum to 0.999 within the tolerance in float32 but just outside it
    /// as the decimals a trace holds, so the importer kept them as they were and wrote a trace its own reader
    /// rejected. They are now checked as written, and rescaled.
    @Test func importedWeightsAreCheckedAsTheTraceWillHoldThem() throws {
        let files = Fixtures.toyFiles()
        let input = Fixtures.write(#"{"problem_id":0,"layer":1,"token_pos":0,"experts":[1,2],"gating_probs":[0.9425,0.0565]}"# + "\n", name: "hook.jsonl")
        let output = Fixtures.temporaryDirectory().appendingPathComponent("out.moetrace.jsonl").path
        let result = Fixtures.sim(["trace", "import", input, output, "--model", files.model])
        #expect(result.code == 0, "\(result.err)")
        #expect(result.out.contains("warning: 1 cells had weights not summing to 1"), "\(result.out)")
        #expect(try Self.readAll(output) == 2)
    }

    /// import-layer-rows: a weight of 1.87e65 is a finite double but infinite as the float32 a trace holds;
    /// rescaling by the infinite sum wrote "nan" into the trace.
    @Test func aWeightBeyondFloat32IsAnError() {
        let row = #"{"problem_id":0,"layer":0,"token_idx":0,"experts":[0,1],"gating_probs":[0.8128673434257507,0.18713268637657e66]}"# + "\n"
        let error = userError { _ = try RecorderFormat.named("layer-rows").read(Fixtures.write(row, name: "rows.jsonl")) }
        #expect(error?.field == "gating_probs")
        #expect(error?.line == 1)
        #expect(error?.message.contains("float32") == true)
    }

    /// import-hook-stream, import-merge: a numeric request id (problem_id, req) of 1e300 trapped converting to Int.
    @Test(arguments: [("hook-stream", #"{"problem_id":1e300,"layer":0,"token_pos":0,"experts":[1,2]}"#, "problem_id"),
                      ("request-rows", #"{"req":1.7976931348623157e308,"layer":0,"tok":0,"topk":[1]}"#, "req")])
    func aNumericIdBeyondAnIntegerIsAnError(format: String, row: String, field: String) {
        let error = userError { _ = try RecorderFormat.named(format).read(Fixtures.write(row + "\n", name: "ids.jsonl")) }
        #expect(error?.field == field)
        #expect(error?.message.contains("expected a string or an integer id") == true)
    }
}
