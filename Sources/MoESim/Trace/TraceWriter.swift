import Foundation

/// Writes moe-trace v1 JSONL. Weights print in Float's shortest round-trip form, so reading a written
/// trace gives back exactly the same routing.
public final class TraceWriter {
    private let file: AtomicOutputFile?
    private var buffer = ""
    /// Everything written when the writer targets memory (tests, small tools).
    public private(set) var text = ""
    static let flushThreshold = 1 << 20

    /// Writes to `path`, which must not exist unless `overwrite` is true. The file appears at `close()`, whole
    /// (`AtomicOutputFile`): a run that fails or is interrupted before then leaves `path` as it was.
    public init(path: String, overwrite: Bool = false) throws {
        file = try AtomicOutputFile(path: path, overwrite: overwrite)
    }

    /// Writes into `text`.
    public init() { file = nil }

    public func write(header: TraceHeader) { emit(header.raw.serialized) }

    public func write(request: RequestInfo) {
        var members: [(String, JSONValue)] = [("request", .string(request.id))]
        if let t = request.task { members.append(("task", .string(t))) }
        if let a = request.arrivalSeconds { members.append(("arrival_s", .number(a))) }
        if let p = request.promptTokens { members.append(("prompt_tokens", .number(Double(p)))) }
        if let o = request.outputTokens { members.append(("output_tokens", .number(Double(o)))) }
        if let s = request.sloTTFTSeconds { members.append(("slo_ttft_s", .number(s))) }
        emit(JSONValue.object(members).serialized)
    }

    /// One token line; `header` tells how weights are laid out.
    public func write(token: TokenRecord, requestID: String, header: TraceHeader) {
        var line = "{\"request\":"
        JSONValue.writeString(requestID, to: &line)
        line += ",\"phase\":\"\(token.phase.name)\""
        if token.position >= 0 { line += ",\"pos\":\(token.position)" }
        line += ",\"experts\":["
        for l in 0..<token.layers {
            if l > 0 { line += "," }
            let n = Int(token.counts[l])
            if n < 0 { line += "null"; continue }
            line += "["
            for i in 0..<n {
                if i > 0 { line += "," }
                line += String(token.experts[l * token.slotsPerLayer + i])
            }
            line += "]"
        }
        line += "]"
        if header.weights != .none {
            line += ",\"weights\":["
            for l in 0..<token.layers {
                if l > 0 { line += "," }
                let n = Int(token.counts[l])
                if n < 0 { line += "null"; continue }
                let width = header.weights == .full ? token.weightsPerLayer : n
                line += "["
                for i in 0..<width {
                    if i > 0 { line += "," }
                    line += "\(token.weights[l * token.weightsPerLayer + i])"
                }
                line += "]"
            }
            line += "]"
        }
        let depths = (0..<token.aheadCounts.count).filter { !token.aheadCounts[$0].isEmpty }
        if !depths.isEmpty {
            line += ",\"ahead\":{"
            for (k, d) in depths.enumerated() {
                if k > 0 { line += "," }
                line += "\"\(d + 1)\":["
                for l in 0..<token.layers {
                    if l > 0 { line += "," }
                    let n = Int(token.aheadCounts[d][l])
                    if n < 0 { line += "null"; continue }
                    line += "[" + (0..<n).map { String(token.aheadExperts[d][l * token.aheadSlotsPerLayer + $0]) }.joined(separator: ",") + "]"
                }
                line += "]"
            }
            line += "}"
        }
        if token.hasResidency {
            line += ",\"resident\":["
            for l in 0..<token.layers {
                if l > 0 { line += "," }
                let n = Int(token.counts[l])
                if n < 0 { line += "null"; continue }
                line += "[" + (0..<n).map { String(token.residency[l * token.slotsPerLayer + $0]) }.joined(separator: ",") + "]"
            }
            line += "]"
        }
        line += "}"
        emit(line)
    }

    private func emit(_ line: String) {
        if file == nil {
            text += line + "\n"
            return
        }
        buffer += line + "\n"
        if buffer.utf8.count >= TraceWriter.flushThreshold { flush() }
    }

    public func flush() {
        guard let file, !buffer.isEmpty else { return }
        file.write(Data(buffer.utf8))
        buffer = ""
    }

    /// Finishes the file and moves it into place; errors (a full disk, say) are reported here.
    public func close() throws {
        flush()
        try file?.commit()
    }
}
