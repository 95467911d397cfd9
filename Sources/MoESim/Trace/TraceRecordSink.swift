import Foundation

/// Where tools write a trace: JSONL or the binary form, chosen by the output file name.
public protocol TraceRecordSink: AnyObject {
    func write(request: RequestInfo)
    func write(token: TokenRecord, requestID: String)
    /// Finishes the output and moves it into place (it appears whole or not at all).
    func close() throws
}

extension BinaryTraceWriter: TraceRecordSink {}

/// A `TraceWriter` bound to its header (JSONL token lines need it to lay out weights).
final class JSONLTraceSink: TraceRecordSink {
    let writer: TraceWriter
    let header: TraceHeader

    init(writer: TraceWriter, header: TraceHeader) {
        self.writer = writer
        self.header = header
        writer.write(header: header)
    }

    func write(request: RequestInfo) { writer.write(request: request) }
    func write(token: TokenRecord, requestID: String) { writer.write(token: token, requestID: requestID, header: header) }
    func close() throws { try writer.close() }
}

/// Whether `path` gets JSONL (a name ending in `.jsonl`) rather than the binary form.
public func traceOutputIsJSONL(path: String) -> Bool { path.hasSuffix(".jsonl") }

/// Creates `path` (refusing to overwrite unless `overwrite`) and writes `header`: JSONL for a `.jsonl` name,
/// the binary `.moetrace` form otherwise.
public func createTrace(path: String, header: TraceHeader, overwrite: Bool) throws -> TraceRecordSink {
    if traceOutputIsJSONL(path: path) {
        return JSONLTraceSink(writer: try TraceWriter(path: path, overwrite: overwrite), header: header)
    }
    return try BinaryTraceWriter(path: path, header: header, overwrite: overwrite)
}
