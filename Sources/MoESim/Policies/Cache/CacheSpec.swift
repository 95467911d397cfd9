import Foundation

/// A cache configuration as the user writes it (`--cache`), before it is sized for a model and device.
///
/// Forms: `all-resident`, `none`, or `POLICY-per-layer:CAPACITY` / `POLICY-global:CAPACITY` where CAPACITY is
/// `N` (experts per layer for per-layer, total experts for global), `total=N`, `bytes=SIZE` (e.g. `bytes=6GiB`),
/// `fit` (all device memory left after resident weights, KV cache, buffers and the runtime reserve), or, for
/// per-layer only, a comma list with one capacity per layer.
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

    /// Capacities in experts: one per layer for a per-layer layout, a single total for a global one.
    /// `freeBytes` is the device memory left for the cache (used by `bytes=` checks and `fit`).
    public func resolve(layers: Int, experts: Int, expertBytes: Int, freeBytes: Double) throws -> [Int] {
        let keySpace = layers * experts
        func expertsFitting(_ bytes: Double) -> Int { max(0, Int((bytes / Double(expertBytes)).rounded(.down))) }
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
