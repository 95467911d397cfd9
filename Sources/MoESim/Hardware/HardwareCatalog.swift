extension HardwareProfile: Preset {
    public static let presetFolder = "hardware"
    public static let noun = "hardware"
    public static let optionName = "--hardware"
    public static let listCommand = "sim hardware list"
}

/// The shipped hardware presets, plus any user file given by path.
public typealias HardwareCatalog = PresetCatalog<HardwareProfile>
