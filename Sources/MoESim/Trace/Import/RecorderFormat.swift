/// A recorder's file layout that `sim trace import` reads. Adding one is a file with a reader plus a line in
/// `recorderFormats`.
struct RecorderFormat: Sendable {
    let name: String
    let summary: String
    /// Fields whose presence in a file's first row identifies the format.
    let identifyingFields: [String]
    let read: @Sendable (_ path: String) throws -> Recording
}

/// The formats `sim trace import --from` accepts, tried in this order when detecting.
let recorderFormats: [RecorderFormat] = [
    HookStreamFormat.format,
    RequestRowsFormat.format,
    LayerRowsFormat.format,
]

extension RecorderFormat {
    static func named(_ name: String) throws -> RecorderFormat {
        guard let f = recorderFormats.first(where: { $0.name == name.lowercased() }) else {
            throw MoESimError(field: "--from", "unknown recorder format '\(name)'", hint: "known: \(recorderFormats.map(\.name).joined(separator: ", "))")
        }
        return f
    }

    /// The format whose identifying fields all appear in the file's first row.
    static func detect(path: String) throws -> RecorderFormat {
        let lines = try LineReader(path: path)
        while let bytes = try lines.nextLine() {
            guard let row = try RecorderRow.parse(bytes, path: path, line: lines.lineNumber) else { continue }
            if let f = recorderFormats.first(where: { $0.identifyingFields.allSatisfy(row.has) }) { return f }
            if row.has("moe_trace") {
                throw MoESimError(file: path, line: row.line, "this is already a moe-trace file", hint: "use it as is, or `sim trace convert` to change its form")
            }
            throw MoESimError(file: path, line: row.line, "cannot tell which recorder wrote this row",
                              hint: recorderFormats.map { "\($0.name) has \($0.identifyingFields.joined(separator: ", "))" }.joined(separator: "; ") + "; or name it with --from")
        }
        throw MoESimError(file: path, "empty file: no rows to import")
    }

    /// Reads `path`, first checking that its first row has this format's fields.
    func readChecked(path: String) throws -> Recording {
        let lines = try LineReader(path: path)
        while let bytes = try lines.nextLine() {
            guard let row = try RecorderRow.parse(bytes, path: path, line: lines.lineNumber) else { continue }
            if let missing = identifyingFields.first(where: { !row.has($0) }) {
                throw row.error(missing, "missing field: a \(name) row has \(identifyingFields.joined(separator: ", "))")
            }
            break
        }
        return try read(path)
    }
}

/// Request ids as the importers build them: `dataset/problem` when the recorder names a dataset.
func importedRequestID(dataset: String?, problem: String) -> String {
    dataset.map { "\($0)/\(problem)" } ?? problem
}
