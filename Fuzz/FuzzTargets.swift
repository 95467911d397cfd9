import Foundation

/// Every fuzz target: one per parser a user's input reaches.
let fuzzTargets: [FuzzTarget] = [
    FuzzTarget(name: "trace-jsonl", summary: "moe-trace v1 JSONL: read, stats, write back (JSONL and binary) and read again", run: FuzzTraces.jsonl),
    FuzzTarget(name: "trace-binary", summary: "binary .moetrace (block checksums fixed up first): read, write as JSONL, read again", run: FuzzTraces.binary),
    FuzzTarget(name: "hardware", summary: "hardware preset JSON: load, validate, `sim hardware show`", run: FuzzPresets.hardware),
    FuzzTarget(name: "model", summary: "model spec JSON: load, validate, `sim models show`, a replay of the toy trace with it", run: FuzzPresets.model),
    FuzzTarget(name: "runtime", summary: "runtime profile JSON: load, validate, `sim runtime show`, a replay with it", run: FuzzPresets.runtime),
    FuzzTarget(name: "system", summary: "system preset JSON: load, validate, `sim systems show`, a replay with --system FILE", run: FuzzPresets.system),
    FuzzTarget(name: "synth-profile", summary: "synthetic profile JSON: load, validate, `sim trace synth --profile FILE` (resampled to Mixtral)",
               run: FuzzPresets.profile),
    FuzzTarget(name: "experiment-spec", summary: "experiment spec JSON: load, plan, check variant, results files (report, CSV, SVG)",
               run: FuzzExperiments.spec),
    FuzzTarget(name: "experiment-shard", summary: "a shard.json of `sim experiment run --shard`: `sim experiment merge` of it", run: FuzzExperiments.shard),
    FuzzTarget(name: "import-hook-stream", summary: "`sim trace import --from hook-stream`, output read back", run: FuzzImport.hookStream),
    FuzzTarget(name: "import-layer-rows", summary: "`sim trace import --from layer-rows`, output read back", run: FuzzImport.layerRows),
    FuzzTarget(name: "import-request-rows", summary: "`sim trace import --from request-rows`, output read back", run: FuzzImport.requestRows),
    FuzzTarget(name: "import-merge", summary: "`sim trace import` of up to 3 recordings (split at a line ----), formats detected, merged",
               run: FuzzImport.merge),
    FuzzTarget(name: "measurements", summary: "a measurements CSV (sim calibrate, sim fidelity): read, then `sim fidelity` of its rows on the toy trace",
               run: FuzzMeasurements.run),
    FuzzTarget(name: "figures", summary: "numbers of every shipped hardware/runtime preset (and Mixtral) set over 1e-300..1e308 and the range edges, then `sim run` and `sim serve`",
               run: FuzzFigures.run),
    FuzzTarget(name: "policy", summary: "--gating / --prefetch / --cache strings (lines 1-3): parse, then a replay of the toy trace", run: FuzzPolicies.run),
]

enum FuzzTraces {
    /// Reads a whole trace and writes it back as JSONL text (in memory).
    static func readAll(_ reader: TraceRecordSource) throws -> (text: String, tokens: Int) {
        let writer = TraceWriter()
        writer.write(header: reader.header)
        let stats = TraceStatisticsCollector(header: reader.header, sensitivity: nil)
        var tokens = 0
        while let item = try reader.next() {
            switch item {
            case let .request(i): writer.write(request: reader.requests[i])
            case .token:
                writer.write(token: reader.token, requestID: reader.requests[reader.token.request].id, header: reader.header)
                stats.add(reader.token, weightsAreFull: reader.header.weights == .full)
                tokens += 1
            }
        }
        _ = stats.finish(file: "fuzz", header: reader.header, requests: reader.requests.count, nullCells: 0, sensitivitySource: nil)
        return (writer.text, tokens)
    }

    static func jsonl(_ bytes: UnsafeBufferPointer<UInt8>, _ env: FuzzEnvironment) {
        let path = env.file("input.moetrace.jsonl", bytes)
        let first: String
        do {
            first = try readAll(try TraceReader(path: path, missingCells: .skip)).text
        } catch {
            expectUserError(error, "trace-jsonl")
            return
        }
        // What the reader accepted, written back, must read again to the same text (JSONL and binary alike).
        let again = env.file("again.moetrace.jsonl", UnsafeBufferPointer(start: nil, count: 0))
        try! Data(first.utf8).write(to: URL(fileURLWithPath: again))
        let second: String
        do { second = try readAll(try TraceReader(path: again, missingCells: .skip)).text } catch {
            finding("trace-jsonl: a trace the reader accepted, written back, does not read: \(error)")
        }
        if second != first { finding("trace-jsonl: reading the written-back trace gives different text") }
        let binaryPath = env.path("again.moetrace")
        do {
            let reader = try TraceReader(path: again, missingCells: .skip)
            let sink = try createTrace(path: binaryPath, header: reader.header, overwrite: true)
            while let item = try reader.next() {
                switch item {
                case let .request(i): sink.write(request: reader.requests[i])
                case .token: sink.write(token: reader.token, requestID: reader.requests[reader.token.request].id)
                }
            }
            try sink.close()
        } catch {
            // The binary form may refuse what it cannot hold; then it must say so.
            expectUserError(error, "trace-jsonl -> binary")
            return
        }
        do {
            let third = try readAll(try BinaryTraceReader(path: binaryPath, missingCells: .skip)).text
            if third != first { finding("trace-jsonl: the binary form of an accepted trace reads back different") }
        } catch {
            finding("trace-jsonl: the binary form of an accepted trace does not read: \(error)")
        }
    }

    /// Recomputes every block checksum it can find, so mutations reach the record parser instead of all failing
    /// the checksum (the checksum check itself is covered by tests).
    static func fixChecksums(_ input: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        var bytes = Array(input)
        let start = BinaryTraceFormat.magic.count + 8
        guard bytes.count >= start else { return bytes }
        func u32(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 | Int(bytes[at + 2]) << 16 | Int(bytes[at + 3]) << 24 }
        var offset = start + u32(BinaryTraceFormat.magic.count + 4)
        while offset + BinaryTraceFormat.blockHeaderBytes <= bytes.count {
            let length = u32(offset)
            let payloadStart = offset + BinaryTraceFormat.blockHeaderBytes
            guard length > 0, payloadStart + length <= bytes.count else { break }
            let sum = bytes[payloadStart..<(payloadStart + length)].withUnsafeBytes { BinaryTraceFormat.checksum($0) }
            withUnsafeBytes(of: sum.littleEndian) { for (i, b) in $0.enumerated() { bytes[offset + 8 + i] = b } }
            offset = payloadStart + length
        }
        return bytes
    }

    static func binary(_ input: UnsafeBufferPointer<UInt8>, _ env: FuzzEnvironment) {
        let fixed = fixChecksums(input)
        let path = fixed.withUnsafeBufferPointer { env.file("input.moetrace", $0) }
        let text: String
        do {
            text = try readAll(try BinaryTraceReader(path: path, missingCells: .skip)).text
        } catch {
            expectUserError(error, "trace-binary")
            return
        }
        let again = env.path("again.moetrace.jsonl")
        try! Data(text.utf8).write(to: URL(fileURLWithPath: again))
        do {
            let second = try readAll(try TraceReader(path: again, missingCells: .skip)).text
            if second != text { finding("trace-binary: the JSONL form of an accepted binary trace reads back different") }
        } catch {
            expectUserError(error, "trace-binary -> JSONL")
            // Both readers check the weights as float32 (`TraceReader.weightsSumToOne`): no rounding excuse is left.
            finding("trace-binary: the binary reader accepted a trace the JSONL reader rejects: \(error)")
        }
    }
}

enum FuzzPresets {
    static func hardware(_ bytes: UnsafeBufferPointer<UInt8>, _ env: FuzzEnvironment) {
        let path = env.file("hardware.json", bytes)
        tolerate("hardware") { _ = try HardwareCatalog.load(path: path) }
        runSim(["hardware", "show", path])
        runSim(["--hardware", path, "--trace", env.toyTracePath, "--model", env.modelPath, "--quant", "hqq2", "--cache", "lru-per-layer:fit", "--json"])
    }

    static func model(_ bytes: UnsafeBufferPointer<UInt8>, _ env: FuzzEnvironment) {
        let path = env.file("model.json", bytes)
        tolerate("model") { _ = try ModelCatalog.load(path: path) }
        runSim(["models", "show", path])
        runSim(["--model", path, "--trace", env.toyTracePath, "--hardware", env.hardwarePath, "--cache", "lru-global:fit", "--json"])
    }

    static func runtime(_ bytes: UnsafeBufferPointer<UInt8>, _ env: FuzzEnvironment) {
        let path = env.file("runtime.json", bytes)
        tolerate("runtime") { _ = try RuntimeCatalog.load(path: path) }
        runSim(["runtime", "show", path])
        runSim(["--runtime", path, "--trace", env.toyTracePath, "--model", env.modelPath, "--hardware", env.hardwarePath, "--quant", "hqq2",
                "--cache", "lru-per-layer:3", "--prefetch", "next-layer-gate", "--json"])
    }

    static func system(_ bytes: UnsafeBufferPointer<UInt8>, _ env: FuzzEnvironment) {
        let path = env.file("system.json", bytes)
        tolerate("system") { _ = try SystemCatalog.load(path: path) }
        runSim(["systems", "show", path])
        runSim(["--system", path, "--trace", env.toyTracePath, "--model", env.modelPath, "--hardware", env.hardwarePath, "--json"])
    }

    static func profile(_ bytes: UnsafeBufferPointer<UInt8>, _ env: FuzzEnvironment) {
        let path = env.file("profile.json", bytes)
        var valid = false
        tolerate("synth-profile") {
            let profile = try SyntheticProfileCatalog.load(path: path)
            valid = true
            // Request lengths (the CLI run below fixes them): drawn by inverse CDF from the profile's quantiles.
            let synthesizer = ProfiledTraceSynthesizer(profile: profile, model: try ModelCatalog.load(path: env.modelPath), options: .init())
            var rng = SeededGenerator(seed: 1)
            for d in [profile.requests.promptTokens, profile.requests.outputTokens].compactMap({ $0 }) {
                for _ in 0..<8 { _ = synthesizer.draw(d, &rng) }
            }
            for _ in 0..<8 { _ = synthesizer.drawTask(&rng) }
        }
        let (code, out) = runSim(["trace", "synth", "--profile", path, "--model", env.modelPath, "--tokens", "5", "--prompt", "2", "--requests", "2"])
        if valid && code != 0 { finding("synth-profile: a profile that validates does not synthesize") }
        guard code == 0 else { return }
        // What synth writes must be a trace the reader accepts.
        let written = env.path("synth.moetrace.jsonl")
        try! Data(out.utf8).write(to: URL(fileURLWithPath: written))
        do { _ = try FuzzTraces.readAll(try TraceReader(path: written, missingCells: .error)) } catch {
            finding("synth-profile: the synthesized trace does not read: \(error)")
        }
    }
}

enum FuzzExperiments {
    static func spec(_ bytes: UnsafeBufferPointer<UInt8>, _ env: FuzzEnvironment) {
        // The spec's name must match its file name: seeds are rewritten to name "fuzz".
        let path = env.file("fuzz.json", bytes)
        tolerate("experiment-spec") {
            let spec = try ExperimentSpec.load(path: path)
            try render(ExperimentPlan(spec: spec, sharedDirectory: "/nonexistent-shared"), env)
            if spec.check != nil { try render(ExperimentPlan(spec: try spec.checkSpec(), sharedDirectory: "/nonexistent-shared"), env) }
        }
    }

    /// Every output file of a results folder, with runs ok (the harness's sample report), skipped and failed in turn.
    static func render(_ plan: ExperimentPlan, _ env: FuzzEnvironment) throws {
        let outcomes = plan.runs.map { run -> RunOutcome in
            switch run.index % 4 {
            case 2: return RunOutcome(index: run.index, status: .failed("fuzz: failed"))
            case 3: return RunOutcome(index: run.index, status: .skipped("fuzz: skipped"))
            default: return RunOutcome(index: run.index, status: .ok(env.sampleReport))
            }
        }
        let results = try ExperimentResults(plan: plan, outcomes: outcomes)
        for file in results.files() where file.contents.isEmpty { finding("experiment: empty output file \(file.name)") }
        _ = ExperimentMerge.shardJSON(plan: plan, shard: Shard(index: 0, count: 1), outcomes: outcomes)
    }

    static func shard(_ bytes: UnsafeBufferPointer<UInt8>, _ env: FuzzEnvironment) {
        let path = env.file("shard.json", bytes)
        tolerate("experiment-shard") {
            let results = try ExperimentMerge.merge([path])
            _ = results.files()
        }
    }
}

enum FuzzImport {
    static func hookStream(_ bytes: UnsafeBufferPointer<UInt8>, _ env: FuzzEnvironment) { single(bytes, env, format: "hook-stream") }
    static func layerRows(_ bytes: UnsafeBufferPointer<UInt8>, _ env: FuzzEnvironment) { single(bytes, env, format: "layer-rows") }
    static func requestRows(_ bytes: UnsafeBufferPointer<UInt8>, _ env: FuzzEnvironment) { single(bytes, env, format: "request-rows") }

    static func single(_ bytes: UnsafeBufferPointer<UInt8>, _ env: FuzzEnvironment, format: String) {
        let path = env.file("recording.jsonl", bytes)
        importAndReadBack([path], format: format, env)
    }

    static func merge(_ bytes: UnsafeBufferPointer<UInt8>, _ env: FuzzEnvironment) {
        let separator = Array("\n----\n".utf8)
        var pieces: [[UInt8]] = [[]]
        var i = 0
        while i < bytes.count {
            if pieces.count < 3, i + separator.count <= bytes.count, Array(bytes[i..<(i + separator.count)]) == separator {
                pieces.append([])
                i += separator.count
                continue
            }
            pieces[pieces.count - 1].append(bytes[i])
            i += 1
        }
        let paths = pieces.enumerated().map { index, piece in piece.withUnsafeBufferPointer { env.file("recording-\(index).jsonl", $0) } }
        importAndReadBack(paths, format: nil, env)
    }

    /// Imports with the model fixed (Mixtral-8x7B, as the seeds are) and checks the written trace reads.
    static func importAndReadBack(_ inputs: [String], format: String?, _ env: FuzzEnvironment) {
        var options = TraceImporter.Options()
        options.format = format
        options.model = env.modelPath
        options.overwrite = true
        let output = env.path("imported.moetrace.jsonl")
        do {
            _ = try TraceImporter(options: options).run(inputs: inputs, output: output)
        } catch {
            expectUserError(error, "import")
            return
        }
        do { _ = try FuzzTraces.readAll(try TraceReader(path: output, missingCells: .skip)) } catch {
            finding("import: the imported trace does not read: \(error)")
        }
    }
}

enum FuzzPolicies {
    static func run(_ bytes: UnsafeBufferPointer<UInt8>, _ env: FuzzEnvironment) {
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
        let gating = lines.count > 0 ? lines[0] : "topk"
        let prefetch = lines.count > 1 ? lines[1] : "none"
        let cache = lines.count > 2 ? lines[2] : "lru-per-layer:4"
        tolerate("--gating") { _ = try PolicySpec.gating(gating) }
        tolerate("--prefetch") { _ = try PolicySpec.prefetch(prefetch) }
        tolerate("--cache") { _ = try CacheSpec.parse(cache) }
        runSim(["--trace", env.toyTracePath, "--model", env.modelPath, "--hardware", env.hardwarePath, "--quant", "hqq2",
                "--gating", gating, "--prefetch", prefetch, "--cache", cache, "--json"])
    }
}

enum FuzzMeasurements {
    /// Reads the file; when it reads, simulates its rows on the toy trace (no one-point fit: that would be slow).
    static func run(_ bytes: UnsafeBufferPointer<UInt8>, _ env: FuzzEnvironment) {
        let path = env.file("measurements.csv", bytes)
        var valid = false
        tolerate("measurements") { _ = try MeasurementFile.load(path: path); valid = true }
        guard valid else { return }
        runSim(["fidelity", "--measurements", path, "--trace", env.toyTracePath, "--one-point-fit", "none", "--jobs", "1", "--json"])
    }
}
