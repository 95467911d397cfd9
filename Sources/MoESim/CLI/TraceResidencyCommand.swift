import Foundation

/// `sim trace residency`: how well a byte-budget global LRU reproduces a recording engine's cache, cell by cell.
enum TraceResidencyCommand {
    static let options: [OptionSpec] = [
        OptionSpec("budget", value: "BYTES", "cache budget, e.g. 4000MiB (the engine's --cache-mb is MiB)"),
        OptionSpec("model", value: "NAME|FILE", "model spec", default: "the trace header's model"),
        OptionSpec("quant", value: "NAME", "quantization that sizes the experts", default: "the header's quantization, else the model's default"),
        OptionSpec("json", "print the comparison as JSON"),
        OptionSpec("help", "show this help"),
    ]

    static let help = """
    Usage: sim trace residency FILE --budget BYTES [--model M] [--quant Q] [--json]

    Replays FILE (a trace with recorded residency, from `sim trace import --from route-trace`) through one global LRU
    with a byte budget, each expert sized by its layer, prefill passes layer by layer warming it; then compares each
    decode access's hit with the engine's recorded residency. Prints both hit rates and the per-cell agreement.
    Example: sim trace residency qwen.moetrace.jsonl --budget 4000MiB

    Options:
    \(ArgumentParser.help(options))
    """

    static func run(_ arguments: [String], out: inout String) throws {
        let args = try ArgumentParser.parse(arguments, options: options)
        if args.has("help") { out += help + "\n"; return }
        guard args.positionals.count == 1 else { throw MoESimError("expected exactly one trace file", hint: "usage: sim trace residency FILE --budget BYTES") }
        guard let budgetText = args.value("budget") else { throw MoESimError(field: "--budget", "required", hint: "e.g. --budget 4000MiB") }
        let budget = try ByteSize.parse(budgetText, field: "--budget")
        let path = args.positionals[0]
        let source = try openTrace(path: path, missingCells: .skip)
        let model = try ModelCatalog.resolve(args.value("model"), for: source.header, tracePath: path)
        try Simulation.checkCompatible(model: model, header: source.header, file: path)
        let quantName = args.value("quant") ?? source.header.raw["quantization"]?.stringValue ?? model.defaultQuantization
        let quant = try QuantizationCatalog.resolve(quantName)
        let r = try ResidencyComparison.run(source: source, expertBytes: quant.expertBytesByLayer(model), budgetBytes: budget)
        if args.has("json") {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            out += String(decoding: try encoder.encode(r), as: UTF8.self) + "\n"
            return
        }
        out += "\(path): \(model.name) in \(quant.name), global LRU of \(ByteSize.format(budget)), warmed by \(r.prefillAccesses) prefill accesses\n"
        out += "decode accesses \(r.decodeAccesses): simulated hit rate \(String(format: "%.4f", r.simulatedHitRate)), recorded \(String(format: "%.4f", r.recordedHitRate))\n"
        out += "per cell: agree \(String(format: "%.4f", r.agreement)) (both resident \(r.bothResident), both missing \(r.bothMissing)); simulated only \(r.simulatedOnly), recorded only \(r.recordedOnly)\n"
        out += "by layer (simulated/recorded hit rate, agreement):"
        for (l, layer) in r.perLayer.enumerated() where layer.accesses > 0 {
            let n = Double(layer.accesses)
            out += String(format: " %d:%.2f/%.2f/%.2f", l, Double(layer.simulatedHits) / n, Double(layer.recordedHits) / n, Double(layer.agreements) / n)
        }
        out += "\n"
    }
}
