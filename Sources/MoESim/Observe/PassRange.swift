import Foundation

/// Which passes a timeline records (`--timeline-passes A..B`, or `N` for one pass), counted from 0.
public struct PassRange: Sendable, Equatable, CustomStringConvertible {
    public var first: Int
    public var last: Int

    public init(first: Int, last: Int) {
        self.first = first
        self.last = last
    }

    /// The JSON timeline's default: enough passes to see a few hundred tokens' pattern, small enough (a few MB for
    /// Mixtral's 32 layers) for Perfetto to open at once.
    public static let defaultJSON = PassRange(first: 0, last: 63)
    /// The SVG's default: a few tokens, as AdapMoE's Fig. 1(c) shows them.
    public static let defaultSVG = PassRange(first: 0, last: 3)
    /// An SVG with more passes than this has bars too thin to read.
    public static let maximumSVGPasses = 16

    public var count: Int { last - first + 1 }
    public func contains(_ pass: Int) -> Bool { pass >= first && pass <= last }
    public var description: String { first == last ? "\(first)" : "\(first)..\(last)" }

    /// `A..B` (inclusive) or `N`.
    public static func parse(_ text: String, field: String = "--timeline-passes") throws -> PassRange {
        let usage = "expected A..B (passes A to B, counted from 0, both included) or N, e.g. 0..31"
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if let single = Int(trimmed), single >= 0 { return PassRange(first: single, last: single) }
        let parts = trimmed.components(separatedBy: "..")
        guard parts.count == 2, let a = Int(parts[0]), let b = Int(parts[1]) else {
            throw MoESimError(field: field, "cannot read '\(text)'", hint: usage)
        }
        guard a >= 0, b >= a else { throw MoESimError(field: field, "'\(text)' is empty or negative", hint: usage) }
        return PassRange(first: a, last: b)
    }
}
