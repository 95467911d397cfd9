import Foundation

/// The JSON encoding of a report. A number that is not finite cannot be written as JSON; with every figure of the
/// inputs held to its physical range (`HardwareBounds`, `RuntimeBounds`) none should arise, so one that does is a
/// simulator bug, reported as an error naming the report field instead of a trap.
enum ReportEncoding {
    static func json<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        do {
            return String(decoding: try encoder.encode(value), as: UTF8.self) + "\n"
        } catch let EncodingError.invalidValue(number, context) {
            let field = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            throw MoESimError(field: field.isEmpty ? nil : "report." + field.replacingOccurrences(of: ".[", with: "["),
                              "the report holds \(number), which is not a finite number (a simulator bug)",
                              hint: "please report it with the command line that gave it")
        }
    }

    /// The run's makespan must be finite: checked right after the run, before any output is written.
    static func checkFinite(makespanSeconds: Double) throws {
        guard makespanSeconds.isFinite else {
            throw MoESimError(field: "report.makespanSeconds", "the run's makespan is \(makespanSeconds) (a simulator bug)",
                              hint: "please report it with the command line that gave it")
        }
    }
}
