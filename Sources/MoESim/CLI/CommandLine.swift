import Foundation

/// The `sim` tool: dispatches subcommands and turns every error into one line on stderr and a non-zero exit.
public enum CommandLineTool {
    public static let version = "0.1.0"

    public static let help = """
    moe-sim \(version): a discrete-event simulator of Mixture-of-Experts inference with expert offloading.

    Usage:
      sim [run] --trace FILE [--hardware NAME] [options]   replay a gating trace and report (see `sim run --help`)
      sim hardware list | show NAME                        device presets and the sources of every figure
      sim models [show NAME]                               model specs and exact expert sizes per quantization
      sim runtime list | show NAME                         software-stack profiles (overheads, swap, buffers)
      sim cache sweep|run --trace FILE ...                 hit rates without timing, next to Belady's optimum
      sim systems [show NAME]                              published systems as policy bundles (--system NAME)
      sim cache allocate --model M --total N               AdapMoE's DP split of a cache across layers
      sim trace synth [--profile P] [options]              write a seeded synthetic trace (fitted profile by default)
      sim trace fit FILE                                   fit a synthetic-trace profile to a real trace
      sim trace stats FILE [--request ID] [--json]         popularity, reuse, predictability, router confidence
      sim trace convert IN OUT                             JSONL <-> binary .moetrace (checksummed, ~10x faster to read)
      sim trace import IN... OUT                           recorder files (hook stream, layer/request rows) to moe-trace
      sim experiment list | run NAME | check | bless NAME  experiments as code: sweeps, tables, SVG plots, regression check
      sim serve [--policy P] [--scheduler S] [--rate R]    request-level serving: batching, SLOs, eMoE (see `sim serve --help`)
      sim calibrate --measurements FILE --fit NAME,...     fit hardware/runtime figures to measured runs (leave-one-out errors)
      sim fidelity [--out DIR]                             every shipped published measurement, simulated vs measured
      sim compare A.json B.json                            two `sim run --json` reports: settings, latency, hit rate, bytes, ratios
      sim --version

    Start here:
      sim --hardware 4090 --trace traces/mixtral-8x7b-synth.moetrace.jsonl
      sim --hardware 4090 --quant hqq2 --cache lru-per-layer:4 --trace ../shared/traces/mixtral-8x7b-vllm-fp8/humaneval0.moetrace.jsonl
      sim --hardware jetson-agx-orin-64g --cache lru-global:fit --trace FILE --json
      sim --system mixtral-offloading,adapmoe,promoe --hardware 4090,3060 --trace FILE      (a sweep: one ranked table)

    Units everywhere: seconds, bytes, bytes per second. Every hardware figure has a source: `sim hardware show rtx4090`.
    """

    /// Runs the tool; returns the exit code. Output goes to `out`, one-line errors to `err`.
    public static func run(_ arguments: [String], out: inout String, err: inout String) -> Int32 {
        do {
            try dispatch(arguments, out: &out)
            return 0
        } catch let error as MoESimError {
            err += "error: \(error)\n"
            return 1
        } catch {
            err += "error: \(error)\n"
            return 1
        }
    }

    static func dispatch(_ arguments: [String], out: inout String) throws {
        guard let first = arguments.first else { out += help + "\n"; return }
        let rest = Array(arguments.dropFirst())
        switch first {
        case "--help", "-h", "help":
            if rest.first == "run" { out += RunCommand.help + "\n" } else { out += help + "\n" }
        case "--version": out += "moe-sim \(version)\n"
        case "run": try RunCommand.run(rest, out: &out)
        case "hardware": try CatalogCommands.hardware(rest, out: &out)
        case "models", "model": try CatalogCommands.models(rest, out: &out)
        case "runtime", "runtimes": try CatalogCommands.runtime(rest, out: &out)
        case "systems", "system": try CatalogCommands.systems(rest, out: &out)
        case "trace": try TraceCommands.run(rest, out: &out)
        case "cache": try CacheCommands.run(rest, out: &out)
        case "experiment", "experiments": try ExperimentCommands.run(rest, out: &out)
        case "serve": try ServeCommand.run(rest, out: &out)
        case "calibrate": try CalibrateCommand.run(rest, out: &out)
        case "fidelity": try FidelityCommand.run(rest, out: &out)
        case "compare": try CompareCommand.run(rest, out: &out)
        default:
            if first.hasPrefix("--") {
                try RunCommand.run(arguments, out: &out)
            } else {
                let commands = ["run", "hardware", "models", "runtime", "systems", "cache", "trace", "experiment", "serve", "compare", "calibrate", "fidelity"]
                let suggestion = NameMatching.closest(to: first, among: commands)
                throw MoESimError("unknown command '\(first)'", hint: (suggestion.map { "did you mean '\($0)'? " } ?? "") + "commands: \(commands.joined(separator: ", ")); see `sim --help`")
            }
        }
    }
}
