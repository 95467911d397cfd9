/// Builds a miss policy for one run.
public typealias MissFactory = @Sendable (MissSetup) throws -> MissPolicy

/// Miss policies by name (`--miss NAME[:OPTIONS]`).
public let missPolicies = NamedRegistry<MissFactory>(option: "--miss", [
    .init(name: "load", summary: LoadOnMiss.summary) { setup in
        try setup.accept(only: [])
        return LoadOnMiss()
    },
    .init(name: "fiddler", summary: FiddlerMiss.summary) { try FiddlerMiss(setup: $0) },
    .init(name: "hybrimoe", summary: HybriMoEMiss.summary) { try HybriMoEMiss(setup: $0) },
    .init(name: "hobbit", summary: HOBBITMiss.summary) { try HOBBITMiss(setup: $0) },
    .init(name: "buddymoe", summary: BuddyMoEMiss.summary) { try BuddyMoEMiss(setup: $0) },
])

extension NamedRegistry where Factory == MissFactory {
    /// A fresh policy for `spec` (e.g. `hobbit:low=hqq2`), checked against the model and the trace.
    public func make(_ spec: String, setup: (MissSpec) -> MissSetup) throws -> MissPolicy {
        let parsed = try PolicySpec.miss(spec)
        return try resolve(parsed.name, kind: "miss policy").make(setup(parsed))
    }
}
