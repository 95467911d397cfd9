import Foundation
import Testing
@testable import MoESim

/// Every bad input gives exactly one line on stderr starting with "error: ", a non-zero exit code,
/// and names where the problem is: file and line for traces, the field for profiles and options.
struct BadInputTests {
    let files = Fixtures.toyFiles()

    /// A token line of the toy trace (2 layers, top-2).
    static func token(pos: Int, experts: String = "[[0,1],[2,3]]", weights: String = "[[0.75,0.25],[0.75,0.25]]",
                      phase: String? = "decode", request: String = "r0") -> String {
        let phaseField = phase.map { #","phase":"\#($0)""# } ?? ""
        return #"{"request":"\#(request)"\#(phaseField),"pos":\#(pos),"experts":\#(experts),"weights":\#(weights)}"#
    }

    /// Header, request line, then `tokens` lines: token lines start at line 3.
    static func traceText(_ tokens: [String], header: String = Fixtures.header) -> String {
        ([header, #"{"request":"r0"}"#] + tokens).joined(separator: "\n") + "\n"
    }

    /// Runs the toy setup on `trace` (written to a fresh file) and returns the trace path and the result.
    func run(trace: String, cache: String = "lru-per-layer:2", _ extra: [String] = [], hardware: String? = nil,
             name: String = "bad.moetrace.jsonl") -> (path: String, result: (code: Int32, out: String, err: String)) {
        let path = Fixtures.write(trace, name: name)
        let result = Fixtures.sim(["--trace", path, "--hardware", hardware ?? files.hardware, "--model", files.model,
                                   "--runtime", files.runtime, "--cache", cache] + extra)
        return (path, result)
    }

    /// One-line error, non-zero exit, nothing on stdout, and every one of `needles` in the message.
    func expectError(_ result: (code: Int32, out: String, err: String), _ needles: [String],
                     sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(result.code != 0, "exit code", sourceLocation: sourceLocation)
        #expect(result.err.hasPrefix("error: "), "err: \(result.err)", sourceLocation: sourceLocation)
        #expect(result.err.hasSuffix("\n"), "err: \(result.err)", sourceLocation: sourceLocation)
        #expect(result.err.filter { $0 == "\n" || $0 == "\r" }.count == 1, "not one line: \(result.err)", sourceLocation: sourceLocation)
        #expect(result.out.isEmpty, "stdout: \(result.out)", sourceLocation: sourceLocation)
        for needle in needles {
            #expect(result.err.contains(needle), "'\(needle)' missing from: \(result.err)", sourceLocation: sourceLocation)
        }
    }

    // MARK: Control

    @Test func theUnmodifiedToyTraceRuns() {
        let (_, r) = run(trace: BadInputTests.traceText([BadInputTests.token(pos: 0), BadInputTests.token(pos: 1)]))
        #expect(r.code == 0, "\(r.err)")
        #expect(r.err.isEmpty)
        #expect(r.out.contains("Decode     2 tokens"))
    }

    // MARK: Trace syntax

    @Test func malformedJSONOnATokenLineNamesFileLineAndColumn() {
        let bad = BadInputTests.token(pos: 1, experts: "[[0,1] [2,3]]")
        let (path, r) = run(trace: BadInputTests.traceText([BadInputTests.token(pos: 0), bad, BadInputTests.token(pos: 2)]))
        // The cursor stops at the '[' after the space that should have been a comma.
        let column = bad.distance(from: bad.startIndex, to: bad.range(of: " [2,3]")!.lowerBound) + 2
        expectError(r, ["\(path):4:", "malformed JSON", "column \(column)", "expected ',' or ']'"])
    }

    @Test func truncatedLastLineNamesItsLine() {
        let full = BadInputTests.token(pos: 1)
        // Cut right after the "2" of the second cell: `..."experts":[[0,1],[2`
        let truncated = String(full[..<full.range(of: "[2")!.upperBound])
        #expect(truncated.hasSuffix(#""experts":[[0,1],[2"#))
        let trace = ([Fixtures.header, #"{"request":"r0"}"#, BadInputTests.token(pos: 0), truncated]).joined(separator: "\n")
        let (path, r) = run(trace: trace)
        expectError(r, ["\(path):4:", "malformed JSON", "end of line"])
    }

    @Test func lineThatIsNotAnObjectIsAnError() {
        let (path, r) = run(trace: BadInputTests.traceText([BadInputTests.token(pos: 0), "[1,2]"]))
        expectError(r, ["\(path):4:", "expected a JSON object"])
    }

    @Test func malformedHeaderNamesLine1() {
        let (path, r) = run(trace: #"{"moe_trace":1,"model":"toy","#)
        expectError(r, ["\(path):1:", "malformed JSON header"])
    }

    // MARK: Header

    @Test func headerWithoutVersionNamesMoeTrace() {
        let header = #"{"model":"toy","layers":2,"experts":4,"top_k":2,"weights":"topk"}"#
        let (path, r) = run(trace: BadInputTests.traceText([BadInputTests.token(pos: 0)], header: header))
        expectError(r, ["\(path):1:", "field 'moe_trace'", "\"moe_trace\":1"])
    }

    @Test func headerWithWrongVersionNamesMoeTrace() {
        let header = Fixtures.header.replacingOccurrences(of: #""moe_trace":1"#, with: #""moe_trace":2"#)
        let (path, r) = run(trace: BadInputTests.traceText([BadInputTests.token(pos: 0)], header: header))
        expectError(r, ["\(path):1:", "field 'moe_trace'", "unsupported format version 2"])
    }

    @Test func headerWithUnknownWeightsKindNamesWeights() {
        let header = Fixtures.header.replacingOccurrences(of: #""weights":"topk""#, with: #""weights":"softmax""#)
        let (path, r) = run(trace: BadInputTests.traceText([BadInputTests.token(pos: 0)], header: header))
        expectError(r, ["\(path):1:", "field 'weights'", "softmax"])
    }

    @Test func headerTopKAboveExpertsNamesTopK() {
        let header = Fixtures.header.replacingOccurrences(of: #""top_k":2"#, with: #""top_k":5"#)
        let (path, r) = run(trace: BadInputTests.traceText([BadInputTests.token(pos: 0)], header: header))
        expectError(r, ["\(path):1:", "field 'top_k'"])
    }

    @Test func headerThatDoesNotMatchTheModelNamesLayers() {
        let header = Fixtures.header.replacingOccurrences(of: #""layers":2"#, with: #""layers":3"#)
        let token = BadInputTests.token(pos: 0, experts: "[[0,1],[2,3],[0,1]]", weights: "[[0.75,0.25],[0.75,0.25],[0.75,0.25]]")
        let (path, r) = run(trace: BadInputTests.traceText([token], header: header))
        expectError(r, ["\(path):1:", "field 'layers'", "the trace has 3", "has 2"])
    }

    @Test func headerExpertCountThatDoesNotMatchTheModelNamesExperts() {
        let header = Fixtures.header.replacingOccurrences(of: #""experts":4"#, with: #""experts":8"#)
        let (path, r) = run(trace: BadInputTests.traceText([BadInputTests.token(pos: 0)], header: header))
        expectError(r, [path, "field 'experts'", "the trace has 8"])
    }

    // MARK: Routing cells

    @Test func fewerLayerEntriesThanTheHeader() {
        let (path, r) = run(trace: BadInputTests.traceText([BadInputTests.token(pos: 0, experts: "[[0,1]]", weights: "[[0.75,0.25]]")]))
        expectError(r, ["\(path):3:", "field 'experts'", "expected 2 layer entries, found 1"])
    }

    @Test func moreLayerEntriesThanTheHeader() {
        let (path, r) = run(trace: BadInputTests.traceText([
            BadInputTests.token(pos: 0),
            BadInputTests.token(pos: 1, experts: "[[0,1],[2,3],[0,1]]", weights: "[[0.75,0.25],[0.75,0.25],[0.75,0.25]]"),
        ]))
        expectError(r, ["\(path):4:", "field 'experts'", "more than 2 layer entries"])
    }

    @Test func outOfRangeExpertIdNamesTheCell() {
        let (path, r) = run(trace: BadInputTests.traceText([BadInputTests.token(pos: 0, experts: "[[0,1],[2,4]]")]))
        expectError(r, ["\(path):3:", "field 'experts[1][1]'", "expert id 4 out of range [0, 4)"])
    }

    @Test func negativeExpertIdNamesTheCell() {
        let (path, r) = run(trace: BadInputTests.traceText([BadInputTests.token(pos: 0, experts: "[[-1,1],[2,3]]")]))
        expectError(r, ["\(path):3:", "field 'experts[0][0]'", "out of range"])
    }

    @Test func duplicateExpertInACell() {
        let (path, r) = run(trace: BadInputTests.traceText([BadInputTests.token(pos: 0), BadInputTests.token(pos: 1, experts: "[[0,1],[3,3]]")]))
        expectError(r, ["\(path):4:", "field 'experts[1]'", "expert 3 listed twice"])
    }

    @Test func moreThanTopKExperts() {
        let (path, r) = run(trace: BadInputTests.traceText([
            BadInputTests.token(pos: 0, experts: "[[0,1,2],[2,3]]", weights: "[[0.5,0.25,0.25],[0.75,0.25]]"),
        ]))
        expectError(r, ["\(path):3:", "field 'experts[0]'", "more than top_k = 2", "--allow-wider-cells"])
    }

    @Test func weightsNotSummingToOneNameTheLayer() {
        let (path, r) = run(trace: BadInputTests.traceText([BadInputTests.token(pos: 0, weights: "[[0.75,0.25],[0.5,0.25]]")]))
        expectError(r, ["\(path):3:", "field 'weights[1]'", "sum to 0.75"])
    }

    @Test func negativeWeightNamesTheEntry() {
        let (path, r) = run(trace: BadInputTests.traceText([BadInputTests.token(pos: 0, weights: "[[1.25,-0.25],[0.75,0.25]]")]))
        expectError(r, ["\(path):3:", "field 'weights[0][1]'", "-0.25"])
    }

    @Test func weightCountThatDiffersFromExpertCount() {
        let (path, r) = run(trace: BadInputTests.traceText([BadInputTests.token(pos: 0, weights: "[[1.0],[0.75,0.25]]")]))
        expectError(r, ["\(path):3:", "field 'weights[0]'", "1 weights for 2 experts"])
    }

    @Test func nullWeightsWhereExpertsAreNotNull() {
        let (path, r) = run(trace: BadInputTests.traceText([BadInputTests.token(pos: 0, weights: "[null,[0.75,0.25]]")]))
        expectError(r, ["\(path):3:", "field 'weights[0]'", "null exactly where experts is null"])
    }

    @Test func tokenLineWithoutPhase() {
        let (path, r) = run(trace: BadInputTests.traceText([BadInputTests.token(pos: 0), BadInputTests.token(pos: 1, phase: nil)]))
        expectError(r, ["\(path):4:", "field 'phase'", "without \"phase\""])
    }

    @Test func unknownPhase() {
        let (path, r) = run(trace: BadInputTests.traceText([BadInputTests.token(pos: 0, phase: "generate")]))
        expectError(r, ["\(path):3:", "field 'phase'", "\"generate\""])
    }

    @Test func tokenLineWithoutRequest() {
        let line = #"{"phase":"decode","pos":0,"experts":[[0,1],[2,3]],"weights":[[0.75,0.25],[0.75,0.25]]}"#
        let (path, r) = run(trace: BadInputTests.traceText([line]))
        expectError(r, ["\(path):3:", "field 'request'"])
    }

    @Test func requestGoingBackInTime() {
        let (path, r) = run(trace: BadInputTests.traceText([
            BadInputTests.token(pos: 5), BadInputTests.token(pos: 6), BadInputTests.token(pos: 4),
        ]))
        expectError(r, ["\(path):5:", "field 'pos'", "\"r0\" goes back in time: pos 4 after pos 6"])
    }

    @Test func repeatedPositionIsAlsoGoingBackInTime() {
        let (path, r) = run(trace: BadInputTests.traceText([BadInputTests.token(pos: 3), BadInputTests.token(pos: 3)]))
        expectError(r, ["\(path):4:", "field 'pos'"])
    }

    @Test func nullCellWithMissingErrorNamesTheCell() {
        let trace = BadInputTests.traceText([BadInputTests.token(pos: 0), BadInputTests.token(pos: 1, experts: "[[0,1],null]", weights: "[[0.75,0.25],null]")])
        let (path, r) = run(trace: trace, ["--missing", "error"])
        expectError(r, ["\(path):4:", "field 'experts[1]'", "null cell", "--missing skip"])
        // The same trace replays under the default (skip) and counts the cell.
        let (_, skipped) = run(trace: trace)
        #expect(skipped.code == 0, "\(skipped.err)")
        #expect(skipped.out.contains("1 null cells"))
    }

    @Test func missingOptionWithAnUnknownValue() {
        let (_, r) = run(trace: BadInputTests.traceText([BadInputTests.token(pos: 0)]), ["--missing", "ignore"])
        expectError(r, ["field '--missing'", "'ignore'"])
    }

    /// Known bug: user text is echoed verbatim, so a newline inside a trace string (legal JSON, `\n`) or an argument
    /// splits the error over two lines.
    @Test func errorsStayOneLineWhenTheInputContainsANewline() {
        let (path, r) = run(trace: BadInputTests.traceText([BadInputTests.token(pos: 0, phase: #"de\ncode"#)]))
        #expect(r.code != 0)
        #expect(r.err.hasPrefix("error: \(path):3: field 'phase'"))
        let hardware = Fixtures.sim(["--hardware", "rtx\n4090", "--trace", "x.jsonl"])
        #expect(hardware.code != 0)
        #expect(r.err.filter { $0 == "\n" }.count == 1, "\(r.err)")
        #expect(hardware.err.filter { $0 == "\n" }.count == 1, "\(hardware.err)")
    }

    // MARK: Trace files

    @Test func missingTraceOption() {
        let r = Fixtures.sim(["--hardware", files.hardware, "--model", files.model])
        expectError(r, ["field '--trace'", "a trace file is required"])
    }

    @Test func nonexistentTracePath() {
        let path = Fixtures.temporaryDirectory().appendingPathComponent("nope.moetrace.jsonl").path
        let r = Fixtures.sim(["--trace", path, "--hardware", files.hardware, "--model", files.model])
        expectError(r, [path, "cannot open file"])
    }

    @Test func traceThatIsADirectory() {
        let path = Fixtures.temporaryDirectory().path
        let r = Fixtures.sim(["--trace", path, "--hardware", files.hardware, "--model", files.model])
        expectError(r, [path, "directory"])
    }

    @Test func emptyTraceFile() {
        let (path, r) = run(trace: "")
        expectError(r, ["\(path):1:", "empty trace"])
    }

    @Test func blankOnlyTraceFileIsEmpty() {
        let (path, r) = run(trace: "\n   \n\n")
        expectError(r, [path, "empty trace"])
    }

    // MARK: Hardware

    @Test func unknownHardwareSuggestsTheCloseName() {
        let (_, r) = run(trace: BadInputTests.traceText([BadInputTests.token(pos: 0)]), hardware: "4009")
        expectError(r, ["field '--hardware'", "unknown hardware '4009'", "did you mean '4090'?"])
    }

    @Test func unknownHardwareWithATypoInTheFullName() {
        let (_, r) = run(trace: BadInputTests.traceText([BadInputTests.token(pos: 0)]), hardware: "rtx4009")
        expectError(r, ["field '--hardware'", "did you mean 'rtx4090'?"])
    }

    @Test func negativeLinkBandwidthNamesTheField() {
        let hw = Fixtures.toyFiles(hardware: Fixtures.hardware(h2d: -1e8)).hardware
        let (_, r) = run(trace: BadInputTests.traceText([BadInputTests.token(pos: 0)]), hardware: hw)
        expectError(r, [hw, "field 'hostLink.h2dBytesPerSecond.value'", "-100000000"])
    }

    @Test func negativeMemoryBandwidthNamesTheField() {
        let text = Fixtures.hardware().replacingOccurrences(of: #""memoryBandwidthBytesPerSecond":{"value":1e9,"#,
                                                            with: #""memoryBandwidthBytesPerSecond":{"value":-1e9,"#)
        #expect(text != Fixtures.hardware())
        let hw = Fixtures.write(text, name: "negative-bw.json")
        let (_, r) = run(trace: BadInputTests.traceText([BadInputTests.token(pos: 0)]), hardware: hw)
        expectError(r, [hw, "field 'device.memoryBandwidthBytesPerSecond.value'"])
    }

    @Test func fractionAboveOneNamesTheField() {
        let text = Fixtures.hardware().replacingOccurrences(of: #""achievedMemoryBandwidthFraction":{"value":1,"#,
                                                            with: #""achievedMemoryBandwidthFraction":{"value":1.5,"#)
        #expect(text != Fixtures.hardware())
        let hw = Fixtures.write(text, name: "fraction.json")
        let (_, r) = run(trace: BadInputTests.traceText([BadInputTests.token(pos: 0)]), hardware: hw)
        expectError(r, [hw, "field 'device.achievedMemoryBandwidthFraction.value'", "fraction"])
    }

    @Test func contentionWithoutTheDuringFigureNamesIt() {
        let hw = Fixtures.toyFiles(hardware: Fixtures.hardware(contention: true)).hardware
        let (_, r) = run(trace: BadInputTests.traceText([BadInputTests.token(pos: 0)]), hardware: hw)
        expectError(r, [hw, "field 'hostLink.h2dBytesPerSecondDuringD2H'"])
    }

    @Test func profileMissingARequiredFieldNamesIt() {
        let text = Fixtures.hardware().replacingOccurrences(of: #""fp16FlopsPerSecond":{"value":1e18,"source":"test"},"#, with: "")
        #expect(text != Fixtures.hardware())
        let hw = Fixtures.write(text, name: "missing-field.json")
        let (_, r) = run(trace: BadInputTests.traceText([BadInputTests.token(pos: 0)]), hardware: hw)
        expectError(r, [hw, "field 'device.fp16FlopsPerSecond'", "required field is missing"])
    }

    @Test func profileWithAWrongTypeNamesTheField() {
        let text = Fixtures.hardware().replacingOccurrences(of: #""copyEngines":{"value":2,"#, with: #""copyEngines":{"value":"two","#)
        #expect(text != Fixtures.hardware())
        let hw = Fixtures.write(text, name: "wrong-type.json")
        let (_, r) = run(trace: BadInputTests.traceText([BadInputTests.token(pos: 0)]), hardware: hw)
        expectError(r, [hw, "field 'hostLink.copyEngines.value'", "expected a number"])
    }

    @Test func malformedJSONProfileNamesTheFile() {
        let text = String(Fixtures.hardware().dropLast(40))
        let hw = Fixtures.write(text, name: "truncated.json")
        let (_, r) = run(trace: BadInputTests.traceText([BadInputTests.token(pos: 0)]), hardware: hw)
        expectError(r, [hw])
        // JSONDecoder on Linux gives no position; the loader finds it with the project's own cursor.
        #expect(r.err.contains("malformed JSON at column"), "\(r.err)")
    }

    @Test func nonexistentProfilePath() {
        let hw = Fixtures.temporaryDirectory().appendingPathComponent("absent.json").path
        let (_, r) = run(trace: BadInputTests.traceText([BadInputTests.token(pos: 0)]), hardware: hw)
        expectError(r, [hw, "cannot read file"])
    }

    @Test func negativeRuntimeOverheadNamesTheField() {
        let text = Fixtures.runtime().replacingOccurrences(of: #""perExpertOverheadSeconds":{"value":0,"#,
                                                           with: #""perExpertOverheadSeconds":{"value":-0.001,"#)
        #expect(text != Fixtures.runtime())
        let rt = Fixtures.write(text, name: "runtime.json")
        let trace = Fixtures.write(BadInputTests.traceText([BadInputTests.token(pos: 0)]), name: "t.moetrace.jsonl")
        let r = Fixtures.sim(["--trace", trace, "--hardware", files.hardware, "--model", files.model, "--runtime", rt])
        expectError(r, [rt, "field 'perExpertOverheadSeconds.value'"])
    }

    // MARK: Memory and cache

    @Test func residentWeightsThatDoNotFitNameTheHardware() {
        // 4.002 MB of resident weights plus 4 x 2 MB transfer buffers do not fit in 5 MB.
        let hw = Fixtures.toyFiles(hardware: Fixtures.hardware(memoryBytes: 5e6)).hardware
        let (_, r) = run(trace: BadInputTests.traceText([BadInputTests.token(pos: 0)]), cache: "lru-per-layer:4", hardware: hw)
        expectError(r, ["field '--hardware'", "do not fit", "toy-gpu"])
    }

    @Test func cacheLargerThanDeviceMemoryNamesTheCache() {
        // 20 MB: 12.002 MB weights and buffers fit, 8 experts x 2 MB = 16 MB of cache do not.
        let hw = Fixtures.toyFiles(hardware: Fixtures.hardware(memoryBytes: 2e7)).hardware
        let (_, r) = run(trace: BadInputTests.traceText([BadInputTests.token(pos: 0)]), cache: "lru-per-layer:4", hardware: hw)
        expectError(r, ["field '--cache'", "the cache (8 experts", "larger than the device memory left for it"])
        // A cache that fits is accepted on the same device.
        let (_, fits) = run(trace: BadInputTests.traceText([BadInputTests.token(pos: 0)]), cache: "lru-per-layer:1", hardware: hw)
        #expect(fits.code == 0, "\(fits.err)")
    }

    @Test func perLayerCapacityAboveTheExpertsOfALayer() {
        let (_, r) = run(trace: BadInputTests.traceText([BadInputTests.token(pos: 0)]), cache: "lru-per-layer:5")
        expectError(r, ["field '--cache'", "per-layer capacity 5 exceeds the 4 experts"])
    }

    @Test func globalCapacityAboveAllExperts() {
        let (_, r) = run(trace: BadInputTests.traceText([BadInputTests.token(pos: 0)]), cache: "lru-global:9")
        expectError(r, ["field '--cache'", "capacity 9 exceeds the model's 8 experts"])
    }

    @Test func capacityListWithTheWrongLength() {
        let (_, r) = run(trace: BadInputTests.traceText([BadInputTests.token(pos: 0)]), cache: "lru-per-layer:1,2,3")
        expectError(r, ["field '--cache'", "3 entries", "2 MoE layers"])
    }

    @Test func unknownCachePolicy() {
        let (_, r) = run(trace: BadInputTests.traceText([BadInputTests.token(pos: 0)]), cache: "mru-per-layer:2")
        expectError(r, ["field '--cache'", "unknown cache policy 'mru'", "known: lru"])
    }

    @Test func unreadableCacheSpec() {
        let (_, r) = run(trace: BadInputTests.traceText([BadInputTests.token(pos: 0)]), cache: "lru-sideways:2")
        expectError(r, ["field '--cache'", "per-layer or global"])
    }

    // MARK: Options

    @Test func unknownOptionSuggestsTheCloseOne() {
        let r = Fixtures.sim(["--hardwre", "4090", "--trace", "x.jsonl"])
        expectError(r, ["field '--hardwre'", "unknown option", "did you mean --hardware?"])
        #expect(r.err.contains("did you mean --hardware? see --help"), "\(r.err)")
    }

    @Test func unknownOptionFarFromAnyPointsAtHelp() {
        let r = Fixtures.sim(["--trace", "x.jsonl", "--zzzzzzzzzzzzzzzzzz"])
        expectError(r, ["field '--zzzzzzzzzzzzzzzzzz'", "unknown option", "see --help"])
    }

    @Test func optionWithoutItsValue() {
        let r = Fixtures.sim(["--trace"])
        expectError(r, ["field '--trace'", "needs a value"])
    }

    @Test func optionGivenTwice() {
        let r = Fixtures.sim(["--trace", "a", "--trace", "b"])
        expectError(r, ["field '--trace'", "given twice"])
    }

    @Test func unknownQuantizationSuggestsTheCloseOne() {
        let (_, r) = run(trace: BadInputTests.traceText([BadInputTests.token(pos: 0)]), ["--quant", "fp17"])
        expectError(r, ["field '--quant'", "unknown quantization 'fp17'", "did you mean 'fp16'?"])
    }

    @Test func unknownModel() {
        let trace = Fixtures.write(BadInputTests.traceText([BadInputTests.token(pos: 0)]), name: "t.moetrace.jsonl")
        let r = Fixtures.sim(["--trace", trace, "--hardware", files.hardware, "--model", "mixtral-8x8b"])
        expectError(r, ["field '--model'", "unknown model 'mixtral-8x8b'", "did you mean 'mixtral-8x7b'?"])
    }

    @Test func unknownRuntime() {
        let trace = Fixtures.write(BadInputTests.traceText([BadInputTests.token(pos: 0)]), name: "t.moetrace.jsonl")
        let r = Fixtures.sim(["--trace", trace, "--hardware", files.hardware, "--model", files.model, "--runtime", "turbo"])
        expectError(r, ["field '--runtime'", "unknown runtime 'turbo'", "hf-eager"])
    }

    @Test func unknownPrefetchPolicy() {
        let (_, r) = run(trace: BadInputTests.traceText([BadInputTests.token(pos: 0)]), ["--prefetch", "psychic"])
        expectError(r, ["field '--prefetch'", "unknown prefetch policy 'psychic'", "oracle-next-layer"])
    }

    @Test func negativeKVReserve() {
        let (_, r) = run(trace: BadInputTests.traceText([BadInputTests.token(pos: 0)]), ["--kv-reserve-tokens", "-5"])
        expectError(r, ["field '--kv-reserve-tokens'", "'-5'"])
    }

    @Test func badBaselineSet() {
        let (_, r) = run(trace: BadInputTests.traceText([BadInputTests.token(pos: 0)]), ["--baseline", "cache"])
        expectError(r, ["field '--baseline'", "key=value"])
        let (_, unknownKey) = run(trace: BadInputTests.traceText([BadInputTests.token(pos: 0)]), ["--baseline", "colour=red"])
        expectError(unknownKey, ["field '--baseline'", "unknown key 'colour'"])
    }

    @Test func jsonAndCSVTogether() {
        let (_, r) = run(trace: BadInputTests.traceText([BadInputTests.token(pos: 0)]), ["--json", "--csv"])
        expectError(r, ["--json and --csv"])
    }

    @Test func unknownCommand() {
        let r = Fixtures.sim(["simulate"])
        expectError(r, ["unknown command 'simulate'"])
    }

    @Test func unknownHardwareInShow() {
        let r = Fixtures.sim(["hardware", "show", "4009"])
        expectError(r, ["unknown hardware '4009'", "'4090'"])
    }

    @Test func synthRefusesToOverwriteWithoutForce() {
        let out = Fixtures.write("keep me\n", name: "existing.moetrace.jsonl")
        let r = Fixtures.sim(["trace", "synth", "--model", files.model, "--tokens", "2", "--out", out])
        expectError(r, [out, "already exists", "--force"])
        #expect(try! String(contentsOfFile: out, encoding: .utf8) == "keep me\n")
    }

    @Test func synthWithABadNumber() {
        let r = Fixtures.sim(["trace", "synth", "--model", files.model, "--tokens", "many"])
        expectError(r, ["field '--tokens'", "'many'"])
        let reuse = Fixtures.sim(["trace", "synth", "--model", files.model, "--reuse", "1.5"])
        expectError(reuse, ["field '--reuse'", "'1.5'"])
    }
}
