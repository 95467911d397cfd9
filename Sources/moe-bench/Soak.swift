import Foundation
import MoESim

/// Soak runs (issue 9; `make soak`, not in CI): a 100M token-layer timed replay and a 1M-request serving run. Each
/// prints a digest of its full JSON report, so two runs compare byte for byte, and resident memory after a tenth of
/// the work and after all of it, so growth with length shows.
func soak() throws {
    let replayTokens = 3_125_000  // x 32 Mixtral layers = 100M token-layers
    let model = try ModelCatalog.resolve("mixtral-8x7b")
    var config = SimulationConfig(hardware: try HardwareCatalog.resolve("rtx4090"), model: model,
                                  quantization: try QuantizationCatalog.resolve("hqq4"), runtime: try RuntimeCatalog.resolve("tuned"),
                                  cache: try CacheSpec.parse("lru-per-layer:4"), prefetch: "next-layer-gate")
    config.beladyReference = false
    func replay(_ tokens: Int) throws -> String {
        let report = try Simulation(config: config, source: SyntheticPassSource(model: model, tokens: tokens, seed: 1)).run()
        return try ReportFormatter.json(report)
    }
    var short = ""
    let shortSeconds = try seconds { short = try replay(replayTokens / 10) }
    let rssShort = residentMemoryBytes("VmRSS")
    var full = ""
    let fullSeconds = try seconds { full = try replay(replayTokens) }
    let rssFull = residentMemoryBytes("VmRSS")
    print(String(format: "soak replay: %d tokens x %d layers = %.0fM token-layers in %.1f s (a tenth: %.1f s)",
                 replayTokens, model.moeLayers, Double(replayTokens * model.moeLayers) / 1e6, fullSeconds, shortSeconds))
    print(String(format: "  resident memory %.1f MiB after a tenth, %.1f MiB after all", rssShort / 1_048_576, rssFull / 1_048_576))
    print("  digest \(digest(full)) (a tenth: \(digest(short)))")

    let requests = 1_000_000
    func serve(_ count: Int) -> (code: Int32, out: String, err: String) {
        var out = "", err = ""
        let code = CommandLineTool.run(["serve", "--requests", "\(count)", "--rate", "100", "--prompt-tokens", "16", "--output-tokens", "16",
                                        "--system", "emoe", "--json"], out: &out, err: &err)
        return (code, out, err)
    }
    var tenth = serve(0)
    let tenthSeconds = seconds { tenth = serve(requests / 10) }
    let rssTenth = residentMemoryBytes("VmRSS")
    var all = tenth
    let allSeconds = seconds { all = serve(requests) }
    let rssAll = residentMemoryBytes("VmRSS")
    guard tenth.code == 0, all.code == 0 else { print("soak serving failed: \(tenth.err)\(all.err)"); exit(1) }
    print(String(format: "soak serving: %d requests (16 prompt + 16 output tokens, eMoE) in %.1f s (a tenth: %.1f s)", requests, allSeconds, tenthSeconds))
    print(String(format: "  resident memory %.1f MiB after a tenth, %.1f MiB after all (the request list itself grows with the count)",
                 rssTenth / 1_048_576, rssAll / 1_048_576))
    print("  digest \(digest(all.out)) (a tenth: \(digest(tenth.out)))")
}

/// FNV-1a of the text's bytes, hex.
func digest(_ text: String) -> String {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
    return String(hash, radix: 16)
}
