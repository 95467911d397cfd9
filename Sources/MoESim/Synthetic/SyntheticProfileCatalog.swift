extension SyntheticProfile: Preset {
    public static let presetFolder = "profiles"
    public static let noun = "synthetic profile"
    public static let optionName = "--profile"
    public static let listCommand = "sim trace synth --help"
}

/// The shipped synthetic profiles (`Resources/profiles/NAME.json`), plus any user file given by path.
public typealias SyntheticProfileCatalog = PresetCatalog<SyntheticProfile>
