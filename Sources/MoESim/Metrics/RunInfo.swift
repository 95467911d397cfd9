/// How a report was produced, beyond the configuration the engine saw: the tool's version, the `--system` bundle,
/// the seed and every `--set` override, so that reports can be combined and compared later.
public struct RunInfo: Codable, Sendable, Equatable {
    public var toolVersion: String
    public var system: String?
    public var seed: UInt64
    /// `--set` texts as typed, in order.
    public var overrides: [String]

    public init(toolVersion: String, system: String?, seed: UInt64, overrides: [String]) {
        self.toolVersion = toolVersion
        self.system = system
        self.seed = seed
        self.overrides = overrides
    }
}
