/// Resolves a user-typed name against preset names and aliases, and suggests the closest one on a miss.
public enum NameMatching {
    public static func normalize(_ name: String) -> String {
        name.lowercased().replacingOccurrences(of: "_", with: "-")
    }

    /// Levenshtein distance, for "did you mean" hints.
    public static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = previous
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }

    public static func closest(to name: String, among candidates: [String]) -> String? {
        let target = normalize(name)
        let scored = candidates.map { ($0, editDistance(target, normalize($0))) }.sorted { $0.1 < $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }
        guard let best = scored.first, best.1 <= max(3, target.count / 2) else { return nil }
        return best.0
    }
}
