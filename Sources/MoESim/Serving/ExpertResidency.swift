/// Which experts are on the devices, on which device each one lives, when an expert still in flight arrives,
/// and the host links that bring them. Keys are `layer * experts + expert`.
///
/// Placement (expert parallelism): expert e of every layer starts on device e mod gpus; an expert loaded into a
/// layer later goes to the device holding the fewest of that layer's resident experts, so a partial set stays
/// spread over the devices. Loads queue per host link in issue order.
public final class ExpertResidency {
    public let layers: Int
    public let experts: Int
    public let gpus: Int
    let resident: FixedArray<Bool>
    let device: FixedArray<Int32>
    /// Time a resident expert's load completes (0 for experts there from the start).
    let availableAt: FixedArray<Double>
    public private(set) var perLayer: [Int]
    public private(set) var count = 0
    /// When each host link finishes its queued loads.
    var linkFreeAt: [Double]
    public private(set) var loads = 0

    public init(layers: Int, experts: Int, gpus: Int, links: Int) {
        self.layers = layers
        self.experts = experts
        self.gpus = gpus
        resident = FixedArray(repeating: false, count: layers * experts)
        device = FixedArray(repeating: 0, count: layers * experts)
        availableAt = FixedArray(repeating: 0, count: layers * experts)
        for key in 0..<(layers * experts) { device[key] = Int32((key % experts) % gpus) }
        perLayer = Array(repeating: 0, count: layers)
        linkFreeAt = Array(repeating: 0, count: links)
    }

    @inline(__always) public func isResident(_ key: Int) -> Bool { resident[key] }
    @inline(__always) public func deviceOf(_ key: Int) -> Int { Int(device[key]) }
    @inline(__always) public func available(_ key: Int) -> Double { availableAt[key] }

    public func residentExperts(layer: Int) -> [Int] { (0..<experts).filter { resident[layer * experts + $0] } }

    /// Makes `key` resident from the start (no load), on the layer's least-occupied device if `rebalance`.
    public func place(_ key: Int, rebalance: Bool = false) {
        guard !resident[key] else { return }
        if rebalance { device[key] = Int32(leastOccupiedDevice(layer: key / experts)) }
        resident[key] = true
        availableAt[key] = 0
        perLayer[key / experts] += 1
        count += 1
    }

    public func evict(_ key: Int) {
        guard resident[key] else { return }
        resident[key] = false
        perLayer[key / experts] -= 1
        count -= 1
    }

    /// Loads `key` (placing it on the layer's least-occupied device if `rebalance`), issued at `time` on its host
    /// link; returns when it arrives. The expert counts as resident (memory is held) from the issue.
    @discardableResult
    public func load(_ key: Int, at time: Double, cost: ServingCostModel, rebalance: Bool) -> Double {
        if rebalance && !resident[key] && cost.parallelism == .expert { device[key] = Int32(leastOccupiedDevice(layer: key / experts)) }
        let arrival = transfer(key, at: time, cost: cost)
        if !resident[key] {
            resident[key] = true
            perLayer[key / experts] += 1
            count += 1
        }
        availableAt[key] = arrival
        return arrival
    }

    /// A host-to-device copy of `key` onto its device issued at `time`, without changing residency (a load that is
    /// dropped after use); returns its arrival.
    @inline(__always) public func transfer(_ key: Int, at time: Double, cost: ServingCostModel) -> Double {
        let link = cost.link(forDevice: Int(device[key]))
        let start = max(time, linkFreeAt[link])
        let arrival = start + cost.expertLoadSeconds
        linkFreeAt[link] = arrival
        loads += 1
        return arrival
    }

    func leastOccupiedDevice(layer: Int) -> Int {
        var occupancy = Array(repeating: 0, count: gpus)
        for e in 0..<experts where resident[layer * experts + e] { occupancy[Int(device[layer * experts + e])] += 1 }
        var best = 0
        for d in 1..<gpus where occupancy[d] < occupancy[best] { best = d }
        return best
    }
}
