import Foundation
import Testing
@testable import MoESim

/// The `sim` command line: help, catalogs, output formats, synthetic traces, baselines.
struct CLITests {
    static let hardwareNames: Set<String> = ["a100-40g-pcie", "a100-80g-sxm", "rtx4090", "rtx3090", "rtx3080-laptop-16g", "rtx3060-12g", "rtx3060-12g-gen3",
                                             "rtx-a6000", "t4", "jetson-agx-orin-64g", "jetson-orin-nano-8g", "snapdragon-8-gen5-ufs4"]
    static let modelNames: Set<String> = ["mixtral-8x7b", "mixtral-8x22b", "deepseek-v2-lite", "qwen1.5-moe-a2.7b", "qwen3-30b-a3b",
                                          "olmoe-1b-7b", "gpt-oss-20b", "gpt-oss-120b"]

    let files = Fixtures.toyFiles()
    let threeTokens: [[[Int]]] = [[[0, 1], [2, 3]], [[1, 2], [0, 3]], [[0, 3], [1, 2]]]

    func toyRun(_ extra: [String], cache: String = "lru-per-layer:2") -> (code: Int32, out: String, err: String) {
        let trace = Fixtures.write(Fixtures.trace(threeTokens), name: "toy.moetrace.jsonl")
        return Fixtures.sim(["--trace", trace, "--hardware", files.hardware, "--model", files.model, "--runtime", files.runtime,
                             "--cache", cache] + extra)
    }

    /// First whitespace-separated word of each non-empty line after the column header, up to the first blank line.
    static func firstColumn(_ text: String) -> [String] {
        var names: [String] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).dropFirst() {
            if line.trimmingCharacters(in: .whitespaces).isEmpty { break }
            names.append(String(line.split(separator: " ").first!))
        }
        return names
    }

    /// Splits one CSV line, honouring double-quoted fields.
    static func csvFields(_ line: Substring) -> [String] {
        var fields: [String] = [], current = "", quoted = false
        var chars = Array(line)[...]
        while let c = chars.popFirst() {
            if quoted {
                if c == "\"" {
                    if chars.first == "\"" { current.append("\""); chars.removeFirst() } else { quoted = false }
                } else { current.append(c) }
            } else if c == "\"" { quoted = true
            } else if c == "," { fields.append(current); current = ""
            } else { current.append(c) }
        }
        fields.append(current)
        return fields
    }

    // MARK: Help

    @Test func topLevelHelpShowsUsageAndExamples() {
        for args in [["--help"], ["-h"], ["help"], []] {
            let r = Fixtures.sim(args)
            #expect(r.code == 0, "\(args)")
            #expect(r.err.isEmpty)
            #expect(r.out.contains("Usage:"))
            #expect(r.out.contains("sim hardware list"))
            #expect(r.out.contains("sim --hardware 4090 --trace "))
            #expect(r.out.contains("sim hardware show rtx4090"))
        }
    }

    @Test func runHelpListsOptionsAndExamples() {
        for args in [["run", "--help"], ["--help", "run"], ["--trace", "x", "--help"]] {
            let r = Fixtures.sim(args)
            #expect(r.code == 0, "\(args): \(r.err)")
            #expect(r.err.isEmpty)
            #expect(r.out.hasPrefix("Usage: sim [run] --trace FILE"))
            #expect(r.out.contains("Examples:"))
            #expect(r.out.contains("--baseline \"cache=none\""))
            for option in RunCommand.options { #expect(r.out.contains("--\(option.name)"), "\(option.name)") }
            #expect(r.out.contains("[default: lru-per-layer:fit]"))
        }
    }

    @Test func synthHelp() {
        let r = Fixtures.sim(["trace", "synth", "--help"])
        #expect(r.code == 0)
        #expect(r.out.contains("Usage: sim trace synth"))
        #expect(r.out.contains("Example:"))
        #expect(r.out.contains("--seed"))
    }

    @Test func version() {
        let r = Fixtures.sim(["--version"])
        #expect(r.code == 0)
        #expect(r.out == "moe-sim \(CommandLineTool.version)\n")
    }

    // MARK: Catalogs

    @Test func hardwareListNamesAllPresets() {
        for args in [["hardware", "list"], ["hardware"]] {
            let r = Fixtures.sim(args)
            #expect(r.code == 0)
            #expect(r.err.isEmpty)
            let names = CLITests.firstColumn(r.out)
            #expect(names.count == 12)
            #expect(Set(names) == CLITests.hardwareNames)
            #expect(r.out.contains("sim hardware show NAME"))
        }
    }

    @Test func aliasesResolveToTheirPreset() throws {
        #expect(try HardwareCatalog.resolve("4090").name == "rtx4090")
        #expect(try HardwareCatalog.resolve("rtx4090").name == "rtx4090")
        #expect(try HardwareCatalog.resolve("RTX_4090").name == "rtx4090")
        #expect(try HardwareCatalog.resolve("a100").name == "a100-40g-pcie")
        #expect(try HardwareCatalog.resolve("orin").name == "jetson-agx-orin-64g")
        #expect(try ModelCatalog.resolve("mixtral-8x7b").name == "mixtral-8x7b")
        // Through the command line: the report names the preset, not the alias.
        let trace = Fixtures.write(Fixtures.trace(threeTokens), name: "toy.moetrace.jsonl")
        let r = Fixtures.sim(["--trace", trace, "--hardware", "4090", "--model", files.model, "--runtime", files.runtime, "--cache", "lru-per-layer:2"])
        #expect(r.code == 0, "\(r.err)")
        #expect(r.out.contains("hardware  rtx4090 (NVIDIA GeForce RTX 4090"))
    }

    @Test func hardwareShowPrintsEveryFigureWithItsSource() throws {
        let r = Fixtures.sim(["hardware", "show", "4090"])
        #expect(r.code == 0, "\(r.err)")
        #expect(r.out.hasPrefix("rtx4090: NVIDIA GeForce RTX 4090"))
        #expect(r.out.contains("aliases: 4090, rtx-4090"))
        #expect(r.out.contains("offload tier: host"))
        let profile = try HardwareCatalog.resolve("rtx4090")
        for figure in profile.figures {
            let line = r.out.split(separator: "\n").first { $0.trimmingCharacters(in: .whitespaces).hasPrefix(figure.path + " ") }
            #expect(line != nil, "\(figure.path)")
            #expect(line?.contains(figure.source) == true, "\(figure.path)")
            #expect(line?.contains("[UNCONFIRMED]") == figure.unconfirmed, "\(figure.path)")
        }
        #expect(r.out.contains("https://github.com/NVIDIA/nvbandwidth/issues/15"))
        #expect(r.out.contains("https://waredb.com/processor/nvidia-geforce-rtx-4090"))
    }

    @Test func everyHardwarePresetLoadsValidatesAndHasSources() throws {
        let presets = try HardwareCatalog.presets()
        #expect(Set(presets.map(\.name)) == CLITests.hardwareNames)
        #expect(presets.count == 12)
        for (p, file) in zip(presets, ResourceLocator.presetFiles(kind: "hardware")) {
            #expect(file.deletingPathExtension().lastPathComponent == p.name, "file name matches the preset name")
            try p.validate(file: file.path)
            #expect(!p.title.isEmpty)
            #expect(p.figures.count >= 12, "\(p.name)")
            for f in p.figures {
                #expect(!f.source.trimmingCharacters(in: .whitespaces).isEmpty, "\(p.name) \(f.path)")
            }
            switch p.offloadTier {
            case .host: #expect(p.hostLink != nil, "\(p.name)")
            case .storage: #expect(p.storage != nil, "\(p.name)")
            }
            // Every alias resolves back to this preset.
            for alias in p.aliases ?? [] { #expect(try HardwareCatalog.resolve(alias).name == p.name, "\(alias)") }
        }
    }

    @Test func everyModelPresetLoadsAndValidates() throws {
        let presets = try ModelCatalog.presets()
        #expect(presets.count == 8)
        #expect(Set(presets.map(\.name)) == CLITests.modelNames)
        for (m, file) in zip(presets, ResourceLocator.presetFiles(kind: "models")) {
            try m.validate(file: file.path)
            #expect(!m.sources.isEmpty, "\(m.name)")
            #expect(m.sources.allSatisfy { !$0.isEmpty }, "\(m.name)")
            #expect(m.topK <= m.experts)
            #expect(try QuantizationCatalog.resolve(m.defaultQuantization).expertBytes(m) > 0)
        }
    }

    @Test func everyRuntimePresetLoadsAndValidates() throws {
        let presets = try RuntimeCatalog.presets()
        #expect(Set(presets.map(\.name)).isSuperset(of: ["hf-eager", "tuned"]))
        for (rt, file) in zip(presets, ResourceLocator.presetFiles(kind: "runtimes")) {
            try rt.validate(file: file.path)
            for source in [rt.perLayerOverheadSeconds.source, rt.perExpertOverheadSeconds.source, rt.perPassOverheadSeconds.source,
                           rt.fusedDequant.source, rt.writeBackOnEvict.source, rt.maxInFlightTransfers.source,
                           rt.subMatrixPipelining.source, rt.reservedDeviceBytes.source] {
                #expect(!source.trimmingCharacters(in: .whitespaces).isEmpty, "\(rt.name)")
            }
        }
        let r = Fixtures.sim(["runtime", "list"])
        #expect(r.code == 0)
        #expect(r.out.contains("hf-eager"))
        let show = Fixtures.sim(["runtime", "show", "hf-eager"])
        #expect(show.code == 0)
        #expect(show.out.contains("perExpertOverheadSeconds"))
    }

    @Test func modelsListsTheEightModels() {
        let r = Fixtures.sim(["models"])
        #expect(r.code == 0)
        #expect(r.err.isEmpty)
        let names = CLITests.firstColumn(r.out)
        #expect(names.count == 8)
        #expect(Set(names) == CLITests.modelNames)
        #expect(r.out.contains("hqqB-gG"))
        // Mixtral-8x7B: 32 MoE layers, 8 experts, top-2.
        let mixtral = r.out.split(separator: "\n").first { $0.hasPrefix("mixtral-8x7b ") }
        #expect(mixtral?.contains(" 32 ") == true)
        #expect(mixtral?.contains("8/2") == true)
    }

    @Test func modelsShowPrintsExactExpertBytes() {
        let r = Fixtures.sim(["models", "show", "mixtral-8x7b"])
        #expect(r.code == 0)
        #expect(r.out.contains("expert 66404364 B"))
        #expect(r.out.contains("expert 93671436 B"))
        #expect(r.out.contains("expert 352321536 B"))
    }

    // MARK: Output formats

    @Test func textReportHasEveryHeading() {
        let r = toyRun([])
        #expect(r.code == 0, "\(r.err)")
        for heading in ["moe-sim: ", "hardware  toy-gpu", "Decode     3 tokens", "Cache      hit rate", "Link       toy link", "GPU ", "Memory ",
                        "Routing ", "Makespan ", "Hit rate by layer"] {
            #expect(r.out.contains(heading), "\(heading)")
        }
    }

    @Test func jsonOutputParsesAndHasDecodeTokensPerSecond() throws {
        let r = toyRun(["--json"])
        #expect(r.code == 0, "\(r.err)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        let decode = try #require(object["decode"] as? [String: Any])
        let tps = try #require(decode["tokensPerSecond"] as? Double)
        #expect(tps > 0)
        #expect(decode["tokens"] as? Int == 3)
        let seconds = try #require(decode["seconds"] as? Double)
        #expect(abs(tps - 3 / seconds) < 1e-9 * tps)
        let configuration = try #require(object["configuration"] as? [String: Any])
        #expect(configuration["hardware"] as? String == "toy-gpu")
        #expect(configuration["cache"] as? String == "lru-per-layer:2")
    }

    @Test func jsonWithBaselineHasBothReportsAndTheSpeedup() throws {
        let r = toyRun(["--json", "--baseline", "cache=none"], cache: "all-resident")
        #expect(r.code == 0, "\(r.err)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        #expect(object["baselineChanges"] as? String == "cache=none")
        let report = try #require(object["report"] as? [String: Any])
        let baseline = try #require(object["baseline"] as? [String: Any])
        #expect((report["decode"] as? [String: Any])?["tokensPerSecond"] is Double)
        #expect((baseline["configuration"] as? [String: Any])?["cache"] as? String == "none")
        let speedup = try #require(object["speedup"] as? Double)
        #expect(speedup > 1)
    }

    @Test func csvHasTwoLinesWithEqualColumnCounts() {
        // The capacity list contains a comma, so the cache column must be quoted.
        let r = toyRun(["--csv"], cache: "lru-per-layer:1,2")
        #expect(r.code == 0, "\(r.err)")
        let lines = r.out.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 3 && lines[2].isEmpty, "two lines and a final newline")
        let header = CLITests.csvFields(lines[0]), values = CLITests.csvFields(lines[1])
        #expect(header.count == values.count)
        #expect(header.count > 20)
        #expect(header.first == "trace")
        let row = Dictionary(uniqueKeysWithValues: zip(header, values))
        #expect(row["cache"] == "lru-per-layer:1,2")
        #expect(row["hardware"] == "toy-gpu")
        #expect(row["decode_tokens"] == "3")
        #expect(Double(row["decode_tokens_per_second"] ?? "") ?? 0 > 0)
    }

    @Test func csvWithBaselineAddsTheSpeedupColumn() {
        let r = toyRun(["--csv", "--baseline", "cache=none"])
        #expect(r.code == 0, "\(r.err)")
        let lines = r.out.split(separator: "\n")
        #expect(lines.count == 2)
        let header = CLITests.csvFields(lines[0]), values = CLITests.csvFields(lines[1])
        #expect(header.count == values.count)
        #expect(header.last == "speedup")
        #expect(Double(values.last!) != nil)
    }

    @Test func baselinePrintsASpeedupLine() throws {
        let r = toyRun(["--baseline", "cache=none"], cache: "all-resident")
        #expect(r.code == 0, "\(r.err)")
        #expect(r.out.contains("Baseline (cache=none): "))
        let line = try #require(r.out.split(separator: "\n").first { $0.hasPrefix("Speedup ") })
        #expect(line.hasSuffix("x over the baseline"))
        let number = line.split(separator: " ").first { $0.hasSuffix("x") }.flatMap { Double($0.dropLast()) }
        // All-resident against no cache: every expert load is avoided, so the run is faster.
        #expect((number ?? 0) > 1, "\(line)")
    }

    // MARK: Synthetic traces

    @Test func synthIsDeterministicAndReadsBack() throws {
        func synth(_ seed: String) -> (code: Int32, out: String, err: String) {
            Fixtures.sim(["trace", "synth", "--model", files.model, "--tokens", "24", "--prompt", "4", "--requests", "2", "--seed", seed])
        }
        let a = synth("7"), b = synth("7"), c = synth("8")
        #expect(a.code == 0, "\(a.err)")
        #expect(a.err.isEmpty)
        #expect(a.out == b.out)
        #expect(a.out != c.out)
        // Header, then per request one request line and 28 token lines.
        let lines = a.out.split(separator: "\n")
        #expect(lines.count == 1 + 2 * (1 + 28))
        #expect(lines[0].contains(#""moe_trace":1"#))
        #expect(lines[0].contains(#""model":"toy""#))

        let path = Fixtures.write(a.out, name: "synth.moetrace.jsonl")
        let reader = try TraceReader(path: path, missingCells: .error)
        #expect(reader.header.model == "toy")
        #expect(reader.header.layers == 2)
        #expect(reader.header.experts == 4)
        #expect(reader.header.topK == 2)
        var tokens = 0, prefill = 0
        while let item = try reader.next() {
            if case .token = item {
                tokens += 1
                if reader.token.phase == .prefill { prefill += 1 }
            }
        }
        #expect(tokens == 56)
        #expect(prefill == 8)
        #expect(reader.requests.count == 2)
        #expect(reader.missingCellCount == 0)

        // And the simulator replays it.
        let run = Fixtures.sim(["--trace", path, "--hardware", files.hardware, "--model", files.model, "--runtime", files.runtime,
                                "--cache", "lru-per-layer:2"])
        #expect(run.code == 0, "\(run.err)")
        #expect(run.out.contains("Decode     48 tokens"))
    }

    @Test func synthWritesTheSameBytesToAFile() throws {
        let dir = Fixtures.temporaryDirectory()
        let out = dir.appendingPathComponent("s.moetrace.jsonl").path
        let toFile = Fixtures.sim(["trace", "synth", "--model", files.model, "--tokens", "10", "--seed", "3", "--out", out])
        #expect(toFile.code == 0, "\(toFile.err)")
        #expect(toFile.out.isEmpty)
        let toStdout = Fixtures.sim(["trace", "synth", "--model", files.model, "--tokens", "10", "--seed", "3"])
        #expect(try String(contentsOfFile: out, encoding: .utf8) == toStdout.out)
        // --force overwrites.
        let again = Fixtures.sim(["trace", "synth", "--model", files.model, "--tokens", "10", "--seed", "4", "--out", out, "--force"])
        #expect(again.code == 0, "\(again.err)")
        #expect(try String(contentsOfFile: out, encoding: .utf8) != toStdout.out)
    }
}
