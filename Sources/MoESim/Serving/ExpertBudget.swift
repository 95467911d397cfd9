/// eMoE's L: how many experts each layer keeps (papers.md §2.4.4). eMoE sets L from a memory budget and reports
/// results by "% of experts loaded" (§2.5, Figs. 14-15); L = fraction x experts per layer is the natural reading
/// (§2.6). To make memory follow the fraction smoothly rather than in steps of one expert per layer, the total
/// round(fraction x layers x experts) is spread evenly over the layers, the first layers taking the remainder
/// (each layer keeps at least one expert, at most all).
public enum ExpertBudget {
    public static func perLayer(fraction: Double, layers: Int, experts: Int) throws -> [Int] {
        guard fraction.isFinite, fraction > 0, fraction <= 1 else {
            throw MoESimError(field: "--experts-loaded", "expected a fraction in (0, 1], found \(fraction)", hint: "e.g. 0.6 for 60 % of experts loaded")
        }
        let total = min(layers * experts, max(layers, Int((fraction * Double(layers * experts)).rounded())))
        let base = total / layers, extra = total % layers
        return (0..<layers).map { $0 < extra ? base + 1 : base }
    }
}
