/// The expert accesses of a run, one at a time, in the order the engine makes them: pass by pass, layer by
/// layer, each distinct expert of a (pass, layer) once. Keys are `layer * experts + expert`.
public final class AccessStream {
    public let source: PassSource
    public let router: PassRouter
    public let layers: Int
    let experts: Int
    private var pass = Pass()
    private var layer = 0
    private var index = 0
    private var count = 0
    private var exhausted = false
    /// Passes read so far.
    public private(set) var passes = 0

    public init(source: PassSource, gating: GatingPolicy) {
        self.source = source
        layers = source.header.layers
        experts = source.header.experts
        router = PassRouter(experts: experts, gating: gating)
        router.weightsAreFull = source.header.weights == .full
        layer = layers
    }

    /// The next access's key, or nil at the end.
    public func next() throws -> Int? {
        while index >= count {
            router.clear(count)
            index = 0
            count = 0
            if layer + 1 < layers && passes > 0 {
                layer += 1
            } else {
                if exhausted { return nil }
                guard try source.nextPass(into: &pass) else { exhausted = true; return nil }
                passes += 1
                layer = 0
            }
            count = router.route(pass, layer: layer, observer: nil)
        }
        let key = layer * experts + Int(router.distinct[index])
        index += 1
        return key
    }
}
