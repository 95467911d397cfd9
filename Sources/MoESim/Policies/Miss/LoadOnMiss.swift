/// Every miss is loaded on demand and runs on the GPU (what every other system here does). The engine never asks it:
/// runs with `--miss load` are the runs without a miss policy, byte for byte.
public final class LoadOnMiss: MissPolicy {
    public static let summary = "load every missing expert on demand and run it on the GPU (the default)"

    public let name = "load"
    public let requirements = MissRequirements(alwaysLoads: true)

    public init() {}

    public func decide(layer: Int, expert: Int, context: MissContext) -> MissAction { .load }
}
