/// ORACLE with perfect knowledge of all future routing: after each layer's routing, issue every expert that a later
/// layer of this pass, then of the next pass (`passes=2`, default), will load and that is neither cached, staged nor
/// on its way, in the order the run will need them, for as long as staging buffers are free.
///
/// What it is for: a reference point, "how fast could this cache be with prefetching that never guesses wrong",
/// against which a real predictor (`next-layer-gate`) is measured (issue 5; papers.md §4.4). It reads the future
/// through its own look-ahead copy of the run (the trace reopened, routed by a fresh instance of the run's gating
/// policy), so it sees exactly the experts the run will load, after gating.
///
/// Deviations and limits: it is greedy (need order, as early as buffers allow), not a proved optimum: which expert to
/// stage with a finite pool and one link is a scheduling problem this does not solve exactly. An expert cached now is
/// not prefetched even if the cache policy will evict it before its use (a later layer's call issues it once it is
/// gone). With `admit=buffer` (default) the cache evolves exactly as without prefetching, so on-demand loads can only
/// fall; `admit=cache` inserts on arrival and may evict something needed sooner.
public final class OraclePrefetch: PrefetchPolicy {
    public static let summary = "ORACLE with perfect knowledge of future routing (the reference for a given cache): after each layer, every expert a later layer of this pass or the next (passes=2; passes=1: this pass only) will load and that is not cached, staged or arriving, in need order, while staging buffers last. Options: passes=1|2, \(PrefetchSetup.engineOptionHelp.joined(separator: ", ")) (defaults fifo, buffer, the runtime's pool)"

    public let name = "oracle"
    public let speculates = true
    public let engine: PrefetchEngineOptions
    /// Passes looked at: the current one and `horizon - 1` after it.
    public let horizon: Int

    private let source: PassSource
    private let router: PassRouter
    private let layers: Int
    private let experts: Int
    private var pass = Pass()
    /// Accesses of passes `firstPass ..< firstPass + upcoming.count`: keys in access order, and where each layer starts.
    private var upcoming: [(keys: [Int32], layerStart: [Int])] = []
    private var firstPass = 0
    /// Index of the next pass the look-ahead copy will read.
    private var nextToRead = 0
    private var exhausted = false

    init(source: PassSource, gating: GatingPolicy, horizon: Int, engine: PrefetchEngineOptions) {
        self.source = source
        self.horizon = horizon
        self.engine = engine
        layers = source.header.layers
        experts = source.header.experts
        router = PassRouter(experts: experts, gating: gating)
        router.weightsAreFull = source.header.weights == .full
    }

    convenience init(setup: PrefetchSetup) throws {
        try setup.accept(only: ["passes=1|2"] + PrefetchSetup.engineOptionHelp)
        let horizon = try setup.integer("passes", in: 1...2).flatMap { $0 } ?? 2
        self.init(source: try setup.reopenSource(), gating: try setup.makeGating(), horizon: horizon,
                  engine: try setup.engineOptions(defaults: PrefetchEngineOptions()))
    }

    /// Reads the look-ahead copy until it holds passes `current ..< current + horizon` (or the trace ends).
    private func prepare(current: Int) {
        while !upcoming.isEmpty && firstPass < current {
            upcoming.removeFirst()
            firstPass += 1
        }
        while !exhausted && nextToRead < current + horizon {
            // A bad line stops the run itself when it gets there: the look-ahead reads the same file.
            guard (try? source.nextPass(into: &pass)) == true else { exhausted = true; break }
            let index = nextToRead
            nextToRead += 1
            var keys: [Int32] = []
            var layerStart: [Int] = []
            for layer in 0..<layers {
                layerStart.append(keys.count)
                let n = router.route(pass, layer: layer, observer: nil)
                for j in 0..<n { keys.append(Int32(layer * experts) + router.distinct[j]) }
                router.clear(n)
            }
            layerStart.append(keys.count)
            guard index >= current else { continue }
            if upcoming.isEmpty { firstPass = index }
            upcoming.append((keys, layerStart))
        }
    }

    public func afterRouting(layer: Int, context: PrefetchContext) {
        let current = context.passIndex
        prepare(current: current)
        for (offset, entry) in upcoming.enumerated() {
            let passesAhead = firstPass + offset - current
            guard passesAhead >= 0 else { continue }
            let start = passesAhead == 0 ? entry.layerStart[layer + 1] : 0
            for i in start..<entry.keys.count {
                let key = Int(entry.keys[i])
                let l = key / experts, e = key % experts
                guard !context.isAvailable(layer: l, expert: e) else { continue }
                guard context.freeStagingBuffers > 0 else { return }
                context.prefetch(layer: l, expert: e, passesAhead: passesAhead)
            }
        }
    }
}
