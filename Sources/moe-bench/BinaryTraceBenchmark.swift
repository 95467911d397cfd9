import Foundation
import MoESim

/// Cache-only and timed replays of a binary `.moetrace` (the issue 18 figures), run as the `sim` commands users
/// type (in-process, so a figure is the command's work without process start). Each speed is also given as a
/// ratio to a baseline measured in the same run: reading the binary trace into its access stream alone, which
/// every replay pays. Targets are the issue's, judged on this run's numbers.
func binaryTraceBenchmark(model: ModelSpec, tokens: Int, directory: URL) throws {
    let path = directory.appendingPathComponent("bench-\(tokens).moetrace").path
    do {
        var generator = SyntheticTraceGenerator(layers: model.moeLayers, experts: model.experts, topK: model.topK, seed: 5)
        let header = generator.header(model: model.name)
        let writer = try BinaryTraceWriter(path: path, header: header)
        var record = generator.makeRecord()
        let requestTokens = 1024
        for p in 0..<tokens {
            generator.next(into: &record)
            record.position = p % requestTokens
            writer.write(token: record, requestID: "bench/\(p / requestTokens)")
        }
        try writer.close()
    }
    defer { try? FileManager.default.removeItem(atPath: path) }
    let fileBytes = Double((try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0)

    // Baseline: the binary trace read and routed into its access stream, nothing else.
    var accesses = 0
    let baselineSeconds = try seconds {
        let stream = AccessStream(source: try TracePassSource(path: path), gating: TopKReplayGating())
        while try stream.next() != nil { accesses += 1 }
    }
    let tokenLayers = Double(tokens * model.moeLayers)
    print("")
    print(String(format: "binary trace: %d tokens x %d layers, %d expert accesses, %.0f MB (synthetic Mixtral-8x7B decode, written outside the timers)",
                 tokens, model.moeLayers, accesses, fileBytes / 1e6))
    print("  command (in-process)".padding(toLength: 82, withPad: " ", startingAt: 0) + "accesses/s   x baseline time   target")
    func row(_ label: String, rate: Double, unit: String = "", seconds: Double, target: Double?) {
        let verdict = target.map { rate >= $0 ? String(format: ">= %.0fM: met", $0 / 1e6) : String(format: ">= %.0fM: NOT MET", $0 / 1e6) } ?? ""
        print("  " + label.padding(toLength: 80, withPad: " ", startingAt: 0) + (format(rate) + unit).padding(toLength: 13, withPad: " ", startingAt: 0)
              + String(format: "%-18.2f", seconds / baselineSeconds) + verdict)
    }
    row("read + route the access stream alone (baseline)", rate: Double(accesses) / baselineSeconds, seconds: baselineSeconds, target: nil)

    func timedCommand(_ arguments: [String]) throws -> (seconds: Double, out: String) {
        var out = "", err = ""
        var code: Int32 = 0
        let elapsed = seconds { code = CommandLineTool.run(arguments, out: &out, err: &err) }
        guard code == 0 else { throw MoESimError("moe-bench: `sim \(arguments.joined(separator: " "))` failed: \(err)") }
        return (elapsed, out)
    }
    let cacheOnly: [(String, [String], Double?)] = [
        ("sim cache run --cache lru-per-layer:4 --optimum off", ["--cache", "lru-per-layer:4", "--optimum", "off"], 30e6),
        ("sim cache run --cache lru-global:128 --optimum off", ["--cache", "lru-global:128", "--optimum", "off"], 30e6),
        ("sim cache run --cache lru-per-layer:4 (optimum on)", ["--cache", "lru-per-layer:4"], 12e6),
        ("sim cache run --cache lru-global:128 (optimum on)", ["--cache", "lru-global:128"], 12e6),
    ]
    var outputs: [String] = []
    for (label, arguments, target) in cacheOnly {
        let (elapsed, out) = try timedCommand(["cache", "run", "--trace", path, "--csv"] + arguments)
        outputs.append(out.split(separator: "\n").last.map(String.init) ?? "")
        row(label, rate: Double(accesses) / elapsed, seconds: elapsed, target: target)
    }
    // LRU from a cold start at every capacity in one pass (stack distances), per layer and global.
    for (layout, capacities) in [("per-layer", "1..7"), ("global", "32,64,128,224")] {
        let (elapsed, _) = try timedCommand(["cache", "sweep", "--trace", path, "--policies", "lru", "--optimum", "off", "--layout", layout,
                                             "--capacities", capacities, "--csv"])
        row("sim cache sweep --policies lru --layout \(layout) --capacities \(capacities)", rate: Double(accesses) / elapsed,
            seconds: elapsed, target: nil)
    }
    let timedArguments = ["--trace", path, "--hardware", "4090", "--quant", "hqq4", "--runtime", "hf-eager", "--cache", "lru-per-layer:4", "--csv"]
    let (timedOn, _) = try timedCommand(timedArguments)
    row("sim run --cache lru-per-layer:4 (timed, optimum on), token-layers/s", rate: tokenLayers / timedOn, seconds: timedOn, target: 5e6)
    let (timedOff, _) = try timedCommand(timedArguments + ["--optimum", "off"])
    row("sim run --cache lru-per-layer:4 --optimum off (timed), token-layers/s", rate: tokenLayers / timedOff, seconds: timedOff, target: nil)
    print("  check (cache run CSV rows): " + outputs.joined(separator: " | "))
}
