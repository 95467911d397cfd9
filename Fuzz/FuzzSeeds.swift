import Foundation

/// Builds the seed corpus at run time (`MOESIM_FUZZ_TARGET=make-seeds MOESIM_FUZZ_SEEDS=DIR`): small slices of the
/// repository's traces and of the shared traces (MOESIM_FUZZ_SHARED, default ../shared/traces; skipped when
/// absent), the shipped presets, profiles and experiment specs, and inputs made here (binary traces, recorder rows,
/// shard files, a small fitted profile). Nothing of ../shared is ever committed: the corpus lives under DIR.
enum FuzzSeeds {
    static func make(into folder: String, _ env: FuzzEnvironment) {
        let repo = URL(fileURLWithPath: env.resources).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let shared = ProcessInfo.processInfo.environment["MOESIM_FUZZ_SHARED"] ?? repo + "/../shared/traces"
        var counts: [String: Int] = [:]
        func put(_ target: String, _ name: String, _ text: String) { putBytes(target, name, Array(text.utf8)) }
        func putBytes(_ target: String, _ name: String, _ bytes: [UInt8]) {
            let dir = folder + "/" + target
            try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try! Data(bytes).write(to: URL(fileURLWithPath: dir + "/" + name))
            counts[target, default: 0] += 1
        }
        func lines(_ path: String) -> [String] {
            guard let data = FileManager.default.contents(atPath: path) else { return [] }
            return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
        }
        func jsonFiles(_ dir: String) -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".json") }.sorted().map { dir + "/" + $0 }
        }

        // Traces: the first lines of each (header, request lines, a few tokens), JSONL and binary.
        var traceSlices: [(String, String)] = []
        let traceFiles = ((try? FileManager.default.contentsOfDirectory(atPath: repo + "/traces")) ?? []).filter { $0.hasSuffix(".jsonl") }.sorted()
            .map { repo + "/traces/" + $0 }
            + ["mixtral-8x7b-vllm-fp8/humaneval0.moetrace.jsonl", "mixtral-8x7b-vllm-fp8/humaneval-decode.moetrace.jsonl"].map { shared + "/" + $0 }
        for path in traceFiles {
            let all = lines(path)
            guard !all.isEmpty else { continue }
            let name = URL(fileURLWithPath: path).lastPathComponent
            traceSlices.append((name, all.prefix(6).joined(separator: "\n") + "\n"))
        }
        traceSlices.append(("toy.moetrace.jsonl", String(decoding: FileManager.default.contents(atPath: env.toyTracePath)!, as: UTF8.self)))
        traceSlices += handWrittenTraces
        for (name, text) in traceSlices {
            put("trace-jsonl", name, text)
            let source = env.path("seed.moetrace.jsonl"), target = env.path("seed.moetrace")
            try! Data(text.utf8).write(to: URL(fileURLWithPath: source))
            do {
                let reader = try TraceReader(path: source)
                let sink = try createTrace(path: target, header: reader.header, overwrite: true)
                while let item = try reader.next() {
                    switch item {
                    case let .request(i): sink.write(request: reader.requests[i])
                    case .token: sink.write(token: reader.token, requestID: reader.requests[reader.token.request].id)
                    }
                }
                try sink.close()
                putBytes("trace-binary", name.replacingOccurrences(of: ".jsonl", with: ""), Array(FileManager.default.contents(atPath: target)!))
            } catch {
                FileHandle.standardError.write(Data("make-seeds: \(name) is not a valid trace (kept as a JSONL seed only): \(error)\n".utf8))
            }
        }

        // Presets, profiles and experiment specs as shipped.
        for (kind, target) in [("hardware", "hardware"), ("models", "model"), ("runtimes", "runtime"), ("systems", "system"), ("profiles", "synth-profile")] {
            for path in jsonFiles(env.resources + "/" + kind) { put(target, URL(fileURLWithPath: path).lastPathComponent, lines(path).joined(separator: "\n")) }
        }
        put("synth-profile", "small-fitted.json", smallProfile(env))
        for path in jsonFiles(repo + "/experiments") {
            guard let spec = try? ExperimentSpec.load(path: path) else { continue }
            var text = lines(path).joined(separator: "\n")
            text = text.replacingOccurrences(of: "\"name\": \"\(spec.name)\"", with: "\"name\": \"fuzz\"")
            put("experiment-spec", URL(fileURLWithPath: path).lastPathComponent, text)
            // A one-shard run of its plan, as `sim experiment run --shard 0/1` writes it.
            if let renamed = try? ExperimentSpec.decode(try JSONValue.parse(text), file: "fuzz.json") {
                let plan = ExperimentPlan(spec: renamed, sharedDirectory: "/nonexistent-shared")
                let outcomes = plan.runs.map { RunOutcome(index: $0.index, status: $0.index % 3 == 2 ? .skipped("absent") : .ok(env.sampleReport)) }
                put("experiment-shard", URL(fileURLWithPath: path).lastPathComponent,
                    ExperimentMerge.shardJSON(plan: plan, shard: Shard(index: 0, count: 1), outcomes: outcomes))
            }
        }

        // Recorder files: slices of the shared recordings, and the toy trace written in each recorder's layout.
        let original = shared + "/mixtral-8x7b-vllm-fp8/original"
        let hook = lines(original + "/analysis/deep_analysis/routing_raw.jsonl").filter { ($0.contains("\"token_pos\": 0,") || $0.contains("\"token_pos\": 1,")) }
        if !hook.isEmpty { put("import-hook-stream", "routing_raw-slice.jsonl", hook.prefix(80).joined(separator: "\n") + "\n") }
        for file in ["analysis/deep_analysis/humaneval_1_routing.jsonl", "routing_data_collected/humaneval_2_routing.jsonl"] {
            let rows = lines(original + "/" + file).filter { $0.contains("\"token_idx\": 0}") || $0.contains("\"token_idx\": 1}") }
            if !rows.isEmpty { put("import-layer-rows", URL(fileURLWithPath: file).lastPathComponent, rows.prefix(64).joined(separator: "\n") + "\n") }
        }
        let toy = toyRows(env)
        put("import-hook-stream", "toy-hook.jsonl", toy.hook)
        put("import-layer-rows", "toy-layer-rows.jsonl", toy.layerRows)
        put("import-request-rows", "toy-request-rows.jsonl", toy.requestRows)
        put("import-request-rows", "hand.jsonl", """
            {"req":"r7","domain":"qa","phase":"prefill","layer":0,"tok":0,"topk":[5,2],"gate_w":[0.8,0.2]}
            {"req":"r7","domain":"qa","phase":"decode","layer":1,"tok":130,"topk":[1,2],"gate_w":[0.6,0.4]}
            {"req":7,"phase":"decode","layer":3,"tok":2,"topk":[0]}

            """)
        put("import-merge", "hook-and-layer-rows.jsonl", toy.hook + "----\n" + toy.layerRows)
        put("import-merge", "request-and-layer-rows.jsonl", toy.requestRows + "----\n" + toy.layerRows + "----\n" + toy.hook)
        if let first = hook.first, let second = lines(original + "/routing_data_collected/humaneval_2_routing.jsonl").first {
            put("import-merge", "shared-two-formats.jsonl", first + "\n----\n" + second + "\n")
        }

        // Measurements files as shipped, and one that reads the toy trace.
        for path in ((try? FileManager.default.contentsOfDirectory(atPath: repo + "/experiments/measurements")) ?? []).filter({ $0.hasSuffix(".csv") }).sorted() {
            put("measurements", path, lines(repo + "/experiments/measurements/" + path).joined(separator: "\n"))
        }
        put("measurements", "toy.csv", "# source: fuzz seed\noptions,measured_tokens_per_second,measured_ttft_seconds,measured_hit_rate,note,group,anchor\n"
            + "--hardware \(env.hardwarePath) --model \(env.modelPath) --quant hqq2 --cache lru-per-layer:2,3.5,0.2,0.5,\"a, b\",g,yes\n")
        // Figures: each shipped preset unchanged, and with its first numbers at a range edge and on the log scale.
        for i in env.figurePresets.indices {
            let p = UInt8(i)
            putBytes("figures", "preset-\(i)", [p])
            putBytes("figures", "preset-\(i)-edges", [p, 0, 0, 1] + [UInt8](repeating: 0, count: 8) + [1, 1, 0, 1] + [UInt8](repeating: 0, count: 8) + [3])
            putBytes("figures", "preset-\(i)-log", [p, 2, 0, 0, 0x58, 0x02, 200, 0, 0, 0, 0, 0])
        }

        // Policy strings: gating, prefetch and cache, one per line.
        for (i, text) in policySeeds.enumerated() { put("policy", "seed-\(i).txt", text) }
        for target in fuzzTargets.map(\.name) {
            FileHandle.standardError.write(Data("make-seeds: \(target): \(counts[target] ?? 0) seeds\n".utf8))
        }
    }

    /// A profile fitted to a small 2-layer, 4-expert trace: short enough for the fuzzer to mutate quickly.
    static func smallProfile(_ env: FuzzEnvironment) -> String {
        var generator = SyntheticTraceGenerator(layers: 2, experts: 4, topK: 2, seed: 3)
        let header = generator.header(model: "tiny")
        let writer = TraceWriter()
        writer.write(header: header)
        var record = generator.makeRecord()
        writer.write(request: RequestInfo(id: "t/0", task: "t", promptTokens: 2, outputTokens: 40))
        for p in 0..<42 {
            generator.next(into: &record)
            record.phase = p < 2 ? .prefill : .decode
            record.position = p
            writer.write(token: record, requestID: "t/0", header: header)
        }
        let path = env.path("tiny.moetrace.jsonl")
        try! Data(writer.text.utf8).write(to: URL(fileURLWithPath: path))
        var options = ProfileFitter.Options()
        options.name = "tiny"
        options.calibration.rounds = 1
        options.calibration.finalRoundTokens = 50
        return try! ProfileFitter.fit(path: path, options: options).jsonText()
    }

    /// The toy trace's first tokens as each recorder would have written them.
    static func toyRows(_ env: FuzzEnvironment) -> (hook: String, layerRows: String, requestRows: String) {
        let reader = try! TraceReader(path: env.toyTracePath)
        var hook = "", layerRows = "", requestRows = ""
        var layerRowLines: [(Int, String)] = []
        var decodeStep = 0
        while let item = try! reader.next() {
            guard case .token = item, reader.token.request == 0, reader.token.position < 6 else { continue }
            let t = reader.token
            let prefill = t.phase == .prefill
            for layer in 0..<t.layers where layer < 4 {
                let n = Int(t.counts[layer])
                let experts = (0..<n).map { String(t.experts[layer * t.slotsPerLayer + $0]) }.joined(separator: ",")
                let weights = (0..<n).map { "\(t.weights[layer * t.weightsPerLayer + $0])" }.joined(separator: ",")
                let pos = prefill ? t.position : 0
                hook += "{\"dataset\":\"toy\",\"problem_id\":0,\"layer\":\(layer),\"token_pos\":\(pos),\"experts\":[\(experts)],\"gating_probs\":[\(weights)]}\n"
                if !prefill {
                    layerRowLines.append((layer, "{\"dataset\":\"toy\",\"problem_id\":0,\"layer\":\(layer),\"experts\":[\(experts)],\"gating_probs\":[\(weights)],\"token_idx\":\(decodeStep)}\n"))
                }
                requestRows += "{\"req\":\"toy/0\",\"domain\":\"toy\",\"phase\":\"\(prefill ? "prefill" : "decode")\",\"layer\":\(layer),\"tok\":\(t.position),\"topk\":[\(experts)],\"gate_w\":[\(weights)]}\n"
            }
            if !prefill { decodeStep += 1 }
        }
        // The layer-rows recorder groups rows by layer.
        layerRows = layerRowLines.enumerated().sorted { ($0.element.0, $0.offset) < ($1.element.0, $1.offset) }.map(\.element.1).joined()
        return (hook, layerRows, requestRows)
    }

    /// Small traces for the cases the shipped traces lack: full weights, no weights, null cells, lookahead,
    /// request fields, blank lines.
    static let handWrittenTraces: [(String, String)] = [
        ("full-weights.moetrace.jsonl", """
            {"moe_trace":1,"model":"tiny","layers":2,"experts":4,"top_k":2,"weights":"full","shared_experts":1}
            {"request":"a","task":"t","arrival_s":0.5,"prompt_tokens":1,"output_tokens":2,"slo_ttft_s":1.5}
            {"request":"a","phase":"prefill","pos":0,"experts":[[0,1],[2,3]],"weights":[[0.5,0.3,0.1,0.1],[0.1,0.1,0.5,0.3]]}
            {"request":"a","phase":"decode","pos":1,"experts":[[3,0],null],"weights":[[0.3,0.1,0.1,0.5],null]}

            """),
        ("no-weights-ahead.moetrace.jsonl", """
            {"moe_trace":1,"model":"tiny","layers":3,"experts":8,"top_k":2,"weights":"none","note":{"x":[1,2]}}

            {"request":"b/1","phase":"decode","experts":[[0,7],[1],[]],"ahead":{"1":[[1,2],null,[3]],"2":[[4],[5],[6]]}}
            {"request":"b/1","phase":"decode","experts":[null,[2,3],[4,5]],"unknown":"kept"}
            """),
        ("topk-nulls.moetrace.jsonl", """
            {"moe_trace":1,"model":"mixtral-8x7b","layers":2,"experts":8,"top_k":2,"weights":"topk"}
            {"request":"c","task":null}
            {"request":"c","phase":"prefill","pos":0,"experts":[[1,2],null],"weights":[[0.75,0.25],null]}
            {"request":"d","phase":"decode","pos":3,"experts":[[5],[6,7]],"weights":[[1.0],[0.5,0.5]]}
            """),
    ]

    static let policySeeds = [
        "topk\nnone\nlru-per-layer:4",
        "adapmoe:T=0.007,prefill\nnext-layer-gate:depth=2,issue=all\nlru-global:bytes=6GiB",
        "score:T=0.2\nmixtral-offloading\nlfu-per-layer:fit",
        "topk\noracle:link=low-priority,admit=cache,buffers=2\nbelady-per-layer:1,2,3,4,5,6,7,8,1,2,3,4,5,6,7,8,1,2,3,4,5,6,7,8,1,2,3,4,5,6,7,8",
        "topk\noracle-next-layer\nadapmoe-dp:total=64",
        "adapmoe\nnext-layer-gate:link=preempt\nadapmoe-dp-measured:total=40,prefix=4",
        "topk\nnone\nstatic-global:total=100",
        "topk\nnone\nmrs-per-layer:2",
        "topk\nnone\nfifo-global:128",
        "topk\nnone\nall-resident",
        "topk\nnone\nnone",
    ]
}
