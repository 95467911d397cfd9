import Foundation

/// A cache configuration as the user writes it (`--cache`), before it is sized for a model and device.
///
/// Forms: `all-resident`, `none`, or `POLICY-per-layer:CAPACITY` / `POLICY-global:CAPACITY` where CAPACITY is
/// `N` (experts per layer for per-layer, total experts for global), `total=N`, `bytes=SIZE` (e.g. `bytes=6GiB`),
/// `fit` (all device memory left after resident weights, KV cache, buffers and the runtime reserve), or, for
/// per-layer only, a comma list with one capacity per layer. `adapmoe-dp:CAPACITY`, `adapmoe-dp-nogating:CAPACITY`
/// and `adapmoe-dp-measured:CAPACITY,prefix=K` are per-layer LRU caches whose total (`total=N`, `N`, `bytes=`,
/// `fit`) is divided among layers by AdapMoE's DP (`CacheAllocation`, papers.md §1.3.C) instead of evenly.
public struct CacheSpec: Sendable, Equatable, CustomStringConvertible {
    public enum Layout: String, Sendable { case perLayer = "per-layer", global }

    public enum Capacity: Sendable, Equatable {
        case perLayer(Int)
        case total(Int)
        case bytes(Double)
        case fit
        case list([Int])
        case everything
    }

    public var policy: String
    public var layout: Layout
    public var capacity: Capacity
    /// The text the user gave, for reports.
    public var text: String
    /// How a per-layer total is divided among layers; nil: evenly.
    public var allocation: CacheAllocation?

    public init(policy: String, layout: Layout, capacity: Capacity, text: String, allocation: CacheAllocation? = nil) {
        self.policy = policy
        self.layout = layout
        self.capacity = capacity
        self.text = text
        self.allocation = allocation
    }

    public var description: String { text }

    public static let allResident = CacheSpec(policy: "lru", layout: .perLayer, capacity: .everything, text: "all-resident")
    public static let noCache = CacheSpec(policy: "lru", layout: .global, capacity: .total(0), text: "none")

    public static func parse(_ text: String) throws -> CacheSpec {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        if trimmed == "all-resident" || trimmed == "all" { return allResident }
        if trimmed == "none" || trimmed == "no-cache" { return noCache }
        let usage = "expected all-resident, none, or POLICY-per-layer:CAPACITY / POLICY-global:CAPACITY (e.g. lru-per-layer:4, lru-global:128, lru-global:bytes=6GiB, lru-per-layer:fit)"
        let parts = trimmed.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { throw MoESimError(field: "--cache", "cannot read '\(text)'", hint: usage) }
        let head = parts[0], capacityText = parts[1]
        if let (_, allocation) = CacheAllocation.heads.first(where: { $0.0 == head }) {
            return try parseAllocated(head: head, allocation: allocation, capacityText: capacityText, text: text)
        }
        let layout: Layout
        let policy: String
        if head.hasSuffix("-per-layer") {
            layout = .perLayer
            policy = String(head.dropLast("-per-layer".count))
        } else if head.hasSuffix("-global") {
            layout = .global
            policy = String(head.dropLast("-global".count))
        } else {
            throw MoESimError(field: "--cache", "'\(head)' does not say per-layer or global", hint: usage)
        }
        _ = try cachePolicies.resolve(policy, kind: "cache policy")
        let capacity: Capacity
        if capacityText == "fit" {
            capacity = .fit
        } else if capacityText.hasPrefix("total=") {
            guard let n = Int(capacityText.dropFirst(6)), n >= 0 else { throw MoESimError(field: "--cache", "expected total=N with N >= 0 in '\(text)'") }
            capacity = .total(n)
        } else if capacityText.hasPrefix("bytes=") {
            capacity = .bytes(try ByteSize.parse(String(capacityText.dropFirst(6)), field: "--cache"))
        } else if capacityText.contains(",") {
            guard layout == .perLayer else { throw MoESimError(field: "--cache", "a list of capacities needs a per-layer cache", hint: usage) }
            let values = capacityText.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard values.allSatisfy({ $0 != nil && $0! >= 0 }) else { throw MoESimError(field: "--cache", "cannot read the capacity list in '\(text)'", hint: "integers >= 0, one per layer") }
            capacity = .list(values.map { $0! })
        } else if let n = Int(capacityText), n >= 0 {
            capacity = layout == .perLayer ? .perLayer(n) : .total(n)
        } else {
            throw MoESimError(field: "--cache", "cannot read capacity '\(capacityText)'", hint: usage)
        }
        return CacheSpec(policy: policy, layout: layout, capacity: capacity, text: text.trimmingCharacters(in: .whitespaces))
    }

    /// `text` with its capacity replaced by `total=N` experts, keeping the policy, layout and any other option
    /// (`--cache-experts`: size a system's cache without restating its policy).
    public static func replacingCapacity(in text: String, totalExperts n: Int) throws -> String {
        let spec = try parse(text)
        guard spec != allResident && spec != noCache else {
            throw MoESimError(field: "--cache-experts", "cache '\(text)' has no capacity to set", hint: "give a cache policy, e.g. --cache lru-per-layer:fit")
        }
        let parts = spec.text.split(separator: ":", maxSplits: 1).map(String.init)
        let kept = parts[1].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { $0.hasPrefix("prefix=") }
        return parts[0] + ":" + (["total=\(n)"] + kept).joined(separator: ",")
    }

    static let allocatedUsage = "expected adapmoe-dp:total=N, adapmoe-dp-nogating:total=N or adapmoe-dp-measured:total=N,prefix=K (total also as N, bytes=SIZE or fit)"

    /// `adapmoe-dp...` specs: a per-layer LRU whose total the DP divides.
    static func parseAllocated(head: String, allocation: CacheAllocation?, capacityText: String, text: String) throws -> CacheSpec {
        var capacity: Capacity?
        var prefix: Int?
        for item in capacityText.split(separator: ",", omittingEmptySubsequences: false).map({ $0.trimmingCharacters(in: .whitespaces) }) {
            if item.hasPrefix("prefix=") {
                guard allocation == nil else { throw MoESimError(field: "--cache", "'prefix=' belongs to adapmoe-dp-measured, not \(head)", hint: allocatedUsage) }
                guard prefix == nil, let k = Int(item.dropFirst("prefix=".count)), k >= 1 else {
                    throw MoESimError(field: "--cache", "expected prefix=K once, with K >= 1 decode tokens, in '\(text)'", hint: allocatedUsage)
                }
                prefix = k
                continue
            }
            guard capacity == nil else { throw MoESimError(field: "--cache", "more than one capacity in '\(text)'", hint: allocatedUsage) }
            if item == "fit" {
                capacity = .fit
            } else if item.hasPrefix("bytes=") {
                capacity = .bytes(try ByteSize.parse(String(item.dropFirst("bytes=".count)), field: "--cache"))
            } else if let n = Int(item.hasPrefix("total=") ? String(item.dropFirst("total=".count)) : item), n >= 0 {
                capacity = .total(n)
            } else {
                throw MoESimError(field: "--cache", "cannot read '\(item)' in '\(text)'", hint: allocatedUsage)
            }
        }
        guard let capacity else { throw MoESimError(field: "--cache", "'\(text)' gives no total", hint: allocatedUsage) }
        let resolved: CacheAllocation
        if let allocation {
            resolved = allocation
        } else {
            guard let prefix else {
                throw MoESimError(field: "--cache", "'\(text)' needs prefix=K: the decode tokens a_l and r_l are measured on", hint: allocatedUsage)
            }
            resolved = .adapmoeDPMeasured(prefixTokens: prefix)
        }
        // AdapMoE's caches are per-layer LRU groups (papers.md §1.3.D).
        return CacheSpec(policy: "lru", layout: .perLayer, capacity: capacity, text: text.trimmingCharacters(in: .whitespaces), allocation: resolved)
    }

    /// Capacities in experts: one per layer for a per-layer layout, a single total for a global one.
    /// `freeBytes` is the device memory left for the cache (used by `bytes=` checks and `fit`). `allocation`
    /// supplies what an `adapmoe-dp...` spec reads (model, trace, gating); it is needed only for those.
    public func resolve(layers: Int, experts: Int, expertBytes: Int, freeBytes: Double,
                        allocation context: CacheAllocationContext? = nil) throws -> [Int] {
        let keySpace = layers * experts
        // Clamped to the key space before the conversion: bytes=1e300 (or a huge device) would overflow Int.
        func expertsFitting(_ bytes: Double) -> Int {
            let fitting = (bytes / Double(expertBytes)).rounded(.down)
            guard fitting < Double(keySpace) else { return keySpace }
            return fitting > 0 ? Int(fitting) : 0
        }
        func split(_ total: Int) -> [Int] {
            let clamped = min(total, keySpace)
            return (0..<layers).map { l in min(experts, clamped / layers + (l < clamped % layers ? 1 : 0)) }
        }
        let total: Int
        switch capacity {
        case .everything:
            return Array(repeating: experts, count: layout == .perLayer ? layers : 1).map { layout == .perLayer ? $0 : keySpace }
        case let .perLayer(n):
            guard n <= experts else {
                throw MoESimError(field: "--cache", "per-layer capacity \(n) exceeds the \(experts) experts of a layer", hint: "use all-resident to keep every expert")
            }
            return Array(repeating: n, count: layers)
        case let .list(values):
            guard values.count == layers else {
                throw MoESimError(field: "--cache", "the capacity list has \(values.count) entries, the model has \(layers) MoE layers")
            }
            if let bad = values.firstIndex(where: { $0 > experts }) {
                throw MoESimError(field: "--cache", "capacity \(values[bad]) for layer \(bad) exceeds the \(experts) experts of a layer")
            }
            return values
        case let .total(n): total = n
        case let .bytes(b): total = expertsFitting(b)
        case .fit: total = expertsFitting(freeBytes)
        }
        if case .total = capacity, total > keySpace {
            throw MoESimError(field: "--cache", "capacity \(total) exceeds the model's \(keySpace) experts", hint: "use all-resident to keep every expert")
        }
        if let allocation {
            guard let context else {
                throw MoESimError(field: "--cache", "'\(text)' needs the model and trace to allocate; this command cannot provide them")
            }
            return try allocation.capacities(total: min(total, keySpace), layers: layers, experts: experts, context: context)
        }
        return layout == .perLayer ? split(total) : [min(total, keySpace)]
    }
}

/// Byte sizes as users write them: `123`, `6GiB`, `6.5GB`, `512MiB`.
public enum ByteSize {
    static let units: [(String, Double)] = [("kib", 1024), ("mib", 1_048_576), ("gib", 1_073_741_824), ("tib", 1_099_511_627_776),
                                            ("kb", 1e3), ("mb", 1e6), ("gb", 1e9), ("tb", 1e12), ("b", 1)]

    public static func parse(_ text: String, field: String) throws -> Double {
        let t = text.lowercased().trimmingCharacters(in: .whitespaces)
        for (suffix, scale) in units where t.hasSuffix(suffix) {
            if let v = Double(t.dropLast(suffix.count)), v.isFinite, v >= 0 { return v * scale }
        }
        if let v = Double(t), v.isFinite, v >= 0 { return v }
        throw MoESimError(field: field, "cannot read byte size '\(text)'", hint: "e.g. 6GiB, 512MiB, 8e9")
    }

    /// Human-readable, binary units.
    public static func format(_ bytes: Double) -> String {
        let abs = Swift.abs(bytes)
        if abs >= 1_073_741_824 { return String(format: "%.2f GiB", bytes / 1_073_741_824) }
        if abs >= 1_048_576 { return String(format: "%.1f MiB", bytes / 1_048_576) }
        if abs >= 1024 { return String(format: "%.1f KiB", bytes / 1024) }
        return String(format: "%.0f B", bytes)
    }
}
