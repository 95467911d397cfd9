/// The expert accesses of a run, one at a time, in the order the engine makes them: pass by pass, layer by
/// layer, each distinct expert of a (pass, layer) once. Keys are `layer * experts + expert`.
///
/// A pass's keys, every layer's in order, are laid out in a buffer of the stream's own, so taking the next one
/// touches no other object (no reference counting per access); `next(into:capacity:)` hands out many at once.
/// With a gating policy that replays the recorded experts unchanged (`topk`) the keys come straight from the
/// records, one read of each token per pass instead of one routing call per (token, layer) cell; otherwise each
/// layer goes through `PassRouter`, as in the engine. Both give the same keys in the same order (tested).
public final class AccessStream {
    public let source: PassSource
    public let router: PassRouter
    public let layers: Int
    let experts: Int
    private let readsRecords: Bool
    private var pass = Pass()
    private var index = 0
    private var count = 0
    private var exhausted = false
    /// The current pass's keys in access order; the first `count` are valid.
    private let keys: UnsafeMutablePointer<Int32>
    /// Per layer, the pass's distinct keys so far (at `layer * experts`) and how many; per key, the last pass
    /// that used it (so nothing needs clearing between passes).
    private let layerKeys: UnsafeMutablePointer<Int32>
    private let layerCounts: UnsafeMutablePointer<Int>
    private let lastPass: UnsafeMutablePointer<Int>
    /// Passes read so far.
    public private(set) var passes = 0

    public init(source: PassSource, gating: GatingPolicy) {
        self.source = source
        layers = source.header.layers
        experts = source.header.experts
        router = PassRouter(experts: experts, gating: gating)
        router.weightsAreFull = source.header.weights == .full
        readsRecords = gating.replaysRecordedExperts
        let keySpace = max(1, layers * experts)
        keys = .allocate(capacity: keySpace)
        layerKeys = .allocate(capacity: keySpace)
        layerCounts = .allocate(capacity: max(1, layers))
        lastPass = .allocate(capacity: keySpace)
        lastPass.initialize(repeating: 0, count: keySpace)
    }

    deinit {
        keys.deallocate()
        layerKeys.deallocate()
        layerCounts.deallocate()
        lastPass.deallocate()
    }

    /// The next access's key, or nil at the end.
    @inline(__always) public func next() throws -> Int? {
        if index < count {
            let key = keys[index]
            index += 1
            return Int(key)
        }
        guard try refill() else { return nil }
        index = 1
        return Int(keys[0])
    }

    /// Copies up to `capacity` next keys to `buffer`; returns how many (0 at the end).
    public func next(into buffer: UnsafeMutablePointer<Int32>, capacity: Int) throws -> Int {
        var n = 0
        while n < capacity {
            if index >= count {
                guard try refill() else { break }
            }
            let take = min(count - index, capacity - n)
            (buffer + n).update(from: keys + index, count: take)
            index += take
            n += take
        }
        return n
    }

    /// Reads passes until one has an access and lays out its keys; false at the end.
    private func refill() throws -> Bool {
        index = 0
        count = 0
        while count == 0 {
            if exhausted { return false }
            guard try source.nextPass(into: &pass) else { exhausted = true; return false }
            passes += 1
            if readsRecords { layOutRecorded() } else { layOutRouted() }
        }
        return true
    }

    /// Each layer through the router (gating may change the experts).
    private func layOutRouted() {
        for layer in 0..<layers {
            let n = router.route(pass, layer: layer, observer: nil)
            let distinct = router.distinct
            let base = layer * experts
            for j in 0..<n { keys[count + j] = Int32(base + Int(distinct[j])) }
            count += n
            router.clear(n)
        }
    }

    /// The recorded experts as they are: per layer, each distinct one in order of first use over the tokens.
    private func layOutRecorded() {
        for l in 0..<layers { layerCounts[l] = 0 }
        let stamp = passes
        pass.tokens.withUnsafeBufferPointer { tokens in
            for t in 0..<pass.tokenCount {
                let slots = tokens[t].slotsPerLayer
                tokens[t].counts.withUnsafeBufferPointer { counts in
                    tokens[t].experts.withUnsafeBufferPointer { recorded in
                        for l in 0..<layers {
                            let n = Int(counts[l])
                            // A null cell (n < 0) has no accesses.
                            guard n > 0 else { continue }
                            let base = l * experts
                            for i in 0..<n {
                                let key = base + Int(recorded[l * slots + i])
                                if lastPass[key] != stamp {
                                    lastPass[key] = stamp
                                    layerKeys[base + layerCounts[l]] = Int32(key)
                                    layerCounts[l] += 1
                                }
                            }
                        }
                    }
                }
            }
        }
        for l in 0..<layers {
            (keys + count).update(from: layerKeys + l * experts, count: layerCounts[l])
            count += layerCounts[l]
        }
    }
}
