import Foundation

extension ModelSpec: Preset {
    public static let presetFolder = "models"
    public static let noun = "model"
    public static let optionName = "--model"
    public static let listCommand = "sim models"
}

/// The shipped model specs, plus any user file given by path.
public typealias ModelCatalog = PresetCatalog<ModelSpec>

extension PresetCatalog where Item == ModelSpec {
    /// The model of a trace: `name` when given (a catalog name or a spec file), else the header's model from the
    /// catalog, else the spec the header carries (`model_spec`, written by `sim trace import` for a model known only
    /// from its recording).
    public static func resolve(_ name: String?, for header: TraceHeader, tracePath: String, overrides: PresetOverrides = PresetOverrides()) throws -> ModelSpec {
        if let name { return try resolve(name, overrides: overrides) }
        do {
            return try resolve(header.model, overrides: overrides)
        } catch let notFound as MoESimError {
            guard let carried = header.raw["model_spec"] else { throw notFound }
            let source = "\(tracePath) (header field model_spec)"
            let spec = try JSONFileLoader.decode(ModelSpec.self, from: Data(carried.serialized.utf8), file: source)
            try spec.validate(file: source)
            guard spec.name == header.model else {
                throw MoESimError(file: tracePath, line: header.lineNumber, field: "model_spec", "names model '\(spec.name)', the header's model is '\(header.model)'")
            }
            return spec
        }
    }
}
