import Foundation

/// `sim compare A.json B.json`: two `sim run --json` reports side by side: what differs in how they were made, then
/// latency, hit rate and bytes with B's value as a ratio of A's (hit rates as a difference in points).
enum CompareCommand {
    static let help = """
    Usage: sim compare A.json B.json

    Compares two reports written by `sim run ... --json` (a report with a --baseline compares its main run). Prints
    the settings that differ (hardware, model, quantization, runtime, policies, system, seed, overrides), then
    decode latency (mean, p50, p99), tokens/s, time to first token, hit rate, on-demand loads, bytes over the link,
    GPU stalls and peak memory: A, B, and B / A (hit rates: B - A in points). Exit status 1 on an unreadable report.

    Example:
      sim --hardware 4090 --trace T --json > a.json && sim --hardware 3060 --trace T --json > b.json && sim compare a.json b.json
    """

    /// A `sim run --json` output: a report, or a report with its baseline.
    struct WithBaseline: Decodable { var report: Report }

    static func run(_ arguments: [String], out: inout String) throws {
        if arguments.contains(where: { ["--help", "-h", "help"].contains($0) }) { out += help + "\n"; return }
        guard arguments.count == 2, !arguments.contains(where: { $0.hasPrefix("--") }) else {
            throw MoESimError("expected two report files, found \(arguments.count) argument(s)", hint: "usage: sim compare A.json B.json")
        }
        out += text(try load(arguments[0]), try load(arguments[1]), names: (arguments[0], arguments[1]))
    }

    static func load(_ path: String) throws -> Report {
        guard let data = FileManager.default.contents(atPath: path) else { throw MoESimError(file: path, "cannot read file", hint: "check the path") }
        if let wrapped = try? JSONDecoder().decode(WithBaseline.self, from: data) { return wrapped.report }
        do {
            return try JSONFileLoader.decode(Report.self, from: data, file: path)
        } catch var error as MoESimError {
            error.hint = "expected the output of `sim run ... --json`"
            throw error
        }
    }

    static func text(_ a: Report, _ b: Report, names: (String, String)) -> String {
        var out = "A: \(names.0)\nB: \(names.1)\n"
        let settings: [(String, (Report) -> String)] = [
            ("trace", { $0.configuration.trace }), ("hardware", { $0.configuration.hardware }), ("model", { $0.configuration.model }),
            ("quantization", { $0.configuration.quantization }), ("runtime", { $0.configuration.runtime }),
            ("cache", { $0.configuration.cache }), ("gating", { $0.configuration.gating }), ("prefetch", { $0.configuration.prefetch }),
            ("miss", { $0.configuration.miss ?? "load" }), ("system", { $0.run?.system ?? "-" }), ("seed", { $0.run.map { "\($0.seed)" } ?? "-" }),
            ("overrides", { $0.run.map { $0.overrides.isEmpty ? "none" : $0.overrides.joined(separator: " ") } ?? "-" }),
            ("tool version", { $0.run?.toolVersion ?? "-" }),
        ]
        let differing = settings.filter { $0.1(a) != $0.1(b) }
        out += differing.isEmpty ? "Same settings.\n" : "Settings that differ:\n" + differing.map { "  \($0.0): \($0.1(a)) | \($0.1(b))\n" }.joined()
        typealias Row = (name: String, unit: Unit, value: (Report) -> Double?)
        let rows: [Row] = [
            ("decode latency mean", .ms, { $0.decode.latency?.meanSeconds }), ("decode latency p50", .ms, { $0.decode.latency?.p50Seconds }),
            ("decode latency p99", .ms, { $0.decode.latency?.p99Seconds }), ("decode tokens/s", .plain, { $0.decode.tokensPerSecond }),
            ("time to first token", .ms, { $0.timeToFirstToken?.meanSeconds }), ("hit rate", .percent, { $0.cache.hitRate }),
            ("on-demand loads", .plain, { Double($0.cache.onDemandLoads) }), ("H2D bytes", .gb, { $0.link.h2dBytes }),
            ("H2D per decode token", .gb, { $0.link.h2dBytesPerDecodeToken }), ("D2H bytes", .gb, { $0.link.d2hBytes }),
            ("GPU stall per token", .ms, { $0.gpu.stallSecondsPerDecodeToken }), ("peak device memory", .gib, { $0.memory.peakDeviceBytes }),
            ("makespan", .ms, { $0.makespanSeconds }),
        ]
        var table = [["", "A", "B", "B / A"]]
        for row in rows {
            let x = row.value(a), y = row.value(b)
            let change: String
            if row.unit == .percent {
                change = x.flatMap { x in y.map { FixedDecimal.format(($0 - x) * 100, decimals: 1) + " points" } } ?? "-"
            } else if let x, let y, x != 0 {
                change = FixedDecimal.format(y / x, decimals: 3) + "x"
            } else {
                change = x == y ? "same" : "-"
            }
            table.append([row.name, row.unit.format(x), row.unit.format(y), change])
        }
        let widths = (0..<4).map { c in table.map { $0[c].count }.max()! }
        out += "\n" + table.map { cells in
            zip(cells, widths).enumerated().map { i, pair in
                i == 0 ? pair.0 + String(repeating: " ", count: pair.1 - pair.0.count) : String(repeating: " ", count: pair.1 - pair.0.count) + pair.0
            }.joined(separator: "  ") + "\n"
        }.joined()
        return out
    }

    enum Unit {
        case ms, percent, gb, gib, plain

        func format(_ v: Double?) -> String {
            guard let v else { return "-" }
            switch self {
            case .ms: return FixedDecimal.format(v * 1000, decimals: 2) + " ms"
            case .percent: return FixedDecimal.format(v * 100, decimals: 1) + " %"
            case .gb: return FixedDecimal.format(v / 1e9, decimals: 3) + " GB"
            case .gib: return FixedDecimal.format(v / 1_073_741_824, decimals: 2) + " GiB"
            case .plain: return v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : FixedDecimal.format(v, decimals: 3)
            }
        }
    }
}
