/// A published system as a bundle of policy choices: `--system NAME` stands for its gating, prefetch, miss, cache and
/// runtime (and quantization where the system fixes one). Options given explicitly override the bundle, so an
/// ablation is the system plus one changed option. Schema `moe-sim/system/1`; presets live in `Resources/systems/`.
public struct SystemPreset: Decodable, Sendable {
    public var schema: String
    public var name: String
    public var aliases: [String]?
    public var title: String
    /// The paper (and section) the bundle follows.
    public var follows: String
    /// Where the bundle deviates from the paper or its code, and why.
    public var deviations: String?
    /// `sim run` option values: keys among `SystemPreset.settingKeys`.
    public var settings: [String: String]

    /// The `sim run` options a system may set.
    public static let settingKeys = ["cache", "gating", "prefetch", "miss", "runtime", "quant"]

    public func validate(file: String) throws {
        guard schema == "moe-sim/system/1" else {
            throw MoESimError(file: file, field: "schema", "expected \"moe-sim/system/1\", found \"\(schema)\"")
        }
        for key in settings.keys where !SystemPreset.settingKeys.contains(key) {
            throw MoESimError(file: file, field: "settings.\(key)", "not a setting a system may fix", hint: "allowed: \(SystemPreset.settingKeys.joined(separator: ", "))")
        }
    }

    /// The bundle as `--key value` pairs, in a fixed order, for printing the equivalent command line.
    public var commandLine: String {
        SystemPreset.settingKeys.compactMap { key in settings[key].map { "--\(key) \($0)" } }.joined(separator: " ")
    }
}

extension SystemPreset: Preset {
    public static let presetFolder = "systems"
    public static let noun = "system"
    public static let optionName = "--system"
    public static let listCommand = "sim systems"
}

/// The shipped system presets, plus any user file given by path.
public typealias SystemCatalog = PresetCatalog<SystemPreset>
