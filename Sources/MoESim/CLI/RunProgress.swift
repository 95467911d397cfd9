import Foundation

/// `sim run`'s progress on stderr (`--progress`, or when stderr is a terminal): tokens replayed, tokens/s and an ETA
/// against the trace's token lines. It watches pass starts through the engine's observer hook, so it costs nothing
/// when off.
final class RunProgress: SimulationObserver {
    private let line: ProgressLine
    private var tokens = 0

    init(label: String, tracePath: String) {
        line = ProgressLine(label: label, unit: "tokens", total: RunProgress.tokenLines(tracePath), write: ProgressLine.standardError)
    }

    func observe(_ event: SimulationEvent) {
        guard case let .passStarted(pass) = event else { return }
        tokens += pass.tokens
        line.update(done: tokens)
    }

    func finish() { line.update(done: tokens, final: true) }

    /// Token records of a JSONL trace (lines with a "phase" member), read in chunks; nil for the binary form (no ETA).
    static func tokenLines(_ path: String) -> Int? {
        guard path.hasSuffix(".jsonl"), let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        let needle = Array("\"phase\"".utf8)
        var count = 0, matched = 0
        while let chunk = try? handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            for byte in chunk {
                if byte == needle[matched] {
                    matched += 1
                    if matched == needle.count { count += 1; matched = 0 }
                } else {
                    matched = byte == needle[0] ? 1 : 0
                }
            }
        }
        return count
    }
}
