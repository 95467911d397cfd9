import Foundation
@testable import MoESim

/// Small inputs with round numbers, so expected results can be worked out by hand in each test.
///
/// Toy model: 2 MoE layers, 4 experts, top-2; one expert = one 1000x1000 matrix = 1e6 params (2e6 B in fp16);
/// attention 1e6 params/layer (2e6 B); KV cache 2 elements (4 B) per token per layer; LM head absent, so the
/// per-pass step reads the 1000-param embedding (2000 B).
/// Toy hardware: 1e9 B/s memory (fraction 1), effectively unlimited flops, 1e8 B/s links, no setup latency.
/// Toy runtime: no overheads, no write-back, whole-expert transfers, nothing reserved.
enum Fixtures {
    static let expertBytes = 2_000_000.0
    static let memoryBandwidth = 1e9
    static let linkBandwidth = 1e8
    /// One expert's compute (memory-bound): 2 ms.
    static let expertSeconds = expertBytes / memoryBandwidth
    /// One expert's load: 20 ms.
    static let loadSeconds = expertBytes / linkBandwidth
    static let passOverheadSeconds = 2000.0 / memoryBandwidth

    /// Attention of one layer for a decode token at context length `context`: weights + KV read + KV write.
    static func attentionSeconds(context: Int) -> Double {
        (2_000_000.0 + 4.0 * Double(context - 1) + 4.0) / memoryBandwidth
    }

    static let model = """
    {"schema":"moe-sim/model/1","name":"toy","title":"toy model","hiddenSize":1000,"moeLayers":2,"denseLayers":0,"denseFFNParams":0,
     "experts":4,"topK":2,"sharedExperts":0,"expertMatrices":[[1000,1000]],"expertBiasParams":0,"sharedExpertMatrices":[],
     "sharedExpertBiasParams":0,"attention":{"heads":1,"kvHeads":1,"headDim":1,"paramsPerLayer":1000000,"kvCacheElementsPerToken":2,"slidingWindow":null},
     "routerParamsPerLayer":0,"normParamsPerLayer":0,"embeddingParams":1000,"lmHeadParams":0,"finalNormParams":0,
     "defaultQuantization":"fp16","sources":["test fixture"]}
    """

    static func hardware(h2d: Double = linkBandwidth, copyEngines: Int = 2, memoryBytes: Double = 1e12,
                         contention: Bool = false, h2dDuringD2H: Double? = nil) -> String {
        let during = h2dDuringD2H.map { ",\"h2dBytesPerSecondDuringD2H\":{\"value\":\($0),\"source\":\"test\"}" } ?? ""
        return """
        {"schema":"moe-sim/hardware/1","name":"toy-gpu","title":"toy GPU","offloadTier":"host",
         "device":{"memoryBytes":{"value":\(memoryBytes),"source":"test"},"memoryBandwidthBytesPerSecond":{"value":1e9,"source":"test"},
           "achievedMemoryBandwidthFraction":{"value":1,"source":"test"},"fp16FlopsPerSecond":{"value":1e18,"source":"test"},
           "int8OpsPerSecond":{"value":1e18,"source":"test"},"achievedComputeFraction":{"value":1,"source":"test"}},
         "hostLink":{"name":"toy link","h2dBytesPerSecond":{"value":\(h2d),"source":"test"},"d2hBytesPerSecond":{"value":1e8,"source":"test"},
           "setupLatencySeconds":{"value":0,"source":"test"},"copyEngines":{"value":\(copyEngines),"source":"test"},
           "bidirectionalContention":{"value":\(contention),"source":"test"}\(during)},
         "host":{"memoryBytes":{"value":1e12,"source":"test"},"memoryBandwidthBytesPerSecond":{"value":1e11,"source":"test"},
           "cpuFlopsPerSecond":{"value":1e12,"source":"test"},"cpuCores":{"value":8,"source":"test"}}}
        """
    }

    /// `extra`: further fields as JSON members (`"streams":{"value":"single","source":"test"}`, ...).
    static func runtime(writeBack: Bool = false, pipelining: Bool = false, perLayer: Double = 0, perExpert: Double = 0,
                        perPass: Double = 0, extra: [String: String] = [:]) -> String {
        let more = extra.sorted { $0.key < $1.key }.map { ",\"\($0.key)\":\($0.value)" }.joined()
        func number(_ x: Double) -> String { x == 0 ? "0" : "\(x)" }
        return """
        {"schema":"moe-sim/runtime/1","name":"toy-runtime","title":"toy runtime"\(more),
         "perLayerOverheadSeconds":{"value":\(number(perLayer)),"source":"test"},"perExpertOverheadSeconds":{"value":\(number(perExpert)),"source":"test"},
         "perPassOverheadSeconds":{"value":\(number(perPass)),"source":"test"},"fusedDequant":{"value":true,"source":"test"},
         "writeBackOnEvict":{"value":\(writeBack),"source":"test"},"maxInFlightTransfers":{"value":4,"source":"test"},
         "subMatrixPipelining":{"value":\(pipelining),"source":"test"},"reservedDeviceBytes":{"value":0,"source":"test"}}
        """
    }

    /// A runtime field's JSON: `{"value":V,"source":"test"}`.
    static func field(_ value: String) -> String { #"{"value":\#(value),"source":"test"}"# }

    static let header = #"{"moe_trace":1,"model":"toy","layers":2,"experts":4,"top_k":2,"weights":"topk"}"#

    /// A toy trace: one request; each entry of `tokens` is one decode token's per-layer expert lists.
    static func trace(_ tokens: [[[Int]]], phase: String = "decode", startPosition: Int = 0) -> String {
        var lines = [header, #"{"request":"r0"}"#]
        for (i, layers) in tokens.enumerated() {
            // A layer with no expert is a null cell (an empty selection is not one; replayed with none under --missing skip).
            let experts = "[" + layers.map { $0.isEmpty ? "null" : "[" + $0.map(String.init).joined(separator: ",") + "]" }.joined(separator: ",") + "]"
            let weights = "[" + layers.map { cell in
                cell.count == 2 ? "[0.75,0.25]" : (cell.count == 1 ? "[1.0]" : "null")
            }.joined(separator: ",") + "]"
            lines.append(#"{"request":"r0","phase":"\#(phase)","pos":\#(startPosition + i),"experts":\#(experts),"weights":\#(weights)}"#)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A fresh temporary folder for one test.
    static func temporaryDirectory() -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("moe-sim-tests-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Writes `contents` to a file named `name` in a fresh temporary folder and returns its path.
    static func write(_ contents: String, name: String) -> String {
        let url = temporaryDirectory().appendingPathComponent(name)
        try! contents.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    /// Paths of the toy model, hardware and runtime files.
    static func toyFiles(hardware: String = Fixtures.hardware(), runtime: String = Fixtures.runtime()) -> (model: String, hardware: String, runtime: String) {
        (write(model, name: "toy-model.json"), write(hardware, name: "toy-gpu.json"), write(runtime, name: "toy-runtime.json"))
    }

    /// Runs the `sim` tool in-process.
    static func sim(_ arguments: [String]) -> (code: Int32, out: String, err: String) {
        var out = "", err = ""
        let code = CommandLineTool.run(arguments, out: &out, err: &err)
        return (code, out, err)
    }

    /// Runs a toy simulation and returns its report.
    static func simulate(_ trace: String, cache: String, prefetch: String = "none", hardware: String = Fixtures.hardware(),
                         runtime: String = Fixtures.runtime(), initialFill: ExpertCache.InitialFill = .empty) throws -> Report {
        let files = toyFiles(hardware: hardware, runtime: runtime)
        let config = SimulationConfig(hardware: try HardwareCatalog.load(path: files.hardware), model: try ModelCatalog.load(path: files.model),
                                      quantization: try QuantizationCatalog.resolve("fp16"), runtime: try RuntimeCatalog.load(path: files.runtime),
                                      cache: try CacheSpec.parse(cache), prefetch: prefetch, initialFill: initialFill, kvReserveTokens: 0)
        return try checkedRun(Simulation(config: config, source: try TracePassSource(path: write(trace, name: "toy.moetrace.jsonl"))))
    }

    /// Runs a simulation with the invariant checker on (`sim run --check`): a violation fails the calling test.
    static func checkedRun(_ simulation: Simulation) throws -> Report {
        let checker = InvariantChecker(simulation: simulation)
        simulation.observer = checker
        let report = try simulation.run()
        try checker.verify(report: report)
        return report
    }

    /// The repository root (for shipped traces) and ../shared beside it.
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let sharedTraces: URL = {
        if let env = ProcessInfo.processInfo.environment["MOESIM_SHARED_TRACES"], !env.isEmpty { return URL(fileURLWithPath: env) }
        return repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/traces")
    }()
    static var sharedTracesPresent: Bool {
        FileManager.default.fileExists(atPath: sharedTraces.appendingPathComponent("mixtral-8x7b-vllm-fp8/humaneval0.moetrace.jsonl").path)
    }
    /// `MOESIM_REQUIRE_SHARED=1` (set by .ci/run): tests that need ../shared run, and fail, when it is absent,
    /// instead of being skipped.
    static var sharedTracesRequired: Bool { ProcessInfo.processInfo.environment["MOESIM_REQUIRE_SHARED"] == "1" }
    /// Whether tests that need ../shared run: it is present, or required.
    static var sharedTracesAvailable: Bool { sharedTracesPresent || sharedTracesRequired }
    /// The route traces of ../shared/traces/bigmoeonedge-route-trace (same rule as `sharedTracesAvailable`).
    static var routeTracesAvailable: Bool {
        sharedTracesRequired || FileManager.default.fileExists(atPath: routeTrace("qwen.route.csv"))
    }
    static func routeTrace(_ name: String) -> String { sharedTraces.appendingPathComponent("bigmoeonedge-route-trace/\(name)").path }
    static func sharedTrace(_ name: String) -> String { sharedTraces.appendingPathComponent("mixtral-8x7b-vllm-fp8/\(name)").path }
}
