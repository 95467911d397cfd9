extension ModelSpec: Preset {
    public static let presetFolder = "models"
    public static let noun = "model"
    public static let optionName = "--model"
    public static let listCommand = "sim models"
}

/// The shipped model specs, plus any user file given by path.
public typealias ModelCatalog = PresetCatalog<ModelSpec>
