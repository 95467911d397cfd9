import Foundation

/// One measured run: the `sim` options that describe it and what was measured (a row of a measurements file).
public struct Measurement: Sendable {
    /// File and 1-based line it came from, for messages.
    public var file: String
    public var line: Int
    /// `sim run` options, `${shared}` left in.
    public var options: [String]
    public var tokensPerSecond: Double
    public var ttftSeconds: Double?
    public var hitRate: Double?
    public var note: String
    /// Rows that share a device setup (e.g. one column of a paper's table); empty: none.
    public var group: String
    /// The row a one-point calibration of its group is fitted on.
    public var anchor: Bool

    /// The run's options with `${shared}` resolved and, when given, the trace replaced.
    public func resolvedOptions(sharedDirectory: String, traceOverride: String?) -> [String] {
        var words = options.map { $0.replacingOccurrences(of: ExperimentPlan.sharedPlaceholder, with: sharedDirectory) }
        if let traceOverride { Measurement.replace("trace", with: traceOverride, in: &words) }
        return words
    }

    /// Shared files this row reads (absent ones make a fidelity run skip it); a replaced trace is not read.
    public func sharedFiles(sharedDirectory: String, traceOverride: String?) -> [String] {
        var words = options
        if traceOverride != nil { Measurement.remove("trace", from: &words) }
        return words.filter { $0.contains(ExperimentPlan.sharedPlaceholder) }
            .map { $0.replacingOccurrences(of: ExperimentPlan.sharedPlaceholder, with: sharedDirectory) }
    }

    /// The value of `--name` in the row (either `--name value` or `--name=value`).
    public func value(of name: String) -> String? { Measurement.value(of: name, in: options) }

    /// A short label for tables: the note, else the options.
    public var label: String { note.isEmpty ? options.joined(separator: " ") : note }

    /// Where this row is, for messages: `FILE:LINE`.
    public var location: String { "\(file):\(line)" }

    static func value(of name: String, in words: [String]) -> String? {
        for (i, word) in words.enumerated() {
            if word == "--\(name)", i + 1 < words.count { return words[i + 1] }
            if word.hasPrefix("--\(name)=") { return String(word.dropFirst(name.count + 3)) }
        }
        return nil
    }

    /// Sets `--name value`, replacing an existing one (either form).
    static func replace(_ name: String, with value: String, in words: inout [String]) {
        remove(name, from: &words)
        words += ["--\(name)", value]
    }

    static func remove(_ name: String, from words: inout [String]) {
        var i = 0
        while i < words.count {
            if words[i] == "--\(name)" { words.removeSubrange(i..<min(words.count, i + 2)); continue }
            if words[i].hasPrefix("--\(name)=") { words.remove(at: i); continue }
            i += 1
        }
    }
}
