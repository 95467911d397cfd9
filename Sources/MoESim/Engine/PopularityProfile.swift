/// Which accesses a static hot set is chosen from (`--static-profile`).
public enum PopularityProfile: Sendable, Equatable, CustomStringConvertible {
    /// The whole trace: the best static set in hindsight.
    case whole
    /// The first N passes only, as a system profiling a warm-up would.
    case prefix(passes: Int)

    public static func parse(_ text: String) throws -> PopularityProfile {
        if text == "whole" { return .whole }
        if text.hasPrefix("prefix:"), let n = Int(text.dropFirst("prefix:".count)), n > 0 { return .prefix(passes: n) }
        throw MoESimError(field: "--static-profile", "expected whole or prefix:N (N passes, N > 0), found '\(text)'")
    }

    public var description: String {
        switch self {
        case .whole: return "whole"
        case let .prefix(n): return "prefix:\(n)"
        }
    }

    /// Accesses per key over the profiled part of `stream`.
    public func count(_ stream: AccessStream, keySpace: Int) throws -> [Int] {
        var counts = Array(repeating: 0, count: keySpace)
        while let key = try stream.next() {
            if case let .prefix(limit) = self, stream.passes > limit { break }
            counts[key] += 1
        }
        return counts
    }
}
