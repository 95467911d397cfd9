/// `sim models show NAME --quant Q`: a model's bytes per layer in one quantization (GGUF presets vary by layer).
enum ModelLayerTable {
    static func pad(_ s: String, _ width: Int) -> String { CatalogCommands.pad(s, width) }

    static func render(model m: ModelSpec, quantization q: Quantization) throws -> String {
        var out = "\(m.name) in \(q.name): \(q.summary)\n"
        let sizes = q.expertBytesByLayer(m)
        let expertTotal = sizes.reduce(0, +) * m.experts
        let resident = q.residentWeightBytes(m)
        out += "  routed experts \(expertTotal) B (\(ByteSize.format(Double(expertTotal)))) in all; resident weights \(resident) B (\(ByteSize.format(Double(resident))))\n"
        var heading = "  " + pad("layer", 7) + pad("expert B", 12) + pad("expert", 12)
        if q.gguf != nil { heading += pad("matrix types", 22) + "non-expert B" }
        out += heading + "\n"
        for (layer, bytes) in sizes.enumerated() {
            var line = "  " + pad(String(layer), 7) + pad(String(bytes), 12) + pad(ByteSize.format(Double(bytes)), 12)
            if let types = q.ggufExpertTypes(m, layer: layer), let nonExpert = q.ggufResidentBytes(m, layer: layer) {
                line += pad(types.map(\.rawValue).joined(separator: ","), 22) + String(nonExpert)
            }
            out += line + "\n"
        }
        return out
    }
}
