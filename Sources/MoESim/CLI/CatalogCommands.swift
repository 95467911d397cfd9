import Foundation

/// `sim hardware ...`, `sim models ...`, `sim runtime ...`: what the tool knows, with sources.
enum CatalogCommands {
    static let hardwareHelp = """
    Usage:
      sim hardware [list]        the device presets: memory, bandwidth, fp16 throughput, offload link
      sim hardware show NAME     one preset (name, alias or a JSON file) with every figure and its source;
                                 [UNCONFIRMED] marks estimates and secondary sources

    A preset is a JSON file (schema moe-sim/hardware/1); bring your own with --hardware path/to/profile.json, or
    change one figure of a preset for a run with --set PATH=VALUE (PATH as listed by `show`, e.g.
    --set hostLink.h2dBytesPerSecond=12e9).
    """
    static let modelsHelp = """
    Usage:
      sim models [list]          model specs: MoE layers, experts, top-k, parameters, expert bytes per quantization
      sim models show NAME       one model's shapes, exact bytes per quantization and sources
    """
    static let runtimeHelp = """
    Usage:
      sim runtime [list]         software-stack profiles (overheads, write-back on eviction, transfers in flight)
      sim runtime show NAME      one profile's figures with how each was chosen; [UNCONFIRMED] marks estimates
    """
    static let systemsHelp = """
    Usage:
      sim systems [list]         published systems as bundles of run options (--system NAME)
      sim systems show NAME      the paper a system follows, its deviations and the options it stands for
    """

    static func wantsHelp(_ arguments: [String]) -> Bool { arguments.contains { ["--help", "-h", "help"].contains($0) } }

    static func hardware(_ arguments: [String], out: inout String) throws {
        if wantsHelp(arguments) { out += hardwareHelp + "\n"; return }
        switch arguments.first {
        case nil, "list":
            out += pad("name", 22) + pad("aliases", 30) + pad("memory", 11) + pad("mem BW", 12) + pad("fp16", 12) + pad("offload link", 26) + "\n"
            for p in try HardwareCatalog.presets() {
                let link = p.offloadTier == .host
                    ? "\(p.hostLink!.name) \(String(format: "%.1f", p.hostLink!.h2dBytesPerSecond.value / 1e9)) GB/s"
                    : "\(p.storage!.name) \(String(format: "%.1f", p.storage!.readBytesPerSecond.value / 1e9)) GB/s"
                out += pad(p.name, 22) + pad((p.aliases ?? []).joined(separator: ","), 30) + pad(ByteSize.format(p.device.memoryBytes.value), 11)
                    + pad(String(format: "%.0f GB/s", p.device.memoryBandwidthBytesPerSecond.value / 1e9), 12)
                    + pad(String(format: "%.1f TF", p.device.fp16FlopsPerSecond.value / 1e12), 12) + link + "\n"
            }
            out += "\nShow one with its sources: sim hardware show NAME. Use your own: --hardware path/to/profile.json (same schema).\n"
        case "show":
            guard arguments.count == 2 else { throw MoESimError("usage: sim hardware show NAME") }
            let p = try HardwareCatalog.resolve(arguments[1])
            out += "\(p.name): \(p.title)\n"
            if let aliases = p.aliases, !aliases.isEmpty { out += "aliases: \(aliases.joined(separator: ", "))\n" }
            if let notes = p.notes { out += "notes: \(notes)\n" }
            out += "offload tier: \(p.offloadTier.rawValue)\n\n"
            for f in p.figures {
                out += "  \(pad(f.path, 42)) \(pad(f.value, 16)) \(f.unconfirmed ? "[UNCONFIRMED] " : "")\(f.source)\n"
            }
        default:
            throw MoESimError("unknown command 'hardware \(arguments[0])'", hint: "use `sim hardware list` or `sim hardware show NAME`")
        }
    }

    static func models(_ arguments: [String], out: inout String) throws {
        if wantsHelp(arguments) { out += modelsHelp + "\n"; return }
        switch arguments.first {
        case nil, "list":
            let quants = ["fp16", "int8", "hqq4", "hqq2", "mxfp4"].map { try! QuantizationCatalog.resolve($0) }
            out += pad("name", 20) + pad("moe layers", 11) + pad("experts/top-k", 15) + pad("params", 10)
                + quants.map { pad("expert \($0.name)", 16) }.joined() + "\n"
            for m in try ModelCatalog.presets() {
                out += pad(m.name, 20) + pad("\(m.moeLayers)", 11) + pad("\(m.experts)/\(m.topK)" + (m.sharedExperts > 0 ? "+\(m.sharedExperts)" : ""), 15)
                    + pad(String(format: "%.1fB", Double(m.totalParams) / 1e9), 10)
                    + quants.map { pad(ByteSize.format(Double($0.expertBytes(m))), 16) }.joined() + "\n"
            }
            out += "\nQuantizations (--quant):\n"
            for q in QuantizationCatalog.named { out += "  \(pad(q.name, 8)) \(q.summary)\n" }
            out += "  hqqB-gG  any HQQ bit width B and group size G (e.g. hqq3-g32)\n"
            out += "\nDetails: sim models show NAME\n"
        case "show":
            let usage = "usage: sim models show NAME [--quant NAME]"
            guard arguments.count == 2 || (arguments.count == 4 && arguments[2] == "--quant") else { throw MoESimError(usage) }
            let m = try ModelCatalog.resolve(arguments[1])
            if arguments.count == 4 {
                out += try ModelLayerTable.render(model: m, quantization: try QuantizationCatalog.resolve(arguments[3]))
                return
            }
            out += "\(m.name): \(m.title)\n"
            out += "  MoE layers \(m.moeLayers) (+\(m.denseLayers) dense), experts \(m.experts), top-k \(m.topK), shared experts \(m.sharedExperts)\n"
            out += "  hidden \(m.hiddenSize), expert matrices \(m.expertMatrices), params per expert \(m.expertParams)\n"
            out += "  attention: \(m.attention.heads) heads, \(m.attention.kvHeads) KV heads, head dim \(m.attention.headDim), \(m.attention.paramsPerLayer) params/layer, \(m.attention.kvCacheElementsPerToken) KV elements/token/layer\n"
            out += String(format: "  total params %.3fB, resident (non-routed) %.3fB\n", Double(m.totalParams) / 1e9, Double(m.residentParams) / 1e9)
            for q in QuantizationCatalog.named where !q.recorded || m.recordedSizes != nil {
                let sizes = Set(q.expertBytesByLayer(m))
                out += "  \(pad(q.name, 6)) expert \(pad(String(q.expertBytes(m)) + " B", 16)) resident \(ByteSize.format(Double(q.residentWeightBytes(m))))"
                    + (sizes.count > 1 ? " (largest; \(sizes.count) sizes across layers: sim models show \(m.name) --quant \(q.name))" : "") + "\n"
            }
            out += "  sources: \(m.sources.joined(separator: "; "))\n"
            if let notes = m.notes { out += "  notes: \(notes)\n" }
        default:
            throw MoESimError("unknown command 'models \(arguments[0])'", hint: "use `sim models` or `sim models show NAME`")
        }
    }

    static func runtime(_ arguments: [String], out: inout String) throws {
        if wantsHelp(arguments) { out += runtimeHelp + "\n"; return }
        switch arguments.first {
        case nil, "list":
            for r in try RuntimeCatalog.presets() { out += "\(pad(r.name, 12)) \(r.title)\n" }
            out += "\nDetails: sim runtime show NAME. Use your own: --runtime path/to/runtime.json (same schema).\n"
        case "show":
            guard arguments.count == 2 else { throw MoESimError("usage: sim runtime show NAME") }
            let r = try RuntimeCatalog.resolve(arguments[1])
            out += "\(r.name): \(r.title)\n"
            if let notes = r.notes { out += "notes: \(notes)\n" }
            func line<V>(_ name: String, _ f: Sourced<V>) { out += "  \(pad(name, 26)) \(pad("\(f.value)", 12)) \(f.unconfirmed == true ? "[UNCONFIRMED] " : "")\(f.source)\n" }
            line("perLayerOverheadSeconds", r.perLayerOverheadSeconds)
            line("perExpertOverheadSeconds", r.perExpertOverheadSeconds)
            line("perPassOverheadSeconds", r.perPassOverheadSeconds)
            line("fusedDequant", r.fusedDequant)
            line("writeBackOnEvict", r.writeBackOnEvict)
            line("maxInFlightTransfers", r.maxInFlightTransfers)
            line("subMatrixPipelining", r.subMatrixPipelining)
            line("reservedDeviceBytes", r.reservedDeviceBytes)
            // Optional semantics: absent ones show the value the engine takes.
            func optional<V>(_ name: String, _ f: Sourced<V>?, _ engineDefault: String) {
                if let f { line(name, f) } else { out += "  \(pad(name, 26)) \(pad(engineDefault, 12)) (absent: the engine's default)\n" }
            }
            optional("hostMemoryPinned", r.hostMemoryPinned, "\(r.pinsHostMemory)")
            optional("streams", r.streams, r.streamLayout.rawValue)
            optional("hostSync", r.hostSync, r.hostSyncPoints.rawValue)
            optional("swapOrder", r.swapOrder, r.swapCopyOrder.rawValue)
            optional("slotReuseWaitsForWriteBack", r.slotReuseWaitsForWriteBack, "\(r.refillWaitsForWriteBack)")
            for (quant, f) in (r.expertKernelEfficiency ?? [:]).sorted(by: { $0.key < $1.key }) { line("expertKernelEfficiency.\(quant)", f) }
        default:
            throw MoESimError("unknown command 'runtime \(arguments[0])'", hint: "use `sim runtime list` or `sim runtime show NAME`")
        }
    }

    static func systems(_ arguments: [String], out: inout String) throws {
        if wantsHelp(arguments) { out += systemsHelp + "\n"; return }
        switch arguments.first {
        case nil, "list":
            for s in try SystemCatalog.presets() { out += "\(pad(s.name, 28)) \(s.title)\n" }
            out += "\nDetails: sim systems show NAME. Use one: sim run --system NAME --trace FILE (explicit options override its settings).\n"
        case "show":
            guard arguments.count == 2 else { throw MoESimError("usage: sim systems show NAME") }
            let s = try SystemCatalog.resolve(arguments[1])
            out += "\(s.name): \(s.title)\nfollows: \(s.follows)\n"
            if let d = s.deviations { out += "deviations: \(d)\n" }
            out += "stands for: \(s.commandLine)\n"
        default:
            throw MoESimError("unknown command 'systems \(arguments[0])'", hint: "use `sim systems` or `sim systems show NAME`")
        }
    }

    static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count)
    }
}
