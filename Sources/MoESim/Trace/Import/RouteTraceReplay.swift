import Foundation

/// `sim run --trace FILE.route.csv`: a `# route_trace v1` CSV replays directly. It is imported (as `sim trace import`
/// would) into a moe-trace in a fresh temporary folder, which the run reads and then removes; the import's
/// quantization (e.g. `q4_k_m` from the GGUF name) becomes the run's default `--quant`.
struct RouteTraceReplay {
    /// The imported trace, and the temporary folder that holds it (remove it after the run).
    let tracePath: String
    let folder: URL
    let quantization: String?
    let warnings: [String]

    static func importing(_ path: String) throws -> RouteTraceReplay {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("moe-sim-route-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let output = folder.appendingPathComponent("imported.moetrace.jsonl").path
        do {
            let result = try RouteTraceImporter(options: TraceImporter.Options()).run(input: path, output: output)
            return RouteTraceReplay(tracePath: output, folder: folder, quantization: result.quantization, warnings: result.summary.warnings)
        } catch {
            try? FileManager.default.removeItem(at: folder)
            throw error
        }
    }

    func remove() { try? FileManager.default.removeItem(at: folder) }
}
